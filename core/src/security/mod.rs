//! Secured ensembles: TLS to the servers, SASL, `addAuth` credentials, and the ACLs zkha
//! writes with. docs/security.md has each setup, key by key, beside Flink's built-in HA.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};

mod exit_gate;
mod gssapi;
mod probe;
pub use gssapi::Kerberos;
pub(crate) use gssapi::Mechanism as KerberosMechanism;
pub(crate) use probe::{diagnose, Finding};

/// PEM text, or a file that holds it (re-read when it changes, see
/// [`TlsConfig::reload_every`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pem {
    /// A PEM file.
    File(PathBuf),
    /// PEM text (e.g. exported by the Flink plugin from a JKS or PKCS12 store).
    Text(String),
}

impl Pem {
    /// The PEM text; errors name `what` (the option or key) and the file.
    pub fn read(&self, what: &str) -> Result<String> {
        match self {
            Pem::Text(t) => Ok(t.clone()),
            Pem::File(p) => std::fs::read_to_string(p).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("{what}: cannot read {}: {e}", p.display()),
                )
            }),
        }
    }

    fn modified(&self) -> Option<SystemTime> {
        match self {
            Pem::File(p) => std::fs::metadata(p).and_then(|m| m.modified()).ok(),
            Pem::Text(_) => None,
        }
    }
}

/// TLS to the ZooKeeper servers (their `secureClientPort`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// The CA certificates the servers' certificates must chain to.
    pub ca: Pem,
    /// The client's certificate chain and its key (PKCS#8, PKCS#1 or SEC1, unencrypted), for
    /// servers that require one (ZooKeeper's default `ssl.clientAuth=need`).
    pub identity: Option<(Pem, Pem)>,
    /// Check that the server's certificate names the host as written in the connect string
    /// (default true). The certificate must then carry that name (or IP address) as a SAN.
    pub hostname_verification: bool,
    /// How often file-based certificates are checked for changes; a change applies from the
    /// next connection (default 60 s; zero: never).
    pub reload_every: Duration,
}

impl TlsConfig {
    /// TLS with the CA certificates in `ca` and no client certificate.
    pub fn new(ca: Pem) -> TlsConfig {
        TlsConfig {
            ca,
            identity: None,
            hostname_verification: true,
            reload_every: Duration::from_secs(60),
        }
    }

    /// With a client certificate chain and key.
    pub fn identity(mut self, cert_chain: Pem, key: Pem) -> TlsConfig {
        self.identity = Some((cert_chain, key));
        self
    }

    /// Reads every PEM into the client library's certificate set; errors name the file.
    pub(crate) fn certs(&self) -> Result<zk::TlsCerts> {
        let bad = |what: &str, e: zk::Error| {
            Error::new(
                ErrorKind::Config,
                format!("{what}: not usable as PEM ({e})"),
            )
        };
        let ca_text = self.ca.read("TLS CA certificates")?;
        // What a failure names: the CA, or the certificate with its key once there is one
        // (the build checks that the key belongs to the certificate).
        let mut what = describe(&self.ca, "TLS CA certificates");
        let ca = zk::TlsCa::from_pem(&ca_text).map_err(|e| bad(&what, e))?;
        let mut b = zk::TlsCerts::builder().with_ca(ca);
        if let Some((cert, key)) = &self.identity {
            let c = cert.read("TLS client certificate")?;
            let k = key.read("TLS client key")?;
            let cert_what = describe(cert, "TLS client certificate");
            check_validity(&c, &cert_what)?;
            what = format!("{cert_what} with {}", describe(key, "TLS client key"));
            let id = zk::TlsIdentity::from_pem(&c, &k).map_err(|e| bad(&what, e))?;
            b = b.with_identity(id);
        }
        b.build().map_err(|e| bad(&what, e))
    }

    fn stamps(&self) -> Vec<Option<SystemTime>> {
        let mut v = vec![self.ca.modified()];
        if let Some((c, k)) = &self.identity {
            v.push(c.modified());
            v.push(k.modified());
        }
        v
    }
}

