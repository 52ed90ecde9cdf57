//! The security part of a Flink configuration, read as Flink's built-in ZooKeeper HA reads it:
//! `high-availability.zookeeper.client.acl` and `.authorization`, `zookeeper.sasl.*` and the
//! JAAS file, and ZooKeeper's client TLS system properties (`zookeeper.client.secure`,
//! `zookeeper.ssl.*`). Built-in HA takes SASL and TLS from the JobManager's JVM system
//! properties; zkha reads them from the `-D` options in `env.java.opts.all` /
//! `env.java.opts.jobmanager`, overridden by keys of the same name (the Flink plugin passes
//! its JVM's own properties that way). docs/security.md has every key beside built-in HA.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::config::FlinkConfig;
use crate::error::{Error, Result};
use crate::options::{AclMode, ClientOptions};
use crate::security::{Credential, Kerberos, Pem, Sasl, TlsConfig};

const AUTHORIZATION: &str = "high-availability.zookeeper.client.authorization";

/// Applies the ACL mode, the `addAuth` credentials and their checks to `o`.
pub(crate) fn apply(cfg: &FlinkConfig, o: &mut ClientOptions) -> Result<()> {
    let source = cfg.source();
    // Flink compares the ACL mode ignoring case.
    o.acl = match cfg
        .get("high-availability.zookeeper.client.acl")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("open") => AclMode::Open,
        Some("creator") => AclMode::Creator,
        Some(v) => {
            return Err(Error::config(format!(
                "{source}: high-availability.zookeeper.client.acl: {v:?} is not open or creator"
            )))
        }
    };
    if o.acl == AclMode::Creator && cfg.boolean_key("zookeeper.sasl.disable", false)? {
        // Flink's own check, in its words.
        return Err(Error::config(format!(
            "{source}: Cannot set ACL role to CREATOR since SASL authentication is disabled \
             through the zookeeper.sasl.disable property"
        )));
    }
    for (scheme, auth) in authorization(cfg)? {
        o.auth.push(Credential {
            scheme,
            auth: auth.into_bytes(),
        });
    }
    let props = system_properties(cfg);
    o.tls = tls(&props, source)?;
    o.sasl = sasl(cfg, &props)?;
    Ok(())
}

/// JVM system properties as the JobManager sees them: `-Dk=v` from `env.java.opts.all` (or
/// the older `env.java.opts`), then `env.java.opts.jobmanager`, then keys of the same name.
fn system_properties(cfg: &FlinkConfig) -> BTreeMap<String, String> {
    let mut props = BTreeMap::new();
    for key in [
        "env.java.opts",
        "env.java.opts.all",
        "env.java.opts.jobmanager",
    ] {
        if let Some(opts) = cfg.get(key) {
            for word in jvm_words(opts) {
                if let Some(kv) = word.strip_prefix("-D") {
                    let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                    props.insert(k.to_string(), v.to_string());
                }
            }
        }
    }
    for (k, v) in cfg.entries() {
        if is_system_property(k) {
            props.insert(k.to_string(), v.to_string());
        }
    }
    props
}

/// The system properties zkha reads (never Flink's own `zookeeper.sasl.*` keys).
fn is_system_property(k: &str) -> bool {
    (k.starts_with("zookeeper.ssl.")
        || k.starts_with("zkha.ssl.")
        || matches!(
            k,
            "zookeeper.client.secure"
                | "zookeeper.sasl.client"
                | "zookeeper.sasl.clientconfig"
                | "zookeeper.sasl.client.username"
                | "zookeeper.server.principal"
                | "zookeeper.server.realm"
                | "zookeeper.sasl.client.canonicalize.hostname"
                | "java.security.auth.login.config"
                | "java.security.krb5.conf"
        ))
        && !k.is_empty()
}

