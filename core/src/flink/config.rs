//! Reading a Flink configuration (`config.yaml`, or the legacy `flink-conf.yaml`) into zkha
//! client options, honouring Flink's `high-availability.*` keys and defaults.
//!
//! | key | default |
//! |---|---|
//! | `high-availability.zookeeper.quorum` | required |
//! | `high-availability.zookeeper.path.root` | `/flink` |
//! | `high-availability.cluster-id` | `/default` |
//! | `high-availability.storageDir` | required by the HA services, not by the client |
//! | `high-availability.zookeeper.client.session-timeout` | 60 s |
//! | `high-availability.zookeeper.client.connection-timeout` | 15 s |
//! | `high-availability.zookeeper.client.retry-wait` | 5 s |
//! | `high-availability.zookeeper.client.max-retry-attempts` | 3 |
//! | `high-availability.zookeeper.client.acl` | `open` (or `creator`, any case) |
//! | `high-availability.zookeeper.client.authorization` | none (`addAuth` scheme:credential map) |
//! | `high-availability.zookeeper.client.tolerate-suspended-connections` | false |
//!
//! zkha's own keys live under `high-availability.zkha.*`: `lease-margin` (duration),
//! `strict` (bool: revoke on any disconnect), `heartbeat-interval` (duration), `server-tick`
//! (duration: an upper bound on the servers' tickTime),
//! `max-payload` (bytes), and the liveness link (fast crash failover): `liveness.enabled`
//! (bool, default true), `liveness.host` (IP address to listen on), `liveness.port` (port to
//! listen on, default 0 = any free one), `liveness.advertise` (`host` or `host:port` other
//! JobManagers connect to), and the metrics endpoint: `metrics.port` (a port or a range
//! `9250-9260`, the first free one taken; absent: no endpoint) and `metrics.host` (IP address
//! to listen on, default `0.0.0.0`); its series carry `cluster_id` (the cluster id);
//! `release-at-shutdown` (`after-components`, the default: a JobManager leaves the election
//! when Flink closes its HA services, after its components stopped; `early`: as its JVM
//! begins to shut down; docs/flink-e2e.md has the measurement that decided the default). An
//! unknown `high-availability.zkha.*` key is an error, so typos do not pass silently.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::flink::layout::FlinkLayout;
use crate::options::{ClientOptions, RetryPolicy};
use crate::path;

/// zkha's own configuration keys.
pub const ZKHA_KEYS: &[&str] = &[
    "high-availability.zkha.lease-margin",
    "high-availability.zkha.strict",
    "high-availability.zkha.heartbeat-interval",
    "high-availability.zkha.server-tick",
    "high-availability.zkha.max-payload",
    "high-availability.zkha.liveness.enabled",
    "high-availability.zkha.liveness.host",
    "high-availability.zkha.liveness.port",
    "high-availability.zkha.liveness.advertise",
    "high-availability.zkha.watchdog.timeout",
    "high-availability.zkha.tls.store-check-interval",
    "high-availability.zkha.plugin-dir",
    "high-availability.zkha.metrics.port",
    "high-availability.zkha.metrics.host",
    "high-availability.zkha.release-at-shutdown",
    "high-availability.zkha.config.version",
    "high-availability.zkha.config.role",
    "high-availability.zkha.config.host",
];

/// A Flink configuration as flat `key -> value` strings.
#[derive(Debug, Clone, Default)]
pub struct FlinkConfig {
    values: BTreeMap<String, String>,
    source: String,
}

impl FlinkConfig {
    /// Reads a configuration file, or a conf directory (its `config.yaml`, else
    /// `flink-conf.yaml`).
    pub fn load(path: impl AsRef<Path>) -> Result<FlinkConfig> {
        let path = path.as_ref();
        let file: PathBuf = if path.is_dir() {
            let new = path.join("config.yaml");
            if new.exists() {
                new
            } else {
                path.join("flink-conf.yaml")
            }
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|e| {
            Error::new(
                crate::ErrorKind::Io,
                format!("cannot read Flink configuration {}: {e}", file.display()),
            )
        })?;
        let source = file.display().to_string();
        if file.file_name().is_some_and(|n| n == "flink-conf.yaml") {
            Ok(FlinkConfig::parse_legacy(&text, &source))
        } else {
            FlinkConfig::parse_yaml(&text, &source)
        }
    }