/// Refuses a certificate (the first in `pem`) outside its validity period: the servers would
/// refuse it with an alert that does not say why.
fn check_validity(pem: &str, what: &str) -> Result<()> {
    use rustls::pki_types::pem::PemObject;
    let Some(Ok(der)) = rustls::pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).next()
    else {
        return Ok(()); // the parser below names what is wrong
    };
    let Some((from, until)) = validity(&der) else {
        return Ok(());
    };
    let now = rustls::pki_types::UnixTime::now().as_secs();
    if now > until {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{what} expired on {}", utc_date(until)),
        ));
    }
    if now < from {
        return Err(Error::new(
            ErrorKind::Config,
            format!("{what} is valid only from {}", utc_date(from)),
        ));
    }
    Ok(())
}

/// The validity period (unix seconds) of an X.509 certificate in DER.
pub(crate) fn validity(der: &[u8]) -> Option<(u64, u64)> {
    fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let tag = *b.first()?;
        let first = *b.get(1)? as usize;
        let (len, hdr) = if first < 0x80 {
            (first, 2)
        } else {
            let n = first & 0x7f;
            if n == 0 || n > 4 {
                return None;
            }
            let mut len = 0usize;
            for i in 0..n {
                len = (len << 8) | *b.get(2 + i)? as usize;
            }
            (len, 2 + n)
        };
        let body = b.get(hdr..hdr.checked_add(len)?)?;
        Some((tag, body, &b[hdr + len..]))
    }
    fn time(tag: u8, b: &[u8]) -> Option<u64> {
        let s = std::str::from_utf8(b).ok()?.strip_suffix('Z')?;
        let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
        let (year, rest) = match tag {
            0x17 => {
                let yy = num(0..2)?;
                (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
            }
            0x18 => (num(0..4)?, 4),
            _ => return None,
        };
        let at = |i: usize| num(rest + i..rest + i + 2);
        let days = days_from_civil(year, at(0)?, at(2)?);
        let secs = days * 86_400 + at(4)? * 3600 + at(6)? * 60 + at(8)?;
        u64::try_from(secs).ok()
    }
    let (t, cert, _) = tlv(der)?;
    let (t2, tbs, _) = tlv(cert)?;
    if t != 0x30 || t2 != 0x30 {
        return None;
    }
    let mut rest = tbs;
    if rest.first() == Some(&0xa0) {
        rest = tlv(rest)?.2; // version
    }
    for _ in 0..3 {
        rest = tlv(rest)?.2; // serial, signature algorithm, issuer
    }
    let (t, validity, _) = tlv(rest)?;
    if t != 0x30 {
        return None;
    }
    let (nb_tag, nb, after) = tlv(validity)?;
    let (na_tag, na, _) = tlv(after)?;
    Some((time(nb_tag, nb)?, time(na_tag, na)?))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS UTC` of unix seconds.
pub(crate) fn utc_date(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

fn describe(p: &Pem, what: &str) -> String {
    match p {
        Pem::File(f) => format!("{what} {}", f.display()),
        Pem::Text(_) => what.to_string(),
    }
}

/// SASL authentication to the servers.
#[derive(Clone, PartialEq, Eq)]
pub enum Sasl {
    /// DIGEST-MD5 with a user of the servers' JAAS `Server` section.
    DigestMd5 {
        /// The user.
        username: String,
        /// Its password.
        password: String,
    },
    /// GSSAPI (Kerberos), through MIT Kerberos loaded at run time.
    Kerberos(Kerberos),
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sasl::DigestMd5 { username, .. } => f
                .debug_struct("DigestMd5")
                .field("username", username)
                .field("password", &"***")
                .finish(),
            Sasl::Kerberos(k) => f.debug_tuple("Kerberos").field(k).finish(),
        }
    }
}

impl Sasl {
    /// Who authenticates, for messages (`DIGEST-MD5 user zkha`).
    pub fn principal(&self) -> String {
        match self {
            Sasl::DigestMd5 { username, .. } => format!("SASL DIGEST-MD5 user {username}"),
            Sasl::Kerberos(k) => format!("SASL GSSAPI, {}", k.who()),
        }
    }
}

/// An `addAuth` credential sent on every connection, e.g. scheme `digest`, auth `user:password`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The scheme (`digest`, ...).
    pub scheme: String,
    /// The credential bytes.
    pub auth: Vec<u8>,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("scheme", &self.scheme)
            .field("auth", &"***")
            .finish()
    }
}

impl Credential {
    /// Parses `scheme:credential` (`digest:user:password`); the error names the input without
    /// its secret.
    pub fn parse(s: &str) -> Result<Credential> {
        match s.split_once(':') {
            Some((scheme, auth)) if !scheme.is_empty() && !auth.is_empty() => Ok(Credential {
                scheme: scheme.to_string(),
                auth: auth.as_bytes().to_vec(),
            }),
            _ => Err(Error::invalid(format!(
                "an auth credential must read scheme:credential (e.g. digest:user:password); got one starting {:?}",
                s.chars().take(8).collect::<String>()
            ))),
        }
    }
}

/// One entry of an explicit ACL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclEntry {
    /// Permission bits: read 1, write 2, create 4, delete 8, admin 16 (all: 31).
    pub perms: u32,
    /// The scheme (`world`, `sasl`, `digest`, `x509`, `ip`, `auth`).
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl AclEntry {
    /// Parses ZooKeeper's notation `scheme:id:perms` (perms from `crwda`), e.g.
    /// `sasl:flink:cdrwa`, `world:anyone:r`.
    pub fn parse(s: &str) -> Result<AclEntry> {
        let bad = || {
            Error::invalid(format!(
                "ACL entry {s:?} must read scheme:id:perms with perms from crwda (e.g. sasl:flink:cdrwa)"
            ))
        };
        let (scheme, rest) = s.split_once(':').ok_or_else(bad)?;
        let (id, perms) = rest.rsplit_once(':').ok_or_else(bad)?;
        if scheme.is_empty() || perms.is_empty() {
            return Err(bad());
        }
        let mut bits = 0;
        for c in perms.chars() {
            bits |= match c {
                'r' => 1,
                'w' => 2,
                'c' => 4,
                'd' => 8,
                'a' => 16,
                _ => return Err(bad()),
            };
        }
        Ok(AclEntry {
            perms: bits,
            scheme: scheme.to_string(),
            id: id.to_string(),
        })
    }

    pub(crate) fn to_zk(&self) -> zk::Acl {
        use zk::Permission as P;
        let perms = [
            (1, P::READ),
            (2, P::WRITE),
            (4, P::CREATE),
            (8, P::DELETE),
            (16, P::ADMIN),
        ]
        .into_iter()
        .filter(|(bit, _)| self.perms & bit != 0)
        .fold(P::NONE, |acc, (_, p)| acc | p);
        zk::Acl::new(perms, zk::AuthId::new(&self.scheme, &self.id))
    }
}

/// Builds the client library's connector for `o`: timeouts, TLS, SASL and credentials.
pub(crate) fn connector(
    o: &crate::options::ClientOptions,
    session_timeout: Duration,
    tls: Option<&zk::TlsDynamicCerts>,
    kerberos: Option<&std::sync::Arc<KerberosMechanism>>,
) -> zk::Connector {
    let mut c = zk::Client::connector()
        .with_session_timeout(session_timeout)
        .with_connection_timeout(o.connection_timeout);
    if let (Some(cfg), Some(certs)) = (&o.tls, tls) {
        let mut t = zk::TlsOptions::new().with_certs(certs.clone());
        if !cfg.hostname_verification {
            // SAFETY (the crate's marker for weakened checks): the operator asked for no
            // hostname check; chain and CRLs are still verified.
            t = unsafe { t.with_no_hostname_verification() };
        }
        c = c.with_tls(t);
    }
    match (&o.sasl, kerberos) {
        (Some(Sasl::DigestMd5 { username, password }), _) => {
            c = c.with_sasl(zk::SaslOptions::digest_md5(
                username.clone(),
                password.clone(),
            ));
        }
        (Some(Sasl::Kerberos(_)), Some(m)) => {
            c = c.with_sasl(zk::SaslOptions::custom(m.clone()));
        }
        _ => {}
    }
    for cred in &o.auth {
        c = c.with_auth(&cred.scheme, &cred.auth);
    }
    c
}

/// Connects with `connector` to `o`'s servers (TLS: every host without a scheme is TLS).
pub(crate) async fn connect(
    o: &crate::options::ClientOptions,
    connector: zk::Connector,
) -> std::result::Result<zk::Client, zk::Error> {
    if o.tls.is_some() {
        connector.secure_connect(&o.connect_string).await
    } else {
        connector.connect(&o.connect_string).await
    }
}

/// A client's TLS certificates, reloaded when their files change or replaced by
/// [`TlsState::replace`].
pub(crate) struct TlsState {
    /// The configuration in force and the files' stamps when last read.
    config: Mutex<(TlsConfig, Vec<Option<SystemTime>>)>,
    certs: zk::TlsDynamicCerts,
    every: Duration,
}

impl TlsState {
    /// Reads the certificates once (errors name the files).
    pub(crate) fn load(config: &TlsConfig) -> Result<TlsState> {
        Ok(TlsState {
            certs: zk::TlsDynamicCerts::new(config.certs()?),
            config: Mutex::new((config.clone(), config.stamps())),
            every: config.reload_every,
        })
    }

    /// Replaces the CA certificates and/or the client identity (those given; the others
    /// stay), e.g. with PEM text the Flink plugin converted from a changed JKS or PKCS12
    /// store; the next connection uses them. Nothing changes if they are not usable: the
    /// error says why.
    pub(crate) fn replace(&self, ca: Option<Pem>, identity: Option<(Pem, Pem)>) -> Result<()> {
        let mut cfg = self.config.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = cfg.0.clone();
        if let Some(ca) = ca {
            next.ca = ca;
        }
        if identity.is_some() {
            next.identity = identity;
        }
        let certs = next.certs()?;
        self.certs.update(certs);
        let stamps = next.stamps();
        *cfg = (next, stamps);
        tracing::info!(target: "zkha::security", "TLS certificates replaced");
        Ok(())
    }

    /// The certificates the connector uses.
    pub(crate) fn certs(&self) -> &zk::TlsDynamicCerts {
        &self.certs
    }

    /// Re-reads the files if any changed; the next connection uses them. A file that does
    /// not read or parse keeps the old certificates (logged).
    pub(crate) fn reload_if_changed(&self) {
        let mut cfg = self.config.lock().unwrap_or_else(|p| p.into_inner());
        let now = cfg.0.stamps();
        if cfg.1 == now {
            return;
        }
        match cfg.0.certs() {
            Ok(certs) => {
                self.certs.update(certs);
                cfg.1 = now;
                tracing::info!(target: "zkha::security", "TLS certificates reloaded");
            }
            Err(e) => {
                tracing::warn!(target: "zkha::security", error = %e, "changed TLS certificates not usable; keeping the old ones")
            }
        }
    }

    /// How often to check.
    pub(crate) fn every(&self) -> Duration {
        self.every
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates_round_trip() {
        assert_eq!(utc_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_date(1_577_923_199), "2020-01-01 23:59:59 UTC");
        assert_eq!(days_from_civil(2026, 11, 29) * 86_400, 1_795_910_400);
        assert_eq!(utc_date(1_795_910_400 + 3661), "2026-11-29 01:01:01 UTC");
    }

    #[test]
    fn acl_entries_in_zookeeper_notation() {
        let e = AclEntry::parse("sasl:flink:cdrwa").unwrap();
        assert_eq!(
            (e.perms, e.scheme.as_str(), e.id.as_str()),
            (31, "sasl", "flink")
        );
        let e = AclEntry::parse("digest:u:hash=:r").unwrap();
        assert_eq!((e.perms, e.id.as_str()), (1, "u:hash="));
        for bad in ["sasl", "sasl:flink", "sasl:flink:x", ":a:r"] {
            assert!(AclEntry::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn credentials_never_show_their_secret() {
        let c = Credential::parse("digest:flink:secret").unwrap();
        assert_eq!(c.scheme, "digest");
        assert!(!format!("{c:?}").contains("secret"));
        let e = Credential::parse("digestflinksecret").unwrap_err();
        assert!(!e.to_string().contains("secret"), "{e}");
        let s = Sasl::DigestMd5 {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn unreadable_pem_names_the_file() {
        let e = Pem::File("/nonexistent/ca.pem".into())
            .read("TLS CA certificates")
            .unwrap_err();
        assert!(e.to_string().contains("/nonexistent/ca.pem"), "{e}");
        let cfg = TlsConfig::new(Pem::Text("not a pem".into()));
        let e = cfg.certs().unwrap_err();
        assert!(e.to_string().contains("TLS CA certificates"), "{e}");
    }
}
