//! Why a first connection fails, found by talking to each server directly: a TLS client at a
//! plain port or the reverse, an untrusted or refused certificate, a server that does not
//! serve. The client library only reports a timeout for all of these; zkha runs this probe
//! after a failed attempt and fails at once, with the finding, when retrying cannot help.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

use super::{Pem, TlsConfig};
use crate::options::{parse_connect_string, ClientOptions};

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Finding {
    /// A misconfiguration: retrying cannot help.
    Fatal(String),
    /// Servers down or not serving: they may come back.
    Passing(String),
}

/// One server's answer.
enum Host {
    /// It answered the protocol (serving or not).
    Answered { serving: bool },
    /// Unreachable (refused, timed out).
    Down(String),
    /// Reachable, but the configuration does not fit it.
    Misfit(String),
}

/// Probes every server of `o`'s connect string (each within the connection timeout); `None`
/// when one of them serves and the probe sees nothing wrong.
pub(crate) fn diagnose(o: &ClientOptions) -> Option<Finding> {
    let cs = parse_connect_string(&o.connect_string).ok()?;
    let timeout = o.connection_timeout.max(Duration::from_millis(500));
    let tls = match &o.tls {
        Some(cfg) => match client_config(cfg) {
            Ok(c) => Some((cfg, c)),
            Err(e) => return Some(Finding::Fatal(e)),
        },
        None => None,
    };
    let mut misfits = Vec::new();
    let mut others = Vec::new();
    for (host, port) in &cs.hosts {
        let at = format!("{host}:{port}");
        let answer = match &tls {
            Some((cfg, config)) => probe_tls(host, *port, timeout, cfg, config.clone()),
            None => probe_plain(host, *port, timeout),
        };
        match answer {
            Host::Answered { serving: true } => return None,
            Host::Answered { serving: false } => others.push(format!(
                "{at} answers but does not serve requests (no quorum?)"
            )),
            Host::Down(e) => others.push(format!("{at}: {e}")),
            Host::Misfit(e) => misfits.push(format!("{at} {e}")),
        }
    }
    if !misfits.is_empty() && others.is_empty() {
        return Some(Finding::Fatal(misfits.join("; ")));
    }
    misfits.extend(others);
    Some(Finding::Passing(misfits.join("; ")))
}

fn connect(host: &str, port: u16, timeout: Duration) -> Result<TcpStream, String> {
    let addrs: Vec<_> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve: {e}"))?
        .collect();
    let mut last = "no address".to_string();
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                return Ok(s);
            }
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

/// What the answer to the four-letter word `srvr` says (`None`: not ZooKeeper's answer).
fn judge(reply: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(reply);
    if text.contains("not currently serving") {
        Some(false)
    } else if text.contains("Zookeeper version") || text.contains("not in the whitelist") {
        Some(true)
    } else {
        None
    }
}

fn probe_plain(host: &str, port: u16, timeout: Duration) -> Host {
    let mut s = match connect(host, port, timeout) {
        Ok(s) => s,
        Err(e) => return Host::Down(e),
    };
    let mut reply = Vec::new();
    // Five bytes: a TLS port waits for a whole record header (five bytes) before it refuses;
    // a plain port reads the first four as the four-letter word.
    let _ = s.write_all(b"srvr\n");
    let read = s.take(64 * 1024).read_to_end(&mut reply);
    match judge(&reply) {
        Some(serving) => Host::Answered { serving },
        // A TLS record (handshake or alert) or a silent close: a TLS-only port.
        None if reply.first().is_some_and(|b| matches!(b, 0x15 | 0x16)) || read.is_ok() => {
            Host::Misfit(
                "does not answer ZooKeeper's plain protocol; it looks like a TLS port \
                 (the servers' secureClientPort): configure TLS (zookeeper.client.secure \
                 and the ssl keys, or the tls options)"
                    .to_string(),
            )
        }
        None => Host::Down(format!(
            "no answer ({})",
            read.err().map(|e| e.to_string()).unwrap_or_default()
        )),
    }
}

