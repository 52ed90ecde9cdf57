//! Central configuration of a Flink cluster in ZooKeeper (`zkha flink config ...`): one
//! versioned document per cluster — the base configuration, per-role overlays (`jobmanager`,
//! `taskmanager`) and per-host overlays — written compare-and-set on its version, with the last
//! versions kept (author, time, change note) for history, diff and rollback.
//!
//! Layout, beside the cluster's HA data rather than in it (Flink's cleanup of a finished
//! cluster deletes `<path.root>/<cluster-id>` recursively, with built-in HA and zkha alike; the
//! configuration must outlive it): `<path.root>/zkha-config/<cluster-id>/`
//!
//! - `current`: the current document (JSON), whose znode version is the compare-and-set;
//! - `versions/<%010d>`: the document of each kept version (the current one included);
//! - `running/<role>@<host>:<pid>-<session>`: ephemeral, the version each JobManager and TaskManager
//!   started with ([`ConfigStore::publish_running`], for drift).
//!
//! Secrets are stored as references, `${env:NAME}` or `${file:/path}`, which [`resolve`]
//! replaces on the host that pulls; a key that looks secret (its name contains `password`,
//! `secret` or `token`, or another marker given) with a value in clear is refused unless
//! forced. Bad input is refused before anything is written, naming the key or the file.

use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::FlinkConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::fence::{Fence, Op};
use crate::session::{Client, NodeMode};
use crate::{path, runtime};

/// How many versions are kept by default.
pub const DEFAULT_KEEP: usize = 20;

/// Key-name markers of values that must not be stored in clear.
pub const SECRET_MARKERS: &[&str] = &["password", "secret", "token"];

/// The roles a Flink process has.
pub const ROLES: &[&str] = &["jobmanager", "taskmanager"];

/// The configuration file format of a document's base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Flink 2.x `config.yaml` (standard YAML).
    ConfigYaml,
    /// The legacy `flink-conf.yaml` (`key: value` lines).
    FlinkConfYaml,
}

impl Format {
    /// The format of a file named `name` (`flink-conf.yaml`: legacy; anything else: YAML).
    pub fn of_file(name: &str) -> Format {
        if name.ends_with("flink-conf.yaml") {
            Format::FlinkConfYaml
        } else {
            Format::ConfigYaml
        }
    }

    /// The file name Flink reads in this format.
    pub fn file_name(self) -> &'static str {
        match self {
            Format::ConfigYaml => "config.yaml",
            Format::FlinkConfYaml => "flink-conf.yaml",
        }
    }
}

/// A part of the document: the base or an overlay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// The base configuration.
    Base,
    /// The overlay of a role (`jobmanager`, `taskmanager`).
    Role(String),
    /// The overlay of a host.
    Host(String),
}

impl Part {
    /// `base`, `role:<role>` or `host:<host>`.
    pub fn name(&self) -> String {
        match self {
            Part::Base => "base".into(),
            Part::Role(r) => format!("role:{r}"),
            Part::Host(h) => format!("host:{h}"),
        }
    }

    /// Parses `base`, `role:<role>` or `host:<host>` (checked).
    pub fn parse(s: &str) -> Result<Part> {
        let part = match s.split_once(':') {
            None if s == "base" => Part::Base,
            Some(("role", r)) => Part::Role(r.to_string()),
            Some(("host", h)) => Part::Host(h.to_string()),
            _ => {
                return Err(Error::invalid(format!(
                    "bad configuration part {s:?}: base, role:<role> or host:<host>"
                )))
            }
        };
        part.validate()?;
        Ok(part)
    }

    /// Checks a role or host name.
    fn validate(&self) -> Result<()> {
        match self {
            Part::Base => Ok(()),
            Part::Role(r) if ROLES.contains(&r.as_str()) => Ok(()),
            Part::Role(r) => Err(Error::invalid(format!(
                "unknown role {r:?}: one of {}",
                ROLES.join(", ")
            ))),
            Part::Host(h)
                if !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) =>
            {
                Ok(())
            }
            Part::Host(h) => Err(Error::invalid(format!(
                "bad host name {h:?}: letters, digits, '.', '-' and '_' only"
            ))),
        }
    }
}

/// One version of a cluster's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDocument {
    /// The version (1 for the first push; every push and rollback adds one).
    pub version: u64,
    /// Who pushed it.
    pub author: String,
    /// When (epoch milliseconds).
    pub time_ms: u64,
    /// The change note.
    pub note: String,
    /// What the push changed: `base`, `role:<r>`, `host:<h>`, `rollback to <v>`.
    pub changed: String,
    /// The base's format.
    pub format: Format,
    /// The base configuration, as pushed (byte for byte).
    pub base: String,
    /// Role overlays, as pushed.
    pub roles: BTreeMap<String, String>,
    /// Host overlays, as pushed.
    pub hosts: BTreeMap<String, String>,
}

impl ConfigDocument {
    /// The text of `part` (None if that overlay is not set).
    pub fn part(&self, part: &Part) -> Option<&str> {
        match part {
            Part::Base => Some(&self.base),
            Part::Role(r) => self.roles.get(r).map(String::as_str),
            Part::Host(h) => self.hosts.get(h).map(String::as_str),
        }
    }

