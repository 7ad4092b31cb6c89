//! Stopping threads. Worker threads within a deadline, shared by the stages that must not let a
//! thread stuck in a call (an upstream that hangs, a client that stalls) hold up shutdown: each
//! holds a clone of an "alive" sender and drops it when it returns; the receiver disconnects once
//! all have. Threads that returned are joined; the rest are left behind (they end by themselves
//! when their call times out). And [`Ticker`], a thread that wakes up now and then until told
//! to stop.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crossbeam_channel::{Receiver, RecvTimeoutError};

/// A named thread running `body` with a stop flag; it parks between rounds of work
/// (`thread::park_timeout`), and stopping raises the flag, unparks it and joins it.
pub struct Ticker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    pub fn spawn(
        name: String,
        body: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> io::Result<Ticker> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread_stop = stop.clone();
        let thread = thread::Builder::new()
            .name(name)
            .spawn(move || body(&thread_stop))?;
        Ok(Ticker {
            stop,
            thread: Some(thread),
        })
    }

    pub fn shutdown(mut self) {
        self.stop_and_join();
    }

    fn stop_and_join(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.stop_and_join();
    }
}

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
