//! Client options: built in code, or read from a Flink configuration file
//! ([`crate::flink::config`]).

use std::net::IpAddr;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::path;

/// Which ACL zkha puts on the znodes it creates.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AclMode {
    /// world:anyone, all permissions (Flink's `open`).
    #[default]
    Open,
    /// Only the creating identity, all permissions (Flink's `creator`, ZooKeeper's
    /// `CREATOR_ALL_ACL`; needs an authenticated identity: SASL, `addAuth` or a TLS client
    /// certificate).
    Creator,
    /// These entries.
    Custom(Vec<crate::security::AclEntry>),
}

/// How failed idempotent operations and connection attempts are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry; doubles each retry, capped at `max_wait`.
    pub base_wait: Duration,
    /// Upper bound of one wait.
    pub max_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based).
    pub fn wait(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX);
        self.base_wait.saturating_mul(factor).min(self.max_wait)
    }
}

/// Everything a [`crate::Client`] needs to know.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// `host:port[,host:port...][/chroot]`.
    pub connect_string: String,
    /// Session timeout asked of the server (the server may negotiate it down or up).
    pub session_timeout: Duration,
    /// Timeout of one connection attempt.
    pub connection_timeout: Duration,
    /// Prefix for every path given to zkha recipes (like Curator's namespace); `""` for none.
    pub namespace: String,
    /// Retries of connection attempts and idempotent operations.
    pub retry: RetryPolicy,
    /// Safety margin subtracted from the leadership lease; default: T/10, at least 100 ms,
    /// at most 2 s (T = negotiated session timeout).
    pub lease_margin: Option<Duration>,
    /// Revoke leadership and locks on any disconnect (Flink's default behaviour) instead of
    /// keeping them until the lease runs out.
    pub strict: bool,
    /// How often the session proves itself alive; default T/5.
    pub heartbeat_interval: Option<Duration>,
    /// An upper bound on the ZooKeeper servers' `tickTime` (the leader relays a client's
    /// activity to expiry about every tickTime/2, and the lease waits that long within each
    /// renewal). Default: learned once per client as half the smallest session timeout the
    /// servers grant (ZooKeeper's default `minSessionTimeout` is 2 x tickTime). Too large
    /// costs lease freshness only; too small overstates the lease by the difference.
    pub server_tick: Option<Duration>,
    /// How long one operation may wait (including for a reconnect); default T.
    pub operation_timeout: Option<Duration>,
    /// ACL of created znodes.
    pub acl: AclMode,
    /// Largest payload the server accepts (its `jute.maxbuffer`), checked before sending.
    pub max_payload: usize,
    /// The liveness link between successive election contenders (fast crash failover).
    pub liveness: LivenessOptions,
    /// TLS to the servers (their `secureClientPort`).
    pub tls: Option<crate::security::TlsConfig>,
    /// SASL authentication.
    pub sasl: Option<crate::security::Sasl>,
    /// `addAuth` credentials sent on every connection.
    pub auth: Vec<crate::security::Credential>,
    /// Where the client's metrics are shown (Prometheus), and with which labels.
    pub metrics: MetricsOptions,
    /// A deliberate defect, for the torture suite's proof that its checkers fail.
    #[cfg(feature = "sabotage")]
    #[doc(hidden)]
    pub sabotage: Option<Sabotage>,
}

/// Deliberate defects (feature `sabotage`, tests only): each breaks one safety rule so the
/// torture suite can show that its checkers catch the violation.
#[cfg(feature = "sabotage")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sabotage {
    /// The lease claims this much longer than proven (a negative margin).
    LeaseOverstated(Duration),
    /// Fenced writes go without their fence check.
    SkipFenceCheck,
    /// A lock is granted without waiting for the nodes ahead of it.
    LockDoesNotWait,
    /// The lease is renewed by any answered heartbeat (the rule before the leader-confirmed
    /// chain: a follower cut off from the quorum keeps renewing it).
    LeaseFromAnyAnswer,
}

