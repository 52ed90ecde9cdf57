//! SASL GSSAPI (Kerberos) through MIT's `libgssapi_krb5.so.2`, loaded at run time only when
//! Kerberos is configured: a build of zkha (the Flink plugin's native library among them)
//! loads on hosts without Kerberos libraries.
//!
//! Credentials come from a client keytab (`gss_acquire_cred_from` with `client_keytab`) into
//! a private in-memory credential cache, or from a ticket cache. They are acquired again for
//! every connection: MIT refreshes a keytab's tickets inside that call once half their life
//! has passed, so a client keeps reconnecting past any ticket lifetime. (A ZooKeeper session
//! stays authenticated after its ticket expires; a ticket matters only when connecting.)
//!
//! The exchange is RFC 4752's: context tokens until the context is complete, then the
//! server's wrapped security-layer offer, answered with "no security layer" (ZooKeeper's
//! server asks for nothing more).

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};

type Om = u32;
type Name = *mut c_void;
type Cred = *mut c_void;
type Ctx = *mut c_void;

#[repr(C)]
struct OidDesc {
    length: Om,
    elements: *const c_void,
}

#[repr(C)]
struct OidSet {
    count: usize,
    elements: *const OidDesc,
}

#[repr(C)]
struct Buffer {
    length: usize,
    value: *mut c_void,
}

#[repr(C)]
struct KeyValue {
    key: *const c_char,
    value: *const c_char,
}

#[repr(C)]
struct KeyValueSet {
    count: Om,
    elements: *const KeyValue,
}

const GSS_C_INITIATE: c_int = 1;
const GSS_C_INDEFINITE: Om = 0xffff_ffff;
const GSS_C_MUTUAL_FLAG: Om = 2;
const GSS_C_INTEG_FLAG: Om = 32;
const GSS_S_CONTINUE_NEEDED: Om = 1;
const GSS_C_GSS_CODE: c_int = 1;
const GSS_C_MECH_CODE: c_int = 2;
/// 1.2.840.113554.1.2.2, the Kerberos 5 mechanism.
static KRB5_MECH: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// 1.2.840.113554.1.2.1.4, `service@host` names.
static HOSTBASED: [u8; 10] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x01, 0x04];
/// 1.2.840.113554.1.2.2.1, Kerberos principal names.
static KRB5_PRINCIPAL: [u8; 10] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02, 0x01];

fn oid(bytes: &'static [u8]) -> OidDesc {
    OidDesc {
        length: bytes.len() as Om,
        elements: bytes.as_ptr().cast(),
    }
}

/// The library's entry points.
struct Lib {
    import_name: unsafe extern "C" fn(*mut Om, *mut Buffer, *const OidDesc, *mut Name) -> Om,
    acquire_cred_from: unsafe extern "C" fn(
        *mut Om,
        Name,
        Om,
        *const OidSet,
        c_int,
        *const KeyValueSet,
        *mut Cred,
        *mut *mut OidSet,
        *mut Om,
    ) -> Om,
    init_sec_context: unsafe extern "C" fn(
        *mut Om,
        Cred,
        *mut Ctx,
        Name,
        *const OidDesc,
        Om,
        Om,
        *const c_void,
        *const Buffer,
        *mut *mut OidDesc,
        *mut Buffer,
        *mut Om,
        *mut Om,
    ) -> Om,
    unwrap:
        unsafe extern "C" fn(*mut Om, Ctx, *const Buffer, *mut Buffer, *mut c_int, *mut Om) -> Om,
    wrap:
        unsafe extern "C" fn(*mut Om, Ctx, c_int, Om, *const Buffer, *mut c_int, *mut Buffer) -> Om,
    release_buffer: unsafe extern "C" fn(*mut Om, *mut Buffer) -> Om,
    release_name: unsafe extern "C" fn(*mut Om, *mut Name) -> Om,
    release_cred: unsafe extern "C" fn(*mut Om, *mut Cred) -> Om,
    delete_sec_context: unsafe extern "C" fn(*mut Om, *mut Ctx, *mut Buffer) -> Om,
    display_status:
        unsafe extern "C" fn(*mut Om, Om, c_int, *const OidDesc, *mut Om, *mut Buffer) -> Om,
}

// SAFETY: the GSS-API functions zkha calls are thread-safe in MIT Kerberos (its handles are
// never shared between threads here); the struct holds only function pointers.
unsafe impl Send for Lib {}
unsafe impl Sync for Lib {}

