//! Stopping worker threads within a deadline, shared by the stages that must not let a thread
//! stuck in a call (an upstream that hangs, a client that stalls) hold up shutdown.
//!
//! Each thread holds a clone of an "alive" sender and drops it when it returns; the receiver
//! disconnects once all have. Threads that returned are joined; the rest are left behind
//! (they end by themselves when their call times out). Owns no threads itself.

use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// Waits until every holder of `alive`'s sender has dropped it (true) or `deadline` passes.
pub fn wait_all_returned(alive: &Receiver<()>, deadline: Instant) -> bool {
    loop {
        match alive.recv_deadline(deadline) {
            Ok(()) => continue,
            Err(RecvTimeoutError::Disconnected) => return true,
            Err(RecvTimeoutError::Timeout) => return false,
        }
    }
}

/// What joining found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Joined {
    pub panicked: usize,
    pub left_behind: usize,
}

/// Joins the threads that have returned (all of them when `all_returned`; joining those cannot
/// block on a call) and leaves the others behind.
pub fn join_returned(handles: Vec<JoinHandle<()>>, all_returned: bool) -> Joined {
    let mut joined = Joined::default();
    for handle in handles {
        if all_returned || handle.is_finished() {
            if handle.join().is_err() {
                joined.panicked += 1;
            }
        } else {
            joined.left_behind += 1;
        }
    }
    joined
}
