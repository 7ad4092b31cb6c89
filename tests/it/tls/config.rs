//! The TLS keys as configuration: a missing, garbled, expired or not yet valid certificate or
//! key file is an error naming its key, in both layouts and from `--check`.

use pocx_aggregator::config::from_yaml_str;

use super::pki::{write, Ca};
use crate::support::binary::run;
use crate::support::TempDir;

/// The error a seed-layout file with these `upstream` keys gets.
fn error_of(upstream_keys: &str) -> String {
    let yaml = format!("upstream:\n  url: https://127.0.0.1:9443/\n{upstream_keys}");
    match from_yaml_str(&yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn bad_certificate_and_key_files_are_errors_naming_the_key() {
    let dir = TempDir::new("tls-config");
    let ca = Ca::new("farm CA");
    let ca_path = ca.write(dir.path(), "ca.crt");
    let (cert, key) = ca.client("edge").write(dir.path(), "edge");
    let (expired, _) = ca.expired_client().write(dir.path(), "expired");
    let (_, other_key) = ca.client("other").write(dir.path(), "other");
    let (future, _) = ca.future_client().write(dir.path(), "future");
    let garbage = write(dir.path(), "garbage.pem", "this is not a certificate\n");
    let broken = write(
        dir.path(),
        "broken.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    let missing = dir.path().join("missing.crt");
    let key_line = format!("  client_key_path: {}\n", key.display());
    let cert_line = format!("  client_cert_path: {}\n", cert.display());
    let cases = [
        (
            format!("  ca_cert_path: {}\n", missing.display()),
            "upstream.ca_cert_path",
            "cannot read",
        ),
        (
            format!("  ca_cert_path: {}\n", garbage.display()),
            "upstream.ca_cert_path",
            "holds no PEM certificate",
        ),
        (
            format!("  ca_cert_path: {}\n", broken.display()),
            "upstream.ca_cert_path",
            "is not X.509",
        ),
        (
            format!("  ca_cert_path: {}\n", expired.display()),
            "upstream.ca_cert_path",
            "has expired",
        ),
        (
            format!("  ca_cert_path: {}\n", future.display()),
            "upstream.ca_cert_path",
            "is not valid yet",
        ),
        (
            "  ca_only: true\n".to_owned(),
            "upstream.ca_only",
            "needs `ca_cert_path`",
        ),
        (
            format!("  client_cert_path: {}\n{key_line}", expired.display()),
            "upstream.client_cert_path",
            "has expired",
        ),
        (
            format!("  client_cert_path: {}\n{key_line}", missing.display()),
            "upstream.client_cert_path",
            "cannot read",
        ),
        (
            format!("{cert_line}  client_key_path: {}\n", garbage.display()),
            "upstream.client_key_path",
            "holds no PEM private key",
        ),
        (
            format!("{cert_line}  client_key_path: {}\n", ca_path.display()),
            "upstream.client_key_path",
            "holds no PEM private key",
        ),
        (
            format!("{cert_line}  client_key_path: {}\n", other_key.display()),
            "upstream.client_key_path",
            "not the key of the certificate",
        ),
        (
            cert_line.clone(),
            "upstream.client_cert_path",
            "needs `client_key_path`",
        ),
        (
            key_line.clone(),
            "upstream.client_key_path",
            "needs `client_cert_path`",
        ),
        (
            "  site_name: \"caf\u{e9}\"\n".to_owned(),
            "upstream.site_name",
            "printable ASCII",
        ),
        (
            "  site_name: \" padded\"\n".to_owned(),
            "upstream.site_name",
            "printable ASCII",
        ),
    ];
    for (keys, key, words) in cases {
        let error = error_of(&keys);
        assert!(
            error.contains(key) && error.contains(words),
            "{keys}\n→ {error}"
        );
    }
    // The TLS keys over plain HTTP would protect nothing: an error, not a silent no-op.
    let plain = format!(
        "upstream:\n  url: http://127.0.0.1:9080/\n  ca_cert_path: {}\n",
        ca_path.display()
    );
    let error = from_yaml_str(&plain).unwrap_err().to_string();
    assert!(
        error.contains("upstream.ca_cert_path") && error.contains("https://"),
        "{error}"
    );
    // Good files load, with every certificate of the CA file and the client chain.
    let two = write(
        dir.path(),
        "two.crt",
        &format!("{}{}", ca.pem, Ca::new("second").pem),
    );
    let good = format!("  ca_cert_path: {}\n{cert_line}{key_line}", two.display());
    let yaml =
        format!("upstream:\n  url: https://127.0.0.1:9443/\n  site_name: north-site\n{good}");
    let config = from_yaml_str(&yaml).unwrap();
    assert_eq!(config.upstream.tls.ca_certs.len(), 2);
    assert!(!config.upstream.tls.ca_only);
    assert_eq!(
        config.upstream.tls.client.as_ref().map(|c| c.chain.len()),
        Some(1)
    );
    assert_eq!(config.upstream.site_name, "north-site");
}

#[test]
fn the_site_name_defaults_to_the_host_name() {
    let config = from_yaml_str("upstream:\n  url: http://127.0.0.1:9/\n").unwrap();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(config.upstream.site_name, host.trim());
}

#[test]
fn the_reference_layout_takes_the_same_keys_and_check_reports_a_bad_file() {
    let dir = TempDir::new("tls-check");
    let ca = Ca::new("farm CA");
    let ca_path = ca.write(dir.path(), "ca.crt");
    let (expired, _) = ca.expired_client().write(dir.path(), "expired");
    let reference = |ca_file: &std::path::Path| {
        format!(
            "server:\n  listen_address: 127.0.0.1:18080\n  trusted_proxies: [127.0.0.1, 10.0.0.0/8]\n\
             upstream:\n  rpc_transport: https\n  rpc_host: core.farm.example\n  rpc_port: 8443\n\
             \x20 ca_cert_path: {}\n  ca_only: true\n  site_name: north-site\n",
            ca_file.display()
        )
    };
    let config = from_yaml_str(&reference(&ca_path)).unwrap();
    assert_eq!(config.upstream.url, "https://core.farm.example:8443");
    assert!(config.upstream.tls.ca_only);
    assert_eq!(
        config.server.trusted_proxies.entries(),
        ["127.0.0.1/32", "10.0.0.0/8"]
    );

    let path = dir.path().join("config.yaml");
    std::fs::write(&path, reference(&expired)).unwrap();
    let done = run(dir.path(), &["--config", path.to_str().unwrap(), "--check"]);
    assert_eq!(done.code, Some(2), "{}", done.output());
    assert!(
        done.stderr.contains("upstream.ca_cert_path") && done.stderr.contains("has expired"),
        "{}",
        done.output()
    );
    let bad_proxy =
        "server:\n  trusted_proxies: [10.0.0.0/40]\nupstream:\n  url: http://127.0.0.1:9/\n";
    let error = from_yaml_str(bad_proxy).unwrap_err().to_string();
    assert!(error.contains("server.trusted_proxies[0]"), "{error}");
}
