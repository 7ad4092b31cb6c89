//! The usual `submit_nonce` body read by hand in one walk over its bytes: the envelope, the
//! nine params and their hex rules together, where serde's generic reading followed by a
//! validation pass took about a third of a request worker's work on a submission.
//!
//! It takes only the plain spelling of a valid call: one JSON object with the members
//! `jsonrpc` (`"2.0"`), `method` (`"submit_nonce"`), `params` (an object of exactly the nine
//! fields, each once and valid by the rules of [`crate::submission`]) and, optionally, `id`
//! (null, an unsigned integer or a string without escapes), in any order and with any JSON
//! whitespace. Anything else — escapes, control characters, duplicate or other members, other
//! spellings of numbers, bytes after the object, text that is not UTF-8 — gives `None`, and the
//! body takes the general reading, which answers it (the same way, for what this takes).

use crate::protocol::NonceSubmission;
use crate::rpc::CallId;
use crate::submission::is_hex_digit;

use super::submit_params::Wire;

/// The call's id (`None` for a notification) and its submission, when `body` is a plain call.
pub fn plain_call(body: &[u8]) -> Option<(Option<CallId<'_>>, NonceSubmission)> {
    let mut reader = Reader {
        text: std::str::from_utf8(body).ok()?,
        at: 0,
    };
    let (mut version, mut method) = (false, false);
    let mut id = None;
    let mut submission = None;
    reader.skip_whitespace();
    reader.eat(b'{')?;
    loop {
        reader.skip_whitespace();
        let key = reader.string()?;
        reader.colon()?;
        match key {
            "jsonrpc" if !version => {
                reader.exactly("2.0")?;
                version = true;
            }
            "method" if !method => {
                reader.exactly("submit_nonce")?;
                method = true;
            }
            "id" if id.is_none() => id = Some(reader.id()?),
            "params" if submission.is_none() => submission = Some(reader.params()?),
            _ => return None,
        }
        if !reader.more()? {
            break;
        }
    }
    reader.skip_whitespace();
    let whole = reader.at == reader.text.len();
    (whole && version && method).then_some(())?;
    Some((id, submission?))
}

/// The bytes a string read here may hold: any but a quote, a backslash or a control character.
/// A table, so the loop over a string's bytes is one load and one test each.
static PLAIN: [bool; 256] = {
    let mut table = [true; 256];
    let mut byte = 0;
    while byte < 0x20 {
        table[byte] = false;
        byte += 1;
    }
    table[b'"' as usize] = false;
    table[b'\\' as usize] = false;
    table
};

/// The nine params, in the order of [`crate::protocol::SUBMIT_NONCE_FIELDS`].
#[derive(Default)]
struct Fields<'a> {
    block_hash: Option<&'a str>,
    height: Option<u64>,
    generation_signature: Option<&'a str>,
    base_target: Option<u64>,
    account_id: Option<&'a str>,
    seed: Option<&'a str>,
    nonce: Option<u64>,
    compression: Option<u64>,
    raw_quality: Option<u64>,
}