const LIBRARY: &str = "libgssapi_krb5.so.2";

/// Every call into the library passes this gate; it closes at process exit (see
/// [`exit_gate`](super::exit_gate)).
static GATE: super::exit_gate::ExitGate = super::exit_gate::ExitGate::new();

/// How long `exit` waits for Kerberos calls in flight.
const EXIT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

extern "C" fn close_gate_at_exit() {
    GATE.close(EXIT_WAIT);
}

/// A pass for calls into the library, or why there is none.
fn pass() -> std::result::Result<super::exit_gate::Pass<'static>, String> {
    GATE.enter()
        .ok_or_else(|| "the process is exiting: no more Kerberos calls".to_string())
}

/// Loads the library once per process.
fn lib() -> Result<&'static Lib> {
    static LIB: OnceLock<std::result::Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load)
        .as_ref()
        .map_err(|e| Error::new(ErrorKind::Config, e.clone()))
}

// Each transmute's target is the type of the `Lib` field it fills, declared above.
#[allow(clippy::missing_transmute_annotations)]
fn load() -> std::result::Result<Lib, String> {
    let name = CString::new(LIBRARY).expect("no NUL");
    // SAFETY: dlopen/dlsym with valid C strings; the handle is never closed, so the symbols
    // stay valid for the life of the process.
    unsafe {
        let h = libc::dlopen(name.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
        if !h.is_null() {
            // Registered after the library's destructors (with the loader's), so it runs
            // before them.
            libc::atexit(close_gate_at_exit);
        }
        if h.is_null() {
            let why = CStr::from_ptr(libc::dlerror())
                .to_string_lossy()
                .into_owned();
            return Err(format!(
                "Kerberos (SASL GSSAPI) is configured, but {LIBRARY} cannot be loaded ({why}): \
                 install MIT Kerberos (Debian/Ubuntu: libgssapi-krb5-2; RHEL/Rocky/Amazon \
                 Linux: krb5-libs)"
            ));
        }
        macro_rules! sym {
            ($name:literal) => {{
                let s = CString::new($name).expect("no NUL");
                let p = libc::dlsym(h, s.as_ptr());
                if p.is_null() {
                    return Err(format!(
                        "{LIBRARY} lacks {} (MIT Kerberos 1.11 or newer is needed)",
                        $name
                    ));
                }
                std::mem::transmute::<*mut c_void, _>(p)
            }};
        }
        Ok(Lib {
            import_name: sym!("gss_import_name"),
            acquire_cred_from: sym!("gss_acquire_cred_from"),
            init_sec_context: sym!("gss_init_sec_context"),
            unwrap: sym!("gss_unwrap"),
            wrap: sym!("gss_wrap"),
            release_buffer: sym!("gss_release_buffer"),
            release_name: sym!("gss_release_name"),
            release_cred: sym!("gss_release_cred"),
            delete_sec_context: sym!("gss_delete_sec_context"),
            display_status: sym!("gss_display_status"),
        })
    }
}

impl Lib {
    /// The library's words for a failed call.
    fn describe(&self, major: Om, minor: Om) -> String {
        let mut parts = Vec::new();
        for (code, kind) in [(major, GSS_C_GSS_CODE), (minor, GSS_C_MECH_CODE)] {
            if kind == GSS_C_MECH_CODE && code == 0 {
                continue;
            }
            let mut ctx: Om = 0;
            let krb5 = oid(&KRB5_MECH);
            for _ in 0..8 {
                let mut m: Om = 0;
                let mut buf = Buffer {
                    length: 0,
                    value: std::ptr::null_mut(),
                };
                // SAFETY: valid out-pointers; the buffer is released below.
                let r =
                    unsafe { (self.display_status)(&mut m, code, kind, &krb5, &mut ctx, &mut buf) };
                if r != 0 {
                    break;
                }
                parts.push(buffer_text(&buf));
                // SAFETY: a buffer the library allocated.
                unsafe { (self.release_buffer)(&mut m, &mut buf) };
                if ctx == 0 {
                    break;
                }
            }
        }
        parts.retain(|p| !p.is_empty());
        parts.join(": ")
    }

    fn failed(major: Om) -> bool {
        major & 0xffff_0000 != 0
    }
}

fn buffer_text(b: &Buffer) -> String {
    if b.value.is_null() || b.length == 0 {
        return String::new();
    }
    // SAFETY: the library's buffer of `length` bytes.
    let s = unsafe { std::slice::from_raw_parts(b.value as *const u8, b.length) };
    String::from_utf8_lossy(s).into_owned()
}

fn buffer_bytes(b: &Buffer) -> Vec<u8> {
    if b.value.is_null() || b.length == 0 {
        return Vec::new();
    }
    // SAFETY: the library's buffer of `length` bytes.
    unsafe { std::slice::from_raw_parts(b.value as *const u8, b.length) }.to_vec()
}

/// Kerberos settings (see [`crate::security::Sasl::Kerberos`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kerberos {
    /// The client principal (`flink/jm1@EXAMPLE.COM`); `None`: the keytab's first, or the
    /// ticket cache's.
    pub principal: Option<String>,
    /// A keytab to log in from (`security.kerberos.login.keytab`); `None`: a ticket cache.
    pub keytab: Option<PathBuf>,
    /// The ticket cache to use without a keytab (`FILE:/tmp/krb5cc_1000`); `None`:
    /// `KRB5CCNAME` or the default.
    pub ticket_cache: Option<String>,
    /// The servers' service name (`zookeeper.sasl.client.username`, default `zookeeper`).
    pub service: String,
    /// The servers' full principal (`zookeeper.server.principal`), instead of
    /// `<service>/<host>` with the host as resolved below.
    pub server_principal: Option<String>,
    /// The servers' realm (`zookeeper.server.realm`): the target becomes the principal
    /// `<service>/<host>@<realm>` instead of a host-based name mapped by `krb5.conf`.
    pub server_realm: Option<String>,
    /// Resolve each server's host and take its canonical name, as ZooKeeper's Java client
    /// does (`zookeeper.sasl.client.canonicalize.hostname`, default true).
    pub canonicalize_hostname: bool,
    /// The Kerberos configuration file (`java.security.krb5.conf`); `None`: `KRB5_CONFIG` or
    /// `/etc/krb5.conf`. MIT Kerberos reads it from `KRB5_CONFIG`, which zkha then sets for
    /// the process: one file per process.
    pub krb5_conf: Option<PathBuf>,
}