#[cfg(feature = "sabotage")]
impl ClientOptions {
    /// Sets a deliberate defect (tests only).
    #[doc(hidden)]
    pub fn sabotage(mut self, s: Sabotage) -> Self {
        self.sabotage = Some(s);
        self
    }

    pub(crate) fn sabotaged(&self, s: impl Fn(&Sabotage) -> bool) -> bool {
        self.sabotage.as_ref().is_some_and(s)
    }
}

/// The liveness link: every election contender serves a small TCP endpoint named in its latch
/// node, and its successor holds a connection to it. A closed link plus refused reconnects
/// (proof that the process died on a live host) lets the successor take over at once instead
/// of after the session timeout. See `docs/recipes/election.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LivenessOptions {
    /// Serve an endpoint and link to the predecessor (default true).
    pub enabled: bool,
    /// IP address to listen on; default: every interface of the address family this host
    /// uses to reach ZooKeeper (`0.0.0.0` or `::`).
    pub listen_host: Option<String>,
    /// Port to listen on; 0 (the default) picks a free one.
    pub listen_port: u16,
    /// `host` or `host:port` other contenders connect to (written into the latch node's
    /// name); default: `listen_host` if set, else the local address of this host's route to
    /// ZooKeeper, with the port actually bound. Set it behind NAT or port mapping.
    pub advertise: Option<String>,
}

impl Default for LivenessOptions {
    fn default() -> Self {
        LivenessOptions {
            enabled: true,
            listen_host: None,
            listen_port: 0,
            advertise: None,
        }
    }
}

impl LivenessOptions {
    /// The link switched off: plain latch node names, no endpoint, crash failover after the
    /// session timeout.
    pub fn disabled() -> LivenessOptions {
        LivenessOptions {
            enabled: false,
            ..LivenessOptions::default()
        }
    }

    /// Checks the values, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        if let Some(h) = &self.listen_host {
            parse_listen_host(h)
                .map_err(|why| Error::invalid(format!("liveness listen host {h:?} {why}")))?;
        }
        if let Some(a) = &self.advertise {
            parse_advertise(a)
                .map_err(|why| Error::invalid(format!("liveness advertise address {a:?} {why}")))?;
        }
        Ok(())
    }
}

/// Parses a liveness listen host: an IP address (IPv6 with or without brackets).
pub(crate) fn parse_listen_host(h: &str) -> std::result::Result<IpAddr, String> {
    let t = h.trim();
    let bare = t
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(t);
    bare.parse::<IpAddr>()
        .map_err(|_| "is not an IP address (e.g. 0.0.0.0, 10.0.0.5, ::)".to_string())
}

/// Parses an advertised liveness address: `host` or `host:port` (`[v6]:port`; a bare IPv6
/// address is a host). It becomes part of a znode name, so no `/`, spaces or control
/// characters.
pub(crate) fn parse_advertise(a: &str) -> std::result::Result<(String, Option<u16>), String> {
    let t = a.trim();
    if t.is_empty() {
        return Err("is empty".into());
    }
    if t.len() > 255 {
        return Err("is longer than 255 characters".into());
    }
    if t.chars()
        .any(|c| c == '/' || c.is_whitespace() || c.is_control())
    {
        return Err("contains '/', a space or a control character".into());
    }
    if !t.starts_with('[') && t.matches(':').count() > 1 {
        // A bare IPv6 address.
        return match t.parse::<std::net::Ipv6Addr>() {
            Ok(_) => Ok((t.to_string(), None)),
            Err(_) => Err("is malformed (write IPv6 addresses as [addr]:port)".into()),
        };
    }
    let (host, port) = parse_host_port(t)?;
    Ok((host.to_string(), port))
}

