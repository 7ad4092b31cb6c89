use super::*;

const HASH_A: &str = "aa01";
const HASH_B: &str = "bb02";
const ALICE: &str = "1111111111111111111111111111111111111111";
const BOB: &str = "2222222222222222222222222222222222222222";

fn pool() -> Filter {
    let mut filter = Filter::new(SubmissionMode::Pool, DEFAULT_MAX_KEYS_PER_ROUND);
    filter.start_round(&round(10, HASH_A));
    filter
}

fn wallet() -> Filter {
    let mut filter = Filter::new(SubmissionMode::Wallet, DEFAULT_MAX_KEYS_PER_ROUND);
    filter.start_round(&round(10, HASH_A));
    filter
}

/// A tracked round with no signature or base target of interest.
fn round(height: u64, block_hash: &str) -> RoundInfo {
    RoundInfo {
        height,
        generation_signature: "00".into(),
        block_hash: block_hash.into(),
        base_target: 1,
        first_seen_ms: 0,
    }
}

/// A distinct, valid account id for every number.
fn account(n: u32) -> String {
    format!("{n:040x}")
}

#[test]
fn first_submission_of_a_key_improves() {
    let mut filter = pool();
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 500),
        Offer::Improves { previous: None }
    );
    assert_eq!(filter.tracked_keys(), 1);
}

#[test]
fn only_strictly_lower_quality_improves() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 500),
        Offer::NotBetter {
            best: 500,
            accepted: None
        }
    );
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 501),
        Offer::NotBetter {
            best: 500,
            accepted: None
        }
    );
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 499),
        Offer::Improves {
            previous: Some(500)
        }
    );
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 500),
        Offer::NotBetter {
            best: 499,
            accepted: None
        }
    );
}

#[test]
fn would_improve_never_changes_anything() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.would_improve(10, HASH_A, ALICE, 400),
        Offer::Improves {
            previous: Some(500)
        }
    );
    assert_eq!(
        filter.would_improve(10, HASH_A, BOB, 900),
        Offer::Improves { previous: None }
    );
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 450),
        Offer::Improves {
            previous: Some(500)
        }
    );
    assert_eq!(filter.tracked_keys(), 1);
}

#[test]
fn pool_mode_keeps_one_best_per_account_regardless_of_hex_case() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, BOB, 900),
        Offer::Improves { previous: None }
    );
    let upper = "ABCDEF0000000000000000000000000000000001";
    filter.offer(10, HASH_A, upper, 300);
    assert_eq!(
        filter.offer(10, HASH_A, &upper.to_lowercase(), 300),
        Offer::NotBetter {
            best: 300,
            accepted: None
        }
    );
    assert_eq!(filter.tracked_keys(), 3);
}

#[test]
fn wallet_mode_keeps_one_best_for_the_whole_farm() {
    let mut filter = wallet();
    filter.offer(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, BOB, 600),
        Offer::NotBetter {
            best: 500,
            accepted: None
        }
    );
    assert_eq!(
        filter.offer(10, HASH_A, BOB, 400),
        Offer::Improves {
            previous: Some(500)
        }
    );
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 500),
        Err(DropReason::Superseded)
    );
    assert_eq!(filter.tracked_keys(), 1);
}

#[test]
fn rounds_are_height_and_block_hash_together() {
    let mut filter = pool();
    assert_eq!(filter.offer(10, HASH_B, ALICE, 1), Offer::RoundNotTracked);
    assert_eq!(filter.offer(11, HASH_A, ALICE, 1), Offer::RoundNotTracked);
    filter.start_round(&round(10, HASH_B));
    assert_eq!(
        filter.offer(10, HASH_B, ALICE, 700),
        Offer::Improves { previous: None }
    );
    // The two forks of height 10 keep separate bests.
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 800),
        Offer::Improves { previous: None }
    );
    assert!(filter.is_live(10, &HASH_A.to_uppercase()));
}