    /// The effective configuration of a process of `role` on `host`: the base, then the
    /// role's overlay, then the host's, a later key replacing an earlier one. References are
    /// left as they are ([`resolve`] replaces them).
    pub fn effective(
        &self,
        role: Option<&str>,
        host: Option<&str>,
    ) -> Result<BTreeMap<String, String>> {
        let mut out = parse(&self.base, self.format, "the base")?;
        if let Some(text) = role.and_then(|r| self.roles.get(r)) {
            out.extend(parse(
                text,
                Format::ConfigYaml,
                &format!("the {} overlay", role.unwrap_or("")),
            )?);
        }
        if let Some(text) = host.and_then(|h| self.hosts.get(h)) {
            out.extend(parse(
                text,
                Format::ConfigYaml,
                &format!("the overlay of host {}", host.unwrap_or("")),
            )?);
        }
        Ok(out)
    }
}

/// A kept version, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    /// The version.
    pub version: u64,
    /// Who pushed it.
    pub author: String,
    /// When (epoch ms).
    pub time_ms: u64,
    /// The change note.
    pub note: String,
    /// What it changed.
    pub changed: String,
}

/// How a key differs between two configurations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyChange {
    /// The key.
    pub key: String,
    /// Its value before (None: absent).
    pub before: Option<String>,
    /// Its value after (None: absent).
    pub after: Option<String>,
}

/// Any of this module's documents and reports as JSON text (what the bindings hand out).
pub fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// The keys whose values differ between `a` and `b`, sorted (values of secrets in clear
/// masked: reports must not show them).
pub fn diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<KeyChange> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .map(|k| KeyChange {
            key: k.clone(),
            before: a.get(k).map(|v| shown(k, v)),
            after: b.get(k).map(|v| shown(k, v)),
        })
        .collect()
}

/// How to push.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// Who pushes (recorded with the version).
    pub author: String,
    /// The change note.
    pub note: String,
    /// Store values of secret-looking keys in clear anyway.
    pub allow_secrets: bool,
    /// Key-name markers of secret keys (default [`SECRET_MARKERS`]).
    pub secret_markers: Vec<String>,
    /// Push only if the current version is this one (None: the version read just before).
    pub expected_version: Option<u64>,
}

impl PushOptions {
    /// Options for `author` with `note`.
    pub fn new(author: impl Into<String>, note: impl Into<String>) -> PushOptions {
        PushOptions {
            author: author.into(),
            note: note.into(),
            allow_secrets: false,
            secret_markers: SECRET_MARKERS.iter().map(|s| s.to_string()).collect(),
            expected_version: None,
        }
    }

    /// Uses `markers` instead of [`SECRET_MARKERS`] (lowercased; known secret keys such as
    /// `high-availability.zookeeper.client.authorization` count whatever they are). A marker
    /// that is empty or holds whitespace or a comma is refused, naming it, and so is an empty
    /// list (an unset variable must not turn the check off: `allow_secrets` does that).
    pub fn set_secret_markers<S: AsRef<str>>(
        &mut self,
        markers: impl IntoIterator<Item = S>,
    ) -> Result<()> {
        self.secret_markers = checked_markers(markers)?;
        Ok(())
    }
}

/// `markers` lowercased, each checked, at least one ([`PushOptions::set_secret_markers`]).
fn checked_markers<S: AsRef<str>>(markers: impl IntoIterator<Item = S>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for m in markers {
        let m = m.as_ref();
        if m.is_empty() || m.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(Error::invalid(format!(
                "secret marker {m:?}: a marker is a part of a key name (such as `password`), \
                 not empty and without spaces or commas"
            )));
        }
        out.push(m.to_ascii_lowercase());
    }
    if out.is_empty() {
        return Err(Error::invalid(
            "no secret markers given: name at least one (the defaults are password, secret, \
             token); to store a secret-looking value in clear, force the push instead",
        ));
    }
    Ok(out)
}

/// The secret markers of a comma-separated list (`password,secret,token,credential`; spaces
/// around a marker are ignored, empty entries skipped), as the CLI and C take them.
pub fn parse_secret_markers(list: &str) -> Result<Vec<String>> {
    checked_markers(list.split(',').map(str::trim).filter(|m| !m.is_empty()))
}

/// Parses a configuration text in `format` into flat keys, naming `what` in errors.
pub fn parse(text: &str, format: Format, what: &str) -> Result<BTreeMap<String, String>> {
    let c = match format {
        Format::ConfigYaml => FlinkConfig::parse_yaml(text, what)?,
        Format::FlinkConfYaml => FlinkConfig::parse_legacy(text, what),
    };
    Ok(c.entries()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect())
}

/// True if `value` is wholly a reference: `${env:NAME}` (NAME a shell variable name) or
/// `${file:/absolute/path}`.
fn is_reference(value: &str) -> bool {
    let v = value.trim();
    let Some(inner) = v.strip_prefix("${").and_then(|r| r.strip_suffix('}')) else {
        return false;
    };
    if inner.contains(['{', '}']) {
        return false;
    }
    if let Some(name) = inner.strip_prefix("env:") {
        let mut chars = name.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    } else if let Some(file) = inner.strip_prefix("file:") {
        file.starts_with('/') && !file.contains(char::is_whitespace)
    } else {
        false
    }
}

/// Keys (or prefixes ending in `.`) whose names carry a secret marker but hold no secret.
const NOT_SECRET: &[&str] = &[
    "kubernetes.secrets",
    "kubernetes.env.secretKeyRef",
    "table.secret-store.kind",
    "security.delegation.tokens.",
];

/// Keys (or prefixes ending in `.`) that hold secrets although no marker says so.
const SECRET_KEYS: &[&str] = &[
    "high-availability.zookeeper.client.authorization",
    "fs.azure.account.key.",
];

fn key_in(key: &str, list: &[&str]) -> bool {
    list.iter().any(|k| {
        if k.ends_with('.') {
            key.starts_with(k)
        } else {
            key == *k || key.starts_with(&format!("{k}."))
        }
    })
}