impl Kerberos {
    /// Log in as `principal` from `keytab`.
    pub fn keytab(principal: impl Into<String>, keytab: impl Into<PathBuf>) -> Kerberos {
        Kerberos {
            principal: Some(principal.into()),
            keytab: Some(keytab.into()),
            ..Kerberos::ticket_cache(None)
        }
    }

    /// Use the tickets in `cache` (`None`: `KRB5CCNAME` or the default); something else
    /// (kinit, k5start) must renew them.
    pub fn ticket_cache(cache: Option<String>) -> Kerberos {
        Kerberos {
            principal: None,
            keytab: None,
            ticket_cache: cache,
            service: "zookeeper".into(),
            server_principal: None,
            server_realm: None,
            canonicalize_hostname: true,
            krb5_conf: None,
        }
    }

    /// Who logs in, for messages.
    pub fn who(&self) -> String {
        match (&self.principal, &self.keytab) {
            (Some(p), Some(k)) => format!("Kerberos principal {p} (keytab {})", k.display()),
            (None, Some(k)) => format!("Kerberos keytab {}", k.display()),
            (Some(p), None) => format!("Kerberos principal {p} (ticket cache)"),
            (None, None) => "Kerberos (ticket cache)".to_string(),
        }
    }
}

/// Points MIT Kerberos at `conf` through `KRB5_CONFIG`, read when the library makes a
/// context. Refuses a second, different file in the same process.
fn use_krb5_conf(conf: &Path) -> Result<()> {
    static CHOSEN: std::sync::Mutex<Option<PathBuf>> = std::sync::Mutex::new(None);
    std::fs::File::open(conf).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!(
                "Kerberos configuration {} (java.security.krb5.conf): cannot read it: {e}",
                conf.display()
            ),
        )
    })?;
    let mut chosen = CHOSEN.lock().unwrap_or_else(|p| p.into_inner());
    match chosen.as_deref() {
        Some(c) if c == conf => Ok(()),
        Some(c) => Err(Error::new(
            ErrorKind::Config,
            format!(
                "Kerberos configuration {}: this process already uses {} (MIT Kerberos reads                  one KRB5_CONFIG per process)",
                conf.display(),
                c.display()
            ),
        )),
        None => {
            if std::env::var_os("KRB5_CONFIG").as_deref() != Some(conf.as_os_str()) {
                // setenv is not synchronized with getenv in other threads; this runs once,
                // before zkha's first Kerberos call, and the JVM reads its environment at
                // start-up.
                std::env::set_var("KRB5_CONFIG", conf);
            }
            *chosen = Some(conf.to_path_buf());
            Ok(())
        }
    }
}