fn probe_tls(
    host: &str,
    port: u16,
    timeout: Duration,
    cfg: &TlsConfig,
    config: Arc<ClientConfig>,
) -> Host {
    let mut sock = match connect(host, port, timeout) {
        Ok(s) => s,
        Err(e) => return Host::Down(e),
    };
    let name = match ServerName::try_from(host.to_string()) {
        Ok(n) => n,
        Err(e) => return Host::Misfit(format!("is not a name TLS can check: {e}")),
    };
    let mut conn = match rustls::ClientConnection::new(config, name) {
        Ok(c) => c,
        Err(e) => return Host::Misfit(format!("cannot start TLS: {e}")),
    };
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    let mut reply = Vec::new();
    let r = stream
        .write_all(b"srvr")
        .and_then(|_| stream.flush())
        .and_then(|_| read_all(&mut stream, &mut reply));
    let handshaking = conn.is_handshaking();
    if let Some(serving) = judge(&reply) {
        return Host::Answered { serving };
    }
    let e = match r {
        Ok(()) if reply.is_empty() => {
            return Host::Misfit("closed the TLS connection without an answer".to_string())
        }
        Ok(()) => return Host::Down("answered, but not like ZooKeeper".to_string()),
        Err(e) => e,
    };
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Host::Misfit(match tls {
            rustls::Error::InvalidCertificate(c) => format!(
                "presented a certificate zkha does not accept ({c:?}), checked against the CA in {}{}",
                where_(&cfg.ca),
                if cfg.hostname_verification {
                    format!(" with hostname verification (the certificate must name {host})")
                } else {
                    String::new()
                }
            ),
            rustls::Error::AlertReceived(alert) => format!(
                "refused the TLS connection ({alert:?}): {}",
                match &cfg.identity {
                    None => "it wants a client certificate (ssl.clientAuth=need): configure one"
                        .to_string(),
                    Some((cert, _)) => format!(
                        "it does not accept the client certificate in {}{}",
                        where_(cert),
                        validity_note(cert)
                    ),
                }
            ),
            other => format!("failed the TLS handshake: {other}"),
        });
    }
    use std::io::ErrorKind as K;
    if handshaking
        && matches!(
            e.kind(),
            K::UnexpectedEof | K::ConnectionReset | K::ConnectionAborted
        )
    {
        return Host::Misfit(
            "closed the connection during the TLS handshake: it does not seem to speak TLS \
             (is it the servers' plain clientPort rather than their secureClientPort?)"
                .to_string(),
        );
    }
    if matches!(e.kind(), K::WouldBlock | K::TimedOut) {
        return Host::Down("no answer to the TLS handshake".to_string());
    }
    Host::Down(e.to_string())
}

fn read_all(r: &mut impl Read, out: &mut Vec<u8>) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) if out.len() < 64 * 1024 => out.extend_from_slice(&buf[..n]),
            Ok(_) => return Ok(()),
            // The server closes right after a four-letter word's answer, without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(())
            }
            Err(e) => return Err(e),
        }
    }
}

fn where_(p: &Pem) -> String {
    match p {
        Pem::File(f) => f.display().to_string(),
        Pem::Text(_) => "the PEM text given".to_string(),
    }
}

/// ` (it expired on ...)` when the first certificate in `pem` is out of its validity period.
fn validity_note(pem: &Pem) -> String {
    let Ok(text) = pem.read("TLS client certificate") else {
        return String::new();
    };
    let Some(Ok(der)) = CertificateDer::pem_slice_iter(text.as_bytes()).next() else {
        return String::new();
    };
    match super::validity(&der) {
        Some((from, until)) => {
            let now = UnixTime::now().as_secs();
            if now > until {
                format!(" (it expired on {})", super::utc_date(until))
            } else if now < from {
                format!(" (it is valid only from {})", super::utc_date(from))
            } else {
                String::new()
            }
        }
        None => String::new(),
    }
}

/// The rustls configuration the client library builds from `cfg`, for the probe.
fn client_config(cfg: &TlsConfig) -> Result<Arc<ClientConfig>, String> {
    let ca = cfg
        .ca
        .read("TLS CA certificates")
        .map_err(|e| e.to_string())?;
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca.as_bytes()) {
        let c = c.map_err(|e| format!("TLS CA certificates in {}: {e}", where_(&cfg.ca)))?;
        roots
            .add(c)
            .map_err(|e| format!("TLS CA certificate in {}: {e}", where_(&cfg.ca)))?;
    }
    let verifier = WebPkiServerVerifier::builder(Arc::new(roots))
        .build()
        .map_err(|e| format!("TLS CA certificates in {}: {e}", where_(&cfg.ca)))?;
    let builder = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Verifier {
            inner: verifier,
            check_name: cfg.hostname_verification,
        }));
    let config = match &cfg.identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let named = format!("{} with {}", where_(cert), where_(key));
            let ct = cert
                .read("TLS client certificate")
                .map_err(|e| e.to_string())?;
            let kt = key.read("TLS client key").map_err(|e| e.to_string())?;
            let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(ct.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("TLS client certificate in {}: {e}", where_(cert)))?;
            let key_der = PrivateKeyDer::from_pem_slice(kt.as_bytes())
                .map_err(|e| format!("TLS client key in {}: {e}", where_(key)))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| format!("TLS client certificate and key ({named}): {e}"))?
        }
    };
    Ok(Arc::new(config))
}

/// Verifies the chain always and the name only if asked (as the client library does).
#[derive(Debug)]
struct Verifier {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            r => r,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}
