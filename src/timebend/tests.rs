use super::reference::{reference_poc_time, reference_scale_u128};
use super::*;
use proptest::prelude::*;

const MAINNET_BLOCK_TIME: u64 = 120;

#[test]
fn scale_for_mainnet_block_time_is_the_published_constant() {
    let bender = TimeBender::new(MAINNET_BLOCK_TIME).unwrap();
    assert_eq!(bender.scale_q(), 119_822_714_572_729);
    assert_eq!(
        reference_scale_u128(MAINNET_BLOCK_TIME),
        119_822_714_572_729
    );
}

#[test]
fn real_submission_from_a_one_gib_plot_bends_to_1096_seconds() {
    assert_eq!(
        poc_time(2_387_302_541_580_475, 36_650_387_592, MAINNET_BLOCK_TIME),
        Some(1096)
    );
}

#[test]
fn every_reference_vector_matches_bit_for_bit() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/vectors/time_bending.csv"
    );
    let text = std::fs::read_to_string(path).unwrap();
    let mut rows = 0;
    for line in text.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let fields: Vec<u64> = line.split(',').map(|f| f.trim().parse().unwrap()).collect();
        let [raw, base_target, block_time, expected] = fields[..] else {
            panic!("malformed vector row: {line}");
        };
        assert_eq!(
            poc_time(raw, base_target, block_time),
            Some(expected),
            "row {line}"
        );
        assert_eq!(
            TimeBender::new(block_time)
                .unwrap()
                .poc_time(raw, base_target),
            Some(expected)
        );
        rows += 1;
    }
    assert!(rows >= 20, "only {rows} vectors read");
}

#[test]
fn zero_base_target_or_block_time_is_refused() {
    assert_eq!(poc_time(1, 0, MAINNET_BLOCK_TIME), None);
    assert_eq!(poc_time(1, 1, 0), None);
    assert_eq!(TimeBender::new(0), None);
    assert_eq!(TimeBender::new(240).unwrap().poc_time(5, 0), None);
}

#[test]
fn zero_quality_is_instant() {
    assert_eq!(poc_time(0, 1, MAINNET_BLOCK_TIME), Some(0));
    assert_eq!(poc_time(0, u64::MAX, u64::MAX), Some(0));
}

#[test]
fn extreme_inputs_match_the_reference_without_panicking() {
    for block_time in [1, 2, 3, u64::from(u32::MAX), u64::MAX - 1, u64::MAX] {
        let bender = TimeBender::new(block_time).unwrap();
        assert_eq!(bender.scale_q(), reference_scale_u128(block_time));
        for (raw, base_target) in [(u64::MAX, 1), (1, u64::MAX), (u64::MAX, u64::MAX)] {
            assert_eq!(
                bender.poc_time(raw, base_target),
                Some(reference_poc_time(raw, base_target, block_time)),
                "raw {raw}, base target {base_target}, block time {block_time}"
            );
        }
    }
}

#[test]
fn switching_block_time_on_one_thread_uses_the_right_constant() {
    let raw = 4_398_046_511_104;
    let at_120 = poc_time(raw, 18_325_193_796, 120);
    let at_240 = poc_time(raw, 18_325_193_796, 240);
    assert_ne!(at_120, at_240);
    assert_eq!(poc_time(raw, 18_325_193_796, 120), at_120);
}

/// Block times: mostly realistic ones, some anywhere in u64.
fn block_times() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(120u64),
        Just(240u64),
        1..=3_600u64,
        any::<u64>().prop_map(|t| t.max(1)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn agrees_with_the_naive_reference(
        raw in any::<u64>(),
        base_target in 1..=u64::MAX,
        block_time in block_times(),
    ) {
        let bender = TimeBender::new(block_time).unwrap();
        prop_assert_eq!(bender.scale_q(), reference_scale_u128(block_time));
        prop_assert_eq!(
            bender.poc_time(raw, base_target),
            Some(reference_poc_time(raw, base_target, block_time))
        );
    }

    #[test]
    fn realistic_qualities_agree_with_the_reference(
        raw in 0..(1u64 << 56),
        base_target in 1_000_000..100_000_000_000u64,
    ) {
        prop_assert_eq!(
            poc_time(raw, base_target, MAINNET_BLOCK_TIME),
            Some(reference_poc_time(raw, base_target, MAINNET_BLOCK_TIME))
        );
    }

    #[test]
    fn a_better_quality_never_bends_to_a_longer_time(
        a in any::<u64>(), b in any::<u64>(), base_target in 1..=u64::MAX,
    ) {
        let (better, worse) = (a.min(b), a.max(b));
        let bender = TimeBender::new(MAINNET_BLOCK_TIME).unwrap();
        prop_assert!(bender.poc_time(better, base_target) <= bender.poc_time(worse, base_target));
    }
}
