use super::*;

const HASH_A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const HASH_B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn tip(height: u64, hash: &str) -> Tip {
    Tip {
        height,
        block_hash: hash.to_owned(),
    }
}

/// A primary and two backups; failover after 3 failed polls, failback after 60 s.
fn three() -> Failover {
    let labels = ["http://a/", "http://b/", "http://c/"].map(String::from);
    Failover::new(labels.to_vec(), 3, 60_000, 10_000)
}

/// Every endpoint answers with the same tip at `now`.
fn all_answer(failover: &mut Failover, now: u64) {
    for index in 0..3 {
        failover.answered(index, tip(10, HASH_A), 5, now);
    }
}

#[test]
fn the_primary_stays_active_while_it_answers() {
    let mut f = three();
    all_answer(&mut f, 0);
    assert_eq!(f.decide(0), None);
    f.failed(0, "refused".into());
    f.failed(0, "refused".into());
    assert_eq!(f.decide(1_000), None, "two failures are not yet three");
    f.answered(0, tip(10, HASH_A), 5, 2_000);
    f.failed(0, "refused".into());
    f.failed(0, "refused".into());
    assert_eq!(
        f.decide(3_000),
        None,
        "an answer in between starts the count again"
    );
    assert_eq!(f.active(), 0);
}

#[test]
fn it_fails_over_to_the_first_backup_that_answers() {
    let mut f = three();
    all_answer(&mut f, 0);
    f.failed(1, "refused".into());
    for _ in 0..3 {
        f.failed(0, "timeout".into());
    }
    assert_eq!(f.decide(3_000), Some(Change::FailedOver { from: 0, to: 2 }));
    assert_eq!(f.active(), 2);
    assert_eq!(f.switches(), 1);
}

#[test]
fn without_a_live_backup_it_stays() {
    let mut f = three();
    all_answer(&mut f, 0);
    for index in 0..3 {
        for _ in 0..3 {
            f.failed(index, "refused".into());
        }
    }
    assert_eq!(f.decide(3_000), None);
    assert_eq!(f.active(), 0);
}

#[test]
fn it_fails_back_once_the_primary_has_answered_long_enough() {
    let mut f = three();
    all_answer(&mut f, 0);
    for _ in 0..3 {
        f.failed(0, "refused".into());
    }
    assert_eq!(f.decide(3_000), Some(Change::FailedOver { from: 0, to: 1 }));
    f.answered(1, tip(11, HASH_B), 5, 10_000);
    f.answered(0, tip(11, HASH_B), 5, 10_000);
    assert_eq!(f.decide(69_999), None, "answering for less than 60 s");
    f.failed(0, "refused".into());
    f.answered(0, tip(11, HASH_B), 5, 70_000);
    f.answered(1, tip(11, HASH_B), 5, 70_000);
    assert_eq!(f.decide(129_999), None, "a failure starts the 60 s again");
    f.answered(1, tip(11, HASH_B), 5, 130_000);
    f.answered(0, tip(11, HASH_B), 5, 130_000);
    assert_eq!(f.decide(130_000), Some(Change::FailedBack { from: 1 }));
    assert_eq!(f.active(), 0);
}

#[test]
fn an_endpoint_on_another_chain_is_never_used() {
    let mut f = three();
    f.answered(0, tip(10, HASH_A), 5, 0);
    let changes = f.answered(1, tip(10, HASH_B), 5, 0);
    assert!(matches!(
        changes.as_slice(),
        [Change::Disagrees { index: 1, .. }]
    ));
    let far = f.answered(2, tip(10 + MAX_HEIGHT_GAP + 1, HASH_A), 5, 0);
    assert!(matches!(
        far.as_slice(),
        [Change::Disagrees { index: 2, .. }]
    ));
    assert_eq!(f.retry_target(0, 10), None);
    for _ in 0..3 {
        f.failed(0, "refused".into());
    }
    assert_eq!(f.decide(3_000), None, "both backups are on other chains");
    // A block apart says nothing; the same block at the same height makes it a candidate.
    assert_eq!(f.answered(0, tip(11, HASH_A), 5, 4_000), vec![]);
    let again = f.answered(2, tip(11, HASH_A), 5, 4_000);
    assert_eq!(again, vec![Change::AgreesAgain { index: 2 }]);
    assert!(!f.endpoints()[1].agrees);
}

#[test]
fn a_lagging_backup_within_the_gap_agrees() {
    let reference = tip(10, HASH_A);
    assert_eq!(compare_tips(&reference, &tip(10, HASH_A)), Verdict::Same);
    let upper = tip(10, &HASH_A.to_uppercase());
    assert_eq!(compare_tips(&reference, &upper), Verdict::Same);
    assert_eq!(compare_tips(&reference, &tip(9, HASH_B)), Verdict::Unknown);
    let far = tip(10 + MAX_HEIGHT_GAP + 1, HASH_A);
    assert!(matches!(
        compare_tips(&reference, &far),
        Verdict::Different(_)
    ));
    assert!(matches!(
        compare_tips(&reference, &tip(10, HASH_B)),
        Verdict::Different(_)
    ));
}

#[test]
fn tips_seen_far_apart_in_time_are_not_compared() {
    let mut f = three();
    f.answered(1, tip(10, HASH_B), 5, 0);
    // The primary's tip at 20 s is not compared with the backup's of 0 s.
    assert_eq!(f.answered(0, tip(10, HASH_A), 5, 20_000), vec![]);
    assert!(f.endpoints().iter().all(|e| e.agrees));
}

#[test]
fn retries_go_to_a_live_endpoint_serving_the_same_height() {
    let mut f = three();
    f.answered(0, tip(10, HASH_A), 5, 0);
    f.answered(1, tip(9, HASH_B), 5, 0);
    f.answered(2, tip(10, HASH_A), 5, 0);
    assert_eq!(f.retry_target(0, 10), Some(2));
    assert_eq!(f.retry_target(0, 9), Some(1));
    assert_eq!(f.retry_target(0, 11), None);
    f.failed(2, "refused".into());
    assert_eq!(f.retry_target(0, 10), None);
}

#[test]
fn others_are_polled_less_often_unless_the_active_one_fails() {
    let mut f = three();
    all_answer(&mut f, 0);
    let polled: Vec<u64> = (1..=10).filter(|&n| f.poll_others(n, 5)).collect();
    assert_eq!(polled, vec![5, 10]);
    f.failed(0, "refused".into());
    assert!((1..=4).all(|n| f.poll_others(n, 5)));
}