/// Splits `host`, `host:port` or `[v6]` / `[v6]:port`; the port must be 1-65535.
pub(crate) fn parse_host_port(entry: &str) -> std::result::Result<(&str, Option<u16>), String> {
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, p)) => match p {
                "" => (h, None),
                _ => match p.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Err(format!("unexpected {p:?} after ']' in {entry:?}")),
                },
            },
            None => return Err(format!("unclosed '[' in {entry:?}")),
        }
    } else {
        match entry.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (entry, None),
        }
    };
    if host.is_empty()
        || host.contains(char::is_whitespace)
        || (host.contains(':') && !entry.starts_with('['))
    {
        return Err(format!(
            "bad host in {entry:?} (write IPv6 addresses as [addr]:port)"
        ));
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(p) if p > 0 => Some(p),
            _ => return Err(format!("bad port {p:?} in {entry:?} (expected 1-65535)")),
        },
    };
    Ok((host, port))
}

/// Where a client's metrics are shown: every live client is in
/// [`openmetrics_text`](crate::metrics::openmetrics_text); with an `address`, an HTTP endpoint
/// serves them there at `/metrics` (clients of one process asking for the same address share
/// it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Labels on every series of this client (e.g. `cluster_id`, `component`). `client` (its
    /// number in the process), `state`, `reason` and `le` are zkha's own.
    pub labels: Vec<(String, String)>,
    /// Serve the metrics over HTTP on this address (port 0: any free port).
    pub address: Option<std::net::SocketAddr>,
    /// With `address`, the last port to try: the first free one of `address.port()..=end` is
    /// taken (a JobManager and a TaskManager on one host, as Flink's Prometheus reporter's
    /// port ranges).
    pub port_range_end: Option<u16>,
}

impl MetricsOptions {
    /// Serves the metrics on `host` (an IP address; `None`: `0.0.0.0`, every interface) at
    /// `port` (0: any free one) or the first free port up to `port_end`. A bad host or range
    /// is an `InvalidArgument` error naming it; nothing changes then.
    pub fn serve_at(&mut self, host: Option<&str>, port: u16, port_end: Option<u16>) -> Result<()> {
        let ip = match host {
            Some(h) => parse_listen_host(h)
                .map_err(|why| Error::invalid(format!("metrics host {h:?} {why}")))?,
            None => IpAddr::from([0, 0, 0, 0]),
        };
        let mut m = self.clone();
        m.address = Some(std::net::SocketAddr::new(ip, port));
        m.port_range_end = port_end;
        m.validate()?;
        *self = m;
        Ok(())
    }

    /// Label names zkha sets itself.
    const RESERVED: [&'static str; 4] = ["client", "state", "reason", "le"];

    /// Checks the label names (Prometheus' `[a-zA-Z_][a-zA-Z0-9_]*`, not `__`-prefixed, not
    /// zkha's own, not repeated); an error names the label.
    pub fn validate(&self) -> Result<()> {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in &self.labels {
            let well_formed = name
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with("__");
            if !well_formed {
                return Err(Error::invalid(format!(
                    "metrics label name {name:?} is not a Prometheus label name \
                     ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
                )));
            }
            if Self::RESERVED.contains(&name.as_str()) {
                return Err(Error::invalid(format!(
                    "metrics label name {name:?} is set by zkha itself (reserved: {})",
                    Self::RESERVED.join(", ")
                )));
            }
            if !seen.insert(name) {
                return Err(Error::invalid(format!(
                    "metrics label name {name:?} is given twice"
                )));
            }
        }
        if let (Some(a), Some(end)) = (self.address, self.port_range_end) {
            if end < a.port() || a.port() == 0 {
                return Err(Error::invalid(format!(
                    "metrics port range {}-{end} is empty",
                    a.port()
                )));
            }
        }
        Ok(())
    }
}

/// The server's default `jute.maxbuffer` less room for the request's own framing.
pub const DEFAULT_MAX_PAYLOAD: usize = 1024 * 1024 - 1024;

impl ClientOptions {
    /// Options for `connect_string` with zkha's defaults (session timeout 30 s).
    pub fn new(connect_string: impl Into<String>) -> ClientOptions {
        ClientOptions {
            connect_string: connect_string.into(),
            session_timeout: Duration::from_secs(30),
            connection_timeout: Duration::from_secs(15),
            namespace: String::new(),
            retry: RetryPolicy::default(),
            lease_margin: None,
            strict: false,
            heartbeat_interval: None,
            server_tick: None,
            operation_timeout: None,
            acl: AclMode::Open,
            max_payload: DEFAULT_MAX_PAYLOAD,
            liveness: LivenessOptions::default(),
            tls: None,
            sasl: None,
            auth: Vec::new(),
            metrics: MetricsOptions::default(),
            #[cfg(feature = "sabotage")]
            sabotage: None,
        }
    }

