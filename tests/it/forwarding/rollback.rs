//! Rollback: after the upstream refuses a submission, the account competes against its best
//! accepted one again.

use std::time::Duration;

use serde_json::json;

use pocx_aggregator::sim::{Behaviour, SimUpstreamConfig};

use super::kit::*;
use crate::support::{account, Farm};

#[test]
fn a_rejection_rolls_the_account_back_to_its_best_accepted() {
    let farm = Farm::start();
    let round = farm.wait_for_round();
    let a = account(1);
    result(&farm.submit(&round, &a, 500));
    wait_for_outcomes(&farm, 1);
    farm.upstream
        .script_submit_answers(vec![Behaviour::RpcError(-32001)]);
    result(&farm.submit(&round, &a, 300));
    wait_for_outcomes(&farm, 2);
    // 300 never counted: 400 beats the accepted 500 and goes up; 450 does not.
    result(&farm.submit(&round, &a, 400));
    wait_for_outcomes(&farm, 3);
    result(&farm.submit(&round, &a, 450));
    result(&farm.submit(&round, &a, 350));
    let counted = wait_for_outcomes(&farm, 4);
    let qualities: Vec<u64> = received(&farm).into_iter().map(|(_, q)| q).collect();
    assert_eq!(qualities, [500, 300, 400, 350]);
    assert_eq!(
        (counted["accepted"].clone(), counted["rejected"].clone()),
        (json!(3), json!(1))
    );
    // Without anything accepted, a rejection leaves the account open to any quality.
    let b = account(2);
    farm.upstream
        .script_submit_answers(vec![Behaviour::RpcError(-32007)]);
    result(&farm.submit(&round, &b, 100));
    wait_for_outcomes(&farm, 5);
    result(&farm.submit(&round, &b, 900));
    wait_for_outcomes(&farm, 6);
    let for_b: Vec<u64> = received(&farm)
        .into_iter()
        .filter(|(who, _)| *who == b)
        .map(|(_, q)| q)
        .collect();
    assert_eq!(for_b, [100, 900]);
}

#[test]
fn a_submission_held_back_behind_a_refused_one_still_goes_up() {
    let farm = Farm::start_with(SimUpstreamConfig::default(), |cfg| {
        cfg.upstream.retry_backoff = vec![Duration::from_millis(1000)];
    });
    let round = farm.wait_for_round();
    farm.upstream
        .script_submit_answers(vec![Behaviour::Http500, Behaviour::RpcError(-26)]);
    result(&farm.submit(&round, &account(1), 300));
    wait_for_calls(&farm, &account(1), 1);
    // While 300 backs off, an honest 400 from another machine of the account is held back.
    result(&farm.submit(&round, &account(1), 400));
    // 300 is refused for good; 400 is now the account's best and reaches upstream.
    let calls = wait_for_calls(&farm, &account(1), 3);
    assert_eq!(calls[2].params["raw_quality"], 400);
    let counted = wait_for_outcomes(&farm, 2);
    assert_eq!(
        (counted["rejected"].as_u64(), counted["accepted"].as_u64()),
        (Some(1), Some(1))
    );
}
