//! The requests the load client sends, built once as bytes and patched in place.
//!
//! `get_mining_info` is one fixed request per connection (each connection names its own
//! machine in `X-Miner`, as a farm's miners would). `submit_nonce` is a per-connection template
//! whose account id (40 hex digits) and raw quality (always 16 decimal digits) are overwritten
//! for each request: the mix is mostly submissions no better than the account's best so far,
//! with one in `IMPROVE_EVERY` improving on it. Each client thread owns its accounts, so it
//! knows each one's best without sharing anything.

use std::net::SocketAddr;

/// One submission in this many improves on its account's best; the rest do not.
pub const IMPROVE_EVERY: u64 = 20;
/// Accounts each client thread submits for.
const ACCOUNTS_PER_THREAD: usize = 25;
/// Qualities stay within 16 digits: improvements count down from here, never below 10^15.
const FIRST_BEST: u64 = 5_000_000_000_000_000;

const MINING_INFO_BODY: &str = r#"{"jsonrpc":"2.0","method":"get_mining_info","params":{},"id":1}"#;

/// The round a submission workload submits for.
#[derive(Debug, Clone)]
pub struct Round {
    pub height: u64,
    pub block_hash: String,
    pub generation_signature: String,
    pub base_target: u64,
}

#[derive(Debug, Clone)]
pub enum Workload {
    MiningInfo,
    Submit(Round),
}

impl Workload {
    /// A `get_mining_info` request, to check a new connection is served.
    pub fn warm_request(&self, addr: SocketAddr) -> Vec<u8> {
        http_request(addr, 0, MINING_INFO_BODY).into_bytes()
    }

    pub fn label(&self) -> &'static str {
        match self {
            Workload::MiningInfo => "get_mining_info",
            Workload::Submit(_) => "submit_nonce",
        }
    }

    /// The request source of client thread `thread`, for connections
    /// `first_connection..first_connection + count`.
    pub fn maker(
        &self,
        thread: usize,
        first_connection: usize,
        count: usize,
        addr: SocketAddr,
    ) -> RequestMaker {
        let connections = first_connection..first_connection + count;
        match self {
            Workload::MiningInfo => RequestMaker::Fixed(
                connections
                    .map(|c| http_request(addr, c, MINING_INFO_BODY).into_bytes())
                    .collect(),
            ),
            Workload::Submit(round) => RequestMaker::Submit(SubmitMaker::new(
                thread,
                connections
                    .map(|c| submit_template(addr, c, round))
                    .collect(),
            )),
        }
    }
}

/// Where a client thread's request bytes come from.
pub enum RequestMaker {
    Fixed(Vec<Vec<u8>>),
    Submit(SubmitMaker),
}

impl RequestMaker {
    /// Prepares the next request on the thread's connection `index`.
    pub fn advance(&mut self, index: usize) {
        if let RequestMaker::Submit(maker) = self {
            maker.advance(index);
        }
    }

    /// The bytes of the request last prepared for connection `index`.
    pub fn current(&self, index: usize) -> &[u8] {
        match self {
            RequestMaker::Fixed(requests) => requests.get(index).map_or(&[], Vec::as_slice),
            RequestMaker::Submit(maker) => maker
                .templates
                .get(index)
                .map_or(&[], |t| t.bytes.as_slice()),
        }
    }
}

pub struct SubmitMaker {
    templates: Vec<Template>,
    accounts: Vec<String>,
    bests: Vec<u64>,
    sent: u64,
}

struct Template {
    bytes: Vec<u8>,
    account_at: usize,
    quality_at: usize,
}

impl SubmitMaker {
    fn new(thread: usize, templates: Vec<Template>) -> SubmitMaker {
        let accounts = (0..ACCOUNTS_PER_THREAD)
            .map(|a| format!("{:040x}", thread * ACCOUNTS_PER_THREAD + a + 1))
            .collect();
        SubmitMaker {
            templates,
            accounts,
            bests: vec![FIRST_BEST; ACCOUNTS_PER_THREAD],
            sent: 0,
        }
    }

    fn advance(&mut self, index: usize) {
        let k = self.sent;
        self.sent += 1;
        let account = (k % ACCOUNTS_PER_THREAD as u64) as usize;
        let best = self.bests[account];
        let quality = if k.is_multiple_of(IMPROVE_EVERY) {
            let better = best - 1;
            self.bests[account] = better;
            better
        } else {
            best + 1 + k % 1000
        };
        let Some(template) = self.templates.get_mut(index) else {
            return;
        };
        let account_id = self.accounts[account].as_bytes();
        template.bytes[template.account_at..template.account_at + 40].copy_from_slice(account_id);
        let digits = format!("{quality:016}");
        template.bytes[template.quality_at..template.quality_at + 16]
            .copy_from_slice(digits.as_bytes());
    }
}

const ACCOUNT_SLOT: &str = "0000000000000000000000000000000000000000";
const QUALITY_SLOT: &str = "1111111111111111";

fn submit_template(addr: SocketAddr, connection: usize, round: &Round) -> Template {
    let body = format!(
        concat!(
            r#"{{"jsonrpc":"2.0","method":"submit_nonce","params":{{"block_hash":"{}","#,
            r#""height":{},"generation_signature":"{}","base_target":{},"account_id":"{}","#,
            r#""seed":"{}","nonce":{},"compression":1,"raw_quality":{}}},"id":1}}"#
        ),
        round.block_hash,
        round.height,
        round.generation_signature,
        round.base_target,
        ACCOUNT_SLOT,
        "ab".repeat(32),
        1_000_000 + connection,
        QUALITY_SLOT,
    );
    let bytes = http_request(addr, connection, &body).into_bytes();
    let body_at = bytes.len() - body.len();
    let account_at = body_at + body.find(ACCOUNT_SLOT).unwrap_or(0);
    let quality_at = body_at + body.find(QUALITY_SLOT).unwrap_or(0);
    Template {
        bytes,
        account_at,
        quality_at,
    }
}

/// The headers a miner sends, then `body`.
fn http_request(addr: SocketAddr, connection: usize, body: &str) -> String {
    format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: PoCX-Miner/bench\r\nAccept: */*\r\n\
         X-Miner: bench-miner-{connection}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}