    /// Parses Flink 2.x `config.yaml` (standard YAML; nested maps become dotted keys).
    pub fn parse_yaml(text: &str, source: &str) -> Result<FlinkConfig> {
        let docs = yaml_rust2::YamlLoader::load_from_str(text)
            .map_err(|e| Error::config(format!("{source} is not valid YAML: {e}")))?;
        let mut values = BTreeMap::new();
        if let Some(doc) = docs.first() {
            match doc {
                yaml_rust2::Yaml::Hash(_) => flatten("", doc, &mut values),
                yaml_rust2::Yaml::Null | yaml_rust2::Yaml::BadValue => {}
                _ => {
                    return Err(Error::config(format!(
                        "{source}: the top level must be a map of keys"
                    )))
                }
            }
        }
        Ok(FlinkConfig {
            values,
            source: source.to_string(),
        })
    }

    /// Parses the legacy `flink-conf.yaml` format (`key: value` per line, `#` comments).
    pub fn parse_legacy(text: &str, source: &str) -> FlinkConfig {
        let mut values = BTreeMap::new();
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            if let Some((k, v)) = line
                .split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
            {
                let k = k.trim();
                if !k.is_empty() {
                    values.insert(k.to_string(), v.trim().to_string());
                }
            }
        }
        FlinkConfig {
            values,
            source: source.to_string(),
        }
    }

    /// A configuration from key/value pairs (for bindings that already hold Flink's map).
    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> FlinkConfig {
        FlinkConfig {
            values: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
            source: "the Flink configuration".into(),
        }
    }

    /// The same keys, naming `source` in errors (a file, or a part of a stored document).
    pub fn with_source(mut self, source: &str) -> FlinkConfig {
        self.source = source.to_string();
        self
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// Where this configuration came from (for messages).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// All keys with their values.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    fn first<'a>(&'a self, keys: &[&'a str]) -> Option<(&'a str, &'a str)> {
        keys.iter().find_map(|k| self.get(k).map(|v| (*k, v)))
    }

    /// `high-availability.type` (or the legacy `high-availability`).
    pub fn ha_type(&self) -> Option<&str> {
        self.first(&["high-availability.type", "high-availability"])
            .map(|(_, v)| v)
    }

    /// The ZooKeeper quorum (required).
    pub fn quorum(&self) -> Result<String> {
        let (key, v) = self
            .first(&["high-availability.zookeeper.quorum", "recovery.zookeeper.quorum"])
            .ok_or_else(|| {
                Error::config(format!("{}: high-availability.zookeeper.quorum is not set (it names the ZooKeeper servers, e.g. zk1:2181,zk2:2181)", self.source))
            })?;
        // Canonical: spaces after commas (`zk1:2181, zk2:2181`) are fine in Flink.
        let cs = crate::options::parse_connect_string(v)
            .map_err(|e| Error::config(format!("{}: {key}: {e}", self.source)))?;
        Ok(cs.to_string())
    }

    /// `<path.root>/<cluster-id>`, normalised (e.g. `/flink/default`).
    pub fn cluster_root(&self) -> Result<String> {
        let (root_key, root) = self
            .first(&[
                "high-availability.zookeeper.path.root",
                "recovery.zookeeper.path.root",
            ])
            .unwrap_or(("high-availability.zookeeper.path.root", "/flink"));
        let (id_key, id) = self
            .first(&[
                "high-availability.cluster-id",
                "high-availability.zookeeper.path.namespace",
                "recovery.zookeeper.path.namespace",
            ])
            .unwrap_or(("high-availability.cluster-id", "/default"));
        let root = path::normalize_root(root, root_key)
            .map_err(|e| Error::config(format!("{}: {e}", self.source)))?;
        let id = path::normalize_root(id, id_key)
            .map_err(|e| Error::config(format!("{}: {e}", self.source)))?;
        Ok(format!("{root}{id}"))
    }

    /// The Flink layout of this cluster (paths include the cluster root; the submitted jobs
    /// where `path.execution-plans`, else the older `path.jobgraphs`, puts them).
    pub fn layout(&self) -> Result<FlinkLayout> {
        let layout = FlinkLayout::new(self.cluster_root()?);
        Ok(
            match self.first(&[
                "high-availability.zookeeper.path.execution-plans",
                "high-availability.zookeeper.path.jobgraphs",
                "recovery.zookeeper.path.jobgraphs",
            ]) {
                Some((key, v)) => {
                    let dir = path::normalize_root(v, key)
                        .map_err(|e| Error::config(format!("{}: {e}", self.source)))?;
                    layout.with_plans(dir)
                }
                None => layout,
            },
        )
    }

    /// `high-availability.storageDir` (required by the HA services).
    pub fn storage_dir(&self) -> Result<String> {
        self.first(&[
            "high-availability.storageDir",
            "high-availability.zookeeper.storageDir",
            "recovery.zookeeper.storageDir",
        ])
        .map(|(_, v)| v.to_string())
        .ok_or_else(|| {
            Error::config(format!(
                "{}: high-availability.storageDir is not set",
                self.source
            ))
        })
    }

    fn duration(&self, key: &str, default: Duration) -> Result<Duration> {
        self.duration_any(&[key], default)
    }

    /// The first of `keys` that is set (Flink's key, then its deprecated names), as a
    /// duration.
    fn duration_any(&self, keys: &[&str], default: Duration) -> Result<Duration> {
        match self.first(keys) {
            None => Ok(default),
            Some((key, v)) => parse_duration(v).map_err(|why| {
                Error::config(format!("{}: {key}: {v:?} is not a duration ({why}; e.g. \"60 s\", \"500 ms\", \"60000\")", self.source))
            }),
        }
    }

    /// A boolean key (Flink's `true`/`false` in any case); errors name the key and value.
    pub(crate) fn boolean_key(&self, key: &str, default: bool) -> Result<bool> {
        self.boolean(key, default)
    }

    fn boolean(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(Error::config(format!(
                "{}: {key}: {v:?} is not a boolean (true or false)",
                self.source
            ))),
        }
    }

    fn integer(&self, key: &str, default: u64) -> Result<u64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| {
                Error::config(format!(
                    "{}: {key}: {v:?} is not a non-negative whole number",
                    self.source
                ))
            }),
        }
    }

    /// Checks keys zkha owns: unknown `high-availability.zkha.*` keys are errors.
    pub fn check_keys(&self) -> Result<()> {
        for key in self.values.keys() {
            if key.starts_with("high-availability.zkha.") && !ZKHA_KEYS.contains(&key.as_str()) {
                return Err(Error::config(format!(
                    "{}: unknown key {key} (zkha knows: {})",
                    self.source,
                    ZKHA_KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Client options from the `high-availability.*` keys; the namespace is empty (recipes
    /// use [`FlinkConfig::layout`] paths, which include the cluster root).
    pub fn client_options(&self) -> Result<ClientOptions> {
        self.check_keys()?;
        let mut o = ClientOptions::new(self.quorum()?);
        o.session_timeout = self.duration_any(
            &[
                "high-availability.zookeeper.client.session-timeout",
                "recovery.zookeeper.client.session-timeout",
            ],
            Duration::from_secs(60),
        )?;
        o.connection_timeout = self.duration_any(
            &[
                "high-availability.zookeeper.client.connection-timeout",
                "recovery.zookeeper.client.connection-timeout",
            ],
            Duration::from_secs(15),
        )?;
        let retry_wait = self.duration_any(
            &[
                "high-availability.zookeeper.client.retry-wait",
                "recovery.zookeeper.client.retry-wait",
            ],
            Duration::from_secs(5),
        )?;
        let retries = match self.first(&[
            "high-availability.zookeeper.client.max-retry-attempts",
            "recovery.zookeeper.client.max-retry-attempts",
        ]) {
            Some((key, _)) => self.integer(key, 3)?,
            None => 3,
        };
        // Flink 2.0.2+ caps the backoff (default 60 s); older versions have no cap.
        let max_wait = self.duration(
            "high-availability.zookeeper.client.max-retry-wait",
            Duration::from_secs(60),
        )?;
        o.retry = RetryPolicy {
            max_retries: retries.min(u32::MAX as u64) as u32,
            base_wait: retry_wait,
            max_wait: max_wait.max(retry_wait),
        };
        super::security::apply(self, &mut o)?;
        // Flink's default (false) revokes on SUSPENDED; zkha's lease is at least as safe, so
        // only `high-availability.zkha.strict: true` asks for revocation on any disconnect.
        self.boolean(
            "high-availability.zookeeper.client.tolerate-suspended-connections",
            false,
        )?;
        o.strict = self.boolean("high-availability.zkha.strict", false)?;
        if self.get("high-availability.zkha.lease-margin").is_some() {
            o.lease_margin =
                Some(self.duration("high-availability.zkha.lease-margin", Duration::ZERO)?);
        }
        if self
            .get("high-availability.zkha.heartbeat-interval")
            .is_some()
        {
            o.heartbeat_interval =
                Some(self.duration("high-availability.zkha.heartbeat-interval", Duration::ZERO)?);
        }
        if self.get("high-availability.zkha.server-tick").is_some() {
            o.server_tick =
                Some(self.duration("high-availability.zkha.server-tick", Duration::ZERO)?);
        }
        if self.get("high-availability.zkha.max-payload").is_some() {
            o.max_payload = self.integer("high-availability.zkha.max-payload", 0)? as usize;
        }
        o.liveness.enabled = self.boolean("high-availability.zkha.liveness.enabled", true)?;
        let bad = |key: &str, v: &str, why: String| {
            Error::config(format!("{}: {key}: {v:?} {why}", self.source))
        };
        // Written by `zkha flink config pull`; the plugin publishes it (drift).
        let key = "high-availability.zkha.config.version";
        if let Some(v) = self.get(key) {
            if v.trim().parse::<u64>().is_err() {
                return Err(bad(
                    key,
                    v,
                    "is not a configuration version (a number)".into(),
                ));
            }
        }
        // Read by the plugin's leader election driver; checked here, so a typo fails the start.
        let key = "high-availability.zkha.release-at-shutdown";
        match self.get(key).map(str::trim) {
            None | Some("after-components") | Some("early") => {}
            Some(v) => return Err(bad(key, v, "is not after-components or early".into())),
        }
        let key = "high-availability.zkha.liveness.host";
        if let Some(v) = self.get(key) {
            crate::options::parse_listen_host(v).map_err(|why| bad(key, v, why))?;
            o.liveness.listen_host = Some(v.trim().to_string());
        }
        let key = "high-availability.zkha.liveness.port";
        let port = self.integer(key, 0)?;
        o.liveness.listen_port = u16::try_from(port).map_err(|_| {
            bad(
                key,
                &port.to_string(),
                "is not a port (0 for any free one, up to 65535)".into(),
            )
        })?;
        let key = "high-availability.zkha.liveness.advertise";
        if let Some(v) = self.get(key) {
            crate::options::parse_advertise(v).map_err(|why| bad(key, v, why))?;
            o.liveness.advertise = Some(v.trim().to_string());
        }
        self.metrics_options(&mut o.metrics)?;
        o.validate()
            .map_err(|e| Error::config(format!("{}: {e}", self.source)))?;
        Ok(o)
    }
}

impl FlinkConfig {
    /// The metrics endpoint's keys, and the cluster id as a label.
    fn metrics_options(&self, m: &mut crate::options::MetricsOptions) -> Result<()> {
        let bad = |key: &str, v: &str, why: &str| {
            Error::config(format!("{}: {key}: {v:?} {why}", self.source))
        };
        let (_, id) = self
            .first(&[
                "high-availability.cluster-id",
                "high-availability.zookeeper.path.namespace",
                "recovery.zookeeper.path.namespace",
            ])
            .unwrap_or(("high-availability.cluster-id", "default"));
        m.labels.push((
            "cluster_id".to_string(),
            id.trim().trim_matches('/').to_string(),
        ));
        let key = "high-availability.zkha.metrics.port";
        let Some(ports) = self.get(key) else {
            let host_key = "high-availability.zkha.metrics.host";
            if let Some(h) = self.get(host_key) {
                return Err(bad(
                    host_key,
                    h,
                    "is set, but high-availability.zkha.metrics.port is not: no metrics \
                     endpoint would be served",
                ));
            }
            return Ok(());
        };
        let port = |p: &str| {
            p.trim()
                .parse::<u16>()
                .ok()
                .filter(|&p| p > 0)
                .ok_or_else(|| bad(key, ports, "is not a port or a range like 9250-9260"))
        };
        let (first, end) = match ports.split_once('-') {
            Some((a, b)) => (port(a)?, Some(port(b)?)),
            None => (port(ports)?, None),
        };
        if end.is_some_and(|e| e < first) {
            return Err(bad(key, ports, "is an empty range"));
        }
        let key = "high-availability.zkha.metrics.host";
        let host = self.get(key);
        m.serve_at(host, first, end)
            .map_err(|e| bad(key, host.unwrap_or("0.0.0.0"), &e.to_string()))
    }
}

/// Flattens nested YAML maps into dotted keys.
fn flatten(prefix: &str, y: &yaml_rust2::Yaml, out: &mut BTreeMap<String, String>) {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Hash(map) => {
            for (k, v) in map {
                let key = match k {
                    Yaml::String(s) => s.clone(),
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Real(r) => r.clone(),
                    Yaml::Boolean(b) => b.to_string(),
                    _ => continue,
                };
                let full = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&full, v, out);
            }
        }
        Yaml::String(s) | Yaml::Real(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Yaml::Integer(i) => {
            out.insert(prefix.to_string(), i.to_string());
        }
        Yaml::Boolean(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        Yaml::Array(items) => {
            let parts: Vec<String> = items
                .iter()
                .filter_map(|i| match i {
                    Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
                    Yaml::Integer(n) => Some(n.to_string()),
                    Yaml::Boolean(b) => Some(b.to_string()),
                    _ => None,
                })
                .collect();
            out.insert(prefix.to_string(), parts.join(";"));
        }
        _ => {}
    }
}

/// Parses a duration the way Flink's `TimeUtils.parseDuration` does: a number and an optional
/// unit (`ms` if none): d, h, min/m, s, ms, us/µs, ns and their long forms.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let t = s.trim().to_ascii_lowercase();
    if t.is_empty() {
        return Err("it is empty".into());
    }
    if let Some(iso) = t.strip_prefix('p') {
        return parse_iso_duration(iso);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err("it does not start with a number".into());
    }
    let n: u64 = num
        .parse()
        .map_err(|_| "the number is too large".to_string())?;
    let unit = unit.trim();
    let nanos_per: u64 = match unit {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        "h" | "hour" | "hours" => 3_600_000_000_000,
        "min" | "m" | "minute" | "minutes" => 60_000_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => 1_000,
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => 1,
        other => return Err(format!("unknown unit {other:?}")),
    };
    n.checked_mul(nanos_per)
        .map(Duration::from_nanos)
        .ok_or_else(|| "it is too large".to_string())
}

/// An ISO-8601 duration after its `P` (lower case), as Flink 2.1+ reads it
/// (`java.time.Duration.parse`): days, then `T` with hours, minutes and seconds (seconds may
/// have a fraction), e.g. `pt60s`, `pt1m30s`, `p1dt2h`.
fn parse_iso_duration(rest: &str) -> std::result::Result<Duration, String> {
    let bad = || "it is not an ISO-8601 duration such as PT60S".to_string();
    let (date, time) = match rest.split_once('t') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return Err(bad()),
        None => (rest, None),
    };
    let mut nanos: u128 = 0;
    let mut take = |part: &str, units: &[(char, u128)]| -> std::result::Result<(), String> {
        let mut num = String::new();
        let mut seen = 0;
        for c in part.chars() {
            if c.is_ascii_digit() || c == '.' {
                num.push(c);
                continue;
            }
            let (idx, per) = units
                .iter()
                .enumerate()
                .find(|(_, (u, _))| *u == c)
                .map(|(i, (_, p))| (i + 1, *p))
                .ok_or_else(bad)?;
            if num.is_empty() || idx <= seen {
                return Err(bad());
            }
            seen = idx;
            let value: f64 = num.parse().map_err(|_| bad())?;
            if num.contains('.') && c != 's' {
                return Err(bad());
            }
            nanos += (value * per as f64).round() as u128;
            num.clear();
        }
        if num.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    if date.is_empty() && time.is_none() {
        return Err(bad());
    }
    take(date, &[('d', 86_400_000_000_000)])?;
    if let Some(time) = time {
        take(
            time,
            &[
                ('h', 3_600_000_000_000),
                ('m', 60_000_000_000),
                ('s', 1_000_000_000),
            ],
        )?;
    }
    u64::try_from(nanos)
        .map(Duration::from_nanos)
        .map_err(|_| "it is too large".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::options::AclMode;
    use crate::ErrorKind;

    #[test]
    fn iso_8601_durations_like_flink_2_1() {
        for (s, want) in [
            ("PT60S", Duration::from_secs(60)),
            ("pt1m30s", Duration::from_secs(90)),
            ("PT0.5S", Duration::from_millis(500)),
            ("P1DT2H", Duration::from_secs(26 * 3600)),
            ("P2D", Duration::from_secs(2 * 86400)),
        ] {
            assert_eq!(parse_duration(s).unwrap(), want, "{s}");
        }
        for s in ["P", "PT", "PT1.5M", "PTS", "P1H", "PT5S1M"] {
            assert!(parse_duration(s).is_err(), "{s} accepted");
        }
    }

    #[test]
    fn keys_as_every_supported_flink_reads_them() {
        let c = FlinkConfig::parse_legacy(
            "recovery.zookeeper.quorum: zk1:2181, zk2:2182\n\
             recovery.zookeeper.client.session-timeout: PT30S\n\
             high-availability.zookeeper.client.retry-wait: 2 S\n\
             high-availability.zookeeper.client.max-retry-wait: 20 s\n\
             high-availability.zookeeper.client.acl: CREATOR\n\
             high-availability.zookeeper.client.authorization: digest:'flink:pw'\n\
             high-availability.zkha.strict: TRUE\n\
             high-availability.zookeeper.path.namespace: /legacy-id\n\
             high-availability.zookeeper.path.jobgraphs: /jobgraphs\n",
            "flink-conf.yaml",
        );
        let o = c.client_options().unwrap();
        assert_eq!(o.connect_string, "zk1:2181,zk2:2182");
        assert_eq!(o.session_timeout, Duration::from_secs(30));
        assert_eq!(o.retry.base_wait, Duration::from_secs(2));
        assert_eq!(o.retry.max_wait, Duration::from_secs(20));
        assert_eq!(o.acl, AclMode::Creator);
        assert!(o.strict);
        let layout = c.layout().unwrap();
        assert_eq!(layout.root, "/flink/legacy-id");
        assert_eq!(layout.execution_plans(), "/flink/legacy-id/jobgraphs");
    }

    #[test]
    fn durations_like_flink() {
        assert_eq!(parse_duration("60000").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("60 s").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2min").unwrap(), Duration::from_secs(120));
        assert_eq!(
            parse_duration("500 ms").unwrap(),
            Duration::from_millis(500)
        );
        assert_eq!(parse_duration("1 h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5 parsecs").is_err());
    }

    #[test]
    fn nested_and_flat_yaml_with_defaults() {
        let c = FlinkConfig::parse_yaml(
            "high-availability:\n  type: zookeeper\n  zookeeper:\n    quorum: a:1,b:2\n    client:\n      session-timeout: 4 s\nhigh-availability.cluster-id: /e2e\n",
            "config.yaml",
        )
        .unwrap();
        assert_eq!(c.ha_type(), Some("zookeeper"));
        let o = c.client_options().unwrap();
        assert_eq!(o.connect_string, "a:1,b:2");
        assert_eq!(o.session_timeout, Duration::from_secs(4));
        assert_eq!(o.connection_timeout, Duration::from_secs(15));
        assert_eq!(o.retry.max_retries, 3);
        assert_eq!(o.retry.base_wait, Duration::from_secs(5));
        assert_eq!(c.cluster_root().unwrap(), "/flink/e2e");
        assert_eq!(c.layout().unwrap().latch(), "/flink/e2e/leader/latch");
    }

    #[test]
    fn liveness_keys() {
        let o = FlinkConfig::parse_legacy("high-availability.zookeeper.quorum: zk:2181\n", "conf")
            .client_options()
            .unwrap();
        assert!(o.liveness.enabled, "on by default");
        assert_eq!(o.liveness, crate::LivenessOptions::default());
        let c = FlinkConfig::parse_yaml(
            "high-availability.zookeeper.quorum: zk:2181\nhigh-availability.zkha.liveness:\n  enabled: false\n  host: 10.0.0.5\n  port: 6123\n  advertise: jm-1.example:16123\n",
            "config.yaml",
        )
        .unwrap();
        let o = c.client_options().unwrap();
        assert_eq!(
            o.liveness,
            crate::LivenessOptions {
                enabled: false,
                listen_host: Some("10.0.0.5".into()),
                listen_port: 6123,
                advertise: Some("jm-1.example:16123".into()),
            }
        );
    }

    #[test]
    fn metrics_keys() {
        let o = FlinkConfig::parse_legacy("high-availability.zookeeper.quorum: zk:2181\n", "conf")
            .client_options()
            .unwrap();
        assert_eq!(o.metrics.address, None, "no endpoint unless asked for");
        assert_eq!(o.metrics.labels, [("cluster_id".into(), "default".into())]);
        let c = FlinkConfig::parse_yaml(
            "high-availability.zookeeper.quorum: zk:2181\nhigh-availability.cluster-id: /app-7\nhigh-availability.zkha.metrics:\n  port: 9250-9260\n  host: 127.0.0.1\n",
            "config.yaml",
        )
        .unwrap();
        let o = c.client_options().unwrap();
        assert_eq!(o.metrics.address, Some("127.0.0.1:9250".parse().unwrap()));
        assert_eq!(o.metrics.port_range_end, Some(9260));
        assert_eq!(o.metrics.labels, [("cluster_id".into(), "app-7".into())]);
        let o = FlinkConfig::parse_legacy(
            "high-availability.zookeeper.quorum: zk:2181\nhigh-availability.zkha.metrics.port: 9249\n",
            "conf",
        )
        .client_options()
        .unwrap();
        assert_eq!(o.metrics.address, Some("0.0.0.0:9249".parse().unwrap()));
        assert_eq!(o.metrics.port_range_end, None);
    }

    #[test]
    fn legacy_format() {
        let c = FlinkConfig::parse_legacy(
            "# comment\nhigh-availability: zookeeper\nhigh-availability.zookeeper.quorum: zk:2181\nhigh-availability.zookeeper.path.root: /f\n",
            "flink-conf.yaml",
        );
        assert_eq!(c.ha_type(), Some("zookeeper"));
        assert_eq!(c.cluster_root().unwrap(), "/f/default");
        assert_eq!(
            c.client_options().unwrap().session_timeout,
            Duration::from_secs(60)
        );
    }

    #[test]
    fn bad_values_name_the_key_and_value() {
        let cases = [
            (
                "high-availability.zookeeper.client.session-timeout: soon",
                "session-timeout",
                "soon",
            ),
            (
                "high-availability.zookeeper.client.max-retry-attempts: -1",
                "max-retry-attempts",
                "-1",
            ),
            (
                "high-availability.zookeeper.client.acl: secret",
                "client.acl",
                "secret",
            ),
            (
                "high-availability.zkha.strict: maybe",
                "zkha.strict",
                "maybe",
            ),
            (
                "high-availability.zkha.lease-margn: 1 s",
                "lease-margn",
                "unknown key",
            ),
            (
                "high-availability.zookeeper.path.root: /a//b",
                "path.root",
                "/a//b",
            ),
            (
                "high-availability.zkha.liveness.enabled: yes",
                "liveness.enabled",
                "yes",
            ),
            (
                "high-availability.zkha.release-at-shutdown: soon",
                "release-at-shutdown",
                "soon",
            ),
            (
                "high-availability.zkha.liveness.host: jm-1",
                "liveness.host",
                "jm-1",
            ),
            (
                "high-availability.zkha.metrics.port: 9260-9250",
                "metrics.port",
                "empty range",
            ),
            (
                "high-availability.zkha.metrics.port: prom",
                "metrics.port",
                "prom",
            ),
            (
                "high-availability.zkha.metrics.port: 9250\nhigh-availability.zkha.metrics.host: monitoring",
                "metrics.host",
                "not an IP address",
            ),
            (
                "high-availability.zkha.metrics.host: 10.0.0.5",
                "metrics.host",
                "metrics.port is not",
            ),
            (
                "high-availability.zkha.liveness.port: 70000",
                "liveness.port",
                "70000",
            ),
            (
                "high-availability.zkha.liveness.advertise: a/b:1",
                "liveness.advertise",
                "a/b:1",
            ),
            (
                "high-availability.zkha.liveness.advertise: jm:0",
                "liveness.advertise",
                "jm:0",
            ),
        ];
        for (line, key, value) in cases {
            let c = FlinkConfig::parse_legacy(
                &format!("high-availability.zookeeper.quorum: zk:2181\n{line}\n"),
                "conf",
            );
            let e = c
                .client_options()
                .and_then(|_| c.cluster_root().map(|_| ()))
                .unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{line}");
            assert!(
                e.to_string().contains(key) && e.to_string().contains(value),
                "{line}: {e}"
            );
        }
        let e = FlinkConfig::parse_legacy("a: b\n", "conf")
            .client_options()
            .unwrap_err();
        assert!(
            e.to_string().contains("high-availability.zookeeper.quorum"),
            "{e}"
        );
        let e = FlinkConfig::parse_legacy("high-availability.zookeeper.quorum: a:1:2\n", "conf")
            .client_options()
            .unwrap_err();
        assert!(e.to_string().contains("a:1:2"), "{e}");
    }
}