#[test]
fn only_the_last_three_rounds_stay_and_older_ones_leave_whole() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, BOB, 500);
    filter.start_round(&round(11, "11"));
    filter.start_round(&round(12, "12"));
    assert!(filter.is_live(10, HASH_A));
    filter.start_round(&round(13, "13"));
    assert!(!filter.is_live(10, HASH_A));
    assert_eq!(filter.tracked_keys(), 0);
    assert_eq!(filter.offer(10, HASH_A, ALICE, 1), Offer::RoundNotTracked);
    assert_eq!(
        filter.would_improve(10, HASH_A, ALICE, 1),
        Offer::RoundNotTracked
    );
    assert!(filter.is_live(11, "11") && filter.is_live(12, "12") && filter.is_live(13, "13"));
}

#[test]
fn window_follows_arrival_order_not_height() {
    let mut filter = pool();
    filter.start_round(&round(9, "09")); // a reorg back to a lower height arrives later
    filter.start_round(&round(8, "08"));
    filter.start_round(&round(7, "07"));
    assert!(!filter.is_live(10, HASH_A));
    assert!(filter.is_live(7, "07"));
}

#[test]
fn announcing_a_round_again_changes_nothing() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.start_round(&round(11, "11"));
    filter.start_round(&round(10, HASH_A));
    filter.start_round(&round(10, HASH_A));
    filter.start_round(&round(12, "12"));
    assert!(filter.is_live(10, HASH_A));
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 600),
        Offer::NotBetter {
            best: 500,
            accepted: None
        }
    );
}

#[test]
fn rejection_rolls_back_to_the_best_accepted() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.on_accepted(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, ALICE, 400);
    filter.on_rejected(10, HASH_A, ALICE, 400);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 450),
        Offer::Improves {
            previous: Some(500)
        }
    );
}

#[test]
fn rejection_without_any_acceptance_forgets_the_best() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.on_rejected(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 900),
        Offer::Improves { previous: None }
    );
}

#[test]
fn rejection_of_an_older_submission_keeps_a_newer_better_one() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, ALICE, 300);
    filter.on_rejected(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 400),
        Offer::NotBetter {
            best: 300,
            accepted: None
        }
    );
}

#[test]
fn late_acceptance_after_a_rollback_sets_the_floor_again() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, ALICE, 300);
    filter.on_rejected(10, HASH_A, ALICE, 300);
    filter.on_accepted(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 600),
        Offer::NotBetter {
            best: 500,
            accepted: Some(500)
        }
    );
}

#[test]
fn accepted_best_only_ever_goes_down() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, ALICE, 300);
    filter.on_accepted(10, HASH_A, ALICE, 300);
    filter.on_accepted(10, HASH_A, ALICE, 500); // the slower, worse answer arrives last
    filter.offer(10, HASH_A, ALICE, 200);
    filter.on_rejected(10, HASH_A, ALICE, 200);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 400),
        Offer::NotBetter {
            best: 300,
            accepted: Some(300)
        }
    );
}

#[test]
fn forwarding_is_worth_it_until_something_better_exists() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 500),
        Ok(())
    );
    assert_eq!(filter.still_worth_forwarding(10, HASH_A, BOB, 900), Ok(()));
    filter.offer(10, HASH_A, ALICE, 400);
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 500),
        Err(DropReason::Superseded)
    );
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 400),
        Ok(())
    );
}

#[test]
fn an_accepted_better_quality_supersedes_even_after_a_rollback() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, ALICE, 300);
    filter.on_accepted(10, HASH_A, ALICE, 300);
    filter.offer(10, HASH_A, ALICE, 200);
    filter.on_rejected(10, HASH_A, ALICE, 200);
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 500),
        Err(DropReason::Superseded)
    );
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 300),
        Ok(())
    );
}