/// Splits JVM options as a shell would (quotes group, backslash escapes).
fn jvm_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'') | (None, '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') | (Some('"'), '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (_, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// TLS from `zookeeper.client.secure` and `zookeeper.ssl.*` (stores of type PEM; the Flink
/// plugin hands JKS and PKCS12 stores over as PEM in `zkha.ssl.keyStore.pem` and
/// `zkha.ssl.trustStore.pem`).
fn tls(props: &BTreeMap<String, String>, source: &str) -> Result<Option<TlsConfig>> {
    let on = props
        .get("zookeeper.client.secure")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !on {
        return Ok(None);
    }
    let store = |name: &str| -> Result<Option<Pem>> {
        if let Some(pem) = props.get(&format!("zkha.ssl.{name}.pem")) {
            return Ok(Some(Pem::Text(pem.clone())));
        }
        let key = format!("zookeeper.ssl.{name}.location");
        let Some(location) = props.get(&key).filter(|l| !l.trim().is_empty()) else {
            return Ok(None);
        };
        let kind = props
            .get(&format!("zookeeper.ssl.{name}.type"))
            .map(|t| t.trim().to_ascii_uppercase())
            .unwrap_or_else(
                || match Path::new(location).extension().and_then(|e| e.to_str()) {
                    Some(e) if e.eq_ignore_ascii_case("pem") => "PEM".into(),
                    Some(e) if e.eq_ignore_ascii_case("jks") => "JKS".into(),
                    Some(e) if e.eq_ignore_ascii_case("p12") => "PKCS12".into(),
                    _ => "unknown".into(),
                },
            );
        if kind != "PEM" {
            return Err(Error::config(format!(
                "{source}: {key}: {location} is a {kind} store; outside the Flink plugin (which \
                 reads JKS and PKCS12 stores itself) zkha reads PEM stores only: convert it \
                 (openssl pkcs12 -in {location} -nodes) or give PEM files"
            )));
        }
        Ok(Some(Pem::File(PathBuf::from(location.trim()))))
    };
    let Some(ca) = store("trustStore")? else {
        return Err(Error::config(format!(
            "{source}: zookeeper.client.secure is true but zookeeper.ssl.trustStore.location is \
             not set: give the CA certificates the servers' certificates chain to"
        )));
    };
    let mut t = TlsConfig::new(ca);
    // ZooKeeper's PEM key store holds the key and the certificate chain in one file.
    if let Some(ks) = store("keyStore")? {
        t = t.identity(ks.clone(), ks);
    }
    t.hostname_verification = !props
        .get("zookeeper.ssl.hostnameVerification")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"));
    Ok(Some(t))
}

/// SASL as ZooKeeper's Java client under Flink finds it: off with `zookeeper.sasl.disable`
/// (or `-Dzookeeper.sasl.client=false`); else the JAAS section `zookeeper.sasl.login-context-name`
/// (default `Client`) of the file in `java.security.auth.login.config`.
fn sasl(cfg: &FlinkConfig, props: &BTreeMap<String, String>) -> Result<Option<Sasl>> {
    let source = cfg.source();
    if cfg.boolean_key("zookeeper.sasl.disable", false)?
        || props
            .get("zookeeper.sasl.client")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
    {
        return Ok(None);
    }
    let explicit = props
        .get("zookeeper.sasl.clientconfig")
        .map(|s| s.trim().to_string())
        .or_else(|| {
            cfg.get("zookeeper.sasl.login-context-name")
                .map(|s| s.trim().to_string())
        });
    let section = explicit.clone().unwrap_or_else(|| "Client".to_string());
    let flink_login = flink_kerberos(cfg, props, &section)?;
    let Some(file) = props.get("java.security.auth.login.config") else {
        if flink_login.is_some() {
            return Ok(flink_login);
        }
        if let Some(s) = explicit {
            return Err(Error::config(format!(
                "{source}: the JAAS section {s:?} was asked for, but no JAAS file is given \
                 (java.security.auth.login.config)"
            )));
        }
        return Ok(None);
    };
    let path = file.trim().trim_start_matches("file:");
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::config(format!(
            "{source}: java.security.auth.login.config: cannot read {path}: {e}"
        ))
    })?;
    let sections = parse_jaas(&text)
        .map_err(|why| Error::config(format!("{source}: JAAS file {path}: {why}")))?;
    let Some(entries) = sections.get(&section) else {
        if flink_login.is_some() {
            return Ok(flink_login);
        }
        if explicit.is_some() {
            return Err(Error::config(format!(
                "{source}: JAAS file {path} has no section {section:?} \
                 (zookeeper.sasl.login-context-name)"
            )));
        }
        // ZooKeeper's Java client goes on without SASL then; so does zkha (a creator ACL
        // then fails the identity check).
        tracing::warn!(target: "zkha::security", file = %path, section = %section, "no JAAS section for ZooKeeper: connecting without SASL");
        return Ok(None);
    };
    for e in entries {
        if e.module.ends_with("DigestLoginModule") {
            let get = |k: &str| {
                e.options.get(k).cloned().ok_or_else(|| {
                    Error::config(format!(
                        "{source}: JAAS file {path}, section {section:?}: DigestLoginModule \
                         needs {k}"
                    ))
                })
            };
            return Ok(Some(Sasl::DigestMd5 {
                username: get("username")?,
                password: get("password")?,
            }));
        }
        if e.module.ends_with("Krb5LoginModule") {
            let flag = |k: &str| {
                e.options
                    .get(k)
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
            };
            let principal = e.options.get("principal").cloned();
            let mut k = match e.options.get("keyTab") {
                Some(keytab) if flag("useKeyTab") => Kerberos {
                    principal,
                    ..Kerberos::keytab("", keytab.trim_start_matches("file:"))
                },
                _ if flag("useTicketCache") => Kerberos {
                    principal,
                    ..Kerberos::ticket_cache(e.options.get("ticketCache").cloned())
                },
                _ => {
                    return Err(Error::config(format!(
                        "{source}: JAAS file {path}, section {section:?}: Krb5LoginModule \
                         needs useKeyTab=true with keyTab, or useTicketCache=true (zkha \
                         cannot prompt for a password)"
                    )))
                }
            };
            kerberos_settings(cfg, props, &mut k);
            return Ok(Some(Sasl::Kerberos(k)));
        }
    }
    let modules: Vec<&str> = entries.iter().map(|e| e.module.as_str()).collect();
    Err(Error::config(format!(
        "{source}: JAAS file {path}, section {section:?}: {} is not supported by this zkha \
         build (supported: DigestLoginModule for SASL DIGEST-MD5, Krb5LoginModule for \
         Kerberos)",
        modules.join(", ")
    )))
}

