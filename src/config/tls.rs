//! The TLS keys of an upstream endpoint (`ca_cert_path`, `ca_only`, `client_cert_path`,
//! `client_key_path`) and the files they name. Unlike the rest of loading, this reads files: a
//! missing, unreadable, garbled, expired or not yet valid certificate or key is a configuration
//! error naming its key, so `--check` finds it before the first connection would. The files are
//! read once, here; the upstream client builds its TLS settings from what was read.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use ureq::tls::{parse_pem, PemItem};

use super::error::{printable, ConfigError};
use super::section::Section;
use super::x509;
use super::{ClientIdentity, EndpointTls};

/// Largest certificate or key file read: a long chain is a few KiB.
const MAX_PEM_BYTES: u64 = 1 << 20;

/// Reads the TLS keys of the endpoint described by `section`, whose URL is `url`.
pub(crate) fn endpoint_tls(section: &Section, url: &str) -> Result<EndpointTls, ConfigError> {
    let keys = [
        "ca_cert_path",
        "ca_only",
        "client_cert_path",
        "client_key_path",
    ];
    let is_https = url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
    if let Some(key) = keys.into_iter().find(|key| section.is_set(key)) {
        if !is_https {
            let rule = "only used with an https:// upstream";
            return Err(ConfigError::invalid(section.path_of(key), rule));
        }
    }
    let ca = match section.text("ca_cert_path")? {
        Some(path) => {
            let path = PathBuf::from(path);
            let certs =
                certificates(&path).map_err(|rule| invalid(section, "ca_cert_path", rule))?;
            Some((path, certs))
        }
        None => None,
    };
    let ca_only = section.bool("ca_only")?.unwrap_or(false);
    if ca_only && ca.is_none() {
        let rule = "needs `ca_cert_path` (it would trust no certificate at all)";
        return Err(invalid(section, "ca_only", rule.into()));
    }
    let client = client_identity(section)?;
    let (ca_cert_path, ca_certs) = ca.unzip();
    Ok(EndpointTls {
        ca_cert_path,
        ca_certs: ca_certs.unwrap_or_default(),
        ca_only,
        client,
    })
}

fn client_identity(section: &Section) -> Result<Option<ClientIdentity>, ConfigError> {
    let (cert, key) = (
        section.text("client_cert_path")?,
        section.text("client_key_path")?,
    );
    let (cert_path, key_path) = match (cert, key) {
        (None, None) => return Ok(None),
        (Some(cert), Some(key)) => (PathBuf::from(cert), PathBuf::from(key)),
        (Some(_), None) => {
            let rule = "needs `client_key_path` beside it".into();
            return Err(invalid(section, "client_cert_path", rule));
        }
        (None, Some(_)) => {
            let rule = "needs `client_cert_path` beside it".into();
            return Err(invalid(section, "client_key_path", rule));
        }
    };
    let chain =
        certificates(&cert_path).map_err(|rule| invalid(section, "client_cert_path", rule))?;
    let key_pem =
        private_key(&key_path, &chain).map_err(|rule| invalid(section, "client_key_path", rule))?;
    Ok(Some(ClientIdentity {
        cert_path,
        key_path,
        chain,
        key_pem,
    }))
}

fn invalid(section: &Section, key: &str, rule: String) -> ConfigError {
    ConfigError::invalid(section.path_of(key), rule)
}

/// Every certificate of a PEM file, as DER, each currently valid.
fn certificates(path: &Path) -> Result<Vec<Vec<u8>>, String> {
    let text = read(path)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let mut certs = Vec::new();
    for item in parse_pem(&text) {
        let item = item.map_err(|e| format!("{}: not PEM ({e})", shown(path)))?;
        let PemItem::Certificate(cert) = item else {
            continue;
        };
        let der = cert.der().to_vec();
        let n = certs.len() + 1;
        let Some(dates) = x509::validity(&der) else {
            return Err(format!("{}: certificate {n} is not X.509", shown(path)));
        };
        if dates.not_after < now {
            return Err(format!("{}: certificate {n} has expired", shown(path)));
        }
        if dates.not_before > now {
            return Err(format!("{}: certificate {n} is not valid yet", shown(path)));
        }
        certs.push(der);
    }
    if certs.is_empty() {
        return Err(format!("{}: holds no PEM certificate", shown(path)));
    }
    Ok(certs)
}

/// The PEM text of the file's private key, checked to be one rustls can sign with and to belong
/// to the first certificate of `chain`.
fn private_key(path: &Path, chain: &[Vec<u8>]) -> Result<Vec<u8>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let text = read(path)?;
    let key = PrivateKeyDer::from_pem_slice(&text)
        .map_err(|_| format!("{}: holds no PEM private key", shown(path)))?;
    let chain = chain
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    let provider = rustls::crypto::ring::default_provider();
    match rustls::sign::CertifiedKey::from_der(chain, key, &provider) {
        Ok(_) => Ok(text),
        Err(rustls::Error::InconsistentKeys(_)) => Err(format!(
            "{}: not the key of the certificate in `client_cert_path`",
            shown(path)
        )),
        Err(e) => Err(format!("{}: not a usable private key ({e})", shown(path))),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {e}", shown(path)))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_PEM_BYTES {
        return Err(format!(
            "{}: larger than {MAX_PEM_BYTES} bytes",
            shown(path)
        ));
    }
    Ok(bytes)
}

/// A path from the file, made safe for a one-line message.
fn shown(path: &Path) -> String {
    printable(&path.display().to_string())
}
