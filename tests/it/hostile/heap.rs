//! A counting global allocator for the whole test binary, and [`peak_heap`] to measure one call.
//!
//! It forwards every request to the system allocator unchanged. Only while a thread is inside
//! `peak_heap` does it also count, for that thread alone, the bytes requested minus the bytes
//! freed, and remember the highest value reached. Other threads and other tests pay one
//! thread-local flag check per allocation and are otherwise untouched.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct CountingAllocator;

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

thread_local! {
    // Const-initialised and without destructors: reading them never allocates, so the
    // allocator can use them safely, even while the thread is being torn down.
    static MEASURING: Cell<bool> = const { Cell::new(false) };
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn grew(bytes: usize) {
    if !MEASURING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    let _ = LIVE.try_with(|live| {
        let now = live.get().saturating_add(bytes);
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn shrank(bytes: usize) {
    if !MEASURING.try_with(Cell::get).unwrap_or(false) {
        return;
    }
    let bytes = isize::try_from(bytes).unwrap_or(isize::MAX);
    // Memory allocated before the measurement began may be freed during it: the count can go
    // below zero, which only makes the peak an honest "most held above the starting point".
    let _ = LIVE.try_with(|live| live.set(live.get().saturating_sub(bytes)));
}

// SAFETY: every method hands the request to `System` with the caller's own arguments and
// returns its answer unchanged; the counting touches only thread-local integers.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            grew(layout.size());
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's guarantees.
        unsafe { System.dealloc(pointer, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's guarantees.
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            // Counted as one step: a moving realloc briefly holds both blocks, which the peak
            // ignores, so budgets below leave room for a factor of two on growing buffers.
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                shrank(layout.size() - new_size);
            }
        }
        moved
    }
}

/// Stops measuring when `peak_heap` is left, also by a panic.
struct MeasuringGuard;

impl Drop for MeasuringGuard {
    fn drop(&mut self) {
        MEASURING.with(|measuring| measuring.set(false));
    }
}

/// Runs `work` and returns its result with the most heap bytes this thread held at once during
/// the call, above what it held when the call began. What `work` returns is counted too.
pub fn peak_heap<R>(work: impl FnOnce() -> R) -> (R, usize) {
    LIVE.with(|live| live.set(0));
    PEAK.with(|peak| peak.set(0));
    MEASURING.with(|measuring| measuring.set(true));
    let guard = MeasuringGuard;
    let result = work();
    drop(guard);
    let peak = PEAK.with(Cell::get);
    (result, usize::try_from(peak).unwrap_or(0))
}

/// The most heap a parser may hold for `input_len` bytes of input: linear in the input, since a
/// parsed tree is bigger than its text, plus a constant for fixed-size tables and messages.
pub fn budget(input_len: usize) -> usize {
    input_len.saturating_mul(64).saturating_add(1 << 20)
}

#[test]
fn the_counter_sees_allocations_and_frees() {
    let ((), held) = peak_heap(|| {
        let block = vec![0u8; 100_000];
        std::hint::black_box(&block);
    });
    assert!(held >= 100_000, "{held}");
    let (kept, held) = peak_heap(|| {
        let mut growing: Vec<u64> = Vec::new();
        for value in 0..10_000u64 {
            growing.push(value);
        }
        growing
    });
    assert!((80_000..200_000).contains(&held), "{held}");
    drop(kept);
    let ((), freed_early) = peak_heap(|| {
        for _ in 0..100 {
            std::hint::black_box(vec![1u8; 10_000]);
        }
    });
    assert!(freed_early < 20_000, "{freed_early}");
}