    /// Sets the session timeout.
    pub fn session_timeout(mut self, t: Duration) -> Self {
        self.session_timeout = t;
        self
    }

    /// Sets the connection timeout.
    pub fn connection_timeout(mut self, t: Duration) -> Self {
        self.connection_timeout = t;
        self
    }

    /// Sets the namespace root (e.g. `/flink/default`).
    pub fn namespace(mut self, root: impl Into<String>) -> Self {
        self.namespace = root.into();
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sets the lease margin.
    pub fn lease_margin(mut self, margin: Duration) -> Self {
        self.lease_margin = Some(margin);
        self
    }

    /// Strict mode: revoke on any disconnect.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }

    /// TLS to the servers.
    pub fn tls(mut self, tls: crate::security::TlsConfig) -> Self {
        self.tls = Some(tls);
        self
    }

    /// SASL authentication.
    pub fn sasl(mut self, sasl: crate::security::Sasl) -> Self {
        self.sasl = Some(sasl);
        self
    }

    /// Adds an `addAuth` credential (e.g. `Credential::parse("digest:user:password")`).
    pub fn auth(mut self, credential: crate::security::Credential) -> Self {
        self.auth.push(credential);
        self
    }

    /// Sets an upper bound on the servers' `tickTime` (see [`ClientOptions::server_tick`]).
    pub fn server_tick(mut self, tick: Duration) -> Self {
        self.server_tick = Some(tick);
        self
    }

    /// Sets the heartbeat interval.
    pub fn heartbeat_interval(mut self, every: Duration) -> Self {
        self.heartbeat_interval = Some(every);
        self
    }

    /// Sets the per-operation timeout.
    pub fn operation_timeout(mut self, t: Duration) -> Self {
        self.operation_timeout = Some(t);
        self
    }

    /// Sets the ACL mode.
    pub fn acl(mut self, acl: AclMode) -> Self {
        self.acl = acl;
        self
    }

    /// Sets the largest payload accepted (the server's `jute.maxbuffer`).
    pub fn max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// Sets the liveness link options ([`LivenessOptions::disabled`] switches it off).
    pub fn liveness(mut self, liveness: LivenessOptions) -> Self {
        self.liveness = liveness;
        self
    }

    /// Checks every option, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        parse_connect_string(&self.connect_string)?;
        let identified = self.sasl.is_some()
            || !self.auth.is_empty()
            || self.tls.as_ref().is_some_and(|t| t.identity.is_some());
        if self.acl == AclMode::Creator && !identified {
            // ZooKeeper would refuse every create with InvalidACL.
            return Err(Error::invalid(
                "ACL mode creator (high-availability.zookeeper.client.acl) needs an \
                 authenticated identity: SASL, an auth credential or a TLS client certificate",
            ));
        }
        if self.session_timeout < Duration::from_millis(100) {
            return Err(Error::invalid(format!(
                "session timeout {:?} is too short (at least 100 ms)",
                self.session_timeout
            )));
        }
        if self.connection_timeout.is_zero() {
            return Err(Error::invalid("connection timeout must be positive"));
        }
        path::normalize_root(&self.namespace, "namespace")?;
        self.metrics.validate()?;
        if let Some(m) = self.lease_margin {
            if m >= self.session_timeout {
                return Err(Error::invalid(format!(
                    "lease margin {m:?} must be shorter than the session timeout {:?}",
                    self.session_timeout
                )));
            }
        }
        if let Some(tick) = self.server_tick {
            if tick.is_zero() || tick * 2 > self.session_timeout {
                return Err(Error::invalid(format!(
                    "server tick {tick:?} must be above zero and at most half the session \
                     timeout {:?} (ZooKeeper grants no session shorter than 2 ticks)",
                    self.session_timeout
                )));
            }
        }
        if let Some(h) = self.heartbeat_interval {
            if h.is_zero() || h >= self.session_timeout {
                return Err(Error::invalid(format!(
                    "heartbeat interval {h:?} must be positive and shorter than the session timeout"
                )));
            }
        }
        if self.max_payload == 0 {
            return Err(Error::invalid("max payload must be positive"));
        }
        if self.retry.base_wait.is_zero() {
            return Err(Error::invalid(
                "retry base wait must be positive (Flink: high-availability.zookeeper.client.retry-wait)",
            ));
        }
        self.liveness.validate()
    }

