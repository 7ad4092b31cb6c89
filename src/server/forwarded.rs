//! Who the client is behind a trusted reverse proxy (`server.trusted_proxies`).
//!
//! A TLS proxy in front of the aggregator connects from its own address and names the client in
//! `X-Forwarded-For`, appending the address it saw to whatever the client sent. So the header is
//! read from the right: each address that is a trusted proxy is a hop inside the operator's own
//! path, and the first one that is not is the client. The header is ignored altogether from a
//! peer that is not trusted (anyone could write one), and so is any entry that is not a plain IP
//! address. No state and no I/O: the server calls [`TrustedProxies::client`] once per request.

use std::net::{IpAddr, SocketAddr};

/// Most `X-Forwarded-For` entries looked at (from the right); a longer header is cut there.
const MAX_HOPS: usize = 16;

/// The peers whose `X-Forwarded-For` is believed: addresses and CIDR networks.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrustedProxies {
    networks: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`; the error says what is wrong.
    pub fn parse<'a>(entries: impl IntoIterator<Item = &'a str>) -> Result<Self, (usize, String)> {
        let networks = entries
            .into_iter()
            .enumerate()
            .map(|(index, entry)| network(entry).map_err(|rule| (index, rule)))
            .collect::<Result<_, _>>()?;
        Ok(TrustedProxies { networks })
    }

    pub fn is_empty(&self) -> bool {
        self.networks.is_empty()
    }

    /// The entries as written in the configuration's form.
    pub fn entries(&self) -> Vec<String> {
        self.networks
            .iter()
            .map(|(ip, bits)| format!("{ip}/{bits}"))
            .collect()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.networks
            .iter()
            .any(|(network, bits)| in_network(ip, *network, *bits))
    }

    /// The client of a request from `peer` carrying these `X-Forwarded-For` values (in order):
    /// `peer` itself unless it is trusted and the header names someone. A forwarded client gets
    /// the port of the proxy's connection (its own is not known), so a per-IP connection limit
    /// counts the proxy connections that carry its requests.
    pub fn client<'a>(
        &self,
        peer: Option<SocketAddr>,
        forwarded_for: impl Iterator<Item = &'a str>,
    ) -> Option<SocketAddr> {
        let peer = peer?;
        if !self.contains(peer.ip()) {
            return Some(peer);
        }
        let values: Vec<&str> = forwarded_for.collect();
        let mut hops = values
            .iter()
            .rev()
            .flat_map(|value| value.rsplit(','))
            .take(MAX_HOPS);
        let mut nearest = None;
        for hop in &mut hops {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else {
                // Not an address: nothing to its left can be believed either.
                break;
            };
            nearest = Some(ip);
            if !self.contains(ip) {
                break;
            }
        }
        Some(nearest.map_or(peer, |ip| SocketAddr::new(canonical(ip), peer.port())))
    }
}

/// An IPv4 address in IPv6 form (`::ffff:a.b.c.d`) is compared as the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn network(entry: &str) -> Result<(IpAddr, u8), String> {
    let (address, bits) = match entry.split_once('/') {
        Some((address, bits)) => (address, Some(bits)),
        None => (entry, None),
    };
    let ip = address.trim().parse::<IpAddr>().map_err(|_| {
        format!(
            "`{}` is not an IP address or CIDR network",
            entry.escape_debug()
        )
    })?;
    let ip = canonical(ip);
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let bits = match bits {
        None => max,
        Some(bits) => match bits.trim().parse::<u8>() {
            Ok(bits) if bits <= max => bits,
            _ => {
                return Err(format!(
                    "`{}`: prefix must be 0 to {max}",
                    entry.escape_debug()
                ))
            }
        },
    };
    Ok((ip, bits))
}

fn in_network(ip: IpAddr, network: IpAddr, bits: u8) -> bool {
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => prefix_eq(&ip.octets(), &net.octets(), bits),
        (IpAddr::V6(ip), IpAddr::V6(net)) => prefix_eq(&ip.octets(), &net.octets(), bits),
        _ => false,
    }
}

/// Whether the first `bits` bits of `a` and `b` agree.
fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let bits = usize::from(bits);
    let (whole, rest) = (bits / 8, bits % 8);
    if a.get(..whole) != b.get(..whole) {
        return false;
    }
    if rest == 0 {
        return true;
    }
    let mask = 0xffu8 << (8 - rest);
    match (a.get(whole), b.get(whole)) {
        (Some(x), Some(y)) => x & mask == y & mask,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries.iter().copied()).expect("valid entries")
    }

    fn addr(text: &str) -> Option<SocketAddr> {
        Some(text.parse().expect("socket address"))
    }

    #[test]
    fn networks_match_by_prefix() {
        let trusted = proxies(&["10.1.0.0/16", "192.168.1.7", "fd00::/8"]);
        for inside in ["10.1.200.3", "192.168.1.7", "fd12::1", "::ffff:10.1.0.1"] {
            assert!(trusted.contains(inside.parse().unwrap()), "{inside}");
        }
        for outside in ["10.2.0.1", "192.168.1.8", "fe80::1", "::1"] {
            assert!(!trusted.contains(outside.parse().unwrap()), "{outside}");
        }
        assert!(proxies(&["0.0.0.0/0"]).contains("8.8.8.8".parse().unwrap()));
        assert_eq!(proxies(&["10.0.0.0/7"]).entries(), ["10.0.0.0/7"]);
    }

    #[test]
    fn bad_entries_are_refused_with_their_index() {
        for (bad, index) in [
            (&["10.0.0.1", "nope"][..], 1),
            (&["10.0.0.0/33"][..], 0),
            (&["::/129"][..], 0),
        ] {
            assert_eq!(
                TrustedProxies::parse(bad.iter().copied()).unwrap_err().0,
                index
            );
        }
    }

    #[test]
    fn the_right_most_untrusted_address_is_the_client() {
        let trusted = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let peer = addr("127.0.0.1:5000");
        let client = |values: &[&str]| trusted.client(peer, values.iter().copied());
        assert_eq!(client(&["203.0.113.9"]), addr("203.0.113.9:5000"));
        // The client's own (forged) entries are left of the real one.
        assert_eq!(client(&["1.2.3.4, 203.0.113.9"]), addr("203.0.113.9:5000"));
        // Trusted hops are skipped, over several header lines.
        assert_eq!(
            client(&["198.51.100.1", "203.0.113.9, 10.0.0.5"]),
            addr("203.0.113.9:5000")
        );
        // Garbage stops the walk: the last address believed is the client.
        assert_eq!(client(&["garbage, 10.0.0.5"]), addr("10.0.0.5:5000"));
        assert_eq!(client(&["garbage"]), peer);
        assert_eq!(client(&[]), peer);
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_sends() {
        let trusted = proxies(&["127.0.0.2"]);
        let peer = addr("127.0.0.1:5000");
        assert_eq!(trusted.client(peer, ["203.0.113.9"].into_iter()), peer);
        assert_eq!(
            TrustedProxies::default().client(peer, ["203.0.113.9"].into_iter()),
            peer
        );
        assert_eq!(trusted.client(None, ["203.0.113.9"].into_iter()), None);
    }
}
