//! Client options (`zkha_options_*`): timeouts, TLS, SASL, auth, ACLs, retry, liveness.

use super::*;

/// Makes options with `make` into `*out_options` (checked first: nothing is made for NULL).
fn new_options(
    out_options: *mut *mut zkha_options,
    make: impl FnOnce() -> R<ClientOptions>,
) -> R<()> {
    unsafe {
        out_new(out_options, "out_options", || {
            Ok(zkha_options { options: make()? })
        })
    }
}

/// Options for `connect` (`host:port,...[/chroot]`) with zkha's defaults (session timeout
/// 30 s, no TLS, no SASL, open ACL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_new(
    connect: *const c_char,
    out_options: *mut *mut zkha_options,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let cs = unsafe { text(connect, "connect") }?;
        new_options(out_options, || Ok(ClientOptions::new(cs)))
    })
}

/// Options read from the `high-availability.*` keys of a Flink configuration file or
/// directory, its security included as Flink's built-in HA reads it (ACL mode,
/// authorization, the JAAS file's DigestLoginModule, ZooKeeper's TLS system properties in
/// `env.java.opts.all`); the setters then replace what they set.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_from_flink_config(
    path: *const c_char,
    out_options: *mut *mut zkha_options,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let p = unsafe { text(path, "path") }?;
        new_options(out_options, || Ok(FlinkConfig::load(p)?.client_options()?))
    })
}

/// Applies `f` to the options behind `options`.
pub(crate) fn with_options(
    options: *mut zkha_options,
    err: *mut *mut zkha_error,
    f: impl FnOnce(&mut ClientOptions) -> R<()>,
) -> zkha_status {
    guard(err, || {
        f(&mut unsafe { obj_mut(options, "options") }?.options)
    })
}

/// Sets the session timeout asked of the servers.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_session_timeout(
    options: *mut zkha_options,
    session_timeout_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.session_timeout = ms(session_timeout_ms);
        Ok(())
    })
}

/// Sets the timeout of one connection attempt.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_connection_timeout(
    options: *mut zkha_options,
    connection_timeout_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.connection_timeout = ms(connection_timeout_ms);
        Ok(())
    })
}

/// Sets the namespace: a path prefix for every path the client uses (`/app` makes `/x` mean
/// `/app/x`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_namespace(
    options: *mut zkha_options,
    namespace: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.namespace = unsafe { text(namespace, "namespace") }?.to_string();
        Ok(())
    })
}

/// Strict mode: grants are given up on any disconnect instead of when the lease runs out.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_strict(
    options: *mut zkha_options,
    strict: bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.strict = strict;
        Ok(())
    })
}

/// Sets the lease margin: how much sooner than the session timeout a disconnected holder
/// stops believing it holds (docs/failure-model.md).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_lease_margin(
    options: *mut zkha_options,
    lease_margin_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.lease_margin = Some(ms(lease_margin_ms));
        Ok(())
    })
}

/// Sets the timeout of one request (default: derived from the session timeout).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_operation_timeout(
    options: *mut zkha_options,
    operation_timeout_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.operation_timeout = Some(ms(operation_timeout_ms));
        Ok(())
    })
}

/// How reads and idempotent writes are repeated after a connection loss: up to
/// `max_retries` times, waiting `base_wait_ms`, doubling up to `max_wait_ms`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_retry(
    options: *mut zkha_options,
    max_retries: u32,
    base_wait_ms: u64,
    max_wait_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.retry = zkha::RetryPolicy {
            max_retries,
            base_wait: ms(base_wait_ms),
            max_wait: ms(max_wait_ms),
        };
        Ok(())
    })
}

/// Switches the election's liveness link on (the default) or off (docs/recipes/election.md:
/// off, a crashed leader is replaced after the session timeout instead of at once).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_liveness(
    options: *mut zkha_options,
    enabled: bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.liveness.enabled = enabled;
        Ok(())
    })
}

/// Where the liveness endpoint listens: `host` an IP address (NULL: every interface of the
/// family used to reach ZooKeeper), `port` (0: any free one).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_liveness_listen(
    options: *mut zkha_options,
    host: *const c_char,
    port: u16,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        // Checked before it is set: a refused value leaves the options as they were.
        let mut l = o.liveness.clone();
        l.listen_host = unsafe { opt_text(host, "host") }?.map(str::to_string);
        l.listen_port = port;
        l.validate()?;
        o.liveness = l;
        Ok(())
    })
}

/// The `host` or `host:port` successors connect to (NULL: the listen address), behind NAT or
/// port mapping.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_liveness_advertise(
    options: *mut zkha_options,
    advertise: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let mut l = o.liveness.clone();
        l.advertise = unsafe { opt_text(advertise, "advertise") }?.map(str::to_string);
        l.validate()?;
        o.liveness = l;
        Ok(())
    })
}

/// A client certificate chain and its key.
type Identity = (Pem, Pem);