    /// The lease margin for a negotiated session timeout `t`.
    pub fn lease_margin_for(&self, t: Duration) -> Duration {
        self.lease_margin
            .unwrap_or_else(|| (t / 10).clamp(Duration::from_millis(100), Duration::from_secs(2)))
            .min(t / 2)
    }

    /// The heartbeat interval for a negotiated session timeout `t`.
    pub fn heartbeat_for(&self, t: Duration) -> Duration {
        self.heartbeat_interval.unwrap_or(t / 5).min(t / 3)
    }

    /// The operation timeout for a negotiated session timeout `t`.
    pub fn operation_timeout_for(&self, t: Duration) -> Duration {
        self.operation_timeout.unwrap_or(t)
    }
}

/// A parsed connect string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectString {
    /// `(host, port)` pairs.
    pub hosts: Vec<(String, u16)>,
    /// The chroot, if any (`/app`).
    pub chroot: Option<String>,
}

impl std::fmt::Display for ConnectString {
    /// The canonical form: `host:port,host:port[/chroot]` (IPv6 hosts in brackets).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (host, port)) in self.hosts.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if host.contains(':') {
                write!(f, "[{host}]:{port}")?;
            } else {
                write!(f, "{host}:{port}")?;
            }
        }
        if let Some(c) = &self.chroot {
            f.write_str(c)?;
        }
        Ok(())
    }
}