/// Flink's own Kerberos login (`security.kerberos.login.*`), which Flink installs as a JAAS
/// section for each context of `security.kerberos.login.contexts`: a keytab with its
/// principal, else the ticket cache unless `use-ticket-cache` is false.
fn flink_kerberos(
    cfg: &FlinkConfig,
    props: &BTreeMap<String, String>,
    section: &str,
) -> Result<Option<Sasl>> {
    let source = cfg.source();
    let listed = cfg
        .get("security.kerberos.login.contexts")
        .is_some_and(|c| c.split(',').any(|c| c.trim() == section));
    if !listed {
        return Ok(None);
    }
    let keytab = cfg
        .get("security.kerberos.login.keytab")
        .map(str::trim)
        .filter(|k| !k.is_empty());
    let principal = cfg
        .get("security.kerberos.login.principal")
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let mut k = match (keytab, principal) {
        (Some(keytab), Some(principal)) => Kerberos::keytab(principal, keytab),
        (Some(_), None) => {
            // Flink refuses this too (SecurityConfiguration).
            return Err(Error::config(format!(
                "{source}: security.kerberos.login.keytab is set, but \
                 security.kerberos.login.principal is not"
            )));
        }
        (None, _) if cfg.boolean_key("security.kerberos.login.use-ticket-cache", true)? => {
            Kerberos {
                principal: principal.map(str::to_string),
                ..Kerberos::ticket_cache(None)
            }
        }
        (None, _) => {
            return Err(Error::config(format!(
                "{source}: security.kerberos.login.contexts lists {section:?}, but neither \
                 security.kerberos.login.keytab nor the ticket cache \
                 (security.kerberos.login.use-ticket-cache) is given"
            )))
        }
    };
    kerberos_settings(cfg, props, &mut k);
    Ok(Some(Sasl::Kerberos(k)))
}