/// A PEM argument: the text itself if it holds a PEM block (`-----BEGIN`), else a file's path
/// (as the Python binding decides).
fn pem(s: &str) -> Pem {
    if s.trim_start().starts_with("-----BEGIN") {
        Pem::Text(s.into())
    } else {
        Pem::File(s.into())
    }
}

/// The PEM arguments `ca` (NULL: None) and `cert` with `key` (both, or both NULL).
pub(crate) unsafe fn pems(
    ca: *const c_char,
    cert: *const c_char,
    key: *const c_char,
) -> R<(Option<Pem>, Option<Identity>)> {
    let ca = unsafe { opt_text(ca, "ca") }?.map(pem);
    let identity = match unsafe { (opt_text(cert, "cert")?, opt_text(key, "key")?) } {
        (Some(c), Some(k)) => Some((pem(c), pem(k))),
        (None, None) => None,
        _ => {
            return Err(Fail(
                zkha_status::InvalidArgument,
                "cert and key go together: give both or neither".into(),
            ))
        }
    };
    Ok((ca, identity))
}

/// TLS to the servers' secureClientPort. Each argument is a PEM file's path or PEM text (a
/// string holding `-----BEGIN`, copied): `ca` the CA certificates the servers' certificates
/// must chain to; `cert` and `key` (both, or both NULL) the client's certificate chain and
/// its unencrypted key (PKCS#8, PKCS#1 or SEC1), for servers that want one (ZooKeeper's
/// default `ssl.clientAuth=need`; the ACL id is then `x509:<subject>`). Files are read when
/// connecting (errors name them) and re-read when they change. Replaces earlier TLS
/// settings: hostname verification and reload period go back to their defaults.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_tls(
    options: *mut zkha_options,
    ca: *const c_char,
    cert: *const c_char,
    key: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let (ca, identity) = unsafe { pems(ca, cert, key) }?;
        let mut t = TlsConfig::new(ca.ok_or_else(|| null("ca"))?);
        t.identity = identity;
        o.tls = Some(t);
        Ok(())
    })
}

/// The part of the options a setter refines, or an error telling which call comes first.
fn set_first<'a, T>(part: Option<&'a mut T>, what: &str, first: &str) -> R<&'a mut T> {
    part.ok_or_else(|| {
        Fail(
            zkha_status::InvalidArgument,
            format!("{what}: call {first} first"),
        )
    })
}

/// Applies `f` to the TLS settings of `options` (set before).
fn with_tls(
    options: *mut zkha_options,
    err: *mut *mut zkha_error,
    what: &str,
    f: impl FnOnce(&mut TlsConfig),
) -> zkha_status {
    with_options(options, err, |o| {
        f(set_first(o.tls.as_mut(), what, "zkha_options_set_tls")?);
        Ok(())
    })
}

/// Whether the server's certificate must name the host as written in the connect string
/// (default true). Call after setting TLS.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_tls_hostname_verification(
    options: *mut zkha_options,
    on: bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_tls(options, err, "TLS hostname verification", |t| {
        t.hostname_verification = on
    })
}

/// How often TLS files are checked for changes, which apply from the next connection
/// (default 60 s; 0: never). Call after setting TLS.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_tls_reload_every(
    options: *mut zkha_options,
    every_ms: u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_tls(options, err, "TLS reload period", |t| {
        t.reload_every = ms(every_ms)
    })
}

/// SASL DIGEST-MD5 as `username` of the servers' JAAS `Server` section (ACL id
/// `sasl:<username>`); a refused login fails the connect with ZKHA_STATUS_NO_AUTH naming the
/// user. Both strings are copied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_sasl_digest_md5(
    options: *mut zkha_options,
    username: *const c_char,
    password: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.sasl = Some(Sasl::DigestMd5 {
            username: unsafe { text(username, "username") }?.to_string(),
            password: unsafe { text(password, "password") }?.to_string(),
        });
        Ok(())
    })
}

/// Sets SASL GSSAPI (Kerberos) to `k`, replacing any SASL set before.
unsafe fn set_kerberos(o: &mut ClientOptions, principal: *const c_char, mut k: Kerberos) -> R<()> {
    k.principal = unsafe { opt_text(principal, "principal") }?.map(str::to_string);
    o.sasl = Some(Sasl::Kerberos(k));
    Ok(())
}

/// SASL GSSAPI (Kerberos) with a login from `keytab` (a file path) as `principal`
/// (`flink/jm1@EXAMPLE.COM`; NULL: the keytab's first), into a private in-memory ticket
/// cache; tickets are renewed from the keytab as they expire, no `kinit` needed. MIT Kerberos
/// (`libgssapi_krb5.so.2`) is loaded when connecting, not before, and reads `KRB5_CONFIG`
/// (or /etc/krb5.conf). The ACL id is `sasl:<principal>`. Connecting fails with
/// ZKHA_STATUS_CONFIG naming the keytab or principal if the login fails. Strings are copied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_sasl_kerberos_keytab(
    options: *mut zkha_options,
    keytab: *const c_char,
    principal: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| unsafe {
        let k = Kerberos {
            keytab: Some(text(keytab, "keytab")?.into()),
            ..Kerberos::ticket_cache(None)
        };
        set_kerberos(o, principal, k)
    })
}

