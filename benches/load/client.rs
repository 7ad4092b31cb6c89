//! The load client: HTTP/1.1 keep-alive by hand on std `TcpStream`s, pre-built request bytes.
//!
//! A few client threads each own a share of the connections and keep a fixed number of
//! requests in flight over them, oldest first: send on the next connection in turn, read the
//! oldest answer (blocking), send again. With a window as large as the share, every connection
//! always has exactly one request outstanding, as miners do. An answer carrying
//! `Connection: close` (the server closing the connection) is followed by a reconnect, counted.
//! Only answers completed inside the measuring window count; warm-up and the final drain do not.
//! Nothing here knows the server under test beyond its address.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use super::requests::{RequestMaker, Workload};
use super::wire::{
    is_timeout, open, open_served, read_answer, starved_after, Answer, CLIENT_TIMEOUT,
};

/// How a load run is shaped.
#[derive(Debug, Clone)]
pub struct LoadShape {
    pub connections: usize,
    pub threads: usize,
    /// Requests in flight per client thread (capped at its number of connections).
    pub window_per_thread: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// What one run measured.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub requests: u64,
    pub errors: u64,
    pub reconnects: u64,
    /// Fresh connections left unanswered in tiny_http's queue, replaced by the client.
    pub starved: u64,
    /// The same while the connections were first opened.
    pub starved_at_start: u64,
    /// Every answer received, warm-up and drain included (what the server did in all).
    pub all_answers: u64,
    pub seconds: f64,
    /// Microseconds, sorted.
    pub latencies_us: Vec<u32>,
}

impl LoadReport {
    pub fn per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.requests as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The `q`-quantile latency in milliseconds (0.5, 0.99, 1.0).
    pub fn latency_ms(&self, q: f64) -> f64 {
        let n = self.latencies_us.len();
        if n == 0 {
            return 0.0;
        }
        let index = ((n as f64 * q).ceil() as usize).clamp(1, n) - 1;
        self.latencies_us
            .get(index)
            .map_or(0.0, |us| *us as f64 / 1000.0)
    }
}

/// Runs `workload` against `addr`; `at_measure_start`/`at_measure_end` run on the calling thread
/// at the edges of the measuring window (the caller reads the server's CPU time there).
pub fn run_load(
    addr: SocketAddr,
    workload: &Workload,
    shape: &LoadShape,
    mut at_measure_start: impl FnMut(),
    mut at_measure_end: impl FnMut(),
) -> io::Result<LoadReport> {
    let threads = shape.threads.clamp(1, shape.connections.max(1));
    // One thread opens every connection in turn and has it served once, so that no connection
    // starts out waiting in tiny_http's queue.
    let warm = workload.warm_request(addr);
    let mut streams = Vec::with_capacity(shape.connections);
    let mut starved_at_start = 0;
    for _ in 0..shape.connections {
        let (stream, starved) = open_served(addr, &warm)?;
        streams.push(stream);
        starved_at_start += starved;
    }
    let released = Arc::new(Barrier::new(threads + 1));
    let start: Arc<OnceLock<Instant>> = Arc::new(OnceLock::new());
    let mut handles = Vec::with_capacity(threads);
    for index in 0..threads {
        let share = shape.connections / threads + usize::from(index < shape.connections % threads);
        let first_connection = shape.connections - streams.len();
        let mine: Vec<TcpStream> = streams.drain(..share).collect();
        let maker = workload.maker(index, first_connection, share, addr);
        let (released, start) = (released.clone(), start.clone());
        let shape = shape.clone();
        handles.push(
            thread::Builder::new()
                .name(format!("load-client-{index}"))
                .spawn(move || {
                    let client = ClientThread::new(addr, mine, maker);
                    released.wait();
                    let begin = start.get().copied().unwrap_or_else(Instant::now);
                    client.run(&shape, begin + shape.warmup)
                })?,
        );
    }
    let begin = Instant::now();
    let _ = start.set(begin);
    released.wait();
    let measure_start = begin + shape.warmup;
    sleep_until(measure_start);
    at_measure_start();
    sleep_until(measure_start + shape.measure);
    at_measure_end();
    let mut report = LoadReport {
        seconds: shape.measure.as_secs_f64(),
        starved_at_start,
        all_answers: shape.connections as u64,
        ..LoadReport::default()
    };
    for handle in handles {
        let part = handle
            .join()
            .map_err(|_| io::Error::other("a client thread panicked"))??;
        report.requests += part.requests;
        report.errors += part.errors;
        report.reconnects += part.reconnects;
        report.starved += part.starved;
        report.all_answers += part.all_answers;
        report.latencies_us.extend(part.latencies_us);
    }
    report.latencies_us.sort_unstable();
    Ok(report)
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        thread::sleep(when - now);
    }
}