/// The server side of a Kerberos login and the krb5.conf, from the system properties
/// ZooKeeper's Java client reads and the Flink keys that set them.
fn kerberos_settings(cfg: &FlinkConfig, props: &BTreeMap<String, String>, k: &mut Kerberos) {
    let prop = |key: &str| {
        props
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    if let Some(service) = prop("zookeeper.sasl.client.username").or_else(|| {
        cfg.get("zookeeper.sasl.service-name")
            .map(|s| s.trim().to_string())
    }) {
        k.service = service;
    }
    k.server_principal = prop("zookeeper.server.principal");
    k.server_realm = prop("zookeeper.server.realm");
    if let Some(c) = prop("zookeeper.sasl.client.canonicalize.hostname") {
        k.canonicalize_hostname = !c.eq_ignore_ascii_case("false");
    }
    k.krb5_conf = prop("java.security.krb5.conf")
        .or_else(|| {
            cfg.get("security.kerberos.krb5-conf.path")
                .map(|s| s.trim().to_string())
        })
        .filter(|p| !p.is_empty())
        .map(PathBuf::from);
}

/// One login module of a JAAS section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct JaasEntry {
    /// The login module class.
    pub module: String,
    /// `required`, `optional`, ...
    pub flag: String,
    /// Its options.
    pub options: BTreeMap<String, String>,
}

/// Parses a JAAS login configuration file: `Name { module flag key=value ...; ... };`.
pub(crate) fn parse_jaas(
    text: &str,
) -> std::result::Result<BTreeMap<String, Vec<JaasEntry>>, String> {
    let tokens = jaas_tokens(text)?;
    let mut sections = BTreeMap::new();
    let mut i = 0;
    let next = |i: &mut usize| -> std::result::Result<String, String> {
        let t = tokens.get(*i).cloned().ok_or("ends too early")?;
        *i += 1;
        Ok(t)
    };
    while i < tokens.len() {
        let name = next(&mut i)?;
        if next(&mut i)? != "{" {
            return Err(format!("section {name} must open with '{{'"));
        }
        let mut entries = Vec::new();
        loop {
            let t = next(&mut i)?;
            if t == "}" {
                break;
            }
            let module = t;
            let flag = next(&mut i)?;
            let mut options = BTreeMap::new();
            loop {
                let k = next(&mut i)?;
                if k == ";" {
                    break;
                }
                if next(&mut i)? != "=" {
                    return Err(format!("option {k} in section {name} needs '='"));
                }
                options.insert(k, next(&mut i)?);
            }
            entries.push(JaasEntry {
                module,
                flag,
                options,
            });
        }
        if tokens.get(i).map(String::as_str) == Some(";") {
            i += 1;
        }
        sections.insert(name, entries);
    }
    Ok(sections)
}

/// Tokens of a JAAS file: words, quoted strings (unquoted), `{ } ; =`; comments dropped.
fn jaas_tokens(text: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let b: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && b.get(i + 1) == Some(&'/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && b.get(i + 1) == Some(&'*') {
            i += 2;
            while i + 1 < b.len() && !(b[i] == '*' && b[i + 1] == '/') {
                i += 1;
            }
            i += 2;
        } else if matches!(c, '{' | '}' | ';' | '=') {
            out.push(c.to_string());
            i += 1;
        } else if c == '"' || c == '\'' {
            let mut s = String::new();
            i += 1;
            while i < b.len() && b[i] != c {
                if b[i] == '\\' && i + 1 < b.len() {
                    i += 1;
                }
                s.push(b[i]);
                i += 1;
            }
            if i >= b.len() {
                return Err("a quoted value is not closed".into());
            }
            i += 1;
            out.push(s);
        } else {
            let start = i;
            while i < b.len() && !b[i].is_whitespace() && !matches!(b[i], '{' | '}' | ';' | '=') {
                i += 1;
            }
            out.push(b[start..i].iter().collect());
        }
    }
    Ok(out)
}

/// The `high-availability.zookeeper.client.authorization` map (scheme -> credential), in
/// any form Flink accepts: a YAML map (flattened to `...authorization.<scheme>` keys) or
/// Flink's map string `digest:'flink:secret',other:x`.
fn authorization(cfg: &FlinkConfig) -> Result<Vec<(String, String)>> {
    let nested = format!("{AUTHORIZATION}.");
    let mut out: Vec<(String, String)> = cfg
        .entries()
        .filter_map(|(k, v)| Some((k.strip_prefix(nested.as_str())?.to_string(), v.to_string())))
        .collect();
    if let Some(v) = cfg.get(AUTHORIZATION) {
        out.extend(parse_map(v).map_err(|why| {
            Error::config(format!(
                "{}: {AUTHORIZATION}: {why} (write scheme:credential pairs, e.g. \
                 digest:'flink:secret', or a YAML map)",
                cfg.source()
            ))
        })?);
    }
    for (scheme, auth) in &out {
        if scheme.is_empty() || auth.is_empty() {
            return Err(Error::config(format!(
                "{}: {AUTHORIZATION}: an entry has an empty scheme or credential",
                cfg.source()
            )));
        }
    }
    Ok(out)
}