/// SASL GSSAPI (Kerberos) with the tickets of a ticket cache: `ticket_cache`
/// (`FILE:/tmp/krb5cc_1000`; NULL: `KRB5CCNAME` or the default) as `principal` (NULL: the
/// cache's). Something else (kinit, k5start) must keep the tickets fresh; prefer
/// `zkha_options_set_sasl_kerberos_keytab` for services. Strings are copied.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_sasl_kerberos_ticket_cache(
    options: *mut zkha_options,
    ticket_cache: *const c_char,
    principal: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| unsafe {
        let cache = opt_text(ticket_cache, "ticket_cache")?.map(str::to_string);
        set_kerberos(o, principal, Kerberos::ticket_cache(cache))
    })
}

/// Applies `f` to the Kerberos settings of `options` (set before).
fn with_kerberos(
    options: *mut zkha_options,
    err: *mut *mut zkha_error,
    what: &str,
    f: impl FnOnce(&mut Kerberos) -> R<()>,
) -> zkha_status {
    with_options(options, err, |o| {
        let k = match &mut o.sasl {
            Some(Sasl::Kerberos(k)) => Some(k),
            _ => None,
        };
        f(set_first(
            k,
            what,
            "zkha_options_set_sasl_kerberos_keytab or _ticket_cache",
        )?)
    })
}

/// The servers' Kerberos service name (default `zookeeper`; Java's
/// `zookeeper.sasl.client.username`): the server principal is `<service>/<host>`. Call after
/// setting Kerberos.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_kerberos_service(
    options: *mut zkha_options,
    service: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_kerberos(options, err, "Kerberos service name", |k| {
        let s = unsafe { text(service, "service") }?;
        if s.is_empty() {
            return Err(Fail(
                zkha_status::InvalidArgument,
                "service: the Kerberos service name is empty (ZooKeeper's is zookeeper)".into(),
            ));
        }
        k.service = s.to_string();
        Ok(())
    })
}

/// The servers' full Kerberos principal (`zookeeper/zk1.example.com@EXAMPLE.COM`; Java's
/// `zookeeper.server.principal`) instead of `<service>/<host>`; NULL: back to that. Call
/// after setting Kerberos.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_kerberos_server_principal(
    options: *mut zkha_options,
    server_principal: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_kerberos(options, err, "Kerberos server principal", |k| {
        k.server_principal =
            unsafe { opt_text(server_principal, "server_principal") }?.map(str::to_string);
        Ok(())
    })
}

/// Whether each server's host is resolved to its canonical name for the server principal, as
/// ZooKeeper's Java client does (default true; Java's
/// `zookeeper.sasl.client.canonicalize.hostname`). Call after setting Kerberos.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_kerberos_canonicalize_hostname(
    options: *mut zkha_options,
    on: bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_kerberos(options, err, "Kerberos hostname canonicalization", |k| {
        k.canonicalize_hostname = on;
        Ok(())
    })
}

/// Adds an `addAuth` credential sent on every connection, `scheme:credential` (e.g.
/// `digest:user:password`, ACL id `digest:user:<hash>`), to those set before (a Flink
/// configuration's `high-availability.zookeeper.client.authorization` included);
/// ZKHA_STATUS_INVALID_ARGUMENT if malformed (the message never shows the secret).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_add_auth(
    options: *mut zkha_options,
    credential: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        o.auth.push(Credential::parse(unsafe {
            text(credential, "credential")
        }?)?);
        Ok(())
    })
}

/// Sets the ACL mode of created znodes (`mode`: a `zkha_acl_mode`; replaces entries added
/// with `zkha_options_add_acl_entry`). CREATOR needs an identity: SASL, an auth credential or
/// a TLS client certificate (else connecting fails with ZKHA_STATUS_INVALID_ARGUMENT). Another
/// value of `mode` is ZKHA_STATUS_INVALID_ARGUMENT.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_set_acl(
    options: *mut zkha_options,
    mode: i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let mode = variant(mode, &ACL_MODES, "ACL mode")?;
        o.acl = match mode {
            zkha_acl_mode::Open => AclMode::Open,
            zkha_acl_mode::Creator => AclMode::Creator,
        };
        Ok(())
    })
}

/// Adds an entry to an explicit ACL of created znodes, in ZooKeeper's notation
/// `scheme:id:perms` with perms from `crwda` (e.g. `sasl:flink:cdrwa`); the first one
/// replaces the ACL mode. ZKHA_STATUS_INVALID_ARGUMENT, naming the entry, if malformed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_add_acl_entry(
    options: *mut zkha_options,
    entry: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    with_options(options, err, |o| {
        let e = AclEntry::parse(unsafe { text(entry, "entry") }?)?;
        match &mut o.acl {
            AclMode::Custom(entries) => entries.push(e),
            other => *other = AclMode::Custom(vec![e]),
        }
        Ok(())
    })
}

/// Frees options (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_options_free(options: *mut zkha_options) {
    unsafe { free_box(options) }
}
