//! The cache's calls carrying the upstream's credentials: a token, user and password, user info
//! in the URL, a node's cookie file (read again after a 401), and a refusal counted as an error.

use std::path::PathBuf;
use std::time::Duration;

use pocx_aggregator::config::{BasicCredentials, UpstreamAuth};
use pocx_aggregator::sim::{Behaviour, SimUpstream, SimUpstreamConfig};

use super::{refresh_errors, Rig};
use crate::support::{account, wait_until, Farm, TempDir};

#[test]
fn upstream_refusing_our_credentials_is_counted() {
    let upstream = SimUpstream::start(SimUpstreamConfig {
        require_auth: Some("Bearer the-right-token".into()),
        ..Default::default()
    })
    .unwrap();
    let rig = Rig::start(upstream, |cfg| {
        cfg.upstream.auth = UpstreamAuth::Token("a-wrong-token".into());
    });
    wait_until(Duration::from_secs(5), || {
        rig.stats()["upstream"]["refresh_errors"].as_u64() >= Some(2)
    });
    let upstream = rig.stats()["upstream"].clone();
    assert_eq!(upstream["reachable"], false, "{upstream}");
    let last_error = upstream["last_error"].as_str().unwrap_or_default();
    assert!(
        last_error.contains("credentials") && last_error.contains("401"),
        "{last_error:?}"
    );
    assert_eq!(rig.mining_info()["error"]["code"], -32000);
    assert_eq!(rig.health().0, 503);
}

#[test]
fn auth_token_and_user_pass_reach_the_upstream_as_sent_by_pocx_clients() {
    let aladdin = BasicCredentials {
        username: "Aladdin".into(),
        password: "open sesame".into(),
    };
    let cases = [
        // RFC 7617's example credentials: a token with a colon travels as Basic.
        (
            UpstreamAuth::Token("Aladdin:open sesame".into()),
            None,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ),
        (
            UpstreamAuth::Token("pool-api-key-7f3a".into()),
            None,
            "Bearer pool-api-key-7f3a",
        ),
        (
            UpstreamAuth::UserPass(aladdin),
            None,
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
        ),
        // User info in the URL (`farm:pw`), which the configuration allows.
        (UpstreamAuth::None, Some("farm:pw@"), "Basic ZmFybTpwdw=="),
    ];
    for (auth, user_info, header) in cases {
        let farm = Farm::start_with(
            SimUpstreamConfig {
                require_auth: Some(header.into()),
                ..Default::default()
            },
            |cfg| {
                cfg.upstream.auth = auth.clone();
                if let Some(user_info) = user_info {
                    let url = cfg.upstream.url.replacen("http://", "", 1);
                    cfg.upstream.url = format!("http://{user_info}{url}");
                }
            },
        );
        let round = farm.wait_for_round();
        // Submissions carry the same credentials.
        let answer = farm.submit(&round, &account(9), 4_000_000_000);
        assert!(answer["result"]["poc_time"].is_u64(), "{answer}");
        wait_until(Duration::from_secs(5), || {
            farm.upstream
                .submissions()
                .iter()
                .any(|s| s.answer.is_accepted())
        });
        assert_eq!(refresh_errors(&farm), 0, "{auth:?} {user_info:?}");
    }
}

#[test]
fn cookie_auth_reads_the_file_and_rereads_it_after_a_401() {
    // `__cookie__:1f2e3d4c5b6a7988` and `__cookie__:a1b2c3d4e5f60718`, base64-encoded.
    let first = "Basic X19jb29raWVfXzoxZjJlM2Q0YzViNmE3OTg4";
    let second = "Basic X19jb29raWVfXzphMWIyYzNkNGU1ZjYwNzE4";
    let cookie_dir = TempDir::new("cookie");
    let cookie: PathBuf = cookie_dir.path().join(".cookie");
    let upstream = SimUpstream::start(SimUpstreamConfig {
        require_auth: Some(first.into()),
        ..Default::default()
    })
    .unwrap();
    let addr = upstream.addr();
    let mut rig = Rig::start(upstream, |cfg| {
        cfg.upstream.auth = UpstreamAuth::Cookie(cookie.clone());
    });

    // No cookie file yet (the node has not started): counted, then picked up once written.
    wait_until(Duration::from_secs(5), || {
        rig.stats()["upstream"]["refresh_errors"].as_u64() >= Some(1)
    });
    let last_error = rig.stats()["upstream"]["last_error"].clone();
    assert!(
        last_error.as_str().unwrap_or_default().contains("cookie"),
        "{last_error}"
    );
    std::fs::write(&cookie, "__cookie__:1f2e3d4c5b6a7988\n").unwrap();
    let want = rig.upstream.current_round();
    wait_until(Duration::from_secs(5), || {
        rig.mining_info()["result"]["block_hash"] == want.block_hash
    });

    // The node restarts with a new cookie: the aggregator's cached one is refused, it reads
    // the file again and carries on.
    std::fs::write(&cookie, "__cookie__:a1b2c3d4e5f60718\n").unwrap();
    rig.upstream.set_behaviour(Behaviour::Refuse);
    let restarted = SimUpstream::start(SimUpstreamConfig {
        bind: addr,
        require_auth: Some(second.into()),
        ..Default::default()
    })
    .unwrap();
    restarted.new_round();
    let want = restarted.new_round();
    rig.upstream = restarted;
    wait_until(Duration::from_secs(5), || {
        rig.mining_info()["result"]["block_hash"] == want.block_hash
    });
    assert_eq!(rig.stats()["upstream"]["reachable"], true);
}