/// True if `key`'s value would be a secret: its name carries one of `markers` (and is not a
/// known non-secret), or it is a known secret key. Booleans and numbers are never secrets.
pub fn looks_secret<S: AsRef<str>>(key: &str, value: &str, markers: &[S]) -> bool {
    let v = value.trim();
    if v.is_empty() || v == "true" || v == "false" || v.parse::<f64>().is_ok() {
        return false;
    }
    if key_in(key, SECRET_KEYS) {
        return true;
    }
    let lower = key.to_ascii_lowercase();
    !key_in(key, NOT_SECRET)
        && markers
            .iter()
            .any(|m| lower.contains(&m.as_ref().to_ascii_lowercase()))
}

/// A value as reports show it: a secret's value in clear is masked.
fn shown(key: &str, value: &str) -> String {
    if !is_reference(value) && looks_secret(key, value, SECRET_MARKERS) {
        format!("(secret, {} characters)", value.chars().count())
    } else {
        value.to_string()
    }
}

/// Checks a part's text before it is stored: it parses; the values of the keys zkha knows
/// (the ZooKeeper HA keys and zkha's own) are well-formed; no secret-looking key has a value
/// in clear (unless allowed); references are well-formed. Returns the flat keys.
pub fn check(
    text: &str,
    format: Format,
    what: &str,
    options: &PushOptions,
) -> Result<BTreeMap<String, String>> {
    let keys = parse(text, format, what)?;
    for (k, v) in &keys {
        if v.contains("${") && !is_reference(v) {
            return Err(Error::config(format!(
                "{what}: {k}: the value is not a reference: write ${{env:NAME}} (a variable name) \
                 or ${{file:/absolute/path}} alone as the value"
            )));
        }
        if !options.allow_secrets && !is_reference(v) && looks_secret(k, v, &options.secret_markers)
        {
            return Err(Error::config(format!(
                "{what}: {k} looks secret and its value is in clear: store a reference \
                 (${{env:NAME}} or ${{file:/path}}, resolved where the configuration is pulled) \
                 or force it"
            )));
        }
    }
    Ok(keys)
}

