//! The slow lane: requests whose body is still on the wire when they reach a worker.
//!
//! tiny_http reads a body of up to 1 KiB before handing the request over (every real miner
//! request fits), but a larger or chunked body is read by whoever takes the request. A client that
//! sends the head of such a request and then stalls would hold a worker for the whole I/O
//! timeout, and a handful of them would stall every miner. So workers pass such requests here:
//! a few threads of their own, fed by a bounded queue; when it is full the request is answered
//! 503 and closed (`refuse`). The lane runs the same serving code as a worker.

use std::io;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

use super::Worker;

/// Threads serving slow requests.
const THREADS: usize = 2;
/// Slow requests waiting for a thread.
const QUEUE: usize = 32;
/// How long shutdown waits for a slow request in progress before leaving its thread behind.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(500);

/// True when tiny_http has not read the body already: a declared length above its 1 KiB
/// read-ahead, a chunked body, or a client waiting for `100 Continue`.
pub fn body_still_on_the_wire(request: &tiny_http::Request) -> bool {
    let header = |name: &'static str| request.headers().iter().any(|h| h.field.equiv(name));
    match request.body_length() {
        Some(length) => length > 1024 || (length > 0 && header("Expect")),
        None => header("Transfer-Encoding"),
    }
}

pub struct SlowLane {
    pub sender: Sender<tiny_http::Request>,
    threads: Vec<JoinHandle<()>>,
    /// Disconnects once every lane thread has returned.
    alive: Receiver<()>,
}

impl SlowLane {
    pub fn start(template: &Worker) -> io::Result<SlowLane> {
        let (sender, receiver) = bounded::<tiny_http::Request>(QUEUE);
        let (alive_tx, alive) = bounded::<()>(1);
        let mut threads = Vec::with_capacity(THREADS);
        for index in 0..THREADS {
            let worker = template.clone();
            let receiver = receiver.clone();
            let alive_tx = alive_tx.clone();
            threads.push(
                thread::Builder::new()
                    .name(format!("{}-slow-{index}", worker.config.name))
                    .spawn(move || {
                        let _alive = alive_tx;
                        for request in receiver {
                            worker.serve_now(request);
                        }
                    })?,
            );
        }
        Ok(SlowLane {
            sender,
            threads,
            alive,
        })
    }

    /// Stops taking requests; waits briefly for those in progress, then leaves a thread stuck
    /// on a stalled client behind (it ends by itself at the I/O timeout).
    pub fn shutdown(self, name: &str) {
        let SlowLane {
            sender,
            threads,
            alive,
        } = self;
        drop(sender);
        let all_returned =
            crate::threads::wait_all_returned(&alive, Instant::now() + SHUTDOWN_GRACE);
        let left = crate::threads::join_returned(threads, all_returned).left_behind;
        if left > 0 {
            log::debug!("{name}: {left} slow request(s) still reading at shutdown; left behind");
        }
    }
}