/// Parses and checks `host:port[,host:port...][/chroot]` (port defaults to 2181).
pub fn parse_connect_string(s: &str) -> Result<ConnectString> {
    let bad = |why: String| {
        Err(Error::invalid(format!(
            "connect string {s:?} is malformed: {why}"
        )))
    };
    let s_trim = s.trim();
    if s_trim.is_empty() {
        return bad("it is empty".into());
    }
    let (hosts_part, chroot) = match s_trim.find('/') {
        Some(i) => (&s_trim[..i], Some(&s_trim[i..])),
        None => (s_trim, None),
    };
    let chroot = match chroot {
        Some("/") | None => None,
        Some(c) => {
            if let Err(e) = path::validate(c, "chroot") {
                return bad(e.to_string());
            }
            Some(c.to_string())
        }
    };
    let mut hosts = Vec::new();
    for entry in hosts_part.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            return bad("it has an empty server entry".into());
        }
        match parse_host_port(entry) {
            Ok((host, port)) => hosts.push((host.to_string(), port.unwrap_or(2181))),
            Err(why) => return bad(why),
        }
    }
    Ok(ConnectString { hosts, chroot })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_strings() {
        let c = parse_connect_string("a:1,b:2/app/x").unwrap();
        assert_eq!(c.hosts, vec![("a".into(), 1), ("b".into(), 2)]);
        assert_eq!(c.chroot.as_deref(), Some("/app/x"));
        assert_eq!(
            parse_connect_string("zk").unwrap().hosts,
            vec![("zk".into(), 2181)]
        );
        assert_eq!(
            parse_connect_string("[::1]:5").unwrap().hosts,
            vec![("::1".into(), 5)]
        );
        for (bad, frag) in [
            ("", "empty"),
            ("a:1,,b:2", "empty server"),
            ("a:99999", "bad port"),
            ("a:x", "bad port"),
            ("a:1/x/", "chroot"),
            (":1", "bad host"),
        ] {
            let msg = parse_connect_string(bad).unwrap_err().to_string();
            assert!(
                msg.contains(frag) && msg.contains(&format!("{bad:?}")),
                "{bad}: {msg}"
            );
        }
    }

    #[test]
    fn defaults_scale_with_session_timeout() {
        let o = ClientOptions::new("a:1");
        assert_eq!(
            o.lease_margin_for(Duration::from_secs(4)),
            Duration::from_millis(400)
        );
        assert_eq!(
            o.lease_margin_for(Duration::from_secs(60)),
            Duration::from_secs(2)
        );
        assert_eq!(
            o.lease_margin_for(Duration::from_millis(400)),
            Duration::from_millis(100)
        );
        assert_eq!(
            o.heartbeat_for(Duration::from_secs(10)),
            Duration::from_secs(2)
        );
        let r = RetryPolicy::default();
        assert_eq!(r.wait(0), Duration::from_millis(100));
        assert_eq!(r.wait(3), Duration::from_millis(800));
        assert_eq!(r.wait(30), Duration::from_secs(5));
    }

    #[test]
    fn validation_names_the_option() {
        let e = ClientOptions::new("a:1")
            .lease_margin(Duration::from_secs(40))
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("lease margin"), "{e}");
        let e = ClientOptions::new("a:1")
            .namespace("/a//b")
            .validate()
            .unwrap_err();
        assert!(e.to_string().contains("namespace"), "{e}");
        for (lv, frag) in [
            (
                LivenessOptions {
                    listen_host: Some("my-host".into()),
                    ..LivenessOptions::default()
                },
                "liveness listen host \"my-host\"",
            ),
            (
                LivenessOptions {
                    advertise: Some("a b:1".into()),
                    ..LivenessOptions::default()
                },
                "liveness advertise address \"a b:1\"",
            ),
            (
                LivenessOptions {
                    advertise: Some("h:99999".into()),
                    ..LivenessOptions::default()
                },
                "bad port",
            ),
        ] {
            let e = ClientOptions::new("a:1")
                .liveness(lv)
                .validate()
                .unwrap_err();
            assert!(e.to_string().contains(frag), "{e}");
        }
    }

    #[test]
    fn liveness_addresses() {
        assert_eq!(parse_listen_host("::").unwrap().to_string(), "::");
        assert_eq!(parse_listen_host("[::1]").unwrap().to_string(), "::1");
        assert_eq!(
            parse_listen_host(" 10.0.0.5 ").unwrap().to_string(),
            "10.0.0.5"
        );
        assert!(parse_listen_host("localhost").is_err());
        assert_eq!(parse_advertise("jm-1").unwrap(), ("jm-1".into(), None));
        assert_eq!(
            parse_advertise("jm-1:6123").unwrap(),
            ("jm-1".into(), Some(6123))
        );
        assert_eq!(
            parse_advertise("[fd00::1]:7").unwrap(),
            ("fd00::1".into(), Some(7))
        );
        assert_eq!(
            parse_advertise("fd00::1").unwrap(),
            ("fd00::1".into(), None)
        );
        for bad in ["", "a/b", "[::1", "[::1]x", "h:0", "x:y:z", "a\tb"] {
            assert!(parse_advertise(bad).is_err(), "{bad:?}");
        }
    }
}