/// The mechanism handed to the client library; one per client.
#[derive(Debug)]
pub(crate) struct Mechanism {
    config: Kerberos,
    /// The private credential cache a keytab login fills.
    memory_ccache: String,
}

impl Mechanism {
    /// Loads the library, acquires credentials and a ticket for the first server's service
    /// once, so a misconfiguration fails at connect with its cause (the client library would
    /// only retry).
    pub(crate) fn new(config: Kerberos, first_host: Option<&str>) -> Result<Arc<Mechanism>> {
        if let Some(conf) = &config.krb5_conf {
            use_krb5_conf(conf)?;
        }
        if let Some(k) = &config.keytab {
            std::fs::File::open(k).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("Kerberos keytab {}: cannot read it: {e}", k.display()),
                )
            })?;
        }
        let m = Mechanism {
            config,
            memory_ccache: format!("MEMORY:zkha-{}", uuid::Uuid::new_v4().simple()),
        };
        let lib = lib()?;
        let cred = m
            .acquire(lib)
            .map_err(|e| Error::new(ErrorKind::Config, e))?;
        drop(cred);
        if let Some(host) = first_host {
            use zk::SaslMechanism;
            let first = m.start(host).and_then(|mut ex| ex.initial());
            first.map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("{} at the ZooKeeper server {host}: {e}", m.config.who()),
                )
            })?;
        }
        Ok(Arc::new(m))
    }

    fn acquire(&self, lib: &'static Lib) -> std::result::Result<Credentials, String> {
        let _pass = pass()?;
        let mut minor: Om = 0;
        let mut name: Name = std::ptr::null_mut();
        if let Some(p) = &self.config.principal {
            name = import(lib, p, &KRB5_PRINCIPAL)
                .map_err(|e| format!("{}: the principal: {e}", self.config.who()))?;
        }
        let mut store: Vec<(CString, CString)> = Vec::new();
        let cstr =
            |s: &str| CString::new(s).map_err(|_| "a NUL byte in a Kerberos setting".to_string());
        if let Some(k) = &self.config.keytab {
            store.push((
                cstr("client_keytab")?,
                cstr(&format!("FILE:{}", k.display()))?,
            ));
            store.push((cstr("ccache")?, cstr(&self.memory_ccache)?));
        } else if let Some(c) = &self.config.ticket_cache {
            store.push((cstr("ccache")?, cstr(c)?));
        }
        let elements: Vec<KeyValue> = store
            .iter()
            .map(|(k, v)| KeyValue {
                key: k.as_ptr(),
                value: v.as_ptr(),
            })
            .collect();
        let set = KeyValueSet {
            count: elements.len() as Om,
            elements: elements.as_ptr(),
        };
        let krb5 = oid(&KRB5_MECH);
        let mechs = OidSet {
            count: 1,
            elements: &krb5,
        };
        let mut cred: Cred = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; `cred` is released by Credentials.
        let major = unsafe {
            (lib.acquire_cred_from)(
                &mut minor,
                name,
                GSS_C_INDEFINITE,
                &mechs,
                GSS_C_INITIATE,
                &set,
                &mut cred,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if !name.is_null() {
            let mut m: Om = 0;
            // SAFETY: a name the library made.
            unsafe { (lib.release_name)(&mut m, &mut name) };
        }
        if Lib::failed(major) {
            return Err(format!(
                "{}: no credentials: {}",
                self.config.who(),
                lib.describe(major, minor)
            ));
        }
        Ok(Credentials { lib, cred })
    }

    /// The server's principal name for `host`.
    fn target(&self, host: &str) -> (String, &'static [u8]) {
        if let Some(p) = &self.config.server_principal {
            return (p.clone(), &KRB5_PRINCIPAL);
        }
        let host = if self.config.canonicalize_hostname {
            canonical_host(host).unwrap_or_else(|| host.to_string())
        } else {
            host.to_string()
        };
        if let Some(realm) = &self.config.server_realm {
            let host = host.to_ascii_lowercase();
            return (
                format!("{}/{host}@{realm}", self.config.service),
                &KRB5_PRINCIPAL,
            );
        }
        (
            format!("{}@{}", self.config.service, host.to_ascii_lowercase()),
            &HOSTBASED,
        )
    }
}

impl zk::SaslMechanism for Mechanism {
    fn name(&self) -> &str {
        "GSSAPI"
    }

    fn start(
        &self,
        hostname: &str,
    ) -> std::result::Result<Box<dyn zk::SaslMechanismSession>, String> {
        let lib = lib().map_err(|e| e.to_string())?;
        // Fresh credentials per connection: MIT renews a keytab's tickets only here.
        let cred = self.acquire(lib)?;
        let (target, kind) = self.target(hostname);
        let name = import(lib, &target, kind)
            .map_err(|e| format!("the server principal {target}: {e}"))?;
        Ok(Box::new(Exchange {
            lib,
            cred,
            name,
            ctx: std::ptr::null_mut(),
            target,
            state: State::Context,
        }))
    }
}

fn import(lib: &Lib, text: &str, kind: &'static [u8]) -> std::result::Result<Name, String> {
    let _pass = pass()?;
    let mut minor: Om = 0;
    let mut buf = Buffer {
        length: text.len(),
        value: text.as_ptr() as *mut c_void,
    };
    let t = oid(kind);
    let mut name: Name = std::ptr::null_mut();
    // SAFETY: the buffer points at `text` for the call only (the library copies it).
    let major = unsafe { (lib.import_name)(&mut minor, &mut buf, &t, &mut name) };
    if Lib::failed(major) {
        return Err(lib.describe(major, minor));
    }
    Ok(name)
}

/// Java's `InetAddress.getCanonicalHostName()`: the reverse lookup of the first address, if
/// it gives a name.
fn canonical_host(host: &str) -> Option<String> {
    let addr = (host, 0).to_socket_addrs().ok()?.next()?;
    let ip = addr.ip();
    let (storage, len) = match ip {
        std::net::IpAddr::V4(v4) => {
            // SAFETY: a zeroed sockaddr_in filled field by field.
            let mut sa: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sa.sin_family = libc::AF_INET as libc::sa_family_t;
            sa.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is large enough for a sockaddr_in.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(st).cast(), sa) };
            (st, std::mem::size_of::<libc::sockaddr_in>())
        }
        std::net::IpAddr::V6(v6) => {
            let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sa.sin6_addr.s6_addr = v6.octets();
            let mut st: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
            // SAFETY: sockaddr_storage is large enough for a sockaddr_in6.
            unsafe { std::ptr::write(std::ptr::addr_of_mut!(st).cast(), sa) };
            (st, std::mem::size_of::<libc::sockaddr_in6>())
        }
    };
    let mut out = [0 as c_char; 1025];
    // SAFETY: valid address storage of `len` bytes and an output buffer of its size.
    let r = unsafe {
        libc::getnameinfo(
            std::ptr::addr_of!(storage).cast(),
            len as libc::socklen_t,
            out.as_mut_ptr(),
            out.len() as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    };
    if r != 0 {
        return None;
    }
    // SAFETY: getnameinfo wrote a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(out.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    (name != ip.to_string()).then_some(name)
}