/// Checks what every process would read: the effective configuration of the base alone, of
/// each role, of each host (with and without each role), as zkha reads it at start-up — the
/// values of the keys it knows, its own unknown keys. Values that are references are checked
/// where they are pulled; files the keys name are read on the hosts that use them; the
/// identity an ACL needs comes from the host too.
fn check_effective(doc: &ConfigDocument) -> Result<()> {
    let mut combos: Vec<(Option<&str>, Option<&str>)> = vec![(None, None)];
    combos.extend(doc.roles.keys().map(|r| (Some(r.as_str()), None)));
    for h in doc.hosts.keys() {
        combos.push((None, Some(h.as_str())));
        combos.extend(
            doc.roles
                .keys()
                .map(|r| (Some(r.as_str()), Some(h.as_str()))),
        );
    }
    for (role, host) in combos {
        let what = match (role, host) {
            (None, None) => "the base".to_string(),
            (Some(r), None) => format!("the effective configuration of role {r}"),
            (None, Some(h)) => format!("the effective configuration of host {h}"),
            (Some(r), Some(h)) => format!("the effective configuration of role {r} on host {h}"),
        };
        let eff = doc.effective(role, host)?;
        let mut probe: BTreeMap<String, String> =
            eff.into_iter().filter(|(_, v)| !is_reference(v)).collect();
        probe
            .entry("high-availability.zookeeper.quorum".into())
            .or_insert_with(|| "localhost:2181".into());
        let c = FlinkConfig::from_pairs(probe.clone()).with_source(&what);
        c.check_keys()?;
        let r = match c.client_options() {
            Err(e)
                if e.kind() == ErrorKind::Config
                    && e.to_string().contains("authenticated identity") =>
            {
                // The identity is the host's (its JAAS file, its keytab): check the rest.
                probe.remove("high-availability.zookeeper.client.acl");
                FlinkConfig::from_pairs(probe)
                    .with_source(&what)
                    .client_options()
            }
            r => r,
        };
        match r {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::Io => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The keys of a configuration text that Flink `flink_version` does not define (a warning:
/// connector and plugin keys are open-ended), and the version of the key list used
/// ([`super::known_keys`]).
pub fn unknown_keys(
    text: &str,
    format: Format,
    flink_version: &str,
) -> Result<(Vec<String>, String)> {
    let keys = parse(text, format, format.file_name())?;
    Ok(super::known_keys::unknown(
        keys.keys().map(String::as_str),
        flink_version,
    ))
}

/// Replaces every reference in `config` with what it names on this host: `${env:NAME}` the
/// environment variable, `${file:/path}` the file's content (a final newline dropped). An
/// unset variable or an unreadable file fails naming the key and the variable or file.
pub fn resolve(config: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in config {
        let value = if is_reference(v) {
            let inner = &v.trim()[2..v.trim().len() - 1];
            if let Some(name) = inner.strip_prefix("env:") {
                std::env::var(name).map_err(|_| {
                    Error::config(format!(
                        "{k}: the environment variable {name} (${{env:{name}}}) is not set on this host"
                    ))
                })?
            } else {
                let file = inner.strip_prefix("file:").unwrap_or(inner);
                let text = std::fs::read_to_string(file).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("{k}: cannot read {file} (${{file:{file}}}): {e}"),
                    )
                })?;
                text.strip_suffix('\n').unwrap_or(&text).to_string()
            }
        } else {
            v.clone()
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// `config` as a Flink `config.yaml`: one `"key": "value"` line per key, sorted, both as
/// YAML double-quoted strings (JSON escapes: newlines, quotes and `#` survive; Flink 1.19+ and
/// 2.x read `config.yaml` as standard YAML); `header` as comments first.
pub fn render(config: &BTreeMap<String, String>, header: &str) -> String {
    let mut out = comments(header);
    let q = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    for (k, v) in config {
        out.push_str(&format!("{}: {}\n", q(k), q(v)));
    }
    out
}

/// `header`'s lines as YAML comments.
fn comments(header: &str) -> String {
    header.lines().map(|l| format!("# {l}\n")).collect()
}

/// `config` as a legacy `flink-conf.yaml` (`key: value` lines, read by Flink as they are):
/// refused for a value that format cannot hold (a newline, a `#`, which starts a comment, or
/// spaces at either end), naming the key.
pub fn render_legacy(config: &BTreeMap<String, String>, header: &str) -> Result<String> {
    let mut out = comments(header);
    for (k, v) in config {
        if v.contains(['\n', '#']) || v.trim() != v || k.contains([':', '#', ' ']) {
            return Err(Error::config(format!(
                "{k}: its value cannot be written to flink-conf.yaml (a newline, a '#' or \
                 spaces at an end); pull config.yaml instead (Flink 1.19 and later read it)"
            )));
        }
        out.push_str(&format!("{k}: {v}\n"));
    }
    Ok(out)
}

/// The key a pulled configuration carries its version in (the plugin publishes it).
pub const VERSION_KEY: &str = "high-availability.zkha.config.version";
/// The key a pulled configuration carries the role it was pulled for in.
pub const ROLE_KEY: &str = "high-availability.zkha.config.role";
/// The key a pulled configuration carries the host it was pulled for in.
pub const HOST_KEY: &str = "high-availability.zkha.config.host";

/// A process running with a configuration version ([`ConfigStore::status`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Running {
    /// `jobmanager` or `taskmanager`.
    pub role: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: u32,
    /// The configuration version it started with.
    pub version: u64,
    /// When it started (epoch ms).
    pub started_ms: u64,
}

/// A running process in the status, with how its configuration differs from the current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProcessStatus {
    /// The process.
    #[serde(flatten)]
    pub running: Running,
    /// True if it started with an older version than the current one.
    pub stale: bool,
    /// The keys of its effective configuration that the current version changes (empty
    /// when current, or when its version is no longer kept: see `known`).
    pub differs: Vec<KeyChange>,
    /// False if its version is no longer kept (the keys cannot be compared).
    pub known: bool,
}

/// A cluster's configuration in ZooKeeper.
#[derive(Clone)]
pub struct ConfigStore {
    client: Client,
    base: String,
    keep: usize,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl ConfigStore {
    /// The store at `base` (namespace-relative), keeping the last `keep` versions.
    pub fn new(client: Client, base: impl Into<String>, keep: usize) -> ConfigStore {
        ConfigStore {
            client,
            base: base.into().trim_end_matches('/').to_string(),
            keep: keep.max(1),
        }
    }

    /// The store of the cluster a Flink configuration names: `<path.root>/zkha-config/<cluster-id>`.
    pub fn of_cluster(client: Client, config: &FlinkConfig) -> Result<ConfigStore> {
        Ok(ConfigStore::new(client, store_path(config)?, DEFAULT_KEEP))
    }

    /// Where the store is.
    pub fn path(&self) -> &str {
        &self.base
    }

    fn at(&self, rel: &str) -> String {
        path::join(&self.base, rel)
    }

    fn decode(&self, bytes: &[u8], what: &str) -> Result<ConfigDocument> {
        serde_json::from_slice(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Corrupt,
                format!("{what} is not a zkha configuration document: {e}"),
            )
        })
    }

    /// The current document (None before the first push), with its znode version.
    async fn read_current(&self) -> Result<Option<(ConfigDocument, i32)>> {
        let p = self.at("current");
        match self.client.get_data(&p).await? {
            Some((bytes, stat)) => Ok(Some((self.decode(&bytes, &p)?, stat.version))),
            None => Ok(None),
        }
    }

    /// The current document (None before the first push).
    pub async fn current(&self) -> Result<Option<ConfigDocument>> {
        Ok(self.read_current().await?.map(|(d, _)| d))
    }

    /// The document of `version`, if it is kept.
    pub async fn version(&self, version: u64) -> Result<Option<ConfigDocument>> {
        let p = self.at(&format!("versions/{version:010}"));
        match self.client.get_data(&p).await? {
            Some((bytes, _)) => Ok(Some(self.decode(&bytes, &p)?)),
            None => Ok(None),
        }
    }

    /// The kept versions, newest first.
    pub async fn history(&self) -> Result<Vec<VersionInfo>> {
        let mut names = self
            .client
            .get_children(&self.at("versions"))
            .await?
            .unwrap_or_default();
        names.sort();
        names.reverse();
        let mut out = Vec::new();
        for n in names {
            let Ok(v) = n.parse::<u64>() else { continue };
            if let Some(d) = self.version(v).await? {
                out.push(VersionInfo {
                    version: d.version,
                    author: d.author,
                    time_ms: d.time_ms,
                    note: d.note,
                    changed: d.changed,
                });
            }
        }
        Ok(out)
    }

    /// The document `text` as `part` would make, after the current one (read with its znode
    /// version), every check passed ([`check`], and the effective configurations).
    async fn next_doc(
        &self,
        part: &Part,
        text: &str,
        format: Format,
        options: &PushOptions,
    ) -> Result<(Option<(ConfigDocument, i32)>, ConfigDocument)> {
        part.validate()?;
        if *part != Part::Base && format == Format::FlinkConfYaml {
            return Err(Error::invalid(format!(
                "{}: overlays are YAML: push the overlay as a config.yaml-style file",
                part.name()
            )));
        }
        check(text, format, &part.name(), options)?;
        let current = self.read_current().await?;
        let mut doc = match &current {
            Some((d, _)) => d.clone(),
            None if *part != Part::Base => {
                return Err(Error::invalid(format!(
                    "{}: push the base configuration first (an overlay needs a base)",
                    self.base
                )))
            }
            None => ConfigDocument {
                version: 0,
                author: String::new(),
                time_ms: 0,
                note: String::new(),
                changed: String::new(),
                format,
                base: String::new(),
                roles: BTreeMap::new(),
                hosts: BTreeMap::new(),
            },
        };
        match part {
            Part::Base => {
                doc.base = text.to_string();
                doc.format = format;
            }
            Part::Role(r) => {
                doc.roles.insert(r.clone(), text.to_string());
            }
            Part::Host(h) => {
                doc.hosts.insert(h.clone(), text.to_string());
            }
        }
        check_effective(&doc)?;
        Ok((current, doc))
    }

    /// Checks `text` as `part` of the document and returns how that part's keys would change
    /// (nothing is written; values of secrets in clear masked).
    pub async fn preview(
        &self,
        part: &Part,
        text: &str,
        format: Format,
        options: &PushOptions,
    ) -> Result<Vec<KeyChange>> {
        let (current, next) = self.next_doc(part, text, format, options).await?;
        let part_keys = |d: &ConfigDocument| -> Result<BTreeMap<String, String>> {
            match d.part(part) {
                Some(t) if *part == Part::Base => parse(t, d.format, &part.name()),
                Some(t) => parse(t, Format::ConfigYaml, &part.name()),
                None => Ok(BTreeMap::new()),
            }
        };
        let old = match &current {
            Some((d, _)) => part_keys(d)?,
            None => BTreeMap::new(),
        };
        Ok(diff(&old, &part_keys(&next)?))
    }

    /// How the effective configuration of `role` on `host` changed from version `from` (0:
    /// nothing) to version `to` (both kept); values of secrets in clear masked.
    pub async fn diff_versions(
        &self,
        from: u64,
        to: u64,
        role: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<KeyChange>> {
        let of = |v: u64| async move {
            if v == 0 {
                return Ok(BTreeMap::new());
            }
            match self.version(v).await? {
                Some(d) => d.effective(role, host),
                None => Err(Error::new(
                    ErrorKind::NoNode,
                    format!("{}: version {v} is not kept (see the history)", self.base),
                )),
            }
        };
        Ok(diff(&of(from).await?, &of(to).await?))
    }

    /// Stores `text` as `part` of the document, as a new version: checked first (nothing is
    /// written on bad input), then written compare-and-set on the version read (or
    /// `options.expected_version`); a concurrent push makes this one fail with `BadVersion`,
    /// naming the version that won. Returns the new document.
    pub async fn push(
        &self,
        part: &Part,
        text: &str,
        format: Format,
        options: &PushOptions,
    ) -> Result<ConfigDocument> {
        let (current, doc) = self.next_doc(part, text, format, options).await?;
        self.write(current, doc, part.name(), options).await
    }

    /// Removes the overlay `part` (a new version).
    pub async fn remove_overlay(
        &self,
        part: &Part,
        options: &PushOptions,
    ) -> Result<ConfigDocument> {
        part.validate()?;
        let current = self.read_current().await?;
        let Some((doc, _)) = &current else {
            return Err(Error::new(
                ErrorKind::NoNode,
                format!("{}: no configuration pushed yet", self.base),
            ));
        };
        let mut doc = doc.clone();
        let removed = match part {
            Part::Base => return Err(Error::invalid("the base cannot be removed; push another")),
            Part::Role(r) => doc.roles.remove(r).is_some(),
            Part::Host(h) => doc.hosts.remove(h).is_some(),
        };
        if !removed {
            return Err(Error::new(
                ErrorKind::NoNode,
                format!("{}: no overlay {}", self.base, part.name()),
            ));
        }
        self.write(current, doc, format!("removed {}", part.name()), options)
            .await
    }

    /// Makes the kept `version` current again, as a new version whose parts are that
    /// version's, byte for byte.
    pub async fn rollback(&self, version: u64, options: &PushOptions) -> Result<ConfigDocument> {
        let old = self.version(version).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoNode,
                format!(
                    "{}: version {version} is not kept (see the history)",
                    self.base
                ),
            )
        })?;
        let current = self.read_current().await?;
        self.write(current, old, format!("rollback to {version}"), options)
            .await
    }

    /// Writes `doc` as the version after `current`, compare-and-set.
    async fn write(
        &self,
        current: Option<(ConfigDocument, i32)>,
        mut doc: ConfigDocument,
        changed: String,
        options: &PushOptions,
    ) -> Result<ConfigDocument> {
        let kept: Vec<(u64, String)> = self
            .client
            .get_children(&self.at("versions"))
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter_map(|n| Some((n.parse().ok()?, n)))
            .collect();
        // Without `current` (never pushed, or deleted by hand while versions remain) the next
        // version follows the newest kept one, so its create cannot collide with a kept node.
        let read = current.as_ref().map_or_else(
            || kept.iter().map(|k| k.0).max().unwrap_or(0),
            |(d, _)| d.version,
        );
        if let Some(want) = options.expected_version {
            // Without `current` a caller saw no version (0), whatever is kept.
            let seen = current.as_ref().map_or(0, |(d, _)| d.version);
            if want != seen {
                return Err(self.conflict(want, current.as_ref().map(|(d, _)| d)));
            }
        }
        doc.version = read + 1;
        doc.author = options.author.clone();
        doc.time_ms = now_ms();
        doc.note = options.note.clone();
        doc.changed = changed;
        let bytes = serde_json::to_vec(&doc)
            .map_err(|e| Error::invalid(format!("cannot encode the document: {e}")))?;
        let cur = self.at("current");
        // A push writes the document twice in one request (current and versions/<n>).
        let limit = self.client.options().max_payload;
        if 2 * bytes.len() + 4096 > limit {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "{}: the document of {} bytes is too large: a push writes it twice in one \
                     request (current and versions/<n>), so it must stay under {} bytes, half the \
                     limit of {limit} bytes (jute.maxbuffer; high-availability.zkha.max-payload); \
                     nothing was written",
                    self.base,
                    bytes.len(),
                    (limit.saturating_sub(4096)) / 2
                ),
            ));
        }
        if kept.is_empty() && self.client.exists(&self.at("versions")).await?.is_none() {
            self.client.put(&self.at("versions"), b"").await?;
        }
        let mut ops = Vec::new();
        let fence_node = match &current {
            Some((_, zversion)) => {
                ops.push(Op::SetData {
                    path: cur.clone(),
                    data: bytes.clone(),
                    version: Some(*zversion),
                });
                (cur.clone(), *zversion)
            }
            None => {
                // The first push: the create of `current` fails for all but one.
                ops.push(Op::Create {
                    path: cur.clone(),
                    data: bytes.clone(),
                    mode: NodeMode::Persistent,
                });
                (self.at("versions"), -1)
            }
        };
        ops.push(Op::Create {
            path: self.at(&format!("versions/{:010}", doc.version)),
            data: bytes,
            mode: NodeMode::Persistent,
        });
        // Every kept version that falls out of the window (also after a smaller keep).
        let oldest_kept = (doc.version + 1).saturating_sub(self.keep as u64);
        for (_, name) in kept.into_iter().filter(|k| k.0 < oldest_kept) {
            ops.push(Op::Delete {
                path: self.at(&format!("versions/{name}")),
                version: None,
            });
        }
        let fence = version_fence(&self.client, &fence_node.0, fence_node.1).await?;
        match fence.multi(ops).await {
            Ok(_) => Ok(doc),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::BadVersion | ErrorKind::NodeExists | ErrorKind::NotLeader
                ) =>
            {
                let now = self.current().await.ok().flatten();
                Err(self.conflict(read, now.as_ref()))
            }
            Err(e) => Err(e),
        }
    }

    fn conflict(&self, read: u64, now: Option<&ConfigDocument>) -> Error {
        let who = now.map_or("nobody".to_string(), |d| {
            format!(
                "version {} by {} ({}{})",
                d.version,
                if d.author.is_empty() { "?" } else { &d.author },
                d.changed,
                if d.note.is_empty() {
                    String::new()
                } else {
                    format!(": {}", d.note)
                }
            )
        });
        Error::new(
            ErrorKind::BadVersion,
            format!(
                "{}: the configuration changed since version {read}: {who} is current now; \
                 nothing was written (diff against it and push again)",
                self.base
            ),
        )
    }

    /// Publishes (ephemeral, for this session's life) that a process of `role` on `host`
    /// runs with configuration `version`. Returns the session the node lives in.
    pub async fn publish_running(&self, running: &Running) -> Result<i64> {
        let dir = self.at("running");
        if self.client.exists(&dir).await?.is_none() {
            self.client.put(&dir, b"").await?;
        }
        let bytes = serde_json::to_vec(running)
            .map_err(|e| Error::invalid(format!("cannot encode {running:?}: {e}")))?;
        // The name carries the session that owns the node (unique: pid 1 in every container).
        // If the session changed between naming and creating, the misnamed node is deleted and
        // the next session's name tried.
        for _ in 0..3 {
            let session = self.client.session_id();
            let name = format!(
                "{}@{}:{}-{session:x}",
                running.role, running.host, running.pid
            );
            let p = path::join(&dir, &name);
            let owner = match self.client.create(&p, &bytes, NodeMode::Ephemeral).await {
                Ok((_, stat)) => stat.ephemeral_owner,
                Err(e) if e.kind() == ErrorKind::NodeExists => {
                    self.client
                        .set_data(&p, &bytes, None)
                        .await?
                        .ephemeral_owner
                }
                Err(e) => return Err(e),
            };
            if owner == session {
                return Ok(session);
            }
            let _ = self.client.delete(&p, None).await;
        }
        Err(Error::new(
            ErrorKind::SessionExpired,
            format!(
                "{}: the ZooKeeper session kept changing while the running version was published",
                self.base
            ),
        ))
    }

    /// Every running process that published its version, with whether it is stale and which
    /// keys of its effective configuration the current version changes.
    pub async fn status(&self) -> Result<Vec<ProcessStatus>> {
        // Processes publish through their own sessions: see them as the ensemble has them.
        self.client.sync(&self.base).await?;
        let current = self.current().await?;
        let names = self
            .client
            .get_children(&self.at("running"))
            .await?
            .unwrap_or_default();
        let mut out = Vec::new();
        // Kept documents by version, each read once however many processes run it.
        let mut kept: BTreeMap<u64, Option<ConfigDocument>> = BTreeMap::new();
        for n in names {
            let p = self.at(&format!("running/{n}"));
            let Some((bytes, _)) = self.client.get_data(&p).await? else {
                continue;
            };
            let Ok(r) = serde_json::from_slice::<Running>(&bytes) else {
                continue;
            };
            let (stale, differs, known) = match &current {
                Some(c) if r.version < c.version => {
                    if let Entry::Vacant(e) = kept.entry(r.version) {
                        e.insert(self.version(r.version).await?);
                    }
                    match &kept[&r.version] {
                        Some(old) => {
                            let a = old.effective(Some(&r.role), Some(&r.host))?;
                            let b = c.effective(Some(&r.role), Some(&r.host))?;
                            (true, diff(&a, &b), true)
                        }
                        None => (true, Vec::new(), false),
                    }
                }
                _ => (false, Vec::new(), true),
            };
            out.push(ProcessStatus {
                running: r,
                stale,
                differs,
                known,
            });
        }
        out.sort_by(|a, b| {
            (&a.running.role, &a.running.host, a.running.pid).cmp(&(
                &b.running.role,
                &b.running.host,
                b.running.pid,
            ))
        });
        Ok(out)
    }

    /// The effective configuration of `role` on `host`, references resolved on this host,
    /// rendered as the `config.yaml` Flink reads, with [`VERSION_KEY`] set to the version.
    pub async fn pull(
        &self,
        role: Option<&str>,
        host: Option<&str>,
    ) -> Result<(ConfigDocument, String)> {
        self.pull_as(role, host, Format::ConfigYaml).await
    }

    /// [`ConfigStore::pull`] in `format`: `config.yaml`, or the legacy `flink-conf.yaml`
    /// ([`render_legacy`]: a value it cannot hold fails naming the key).
    pub async fn pull_as(
        &self,
        role: Option<&str>,
        host: Option<&str>,
        format: Format,
    ) -> Result<(ConfigDocument, String)> {
        if let Some(r) = role {
            Part::Role(r.to_string()).validate()?;
        }
        let doc = self.current().await?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoNode,
                format!("{}: no configuration pushed yet", self.base),
            )
        })?;
        let mut eff = resolve(&doc.effective(role, host)?)?;
        eff.insert(VERSION_KEY.to_string(), doc.version.to_string());
        if let Some(r) = role {
            eff.insert(ROLE_KEY.to_string(), r.to_string());
        }
        if let Some(h) = host {
            eff.insert(HOST_KEY.to_string(), h.to_string());
        }
        let header = format!(
            "Pulled from ZooKeeper {} by zkha: version {} ({}), role {}, host {}.\nEdit it there (zkha flink config push), not here.",
            self.base,
            doc.version,
            doc.changed,
            role.unwrap_or("-"),
            host.unwrap_or("-")
        );
        let text = match format {
            Format::ConfigYaml => render(&eff, &header),
            Format::FlinkConfYaml => render_legacy(&eff, &header)?,
        };
        Ok((doc, text))
    }
}