/// Splits Flink's map string: `,`-separated `key:value` entries; either may be quoted with
/// `'` or `"` (a doubled quote inside stands for one), which protects `,` and `:`.
pub(crate) fn parse_map(s: &str) -> std::result::Result<Vec<(String, String)>, String> {
    let mut entries = Vec::new();
    for part in split_unquoted(s, ',')? {
        if part.trim().is_empty() {
            continue;
        }
        let kv = split_unquoted(&part, ':')?;
        let (k, v) = match kv.as_slice() {
            [k, rest @ ..] if !rest.is_empty() => (k.clone(), rest.join(":")),
            _ => return Err("an entry has no ':' between key and value".to_string()),
        };
        entries.push((unquote(&k)?, unquote(&v)?));
    }
    Ok(entries)
}

/// Splits at `sep` outside quotes, keeping the quotes.
fn split_unquoted(s: &str, sep: char) -> std::result::Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                parts.last_mut().unwrap().push(c);
                if chars.peek() == Some(&q) {
                    parts.last_mut().unwrap().push(chars.next().unwrap());
                } else {
                    quote = None;
                }
            }
            Some(_) => parts.last_mut().unwrap().push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                parts.last_mut().unwrap().push(c);
            }
            None if c == sep => parts.push(String::new()),
            None => parts.last_mut().unwrap().push(c),
        }
    }
    if quote.is_some() {
        return Err("a quote is not closed".to_string());
    }
    Ok(parts)
}

