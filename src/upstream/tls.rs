//! The TLS settings of one upstream endpoint, as ureq takes them, and the words for a refused
//! certificate.
//!
//! A farm's own CA is added to the public web roots (Mozilla's, as ureq uses by default), or
//! replaces them with `ca_only`; a client certificate is shown when one is configured. The
//! certificate and key files were read and checked with the configuration (the key against its
//! certificate too), so building this cannot fail on them. Nothing here connects or keeps state.

use ureq::tls::{Certificate, ClientCert, PrivateKey, RootCerts, TlsConfig};

use crate::config::EndpointTls;

/// ureq's TLS settings for an endpoint (rustls, the only TLS stack in the tree).
pub fn tls_config(tls: &EndpointTls) -> TlsConfig {
    let mut builder = TlsConfig::builder();
    if !tls.ca_certs.is_empty() {
        let own = tls
            .ca_certs
            .iter()
            .map(|der| Certificate::from_der(der).to_owned());
        let roots: Vec<Certificate<'static>> = if tls.ca_only {
            own.collect()
        } else {
            webpki_root_certs::TLS_SERVER_ROOT_CERTS
                .iter()
                .map(|der| Certificate::from_der(der).to_owned())
                .chain(own)
                .collect()
        };
        builder = builder.root_certs(RootCerts::from(roots));
    }
    if let Some(client) = &tls.client {
        let key = PrivateKey::from_pem(&client.key_pem).ok();
        let chain: Vec<Certificate<'static>> = client
            .chain
            .iter()
            .map(|der| Certificate::from_der(der).to_owned())
            .collect();
        // The key was checked when the configuration was loaded; were it unusable now, the
        // endpoint would see no client certificate and refuse the connection, which is logged.
        if let Some(key) = key {
            builder = builder.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
    }
    builder.build()
}

/// What a TLS failure means to an operator, when it is about the endpoint's certificate or
/// ours; `None` for other TLS failures (the plain rustls text is shown for those).
pub fn refusal(error: &ureq::Error) -> Option<&'static str> {
    use rustls::{AlertDescription, CertificateError, Error};
    // ureq passes rustls's error on as its own, or inside the I/O error of a read or write.
    let error = match error {
        ureq::Error::Rustls(error) => error,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<Error>()?,
        _ => return None,
    };
    Some(match error {
        Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "its certificate is not signed by a trusted CA (set upstream.ca_cert_path to the farm's CA)"
        }
        Error::InvalidCertificate(CertificateError::Expired) => "its certificate has expired",
        Error::InvalidCertificate(CertificateError::NotValidForName)
        | Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. }) => {
            "its certificate is not for this host name"
        }
        Error::InvalidCertificate(_) => "its certificate is not acceptable",
        Error::AlertReceived(AlertDescription::CertificateRequired) => {
            "it asks for a client certificate (upstream.client_cert_path)"
        }
        Error::AlertReceived(AlertDescription::HandshakeFailure) => {
            "it ended the handshake (no TLS version or cipher in common, or a client certificate missing)"
        }
        Error::AlertReceived(AlertDescription::UnknownCA | AlertDescription::BadCertificate) => {
            "it refused our client certificate"
        }
        _ => return None,
    })
}
