//! An HTTPS endpoint on 127.0.0.1 port 0 in front of a plain-HTTP one (the simulated upstream):
//! rustls terminates TLS with a certificate of the test CA, optionally asks for a client
//! certificate signed by a given CA, and relays the bytes both ways. Handshake failures are
//! kept, so a test can say what the endpoint saw.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, ServerConnection};

use super::pki::Leaf;

/// How long one relayed connection may live: far longer than any test's use of it.
const CONNECTION_LIFETIME: Duration = Duration::from_secs(60);
/// How long a read on either side waits before the other side gets its turn.
const TURN: Duration = Duration::from_millis(5);

pub struct HttpsRelay {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    failures: Arc<Mutex<Vec<String>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl HttpsRelay {
    /// Serves `cert` and relays to `backend`; with `client_ca`, a client certificate signed by
    /// it is required.
    pub fn start(cert: &Leaf, client_ca: Option<&[u8]>, backend: SocketAddr) -> HttpsRelay {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(CertificateDer::from(ca.to_vec())).unwrap();
                let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_der.clone()));
        let config = Arc::new(
            builder
                .with_single_cert(vec![CertificateDer::from(cert.cert_der.clone())], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, failures) = (stop.clone(), failures.clone());
            std::thread::spawn(move || accept(listener, config, backend, &stop, &failures))
        };
        HttpsRelay {
            addr,
            stop,
            failures,
            acceptor: Some(acceptor),
        }
    }

    pub fn url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    /// The TLS errors of the connections so far.
    pub fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap().clone()
    }
}

impl Drop for HttpsRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    backend: SocketAddr,
    stop: &Arc<AtomicBool>,
    failures: &Arc<Mutex<Vec<String>>>,
) {
    let mut connections = Vec::new();
    while !stop.load(Ordering::Acquire) {
        match listener.accept() {
            Ok((client, _)) => {
                let (config, stop, failures) = (config.clone(), stop.clone(), failures.clone());
                connections.push(std::thread::spawn(move || {
                    if let Err(error) = relay(client, config, backend, &stop) {
                        failures.lock().unwrap().push(error);
                    }
                }));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => break,
        }
        connections.retain(|c: &JoinHandle<()>| !c.is_finished());
    }
    for connection in connections {
        let _ = connection.join();
    }
}

/// Closes the way careful servers do after an alert: stop writing, then read what the client
/// still sends until it closes, so the alert is read instead of lost to a reset.
fn linger(client: &mut TcpStream) {
    let _ = client.shutdown(std::net::Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 4096];
    while Instant::now() < deadline {
        match client.read(&mut sink) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if waiting(&e) => {}
            Err(_) => return,
        }
    }
}

fn waiting(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// Relays one connection until either side closes; `Err` is a TLS failure.
fn relay(
    mut client: TcpStream,
    config: Arc<ServerConfig>,
    backend: SocketAddr,
    stop: &AtomicBool,
) -> Result<(), String> {
    client.set_nonblocking(false).map_err(|e| e.to_string())?;
    client
        .set_read_timeout(Some(TURN))
        .map_err(|e| e.to_string())?;
    let mut tls = ServerConnection::new(config).map_err(|e| e.to_string())?;
    let mut plain: Option<TcpStream> = None;
    let mut buffer = vec![0u8; 16 * 1024];
    let started = Instant::now();
    while !stop.load(Ordering::Acquire) && started.elapsed() < CONNECTION_LIFETIME {
        match tls.read_tls(&mut client) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                if let Err(error) = tls.process_new_packets() {
                    let _ = tls.write_tls(&mut client);
                    linger(&mut client);
                    return Err(error.to_string());
                }
            }
            Err(e) if waiting(&e) => {}
            Err(_) => return Ok(()),
        }
        loop {
            match tls.reader().read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    if plain.is_none() {
                        let stream = TcpStream::connect(backend).map_err(|e| e.to_string())?;
                        stream
                            .set_read_timeout(Some(TURN))
                            .map_err(|e| e.to_string())?;
                        plain = Some(stream);
                    }
                    if let Some(stream) = plain.as_mut() {
                        stream.write_all(&buffer[..n]).map_err(|e| e.to_string())?;
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => return Ok(()),
            }
        }
        if let Some(stream) = plain.as_mut() {
            match stream.read(&mut buffer) {
                Ok(0) => {
                    tls.send_close_notify();
                    let _ = tls.write_tls(&mut client);
                    return Ok(());
                }
                Ok(n) => tls
                    .writer()
                    .write_all(&buffer[..n])
                    .map_err(|e| e.to_string())?,
                Err(e) if waiting(&e) => {}
                Err(_) => return Ok(()),
            }
        }
        while tls.wants_write() {
            if tls.write_tls(&mut client).is_err() {
                return Ok(());
            }
        }
    }
    Ok(())
}