/// Trims and removes one level of quotes (`''` inside `'...'` stands for `'`).
fn unquote(s: &str) -> std::result::Result<String, String> {
    let t = s.trim();
    for q in ['\'', '"'] {
        if let Some(inner) = t.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            if t.len() >= 2 {
                return Ok(inner.replace(&format!("{q}{q}"), &q.to_string()));
            }
        }
    }
    Ok(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_map_strings() {
        assert_eq!(
            parse_map("digest:'flink:secret'").unwrap(),
            vec![("digest".into(), "flink:secret".into())]
        );
        assert_eq!(
            parse_map("digest:\"a:b,c\", ip : 10.0.0.1").unwrap(),
            vec![
                ("digest".into(), "a:b,c".into()),
                ("ip".into(), "10.0.0.1".into())
            ]
        );
        assert_eq!(
            parse_map("digest:'it''s:pw'").unwrap(),
            vec![("digest".into(), "it's:pw".into())]
        );
        assert!(parse_map("digest:'open").is_err());
        assert!(parse_map("digest").is_err());
    }

    #[test]
    fn authorization_in_yaml_and_string_forms_and_flinks_creator_check() {
        let yaml = FlinkConfig::parse_yaml(
            "high-availability.zookeeper.quorum: zk:2181\n\
             high-availability.zookeeper.client.acl: Creator\n\
             high-availability.zookeeper.client.authorization:\n  digest: \"flink:secret\"\n",
            "config.yaml",
        )
        .unwrap();
        let o = yaml.client_options().unwrap();
        assert_eq!(o.acl, AclMode::Creator);
        assert_eq!(o.auth.len(), 1);
        assert_eq!(o.auth[0].scheme, "digest");
        assert_eq!(o.auth[0].auth, b"flink:secret");

        let legacy = FlinkConfig::parse_legacy(
            "high-availability.zookeeper.quorum: zk:2181\n\
             high-availability.zookeeper.client.authorization: digest:'flink:secret'\n",
            "flink-conf.yaml",
        );
        let o = legacy.client_options().unwrap();
        assert_eq!(o.auth[0].auth, b"flink:secret");

        let disabled = FlinkConfig::parse_legacy(
            "high-availability.zookeeper.quorum: zk:2181\n\
             high-availability.zookeeper.client.acl: creator\n\
             zookeeper.sasl.disable: true\n",
            "flink-conf.yaml",
        );
        let e = disabled.client_options().unwrap_err().to_string();
        assert!(e.contains("Cannot set ACL role to CREATOR"), "{e}");

        let alone = FlinkConfig::parse_legacy(
            "high-availability.zookeeper.quorum: zk:2181\nhigh-availability.zookeeper.client.acl: creator\n",
            "flink-conf.yaml",
        );
        let e = alone.client_options().unwrap_err().to_string();
        assert!(e.contains("authenticated identity"), "{e}");
    }

    #[test]
    fn jaas_files_as_java_reads_them() {
        let s = parse_jaas(
            "/* ZooKeeper */ Client {\n  org.apache.zookeeper.server.auth.DigestLoginModule required\n    username=\"zkha\" password='s;e=c\"ret';\n};\n\
             // Kerberos\nKafkaClient { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true keyTab=\"/k.keytab\" principal=\"a@B\"; };",
        )
        .unwrap();
        let c = &s["Client"][0];
        assert!(c.module.ends_with("DigestLoginModule"));
        assert_eq!(c.flag, "required");
        assert_eq!(c.options["username"], "zkha");
        assert_eq!(c.options["password"], "s;e=c\"ret");
        assert_eq!(s["KafkaClient"][0].options["useKeyTab"], "true");
        assert!(parse_jaas("Client { m required a=\"b; };").is_err());
    }

    #[test]
    fn sasl_and_tls_from_the_jvm_options_of_the_flink_config() {
        let dir = std::env::temp_dir().join(format!("zkha-jaas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jaas = dir.join("jaas.conf");
        std::fs::write(
            &jaas,
            "ZkClient { org.apache.flink.shaded.zookeeper3.org.apache.zookeeper.server.auth.DigestLoginModule required username=\"flink\" password=\"pw\"; };",
        )
        .unwrap();
        let text = format!(
            "high-availability.zookeeper.quorum: zk:2281\n\
             zookeeper.sasl.login-context-name: ZkClient\n\
             env.java.opts.all: -Xmx1g -Djava.security.auth.login.config={} \"-Dzookeeper.client.secure=true\" -Dzookeeper.ssl.trustStore.location=/t/ca.pem -Dzookeeper.ssl.keyStore.location=/t/jm.pem -Dzookeeper.ssl.hostnameVerification=false\n",
            jaas.display()
        );
        let o = FlinkConfig::parse_legacy(&text, "flink-conf.yaml")
            .client_options()
            .unwrap();
        assert_eq!(
            o.sasl,
            Some(Sasl::DigestMd5 {
                username: "flink".into(),
                password: "pw".into()
            })
        );
        let tls = o.tls.unwrap();
        assert_eq!(tls.ca, Pem::File("/t/ca.pem".into()));
        assert_eq!(
            tls.identity,
            Some((Pem::File("/t/jm.pem".into()), Pem::File("/t/jm.pem".into())))
        );
        assert!(!tls.hostname_verification);

        // A section asked for by name must exist; a JKS store needs the plugin.
        let missing = text.replace("ZkClient\n", "Other\n");
        let e = FlinkConfig::parse_legacy(&missing, "c")
            .client_options()
            .unwrap_err();
        assert!(e.to_string().contains("no section \"Other\""), "{e}");
        let jks = text.replace("/t/jm.pem", "/t/jm.jks");
        let e = FlinkConfig::parse_legacy(&jks, "c")
            .client_options()
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("zookeeper.ssl.keyStore.location: /t/jm.jks is a JKS store"),
            "{e}"
        );
        // zookeeper.sasl.disable wins over the JAAS file.
        let off = format!("{text}zookeeper.sasl.disable: true\n");
        let o = FlinkConfig::parse_legacy(&off, "c")
            .client_options()
            .unwrap();
        assert_eq!(o.sasl, None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn kerberos_of(text: &str) -> Result<Option<Sasl>> {
        FlinkConfig::parse_legacy(text, "flink-conf.yaml")
            .client_options()
            .map(|o| o.sasl)
    }

    #[test]
    fn kerberos_from_flinks_login_keys_as_its_jaas_module_installs_them() {
        let base = "high-availability.zookeeper.quorum: zk1.example.com:2181\n\
                    high-availability.zookeeper.client.acl: creator\n";
        let keytab = format!(
            "{base}security.kerberos.login.keytab: /etc/flink/flink.keytab\n\
             security.kerberos.login.principal: flink/jm1@EXAMPLE.COM\n\
             security.kerberos.login.contexts: Client,KafkaClient\n\
             zookeeper.sasl.service-name: zk\n\
             env.java.opts.all: -Djava.security.krb5.conf=/etc/flink/krb5.conf \
             -Dzookeeper.server.realm=ZK.EXAMPLE.COM\n"
        );
        let Some(Sasl::Kerberos(k)) = kerberos_of(&keytab).unwrap() else {
            panic!("no Kerberos login");
        };
        assert_eq!(k.principal.as_deref(), Some("flink/jm1@EXAMPLE.COM"));
        assert_eq!(k.keytab, Some(PathBuf::from("/etc/flink/flink.keytab")));
        assert_eq!(k.service, "zk");
        assert_eq!(k.server_realm.as_deref(), Some("ZK.EXAMPLE.COM"));
        assert_eq!(k.krb5_conf, Some(PathBuf::from("/etc/flink/krb5.conf")));
        assert!(k.canonicalize_hostname);

        // Without a keytab: the ticket cache, unless use-ticket-cache is false.
        let cache = format!("{base}security.kerberos.login.contexts: Client\n");
        let Some(Sasl::Kerberos(k)) = kerberos_of(&cache).unwrap() else {
            panic!("no ticket-cache login");
        };
        assert_eq!((k.keytab, k.ticket_cache), (None, None));
        let e = kerberos_of(&format!(
            "{cache}security.kerberos.login.use-ticket-cache: false\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("security.kerberos.login.keytab"), "{e}");

        // A keytab without its principal is refused, naming the key, as Flink does.
        let e = kerberos_of(&format!(
            "{base}security.kerberos.login.keytab: /k\nsecurity.kerberos.login.contexts: Client\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("security.kerberos.login.principal"), "{e}");

        // Contexts that do not name ZooKeeper's section leave ZooKeeper without SASL (and a
        // creator ACL then fails the identity check, as in Flink).
        let kafka_only = format!(
            "{base}security.kerberos.login.keytab: /k\n\
             security.kerberos.login.principal: p@R\n\
             security.kerberos.login.contexts: KafkaClient\n"
        );
        let e = kerberos_of(&kafka_only).unwrap_err().to_string();
        assert!(e.contains("authenticated identity"), "{e}");
    }

    #[test]
    fn kerberos_from_a_jaas_file_with_krb5_login_module() {
        let dir = std::env::temp_dir().join(format!("zkha-krb-jaas-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let jaas = dir.join("jaas.conf");
        std::fs::write(
            &jaas,
            "Client { com.sun.security.auth.module.Krb5LoginModule required useKeyTab=true \
             keyTab=\"/etc/zk/jm.keytab\" storeKey=true principal=\"jm@EXAMPLE.COM\"; };\n\
             Cache { com.sun.security.auth.module.Krb5LoginModule required useTicketCache=true \
             ticketCache=\"FILE:/tmp/cc\"; };\n\
             Prompt { com.sun.security.auth.module.Krb5LoginModule required; };",
        )
        .unwrap();
        let text = |section: &str| {
            format!(
                "high-availability.zookeeper.quorum: zk:2181\n\
                 zookeeper.sasl.login-context-name: {section}\n\
                 env.java.opts.jobmanager: -Djava.security.auth.login.config={} \
                 -Dzookeeper.server.principal=zookeeper/zk@EXAMPLE.COM \
                 -Dzookeeper.sasl.client.canonicalize.hostname=false\n",
                jaas.display()
            )
        };
        let Some(Sasl::Kerberos(k)) = kerberos_of(&text("Client")).unwrap() else {
            panic!("no keytab login");
        };
        assert_eq!(k.keytab, Some(PathBuf::from("/etc/zk/jm.keytab")));
        assert_eq!(k.principal.as_deref(), Some("jm@EXAMPLE.COM"));
        assert_eq!(
            k.server_principal.as_deref(),
            Some("zookeeper/zk@EXAMPLE.COM")
        );
        assert!(!k.canonicalize_hostname);
        let Some(Sasl::Kerberos(k)) = kerberos_of(&text("Cache")).unwrap() else {
            panic!("no ticket-cache login");
        };
        assert_eq!(k.ticket_cache.as_deref(), Some("FILE:/tmp/cc"));
        let e = kerberos_of(&text("Prompt")).unwrap_err().to_string();
        assert!(e.contains("useKeyTab") && e.contains("Prompt"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