/// This host's name (`gethostname`), or `localhost`.
fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer and its length are valid; gethostname NUL-terminates within it on
    // success (truncation is handled by the search for the NUL).
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(0);
    if rc == 0 && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    }
}

/// For a process started from a pulled configuration (it carries [`VERSION_KEY`]): publishes
/// the version it runs with, its role ([`ROLE_KEY`], else `any`) and host ([`HOST_KEY`], else
/// this host's name), for [`ConfigStore::status`], and publishes it again in each new session
/// of `client` (after an expiry) until the client closes. Returns what was published (None:
/// not a pulled configuration, nothing published).
pub async fn publish_started(client: &Client, config: &FlinkConfig) -> Result<Option<Running>> {
    let Some(v) = config.get(VERSION_KEY) else {
        return Ok(None);
    };
    let version = v.trim().parse::<u64>().map_err(|_| {
        Error::config(format!(
            "{}: {VERSION_KEY}: {v:?} is not a configuration version",
            config.source()
        ))
    })?;
    let running = Running {
        role: config.get(ROLE_KEY).unwrap_or("any").to_string(),
        host: config
            .get(HOST_KEY)
            .map(str::to_string)
            .unwrap_or_else(host_name),
        pid: std::process::id(),
        version,
        started_ms: now_ms(),
    };
    let store = ConfigStore::of_cluster(client.clone(), config)?;
    match store.publish_running(&running).await {
        Ok(session) => {
            keep_published(client, store.base, running.clone(), session);
            Ok(Some(running))
        }
        Err(e) => {
            keep_published(client, store.base, running, 0);
            Err(Error::new(
                e.kind(),
                format!("{e} (zkha keeps trying in the background)"),
            ))
        }
    }
}

