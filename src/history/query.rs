//! `GET /history?subject=…&range=24h|7d[&kind=farm|machine|account]`: one subject's hours and
//! alert changes as JSON, read from the [`HistoryBook`].
//!
//! The query string is untrusted: it is percent-decoded (`+` is a space) and checked before
//! anything is looked up; a bad one gets 400 with a one-line reason. An unknown subject gets
//! its empty lists, not an error: a machine that has not finished an hour yet has no points.
//! No I/O: the caller serves the status and body.

use serde_json::{json, Value};

use super::{HistoryBook, MS_PER_HOUR};
use crate::events::SubjectKind;

/// Longest subject name accepted (machine names are shorter; account ids are 40 hex digits).
const MAX_SUBJECT_BYTES: usize = 256;

/// The ranges the charts offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Range {
    Day,
    Week,
}

impl Range {
    fn named(name: &str) -> Option<Range> {
        match name {
            "24h" => Some(Range::Day),
            "7d" => Some(Range::Week),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Range::Day => "24h",
            Range::Week => "7d",
        }
    }

    pub fn millis(self) -> u64 {
        match self {
            Range::Day => 24 * MS_PER_HOUR,
            Range::Week => 7 * 24 * MS_PER_HOUR,
        }
    }
}

/// A checked `/history` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryQuery {
    pub subject: String,
    pub kind: Option<SubjectKind>,
    pub range: Range,
}

/// Reads the query string (without `?`). `Err` is the reason, for a 400.
pub fn parse(query: &str) -> Result<HistoryQuery, String> {
    let (mut subject, mut kind, mut range) = (None, None, None);
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode(key)?;
        let value = decode(value)?;
        let slot_taken = match key.as_str() {
            "subject" => subject.replace(value).is_some(),
            "kind" => {
                let named = SubjectKind::named(&value).ok_or_else(|| {
                    format!("kind must be farm, machine or account, not {value:?}")
                })?;
                kind.replace(named).is_some()
            }
            "range" => {
                let named = Range::named(&value)
                    .ok_or_else(|| format!("range must be 24h or 7d, not {value:?}"))?;
                range.replace(named).is_some()
            }
            // Anything else (a cache buster) changes nothing.
            _ => false,
        };
        if slot_taken {
            return Err(format!("{key} given more than once"));
        }
    }
    let subject = subject.ok_or("subject is missing (farm, a machine or an account)")?;
    if subject.is_empty() {
        return Err("subject is empty".to_owned());
    }
    if subject.len() > MAX_SUBJECT_BYTES {
        return Err(format!("subject is longer than {MAX_SUBJECT_BYTES} bytes"));
    }
    Ok(HistoryQuery {
        subject,
        kind,
        range: range.unwrap_or(Range::Day),
    })
}

fn decode(text: &str) -> Result<String, String> {
    let spaced = text.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "the query is not UTF-8 once decoded".to_owned())
}

/// The status and JSON body for `GET /history` with this query string.
pub fn answer(book: &HistoryBook, query: &str, now_ms: u64) -> (u16, String) {
    let q = match parse(query) {
        Ok(q) => q,
        Err(why) => return (400, json!({ "error": why }).to_string()),
    };
    (200, document(book, &q, now_ms).to_string())
}

fn document(book: &HistoryBook, q: &HistoryQuery, now_ms: u64) -> Value {
    let from_ms = now_ms.saturating_sub(q.range.millis());
    let kind = q.kind.or_else(|| book.kind_of(&q.subject));
    let points: Vec<Value> = kind
        .map(|kind| book.points(kind, &q.subject, from_ms))
        .unwrap_or_default()
        .iter()
        .map(|p| {
            json!({
                "hour_ms": p.hour_ms,
                "capacity_tib": p.capacity_tib(),
                "rounds": p.rounds,
                "submissions": p.submissions,
            })
        })
        .collect();
    let alerts: Vec<Value> = book
        .alerts(kind, &q.subject, from_ms)
        .iter()
        .map(|a| a.to_json())
        .collect();
    json!({
        "subject": q.subject,
        "kind": kind.map(SubjectKind::as_str),
        "range": q.range.as_str(),
        "from_ms": from_ms,
        "to_ms": now_ms,
        "points": points,
        "alerts": alerts,
    })
}
