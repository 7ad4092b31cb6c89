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

/// A submission for round (10, `HASH_A`) as a worker hands it over.
fn job(account: &str, raw: u64) -> ForwardJob {
    ForwardJob {
        submission: crate::protocol::NonceSubmission {
            block_hash: HASH_A.to_uppercase(),
            height: 10,
            generation_signature: "00".into(),
            base_target: 1,
            account_id: account.into(),
            seed: String::new(),
            nonce: raw,
            compression: 1,
            raw_quality: raw,
        },
        machine: "m".into(),
        poc_time: 0,
        received_ms: 0,
    }
}

#[test]
fn a_submission_is_checked_against_its_round() {
    let mut filter = pool();
    let mut other = job(ALICE, 5);
    other.submission.block_hash = HASH_B.into();
    assert_eq!(filter.take(&other, true), Verdict::UnknownRound);
    let mut forged = job(ALICE, 5);
    forged.submission.generation_signature = "01".into();
    assert_eq!(filter.take(&forged, true), Verdict::WrongSignature);
    let mut claimed = job(ALICE, 5);
    claimed.submission.base_target = 2;
    assert_eq!(
        filter.take(&claimed, true),
        Verdict::WrongBaseTarget { expected: 1 }
    );
    assert_eq!(filter.tracked_keys(), 0, "none of them counted");
    // The upstream corrects the base target of the round in progress: it holds from now on.
    filter.start_round(&RoundInfo {
        base_target: 2,
        ..round(10, HASH_A)
    });
    assert_eq!(filter.take(&claimed, true), Verdict::Forward);
}

#[test]
fn a_peek_changes_nothing_and_a_commit_makes_the_best() {
    let mut filter = pool();
    assert_eq!(filter.take(&job(ALICE, 500), false), Verdict::Forward);
    assert_eq!(filter.take(&job(ALICE, 600), false), Verdict::Forward);
    assert_eq!(filter.take(&job(ALICE, 500), true), Verdict::Forward);
    assert_eq!(filter.take(&job(ALICE, 600), false), Verdict::Filtered);
    assert_eq!(filter.held(), 0, "a peek holds nothing back");
}

#[test]
fn keeps_only_the_best_useful_submission_per_key_and_sends_it_after_a_refusal() {
    let mut filter = pool();
    filter.take(&job(ALICE, 300), true);
    filter.on_accepted(10, HASH_A, ALICE, 400);
    filter.take(&job(ALICE, 200), true);
    assert_eq!(filter.take(&job(ALICE, 500), true), Verdict::Filtered);
    assert_eq!(filter.held(), 0, "no better than what was accepted");
    filter.take(&job(ALICE, 350), true);
    filter.take(&job(&ALICE.to_uppercase(), 380), true);
    filter.take(&job(BOB, 100), true);
    filter.take(&job(BOB, 900), true);
    assert_eq!(filter.held(), 2);
    // Refused in a round that is over upstream: the held one leaves unsent.
    assert!(filter.roll_back(&job(BOB, 100), false).is_none());
    assert_eq!(filter.held(), 1);
    let resent = filter.roll_back(&job(ALICE, 200), true).unwrap();
    assert_eq!(resent.submission.raw_quality, 350);
    assert_eq!(filter.held(), 0);
    // It is the key's best now.
    assert_eq!(
        filter.offer(10, HASH_A, ALICE, 360),
        Offer::NotBetter {
            best: 350,
            accepted: Some(400)
        }
    );
    assert!(filter.roll_back(&job(ALICE, 350), true).is_none());
}

#[test]
fn wallet_mode_holds_one_per_round() {
    let mut filter = wallet();
    filter.take(&job(ALICE, 100), true);
    filter.take(&job(ALICE, 300), true);
    filter.take(&job(BOB, 200), true);
    assert_eq!(filter.held(), 1);
    let resent = filter.roll_back(&job(&account(3), 100), true).unwrap();
    assert_eq!(resent.submission.account_id, BOB);
}

#[test]
fn held_back_submissions_leave_with_their_round() {
    let mut filter = pool();
    filter.take(&job(ALICE, 100), true);
    filter.take(&job(ALICE, 300), true);
    assert_eq!(filter.held(), 1);
    for height in 11..14 {
        filter.start_round(&round(height, &format!("{height:02x}")));
    }
    assert_eq!(filter.held(), 0);
    assert!(filter.roll_back(&job(ALICE, 100), true).is_none());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Offer(u8, u64),
        Accept(u8, u64),
        Reject(u8, u64),
    }

    fn steps() -> impl Strategy<Value = Vec<Step>> {
        let step = prop_oneof![
            (0..3u8, 0..50u64).prop_map(|(a, q)| Step::Offer(a, q)),
            (0..3u8, 0..50u64).prop_map(|(a, q)| Step::Accept(a, q)),
            (0..3u8, 0..50u64).prop_map(|(a, q)| Step::Reject(a, q)),
        ];
        prop::collection::vec(step, 0..40)
    }

    proptest! {
        /// Whatever happened, nothing at or above an accepted quality is let through again,
        /// and the best reported is never above the lowest accepted one.
        #[test]
        fn an_accepted_best_is_never_lost(steps in steps()) {
            let mut filter = pool();
            let mut lowest_accepted: [Option<u64>; 3] = [None; 3];
            for step in steps {
                match step {
                    Step::Offer(a, q) => {
                        let verdict = filter.offer(10, HASH_A, &account(a.into()), q);
                        if let Some(floor) = lowest_accepted[usize::from(a)] {
                            match verdict {
                                Offer::Improves { .. } => prop_assert!(q < floor),
                                Offer::NotBetter { best, accepted } => {
                                    prop_assert!(best <= floor);
                                    prop_assert_eq!(accepted, Some(floor));
                                }
                                other => prop_assert!(false, "unexpected {:?}", other),
                            }
                        }
                    }
                    Step::Accept(a, q) => {
                        filter.on_accepted(10, HASH_A, &account(a.into()), q);
                        let slot = &mut lowest_accepted[usize::from(a)];
                        *slot = Some(slot.map_or(q, |c| c.min(q)));
                    }
                    Step::Reject(a, q) => filter.on_rejected(10, HASH_A, &account(a.into()), q),
                }
            }
        }
    }
}
