//! Whole submissions as a worker hands them over: checked against their round, peeked or committed, held back behind a forward in flight.

use super::*;

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
