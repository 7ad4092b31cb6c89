//! Requests the HTTP layer refuses before any handler sees them: why, how many, and a log that
//! names each client at most once a minute.
//!
//! Counted per reason for `/stats` and `/metrics` (`pocx_aggregator_http_refused_total`). The
//! log is for the operator, not a trace: a client that sends a thousand bad heads a second gets
//! one line a minute, with the count of what it sent meanwhile.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Why a request was refused. Each maps to one status and one metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    BadContentLength,
    /// `Transfer-Encoding` with `Content-Length`, on HTTP/1.0, or as an empty list.
    AmbiguousFraming,
    UnsupportedTransferCoding,
    /// HTTP/1.1 without `Host`, or more than one.
    BadHost,
    /// A field name that is not a token or a value with control characters.
    BadField,
    UnsupportedVersion,
    RequestLineTooLong,
    FieldTooLong,
    TooManyFields,
    HeadTooLarge,
    /// A head that was still arriving past the budget (cut off by the guard).
    HeadUnfinished,
    BodyTooLarge,
    /// A request with a body still on the wire while every slow-lane thread was busy.
    Busy,
}

impl Refusal {
    pub const ALL: [Refusal; 13] = [
        Refusal::BadContentLength,
        Refusal::AmbiguousFraming,
        Refusal::UnsupportedTransferCoding,
        Refusal::BadHost,
        Refusal::BadField,
        Refusal::UnsupportedVersion,
        Refusal::RequestLineTooLong,
        Refusal::FieldTooLong,
        Refusal::TooManyFields,
        Refusal::HeadTooLarge,
        Refusal::HeadUnfinished,
        Refusal::BodyTooLarge,
        Refusal::Busy,
    ];

    /// The metric label and `/stats` key.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::BadContentLength => "bad_content_length",
            Refusal::AmbiguousFraming => "ambiguous_framing",
            Refusal::UnsupportedTransferCoding => "unsupported_transfer_coding",
            Refusal::BadHost => "bad_host",
            Refusal::BadField => "bad_field",
            Refusal::UnsupportedVersion => "unsupported_version",
            Refusal::RequestLineTooLong => "request_line_too_long",
            Refusal::FieldTooLong => "field_too_long",
            Refusal::TooManyFields => "too_many_fields",
            Refusal::HeadTooLarge => "head_too_large",
            Refusal::HeadUnfinished => "head_unfinished",
            Refusal::BodyTooLarge => "body_too_large",
            Refusal::Busy => "busy",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            Refusal::UnsupportedTransferCoding => 501,
            Refusal::UnsupportedVersion => 505,
            Refusal::RequestLineTooLong => 414,
            Refusal::FieldTooLong
            | Refusal::TooManyFields
            | Refusal::HeadTooLarge
            | Refusal::HeadUnfinished => 431,
            Refusal::BodyTooLarge => 413,
            Refusal::Busy => 503,
            Refusal::BadContentLength
            | Refusal::AmbiguousFraming
            | Refusal::BadHost
            | Refusal::BadField => 400,
        }
    }

    /// The one-line body of the answer.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::BadContentLength => "invalid or conflicting Content-Length\n",
            Refusal::AmbiguousFraming => {
                "Transfer-Encoding must not be combined with Content-Length or HTTP/1.0\n"
            }
            Refusal::UnsupportedTransferCoding => "only the chunked transfer coding is supported\n",
            Refusal::BadHost => "HTTP/1.1 needs exactly one Host field\n",
            Refusal::BadField => "invalid field name or control character in a field value\n",
            Refusal::UnsupportedVersion => "only HTTP/1.0 and HTTP/1.1 are supported\n",
            Refusal::RequestLineTooLong => "request line too long\n",
            Refusal::FieldTooLong => "header field too long\n",
            Refusal::TooManyFields => "too many header fields\n",
            Refusal::HeadTooLarge | Refusal::HeadUnfinished => "request head too large\n",
            Refusal::BodyTooLarge => "request body too large\n",
            Refusal::Busy => "busy, try again\n",
        }
    }

    fn index(self) -> usize {
        Refusal::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// How often one client address is named in the log at most.
const LOG_INTERVAL: Duration = Duration::from_secs(60);
/// Client addresses remembered for the log; beyond that the table starts afresh.
const MAX_LOGGED_CLIENTS: usize = 4_096;

/// Refusal counts by reason, shared by both ports.
#[derive(Debug, Default)]
pub struct RefusalCounts {
    counts: [AtomicU64; Refusal::ALL.len()],
    log: Mutex<HashMap<IpAddr, LogEntry>>,
}

#[derive(Debug)]
struct LogEntry {
    logged: Instant,
    /// Refused since the last line.
    unlogged: u64,
}

impl RefusalCounts {
    /// Counts one refusal and logs it unless this client was named less than a minute ago.
    pub fn record(&self, port: &str, refusal: Refusal, peer: Option<SocketAddr>) {
        if let Some(count) = self.counts.get(refusal.index()) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let Some(peer) = peer else {
            return;
        };
        let now = Instant::now();
        let mut log = self.log.lock();
        if log.len() >= MAX_LOGGED_CLIENTS && !log.contains_key(&peer.ip()) {
            log.clear();
        }
        let others = match log.get_mut(&peer.ip()) {
            Some(entry) if now.duration_since(entry.logged) < LOG_INTERVAL => {
                entry.unlogged += 1;
                return;
            }
            Some(entry) => {
                entry.logged = now;
                std::mem::take(&mut entry.unlogged)
            }
            None => {
                let entry = LogEntry {
                    logged: now,
                    unlogged: 0,
                };
                log.insert(peer.ip(), entry);
                0
            }
        };
        drop(log);
        let more = if others > 0 {
            format!(" ({others} more refused since the last line)")
        } else {
            String::new()
        };
        log::warn!(
            "{port}: refused a request from {} with {}: {}{more}",
            peer.ip(),
            refusal.status(),
            refusal.as_str()
        );
    }

    /// `(label, count)` for every reason, in a fixed order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Refusal::ALL
            .iter()
            .zip(&self.counts)
            .map(|(r, c)| (r.as_str(), c.load(Ordering::Relaxed)))
            .collect()
    }

    #[cfg(test)]
    pub fn total(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_reason_has_its_own_label_and_counter() {
        let counts = RefusalCounts::default();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        counts.record("test", Refusal::BadHost, Some(peer));
        counts.record("test", Refusal::BadHost, Some(peer));
        counts.record("test", Refusal::HeadUnfinished, None);
        let snapshot = counts.snapshot();
        assert_eq!(snapshot.len(), Refusal::ALL.len());
        assert!(snapshot.contains(&("bad_host", 2)));
        assert!(snapshot.contains(&("head_unfinished", 1)));
        assert_eq!(counts.total(), 3);
        let labels: std::collections::HashSet<_> = snapshot.iter().map(|(l, _)| *l).collect();
        assert_eq!(labels.len(), Refusal::ALL.len());
    }

    #[test]
    fn a_client_is_logged_once_a_minute_and_the_rest_is_counted() {
        let counts = RefusalCounts::default();
        let peer: SocketAddr = "10.0.0.1:9".parse().unwrap();
        for _ in 0..5 {
            counts.record("test", Refusal::BadField, Some(peer));
        }
        let log = counts.log.lock();
        let entry = log.get(&peer.ip()).unwrap();
        assert_eq!(entry.unlogged, 4);
    }
}