/// The first wait after a failed publish; it doubles up to [`REPUBLISH_MAX`].
const REPUBLISH_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// The longest wait between failed publishes.
const REPUBLISH_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Publishes `running` under `base` again in each session of `client` other than
/// `published` (an expiry takes the node away with the session it was made in), until the
/// client closes or its users let it go (the task holds a [`WeakClient`]). A failed publish is
/// tried again after a backoff, at once when the session changes.
///
/// [`WeakClient`]: crate::session::WeakClient
fn keep_published(client: &Client, base: String, running: Running, published: i64) {
    let weak = client.downgrade();
    let mut sessions = client.inner().session_watch();
    let mut closing = client.inner().closing_watch();
    runtime::spawn(async move {
        let mut published = published;
        let mut backoff = REPUBLISH_RETRY;
        loop {
            if *closing.borrow() {
                return;
            }
            let session = sessions.borrow_and_update().as_ref().map(|s| s.id);
            if let Some(id) = session.filter(|id| *id != published) {
                let Some(client) = weak.upgrade() else { return };
                let store = ConfigStore::new(client, base.clone(), 1);
                match store.publish_running(&running).await {
                    Ok(owner) => {
                        published = owner;
                        backoff = REPUBLISH_RETRY;
                        tracing::info!(target: "zkha::config", store = %base,
                            version = running.version, session = format_args!("{owner:#x}"),
                            "published the configuration version in a new session");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(target: "zkha::config", store = %base, error = %e,
                            session = format_args!("{id:#x}"), retry_in = ?backoff,
                            "could not publish the configuration version");
                    }
                }
                drop(store);
                // The backoff, cut short by a new session or the client's end.
                tokio::select! {
                    r = closing.changed() => if r.is_err() { return },
                    r = sessions.changed() => if r.is_err() { return },
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(REPUBLISH_MAX);
                continue;
            }
            tokio::select! {
                r = closing.changed() => if r.is_err() { return },
                r = sessions.changed() => if r.is_err() { return },
            }
        }
    });
}

/// `<path.root>/zkha-config/<cluster-id>` of a Flink configuration.
pub fn store_path(config: &FlinkConfig) -> Result<String> {
    let layout = config.cluster_root()?;
    let root = config
        .get("high-availability.zookeeper.path.root")
        .map(|r| path::normalize_root(r, "high-availability.zookeeper.path.root"))
        .transpose()?
        .unwrap_or_else(|| "/flink".to_string());
    let id = layout.strip_prefix(&root).unwrap_or(&layout);
    Ok(format!("{root}/zkha-config{id}"))
}

/// A fence on `node` (namespace-relative) at `version`: a multi through it succeeds only while
/// the node is unchanged (a compare-and-set over several writes).
async fn version_fence(client: &Client, node: &str, version: i32) -> Result<Fence> {
    let inner = client.inner().clone();
    let full = client.resolve(node)?;
    runtime::run(async move {
        let session = inner.session().await?;
        Ok(Fence {
            inner,
            session,
            node: full,
            version,
            token: 0,
        })
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_values_read_back_as_they_were() {
        let mut c = BTreeMap::new();
        c.insert(
            "env.java.opts.all".to_string(),
            "-Da='b' -Dc=\"d\" # not a comment".to_string(),
        );
        c.insert(
            "security.ssl.pem".to_string(),
            "line one\nline two".to_string(),
        );
        c.insert("weird: key".to_string(), " spaced ".to_string());
        c.insert("list".to_string(), "a;b".to_string());
        let text = render(&c, "header\nlines");
        let back = FlinkConfig::parse_yaml(&text, "rendered").unwrap();
        let back: BTreeMap<String, String> = back
            .entries()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(back, c, "{text}");
        let e = render_legacy(&c, "h").unwrap_err();
        assert!(e.to_string().contains("config.yaml instead"), "{e}");
    }

    #[test]
    fn secrets_are_told_by_name_and_value() {
        let m: Vec<String> = SECRET_MARKERS.iter().map(|s| s.to_string()).collect();
        assert!(looks_secret("s3.secret-key", "abc", &m));
        assert!(looks_secret(
            "fs.azure.account.key.acct.blob.core.windows.net",
            "abc",
            &m
        ));
        assert!(looks_secret(
            "high-availability.zookeeper.client.authorization",
            "digest:u:pw",
            &m
        ));
        assert!(!looks_secret(
            "security.delegation.tokens.enabled",
            "false",
            &m
        ));
        assert!(!looks_secret("kubernetes.secrets", "s1:/mnt/s1", &m));
        assert!(!looks_secret("rest.port", "8081", &m));
        assert_eq!(shown("s3.secret-key", "abcd"), "(secret, 4 characters)");
        assert_eq!(shown("s3.secret-key", "${env:S3}"), "${env:S3}");
        assert!(is_reference("${env:S3_KEY}") && is_reference("${file:/run/s}"));
        for bad in [
            "${env:}",
            "${env:A B}",
            "${env:A}}",
            "${file:relative}",
            "pre${env:A}",
        ] {
            assert!(!is_reference(bad), "{bad}");
        }
    }

    #[test]
    fn secret_markers_are_configurable_and_checked() {
        assert_eq!(
            parse_secret_markers(" Password, credential,,").unwrap(),
            ["password", "credential"]
        );
        let e = parse_secret_markers("pass word").unwrap_err();
        assert!(e.to_string().contains("\"pass word\""), "{e}");
        let text = "my.api.credential: abc\ns3.secret-key: xyz\n";
        let mut o = PushOptions::new("t", "n");
        let e = check(text, Format::ConfigYaml, "f", &o).unwrap_err();
        assert!(e.to_string().contains("s3.secret-key"), "{e}");
        o.set_secret_markers(parse_secret_markers("credential").unwrap())
            .unwrap();
        let e = check(text, Format::ConfigYaml, "f", &o).unwrap_err();
        assert!(e.to_string().contains("my.api.credential"), "{e}");
        assert!(!e.to_string().contains("s3.secret-key"), "{e}");
        for empty in ["", " , ,"] {
            let e = parse_secret_markers(empty).unwrap_err();
            assert!(e.to_string().contains("no secret markers"), "{e}");
        }
        let auth = "high-availability.zookeeper.client.authorization: digest:u:pw\n";
        let e = check(auth, Format::ConfigYaml, "f", &o).unwrap_err();
        assert!(
            e.to_string().contains("authorization"),
            "a known secret key counts always"
        );
    }
}