#[test]
fn a_job_whose_round_left_the_window_has_expired() {
    let mut filter = pool();
    filter.offer(10, HASH_A, ALICE, 500);
    for height in 11..14 {
        filter.start_round(&round(height, &format!("{height:02x}")));
    }
    assert_eq!(
        filter.still_worth_forwarding(10, HASH_A, ALICE, 500),
        Err(DropReason::RoundExpired)
    );
    assert_eq!(
        filter.still_worth_forwarding(99, "ff", ALICE, 500),
        Err(DropReason::RoundExpired)
    );
}

#[test]
fn outcomes_for_rounds_no_longer_tracked_are_ignored() {
    let mut filter = pool();
    filter.on_accepted(99, "ff", ALICE, 1);
    filter.on_rejected(99, "ff", ALICE, 1);
    assert_eq!(filter.tracked_keys(), 0);
}

#[test]
fn key_cap_refuses_new_keys_but_not_known_ones() {
    let mut filter = Filter::new(SubmissionMode::Pool, 2);
    filter.start_round(&round(10, HASH_A));
    filter.offer(10, HASH_A, ALICE, 500);
    filter.offer(10, HASH_A, BOB, 500);
    assert_eq!(
        filter.would_improve(10, HASH_A, &account(3), 1),
        Offer::KeyCapReached
    );
    assert_eq!(filter.capped_total(), 0);
    assert_eq!(
        filter.offer(10, HASH_A, &account(3), 1),
        Offer::KeyCapReached
    );
    assert_eq!(
        filter.offer(10, HASH_A, &account(4), 1),
        Offer::KeyCapReached
    );
    assert_eq!(filter.capped_total(), 2);
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 400),
        Offer::Improves {
            previous: Some(500)
        }
    );
    // The cap is per round: a new round starts empty.
    filter.start_round(&round(11, "11"));
    assert_eq!(
        filter.offer(11, "11", &account(3), 1),
        Offer::Improves { previous: None }
    );
    // An acceptance for a key the full round never saw does not grow it.
    filter.on_accepted(10, HASH_A, &account(5), 1);
    assert_eq!(filter.tracked_keys(), 3);
}

#[test]
fn a_flood_of_distinct_accounts_stays_bounded() {
    let cap = 1_000;
    let mut filter = Filter::new(SubmissionMode::Pool, cap);
    for height in 0..5u64 {
        let hash = format!("{height:04x}");
        filter.start_round(&round(height, &hash));
        for n in 0..3_000u32 {
            filter.offer(height, &hash, &account(n), u64::from(n));
        }
        assert!(filter.tracked_keys() <= ROUND_WINDOW * cap);
    }
    assert_eq!(filter.tracked_keys(), ROUND_WINDOW * cap);
    assert_eq!(filter.capped_total(), 5 * 2_000);
}

#[test]
fn malformed_account_ids_never_panic_and_never_collide_with_real_ones() {
    let mut filter = pool();
    for odd in ["", "zz", "é", "11", &"1".repeat(41), &"11".repeat(1000)] {
        assert_eq!(
            filter.offer(10, HASH_A, odd, 700),
            Offer::Improves { previous: None }
        );
        filter.on_rejected(10, HASH_A, odd, 700);
        filter.on_accepted(10, HASH_A, odd, 700);
        let _ = filter.still_worth_forwarding(10, HASH_A, odd, 700);
    }
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 900),
        Offer::Improves { previous: None }
    );
    assert_eq!(
        filter.offer(10, HASH_A, "ZZ", 800),
        Offer::NotBetter {
            best: 700,
            accepted: Some(700)
        }
    );
}

#[test]
fn reaching_the_cap_is_logged_once_per_round() {
    let mut filter = Filter::new(SubmissionMode::Pool, 1);
    filter.start_round(&round(10, HASH_A));
    filter.offer(10, HASH_A, ALICE, 1);
    assert!(!filter.rounds[0].cap_warned);
    filter.offer(10, HASH_A, BOB, 1);
    assert!(filter.rounds[0].cap_warned);
    filter.start_round(&round(11, "11"));
    assert!(!filter.rounds[1].cap_warned);
}

mod properties;
mod submissions;