/// Credentials released on drop.
struct Credentials {
    lib: &'static Lib,
    cred: Cred,
}

// SAFETY: the handle is used by one exchange at a time.
unsafe impl Send for Credentials {}

impl Drop for Credentials {
    fn drop(&mut self) {
        // At exit the handle is left to the process's end.
        let Ok(_pass) = pass() else { return };
        let mut m: Om = 0;
        // SAFETY: a credential the library made, released once.
        unsafe { (self.lib.release_cred)(&mut m, &mut self.cred) };
    }
}

enum State {
    Context,
    Layers,
    Done,
}

/// One connection's exchange.
struct Exchange {
    lib: &'static Lib,
    cred: Credentials,
    name: Name,
    ctx: Ctx,
    target: String,
    state: State,
}

// SAFETY: the handles belong to this exchange alone and are used by one thread at a time.
unsafe impl Send for Exchange {}

impl Exchange {
    /// One `gss_init_sec_context` step with `input`; returns the token to send.
    fn context_step(&mut self, input: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let _pass = pass()?;
        let mut minor: Om = 0;
        let inbuf = Buffer {
            length: input.len(),
            value: input.as_ptr() as *mut c_void,
        };
        let mut out = Buffer {
            length: 0,
            value: std::ptr::null_mut(),
        };
        let krb5 = oid(&KRB5_MECH);
        // SAFETY: valid handles and buffers for the call; `out` is released below.
        let major = unsafe {
            (self.lib.init_sec_context)(
                &mut minor,
                self.cred.cred,
                &mut self.ctx,
                self.name,
                &krb5,
                GSS_C_MUTUAL_FLAG | GSS_C_INTEG_FLAG,
                0,
                std::ptr::null(),
                &inbuf,
                std::ptr::null_mut(),
                &mut out,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let token = buffer_bytes(&out);
        let mut m: Om = 0;
        // SAFETY: the library's buffer.
        unsafe { (self.lib.release_buffer)(&mut m, &mut out) };
        if Lib::failed(major) {
            return Err(format!(
                "Kerberos authentication to {} failed: {}",
                self.target,
                self.lib.describe(major, minor)
            ));
        }
        if major & GSS_S_CONTINUE_NEEDED == 0 {
            self.state = State::Layers;
        }
        Ok(token)
    }

    /// Answers the server's security-layer offer with "no layer", wrapped.
    fn layers(&mut self, offer: &[u8]) -> std::result::Result<Vec<u8>, String> {
        let _pass = pass()?;
        let mut minor: Om = 0;
        let inbuf = Buffer {
            length: offer.len(),
            value: offer.as_ptr() as *mut c_void,
        };
        let mut plain = Buffer {
            length: 0,
            value: std::ptr::null_mut(),
        };
        // SAFETY: valid handles and buffers; `plain` is released below.
        let major = unsafe {
            (self.lib.unwrap)(
                &mut minor,
                self.ctx,
                &inbuf,
                &mut plain,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        let offered = buffer_bytes(&plain);
        let mut m: Om = 0;
        // SAFETY: the library's buffer.
        unsafe { (self.lib.release_buffer)(&mut m, &mut plain) };
        if Lib::failed(major) {
            return Err(format!(
                "Kerberos: the security-layer offer of {}: {}",
                self.target,
                self.lib.describe(major, minor)
            ));
        }
        if offered.len() != 4 || offered[0] & 0x01 == 0 {
            return Err(format!(
                "Kerberos: {} offers no plain (no security layer) SASL session",
                self.target
            ));
        }
        // No security layer, no size, no authorization id.
        let answer = [0x01u8, 0, 0, 0];
        let inbuf = Buffer {
            length: answer.len(),
            value: answer.as_ptr() as *mut c_void,
        };
        let mut wrapped = Buffer {
            length: 0,
            value: std::ptr::null_mut(),
        };
        // SAFETY: as above; `wrapped` is released below.
        let major = unsafe {
            (self.lib.wrap)(
                &mut minor,
                self.ctx,
                0,
                0,
                &inbuf,
                std::ptr::null_mut(),
                &mut wrapped,
            )
        };
        let token = buffer_bytes(&wrapped);
        // SAFETY: the library's buffer.
        unsafe { (self.lib.release_buffer)(&mut m, &mut wrapped) };
        if Lib::failed(major) {
            return Err(format!(
                "Kerberos: wrapping the answer: {}",
                self.lib.describe(major, minor)
            ));
        }
        self.state = State::Done;
        Ok(token)
    }
}

impl zk::SaslMechanismSession for Exchange {
    fn initial(&mut self) -> std::result::Result<Vec<u8>, String> {
        self.context_step(&[])
    }

    fn step(&mut self, challenge: &[u8]) -> std::result::Result<Option<Vec<u8>>, String> {
        match self.state {
            State::Context => self.context_step(challenge).map(Some),
            // The context completed with our last token; the server's reply to it was empty
            // or is the layer offer.
            State::Layers if challenge.is_empty() => Ok(Some(Vec::new())),
            State::Layers => self.layers(challenge).map(Some),
            State::Done => Ok(None),
        }
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let Ok(_pass) = pass() else { return };
        let mut m: Om = 0;
        // SAFETY: handles the library made, released once.
        unsafe {
            if !self.ctx.is_null() {
                (self.lib.delete_sec_context)(&mut m, &mut self.ctx, std::ptr::null_mut());
            }
            if !self.name.is_null() {
                (self.lib.release_name)(&mut m, &mut self.name);
            }
        }
    }
}
