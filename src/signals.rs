//! SIGINT/SIGTERM handling: the first signal asks for an orderly stop, a second one exits at once.
//!
//! Owns only a flag; `main` waits on it and then shuts the app down (which drains and flushes).
//! Nothing here touches other threads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};

pub struct StopSignal {
    raised: Arc<AtomicBool>,
}

impl StopSignal {
    pub fn install() -> io::Result<StopSignal> {
        let raised = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            // Registered first, so it sees the flag before the second registration sets it:
            // a signal arriving while the flag is already up terminates the process.
            signal_hook::flag::register_conditional_shutdown(signal, 130, raised.clone())?;
            signal_hook::flag::register(signal, raised.clone())?;
        }
        Ok(StopSignal { raised })
    }

    pub fn is_raised(&self) -> bool {
        self.raised.load(Ordering::Acquire)
    }

    /// Blocks until a stop is asked for.
    pub fn wait(&self) {
        while !self.is_raised() {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