/// A position in the body. Every step checks the byte it reads, so nothing here can panic.
struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    /// Steps over the next byte when it is `wanted`; none otherwise.
    fn eat(&mut self, wanted: u8) -> Option<()> {
        (self.next()? == wanted).then_some(())
    }

    fn skip_whitespace(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    /// The `:` after a member's name, and the whitespace around it.
    fn colon(&mut self) -> Option<()> {
        self.skip_whitespace();
        self.eat(b':')?;
        self.skip_whitespace();
        Some(())
    }

    /// After a member: true at a `,` (another follows), false at the object's `}`.
    fn more(&mut self) -> Option<bool> {
        self.skip_whitespace();
        match self.next()? {
            b',' => Some(true),
            b'}' => Some(false),
            _ => None,
        }
    }

    /// A string's text between its quotes; none with an escape or a control character.
    fn string(&mut self) -> Option<&'a str> {
        // Indexing by a byte cannot leave a table of 256 entries.
        self.quoted(|byte| PLAIN[usize::from(byte)])
    }

    /// A string of hex digits only (none with anything else in it).
    fn hex(&mut self) -> Option<&'a str> {
        self.quoted(is_hex_digit)
    }

    /// The text between quotes when every byte of it is `allowed` (a quote never is).
    fn quoted(&mut self, allowed: impl Fn(u8) -> bool) -> Option<&'a str> {
        self.eat(b'"')?;
        let rest = self.text.as_bytes().get(self.at..)?;
        let end = self.at + run_length(rest, allowed);
        // Both ends are at a quote (checked next), so on character boundaries.
        let text = self.text.get(self.at..end)?;
        self.at = end;
        self.eat(b'"')?;
        Some(text)
    }

    /// A string of exactly `wanted`; none for anything else.
    fn exactly(&mut self, wanted: &str) -> Option<()> {
        (self.string()? == wanted).then_some(())
    }

    /// A JSON integer from 0 to `u64::MAX`, as JSON spells it (no sign, no leading zero), and
    /// not the start of a fraction or exponent.
    fn unsigned(&mut self) -> Option<u64> {
        let first = self.next()?;
        let mut value = u64::from(first.checked_sub(b'0').filter(|d| *d <= 9)?);
        if value > 0 {
            while let Some(digit) = self.peek().filter(u8::is_ascii_digit) {
                value = value
                    .checked_mul(10)?
                    .checked_add(u64::from(digit - b'0'))?;
                self.at += 1;
            }
        }
        let ends = !matches!(self.peek(), Some(b'0'..=b'9' | b'.' | b'e' | b'E'));
        ends.then_some(value)
    }

    fn id(&mut self) -> Option<CallId<'a>> {
        match self.peek()? {
            b'"' => self.string().map(CallId::Text),
            b'n' => {
                let rest = self.text.get(self.at..)?;
                rest.starts_with("null").then_some(())?;
                self.at += 4;
                Some(CallId::Null)
            }
            _ => self.unsigned().map(CallId::Unsigned),
        }
    }

    fn params(&mut self) -> Option<NonceSubmission> {
        let mut f = Fields::default();
        self.eat(b'{')?;
        loop {
            self.skip_whitespace();
            let key = self.string()?;
            self.colon()?;
            let fresh = match key {
                "block_hash" => f.block_hash.replace(self.hex()?).is_none(),
                "height" => f.height.replace(self.unsigned()?).is_none(),
                "generation_signature" => f.generation_signature.replace(self.hex()?).is_none(),
                "base_target" => f.base_target.replace(self.unsigned()?).is_none(),
                "account_id" => f.account_id.replace(self.hex()?).is_none(),
                "seed" => f.seed.replace(self.hex()?).is_none(),
                "nonce" => f.nonce.replace(self.unsigned()?).is_none(),
                "compression" => f.compression.replace(self.unsigned()?).is_none(),
                "raw_quality" => f.raw_quality.replace(self.unsigned()?).is_none(),
                _ => false,
            };
            if !fresh {
                return None;
            }
            if !self.more()? {
                break;
            }
        }
        f.submission()
    }
}

/// How many of the first bytes are `allowed`: a loop of its own, kept out of the caller so
/// it compiles to a load and a test per byte.
#[inline(never)]
fn run_length(bytes: &[u8], allowed: impl Fn(u8) -> bool) -> usize {
    bytes.iter().take_while(|&&byte| allowed(byte)).count()
}

impl Fields<'_> {
    /// The submission when every field is there and within its rule (hex digits only is
    /// checked already, by [`Reader::hex`]).
    fn submission(self) -> Option<NonceSubmission> {
        Wire {
            block_hash: self.block_hash?,
            height: self.height?,
            generation_signature: self.generation_signature?,
            base_target: self.base_target?,
            account_id: self.account_id?,
            seed: self.seed?,
            nonce: self.nonce?,
            compression: self.compression?,
            raw_quality: self.raw_quality?,
        }
        .with_hex_digits()
    }
}