struct ClientThread {
    addr: SocketAddr,
    connections: Vec<Connection>,
    maker: RequestMaker,
    buffer: Vec<u8>,
    report: LoadReport,
}

struct Connection {
    stream: Option<TcpStream>,
    sent_at: Instant,
    /// Opened again and not answered yet: it may be waiting in tiny_http's queue.
    fresh: bool,
}

impl ClientThread {
    fn new(addr: SocketAddr, streams: Vec<TcpStream>, maker: RequestMaker) -> ClientThread {
        let connections = streams
            .into_iter()
            .map(|stream| Connection {
                stream: Some(stream),
                sent_at: Instant::now(),
                fresh: false,
            })
            .collect();
        ClientThread {
            addr,
            connections,
            maker,
            buffer: Vec::with_capacity(8192),
            report: LoadReport::default(),
        }
    }

    fn run(mut self, shape: &LoadShape, measure_start: Instant) -> io::Result<LoadReport> {
        let deadline = measure_start + shape.measure;
        let count = self.connections.len();
        if count == 0 {
            return Ok(self.report);
        }
        let window = shape.window_per_thread.clamp(1, count);
        let mut in_flight: VecDeque<usize> = VecDeque::with_capacity(window);
        let mut next = 0;
        for _ in 0..window {
            if self.send(next) {
                in_flight.push_back(next);
            }
            next = (next + 1) % count;
        }
        while let Some(index) = in_flight.pop_front() {
            let answer = self.receive(index, measure_start, deadline);
            self.report.all_answers += u64::from(answer.is_ok());
            let now = Instant::now();
            let counted = now >= measure_start && now < deadline;
            if counted {
                match answer {
                    Ok(Answer { ok: true, .. }) => {
                        self.report.requests += 1;
                        let took = now.duration_since(self.connections[index].sent_at);
                        let took = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                        self.report.latencies_us.push(took);
                    }
                    _ => self.report.errors += 1,
                }
            }
            match answer {
                Ok(Answer { close: false, .. }) => {}
                Ok(Answer { close: true, .. }) => {
                    self.report.reconnects += u64::from(counted);
                    self.reopen(index);
                }
                Err(_) => self.reopen(index),
            }
            if now < deadline {
                if self.send(next) {
                    in_flight.push_back(next);
                } else {
                    self.report.errors += 1;
                }
                next = (next + 1) % count;
            }
        }
        Ok(self.report)
    }

    fn reopen(&mut self, index: usize) {
        let connection = &mut self.connections[index];
        connection.stream = open(self.addr).ok();
        connection.fresh = true;
        if let Some(stream) = &connection.stream {
            let _ = stream.set_read_timeout(Some(starved_after()));
        }
    }

    /// Writes the next request on connection `index`, reconnecting once if the write fails.
    fn send(&mut self, index: usize) -> bool {
        self.maker.advance(index);
        for _ in 0..2 {
            let connection = &mut self.connections[index];
            connection.sent_at = Instant::now();
            if let Some(stream) = connection.stream.as_mut() {
                if stream.write_all(self.maker.current(index)).is_ok() {
                    return true;
                }
            }
            self.reopen(index);
        }
        false
    }

    /// Reads the answer on connection `index`. A fresh connection that stays unanswered is
    /// taken to be stuck in tiny_http's queue: it is replaced and the request sent again (the
    /// latency keeps counting from the first send).
    fn receive(
        &mut self,
        index: usize,
        measure_start: Instant,
        deadline: Instant,
    ) -> io::Result<Answer> {
        let mut attempts = 0;
        loop {
            let connection = &mut self.connections[index];
            let stream = connection
                .stream
                .as_mut()
                .ok_or_else(|| io::Error::other("not connected"))?;
            let result = read_answer(stream, &mut self.buffer);
            match result {
                Err(e) if connection.fresh && is_timeout(&e) && attempts < 40 => {
                    attempts += 1;
                    let now = Instant::now();
                    if now >= measure_start && now < deadline {
                        self.report.starved += 1;
                    }
                    let sent_at = connection.sent_at;
                    self.reopen(index);
                    let connection = &mut self.connections[index];
                    if let Some(stream) = connection.stream.as_mut() {
                        stream.write_all(self.maker.current(index))?;
                    }
                    connection.sent_at = sent_at;
                }
                other => {
                    if connection.fresh {
                        connection.fresh = false;
                        let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
                    }
                    return other;
                }
            }
        }
    }
}
