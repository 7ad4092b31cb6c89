//! Random offer, accept and reject sequences against a model of the best per key.

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
