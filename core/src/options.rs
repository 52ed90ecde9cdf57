//! Client options: built in code, or read from a Flink configuration file
//! ([`crate::flink::config`]).

use std::time::Duration;

use crate::error::{Error, Result};
use crate::path;

/// Which ACL zkha puts on the znodes it creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AclMode {
    /// world:anyone, all permissions (Flink's `open`).
    #[default]
    Open,
    /// Only the creating identity (Flink's `creator`; needs authentication).
    Creator,
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
    /// How long one operation may wait (including for a reconnect); default T.
    pub operation_timeout: Option<Duration>,
    /// ACL of created znodes.
    pub acl: AclMode,
    /// Largest payload the server accepts (its `jute.maxbuffer`), checked before sending.
    pub max_payload: usize,
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
            operation_timeout: None,
            acl: AclMode::Open,
            max_payload: DEFAULT_MAX_PAYLOAD,
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

    /// Checks every option, naming the first bad one.
    pub fn validate(&self) -> Result<()> {
        parse_connect_string(&self.connect_string)?;
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
        if let Some(m) = self.lease_margin {
            if m >= self.session_timeout {
                return Err(Error::invalid(format!(
                    "lease margin {m:?} must be shorter than the session timeout {:?}",
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
        Ok(())
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
        let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
            match rest.split_once(']') {
                Some((h, p)) => (h, p.strip_prefix(':')),
                None => return bad(format!("unclosed '[' in {entry:?}")),
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
            return bad(format!(
                "bad host in {entry:?} (write IPv6 addresses as [addr]:port)"
            ));
        }
        let port = match port {
            None => 2181,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return bad(format!("bad port {p:?} in {entry:?} (expected 1-65535)")),
            },
        };
        hosts.push((host.to_string(), port));
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
    }
}
