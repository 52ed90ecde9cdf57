//! C ABI of zkha (`libzkha`, `include/zkha.h`).
//!
//! The binding maps types, errors and threads only; every decision lives in the `zkha` core.
//! Conventions (also in the header): every call returns a [`zkha_status`], takes an optional
//! `zkha_error **err` last, checks every pointer for NULL, and catches panics.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

use std::ffi::{c_char, c_void, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::Duration;

mod callbacks;
mod fences;
mod flink;
mod watches;

pub use fences::{zkha_contender, zkha_fence, zkha_node_mode, zkha_op, zkha_op_kind, zkha_stat};
pub use watches::zkha_children_watch;

use zkha::flink::FlinkConfig;
use zkha::{
    AclEntry, AclMode, Client, ClientOptions, Coded, ConnectionStateKind, CounterFormat,
    Credential, ElectionEvent, ElectionOptions, ErrorKind, Kerberos, LeaderInfo, LockGuard,
    LockKind, Pem, Sasl, SharedEventStream, TlsConfig,
};

/// Result of every call.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_status {
    /// Success.
    Ok = 0,
    /// An argument is malformed (path, id, connect string, value).
    InvalidArgument,
    /// A configuration key is missing or has a bad value.
    Config,
    /// The connection was lost; the outcome is unknown.
    ConnectionLoss,
    /// The ZooKeeper session expired.
    SessionExpired,
    /// The client or object is closed.
    Closed,
    /// Not done in time (also: not granted / not acquired within the timeout).
    Timeout,
    /// The znode or entry does not exist.
    NoNode,
    /// The znode or entry already exists.
    NodeExists,
    /// A version check failed.
    BadVersion,
    /// The znode has children.
    NotEmpty,
    /// A fenced write was refused: leadership or the lock is gone.
    NotLeader,
    /// A payload is larger than ZooKeeper accepts.
    TooLarge,
    /// Stored bytes could not be decoded.
    Corrupt,
    /// Not permitted.
    NoAuth,
    /// Interrupted.
    Interrupted,
    /// An I/O error (reading a file).
    Io,
    /// Another ZooKeeper error.
    Zookeeper,
    /// A required pointer argument was NULL.
    NullArgument,
    /// An internal error (a bug in zkha).
    Internal,
}

/// Every `zkha_status`. Those between `Ok` and `NullArgument` are core's error kinds, at the
/// value of their code (`c_enums_carry_cores_codes_and_names` checks it).
const STATUSES: [zkha_status; 20] = [
    zkha_status::Ok,
    zkha_status::InvalidArgument,
    zkha_status::Config,
    zkha_status::ConnectionLoss,
    zkha_status::SessionExpired,
    zkha_status::Closed,
    zkha_status::Timeout,
    zkha_status::NoNode,
    zkha_status::NodeExists,
    zkha_status::BadVersion,
    zkha_status::NotEmpty,
    zkha_status::NotLeader,
    zkha_status::TooLarge,
    zkha_status::Corrupt,
    zkha_status::NoAuth,
    zkha_status::Interrupted,
    zkha_status::Io,
    zkha_status::Zookeeper,
    zkha_status::NullArgument,
    zkha_status::Internal,
];

impl From<ErrorKind> for zkha_status {
    fn from(k: ErrorKind) -> Self {
        match STATUSES.get(k.code() as usize) {
            Some(&s) if k.code() > 0 && (s as i32) < zkha_status::NullArgument as i32 => s,
            // A kind added to core later: the catch-all until it gets its own value.
            _ => zkha_status::Zookeeper,
        }
    }
}

/// An error: a status and a message naming the offending input.
pub struct zkha_error {
    code: zkha_status,
    message: CString,
}

/// Connection states (see docs/failure-model.md).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_connection_state {
    /// Not connected yet.
    Connecting = 0,
    /// A session is open.
    Connected,
    /// Disconnected; grants are kept while the lease holds.
    Suspended,
    /// Back with the same session.
    Reconnected,
    /// The lease ran out while disconnected.
    Lost,
    /// The session expired; a new one is being opened.
    Expired,
    /// Closed.
    Closed,
}

/// Every `zkha_connection_state`, at the index of its value (core's code).
const STATES: [zkha_connection_state; 7] = [
    zkha_connection_state::Connecting,
    zkha_connection_state::Connected,
    zkha_connection_state::Suspended,
    zkha_connection_state::Reconnected,
    zkha_connection_state::Lost,
    zkha_connection_state::Expired,
    zkha_connection_state::Closed,
];

/// Why leadership was revoked or a held lock was lost (`zkha_revoke_cb`, `zkha_lost_cb`,
/// `zkha_election_event.revoke_reason`): core's codes, shared by both.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_reason {
    /// Disconnected longer than the lease (the session may survive).
    LeaseExpired = 1,
    /// The session expired.
    SessionExpired = 2,
    /// The latch or lock node was deleted by someone else.
    NodeDeleted = 3,
    /// The election, lock or client was closed (or freed).
    Closed = 4,
    /// Disconnected, and strict mode gives grants up on any disconnect.
    Suspended = 5,
}

/// Every `zkha_reason`, at the index of its value minus one.
#[cfg(test)]
const REASONS: [zkha_reason; 5] = [
    zkha_reason::LeaseExpired,
    zkha_reason::SessionExpired,
    zkha_reason::NodeDeleted,
    zkha_reason::Closed,
    zkha_reason::Suspended,
];

/// Kind of an election event.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_election_event_kind {
    /// No event within the timeout.
    None = 0,
    /// This contender leads.
    Granted,
    /// This contender no longer leads.
    Revoked,
    /// Contending fails for a reason that does not pass by itself (e.g. an ACL that refuses
    /// the latch node); the contender keeps retrying with backoff.
    Error,
}

/// An election event (see `zkha_election_next_event`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zkha_election_event {
    /// What happened.
    pub kind: zkha_election_event_kind,
    /// The grant's fencing token (Granted), else -1.
    pub fencing_token: i64,
    /// Why leadership ended (Revoked): a `zkha_reason` (`zkha_reason_name` names it), else -1.
    pub revoke_reason: i32,
    /// What kind of failure (Error): a `zkha_status`, else `ZKHA_STATUS_OK`.
    pub error_status: zkha_status,
}

/// Bytes owned by zkha; free with `zkha_bytes_free`.
#[repr(C)]
#[derive(Debug)]
pub struct zkha_bytes {
    /// The data (NULL if `len` is 0).
    pub data: *mut u8,
    /// Its length.
    pub len: usize,
}

/// Called when an election's leadership is revoked (`reason`: a `zkha_reason`), on the
/// registration's own thread.
pub type zkha_revoke_cb = Option<unsafe extern "C" fn(user_data: *mut c_void, reason: i32)>;

/// Called when a held lock is lost (`reason`: a `zkha_reason`), on the registration's own
/// thread.
pub type zkha_lost_cb = Option<unsafe extern "C" fn(user_data: *mut c_void, reason: i32)>;

/// A client: one ZooKeeper session at a time, re-opened after expiry.
pub struct zkha_client {
    client: Client,
}

/// Client options being built: `zkha_options_new` or `zkha_options_from_flink_config`, the
/// `zkha_options_*` setters, then `zkha_client_connect_with`. It may hold secrets (a SASL
/// password, a key): free it with `zkha_options_free` once connected.
pub struct zkha_options {
    options: ClientOptions,
}

/// The ACL of the znodes a client creates (`zkha_options_set_acl`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_acl_mode {
    /// world:anyone, all permissions (the default; Flink's `open`).
    Open = 0,
    /// Only the authenticated identity that created a node: SASL, an auth credential or a TLS
    /// client certificate (Flink's `creator`, ZooKeeper's CREATOR_ALL_ACL).
    Creator,
}

/// Every `zkha_acl_mode`, at the index of its value.
const ACL_MODES: [zkha_acl_mode; 2] = [zkha_acl_mode::Open, zkha_acl_mode::Creator];

/// A contender in a leader election.
pub struct zkha_election {
    election: zkha::Election,
    events: SharedEventStream<ElectionEvent>,
    /// Revoke callbacks (`zkha_election_on_revoke`), stopped by `zkha_election_free`.
    on_revoke: std::sync::Mutex<Vec<callbacks::Registration>>,
}

/// Waits up to `timeout_ms` (a wait's convention) for the next event of `events`.
fn next_event<T: Send + 'static>(events: &SharedEventStream<T>, timeout_ms: u64) -> R<Option<T>> {
    let events = events.clone();
    block(async move { Ok(events.next_within(wait_ms(timeout_ms)).await) })
}

/// A held lock (mutex, read or write lock, or semaphore lease).
pub struct zkha_lock {
    guard: Option<LockGuard>,
    /// Lost callbacks (`zkha_lock_on_lost`), stopped by `zkha_lock_release`.
    on_lost: Vec<callbacks::Registration>,
}

/// A shared counter.
pub struct zkha_counter {
    counter: zkha::Counter,
}

/// A pointer store (Flink StateHandleStore semantics).
pub struct zkha_store {
    store: zkha::PointerStore,
}

/// A watch on a subtree of small values.
pub struct zkha_config_watch {
    watch: zkha::ConfigWatch,
    events: SharedEventStream<zkha::ConfigChange>,
}

/// A watch on one leader-information znode.
pub struct zkha_leader_watch {
    _watch: zkha::LeaderInfoWatch,
    events: SharedEventStream<LeaderInfo>,
}

// ---- plumbing ------------------------------------------------------------------------------

struct Fail(zkha_status, String);

impl From<zkha::Error> for Fail {
    fn from(e: zkha::Error) -> Fail {
        Fail(e.kind().into(), e.message().to_string())
    }
}

type R<T> = Result<T, Fail>;

fn set_err(err: *mut *mut zkha_error, code: zkha_status, msg: String) {
    if !err.is_null() {
        let message = CString::new(msg.replace('\0', " ")).unwrap_or_default();
        // SAFETY: the caller passes a valid `zkha_error **` or NULL (checked).
        unsafe { *err = Box::into_raw(Box::new(zkha_error { code, message })) };
    }
}

/// Runs `f`, turning errors and panics into a status (and `*err`).
fn guard(err: *mut *mut zkha_error, f: impl FnOnce() -> R<()>) -> zkha_status {
    if !err.is_null() {
        // SAFETY: valid or NULL per the API contract.
        unsafe { *err = std::ptr::null_mut() };
    }
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => zkha_status::Ok,
        Ok(Err(Fail(code, msg))) => {
            set_err(err, code, msg);
            code
        }
        Err(_) => {
            set_err(
                err,
                zkha_status::Internal,
                "internal error: a zkha call panicked".into(),
            );
            zkha_status::Internal
        }
    }
}

/// A C enum passed as an integer (a Rust enum taken by value from C would be undefined
/// behaviour for an out-of-range value): the variant at `value` of `variants`, or
/// INVALID_ARGUMENT naming `what` and the values it takes.
fn variant<T: Copy>(value: i32, variants: &[T], what: &str) -> R<T> {
    usize::try_from(value)
        .ok()
        .and_then(|i| variants.get(i).copied())
        .ok_or_else(|| {
            Fail(
                zkha_status::InvalidArgument,
                format!(
                    "{what} must be one of 0..={}, got {value}",
                    variants.len() - 1
                ),
            )
        })
}

fn null(what: &str) -> Fail {
    Fail(
        zkha_status::NullArgument,
        format!("{what} must not be NULL"),
    )
}

unsafe fn text<'a>(p: *const c_char, what: &str) -> R<&'a str> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL, NUL-terminated per the API contract.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| {
        Fail(
            zkha_status::InvalidArgument,
            format!("{what} is not valid UTF-8"),
        )
    })
}

unsafe fn obj<'a, T>(p: *const T, what: &str) -> R<&'a T> {
    // SAFETY: a handle from this library or NULL (checked).
    unsafe { p.as_ref() }.ok_or_else(|| null(what))
}

unsafe fn obj_mut<'a, T>(p: *mut T, what: &str) -> R<&'a mut T> {
    // SAFETY: a handle from this library or NULL (checked), not used by another thread.
    unsafe { p.as_mut() }.ok_or_else(|| null(what))
}

/// An optional string argument: NULL is None.
unsafe fn opt_text<'a>(p: *const c_char, what: &str) -> R<Option<&'a str>> {
    if p.is_null() {
        Ok(None)
    } else {
        unsafe { text(p, what) }.map(Some)
    }
}

unsafe fn out<T>(p: *mut T, what: &str, v: T) -> R<()> {
    if p.is_null() {
        return Err(null(what));
    }
    // SAFETY: non-NULL out pointer per the API contract.
    unsafe { p.write(v) };
    Ok(())
}

/// A new handle made by `make` into `*p`; a NULL `p` is refused before anything is made.
unsafe fn out_new<T>(p: *mut *mut T, what: &str, make: impl FnOnce() -> R<T>) -> R<()> {
    if p.is_null() {
        return Err(null(what));
    }
    let v = make()?;
    unsafe { out(p, what, Box::into_raw(Box::new(v))) }
}

fn block<T: Send + 'static>(
    f: impl std::future::Future<Output = zkha::Result<T>> + Send + 'static,
) -> R<T> {
    Ok(zkha::runtime::block_on(f)?)
}

/// A `timeout_ms` that waits without limit: every call that waits takes it (0 checks once
/// without waiting; any other value is milliseconds).
pub const ZKHA_WAIT_FOREVER: u64 = u64::MAX;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// A wait's `timeout_ms`: `None` for ZKHA_WAIT_FOREVER.
fn wait_ms(v: u64) -> Option<Duration> {
    (v != ZKHA_WAIT_FOREVER).then(|| ms(v))
}

fn bytes_out(data: Vec<u8>) -> zkha_bytes {
    let len = data.len();
    if len == 0 {
        return zkha_bytes {
            data: std::ptr::null_mut(),
            len: 0,
        };
    }
    let boxed = data.into_boxed_slice();
    zkha_bytes {
        data: Box::into_raw(boxed) as *mut u8,
        len,
    }
}

unsafe fn bytes_in<'a>(data: *const u8, len: usize, what: &str) -> R<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(null(what));
    }
    // SAFETY: `len` readable bytes at `data` per the API contract.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// A path and `len` bytes at `data`, copied for a write.
unsafe fn path_and_data(path: *const c_char, data: *const u8, len: usize) -> R<(String, Vec<u8>)> {
    let p = unsafe { text(path, "path") }?.to_string();
    Ok((p, unsafe { bytes_in(data, len, "data") }?.to_vec()))
}

/// Drops a handle made by `Box::into_raw` here; NULL is fine; a panic in a destructor stays here.
unsafe fn free_box<T>(p: *mut T) {
    if !p.is_null() {
        // SAFETY: created by Box::into_raw in this library (the API contract).
        let _ = catch_unwind(AssertUnwindSafe(|| drop(unsafe { Box::from_raw(p) })));
    }
}

/// Core's name of `code` of kind `K`, as a static C string ("unknown" for another code).
fn coded_name<K: Coded>(cache: &'static OnceLock<Vec<CString>>, code: i32) -> *const c_char {
    let names = cache.get_or_init(|| {
        K::ALL
            .iter()
            .map(|k| CString::new(k.name()).unwrap_or_default())
            .collect()
    });
    match K::ALL.iter().position(|k| k.code() == code) {
        Some(i) => names[i].as_ptr(),
        None => c"unknown".as_ptr(),
    }
}

// ---- errors and bytes ----------------------------------------------------------------------

/// The library's version, as `ZKHA_VERSION` ("major.minor.patch"; a static string): compare it
/// with the header's at run time to catch a library of another version.
#[unsafe(no_mangle)]
pub extern "C" fn zkha_version() -> *const c_char {
    const VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => panic!("the package version holds a NUL"),
        };
    VERSION.as_ptr()
}

/// The message of an error (valid until `zkha_error_free`); "" for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_error_message(err: *const zkha_error) -> *const c_char {
    // SAFETY: an error from this library or NULL.
    match unsafe { err.as_ref() } {
        Some(e) => e.message.as_ptr(),
        None => c"".as_ptr(),
    }
}

/// The status of an error (ZKHA_STATUS_OK for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_error_code(err: *const zkha_error) -> zkha_status {
    // SAFETY: an error from this library or NULL.
    unsafe { err.as_ref() }
        .map(|e| e.code)
        .unwrap_or(zkha_status::Ok)
}

/// Frees an error (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_error_free(err: *mut zkha_error) {
    if !err.is_null() {
        // SAFETY: created by Box::into_raw in this library.
        drop(unsafe { Box::from_raw(err) });
    }
}

/// The name of a status (a static string): core's name of its error kind ("no_node",
/// "not_leader", ... as in Python's and Java's errors), "ok", "null_argument", "internal", or
/// "unknown" for a value that is no `zkha_status`.
#[unsafe(no_mangle)]
pub extern "C" fn zkha_status_name(status: i32) -> *const c_char {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    match status {
        s if s == zkha_status::Ok as i32 => c"ok".as_ptr(),
        s if s == zkha_status::NullArgument as i32 => c"null_argument".as_ptr(),
        s if s == zkha_status::Internal as i32 => c"internal".as_ptr(),
        s => coded_name::<ErrorKind>(&NAMES, s),
    }
}

/// The name of a `zkha_reason` ("lease_expired", "closed", ...; a static string), "unknown"
/// for another value.
#[unsafe(no_mangle)]
pub extern "C" fn zkha_reason_name(reason: i32) -> *const c_char {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    coded_name::<zkha::RevokeReason>(&NAMES, reason)
}

/// The name of a `zkha_connection_state` ("connected", "suspended", ...; a static string),
/// "unknown" for another value.
#[unsafe(no_mangle)]
pub extern "C" fn zkha_connection_state_name(state: i32) -> *const c_char {
    static NAMES: OnceLock<Vec<CString>> = OnceLock::new();
    coded_name::<ConnectionStateKind>(&NAMES, state)
}

/// Frees bytes returned by zkha (a zeroed struct is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_bytes_free(bytes: zkha_bytes) {
    if !bytes.data.is_null() && bytes.len > 0 {
        // SAFETY: created by bytes_out from a boxed slice of exactly `len` bytes.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(bytes.data, bytes.len)) });
    }
}

// ---- options -------------------------------------------------------------------------------

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
fn with_options(
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
unsafe fn pems(
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

// ---- client --------------------------------------------------------------------------------

/// Connects with `options`, waiting for the first session, into `*out_client`.
fn connect_into(options: ClientOptions, out_client: *mut *mut zkha_client) -> R<()> {
    unsafe {
        out_new(out_client, "out_client", || {
            Ok(zkha_client {
                client: block(Client::connect(options))?,
            })
        })
    }
}

/// Replaces the TLS certificates of a running client without a new session: `ca` (NULL:
/// keep) and the client's `cert` with `key` (both, or both NULL: keep), each a PEM file's path
/// or PEM text as in `zkha_options_set_tls`. They are read and checked now, and the next
/// connection uses them (as a Java client re-reads its stores at each connection); all NULL
/// re-reads the current files now. On an error nothing changes and the message names the
/// file and the cause (ZKHA_STATUS_CONFIG); ZKHA_STATUS_INVALID_ARGUMENT for a client
/// without TLS.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_replace_tls(
    client: *const zkha_client,
    ca: *const c_char,
    cert: *const c_char,
    key: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let (ca, identity) = unsafe { pems(ca, cert, key) }?;
        Ok(c.client.replace_tls(ca, identity)?)
    })
}

/// Connects to `connect` (`host:port,...[/chroot]`) with a session timeout, waiting for the
/// first session.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_connect(
    connect: *const c_char,
    session_timeout_ms: u64,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let cs = unsafe { text(connect, "connect") }?;
        connect_into(
            ClientOptions::new(cs).session_timeout(ms(session_timeout_ms)),
            out_client,
        )
    })
}

/// Connects with `options` (see `zkha_options_new`), waiting for the first session. Every
/// misconfiguration fails with its cause named: ZKHA_STATUS_CONFIG for a plain client at a
/// TLS port (or the reverse), an expired certificate (with its date) or a file that does not
/// read (with its path); ZKHA_STATUS_NO_AUTH for a refused SASL login (naming the user).
/// `options` stays the caller's.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_connect_with(
    options: *const zkha_options,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let o = unsafe { obj(options, "options") }?.options.clone();
        connect_into(o, out_client)
    })
}

/// Connects with the `high-availability.*` keys of a Flink configuration file or directory
/// (security included, see `zkha_options_from_flink_config`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_from_flink_config(
    path: *const c_char,
    out_client: *mut *mut zkha_client,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let p = unsafe { text(path, "path") }?;
        connect_into(FlinkConfig::load(p)?.client_options()?, out_client)
    })
}

/// Closes the client (its ephemeral nodes vanish at once) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_free(client: *mut zkha_client) {
    if client.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw in this library.
        let c = unsafe { Box::from_raw(client) };
        let inner = c.client.clone();
        let _ = zkha::runtime::block_on(async move {
            inner.close().await;
            Ok(())
        });
    }));
}

/// The current connection state.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_state(
    client: *const zkha_client,
    out_state: *mut zkha_connection_state,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let code = c.client.state().kind().code();
        let s = variant(code, &STATES, "connection state")?;
        unsafe { out(out_state, "out_state", s) }
    })
}

/// The current session id (0 while none is open).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_client_session_id(client: *const zkha_client) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { client.as_ref() }
            .map(|c| c.client.session_id())
            .unwrap_or(0)
    }))
    .unwrap_or(0)
}

/// Reads a znode's data into `out_data` (free with zkha_bytes_free); ZKHA_STATUS_NO_NODE if
/// it does not exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_get_data(
    client: *const zkha_client,
    path: *const c_char,
    out_data: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_data.is_null() {
            return Err(null("out_data"));
        }
        let shown = p.clone();
        match block(async move { c.get_data(&p).await })? {
            Some((data, _)) => unsafe { out(out_data, "out_data", bytes_out(data)) },
            None => Err(Fail(
                zkha_status::NoNode,
                format!("no such znode (path {shown})"),
            )),
        }
    })
}

/// Creates or overwrites a persistent znode (and its parents); unfenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_put(
    client: *const zkha_client,
    path: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        block(async move { c.put(&p, &d).await })
    })
}

/// Deletes one znode if its data version is `version` (-1: any); unfenced. ZKHA_STATUS_NO_NODE,
/// _BAD_VERSION, _NOT_EMPTY, or _NO_AUTH if the parent's ACL does not let this client delete.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_delete(
    client: *const zkha_client,
    path: *const c_char,
    version: i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        let v = (version >= 0).then_some(version);
        block(async move { c.delete(&p, v).await })
    })
}

// ---- election ------------------------------------------------------------------------------

/// Joins the election on `latch_path` as `participant_id`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_join(
    client: *const zkha_client,
    latch_path: *const c_char,
    participant_id: *const c_char,
    out_election: *mut *mut zkha_election,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let latch = unsafe { text(latch_path, "latch_path") }?;
        let id = unsafe { text(participant_id, "participant_id") }?;
        if out_election.is_null() {
            return Err(null("out_election"));
        }
        let election = c.client.election(latch, ElectionOptions::new(id))?;
        let events = election.events().shared();
        unsafe {
            out(
                out_election,
                "out_election",
                Box::into_raw(Box::new(zkha_election {
                    election,
                    events,
                    on_revoke: Default::default(),
                })),
            )
        }
    })
}

/// Waits up to `timeout_ms` for leadership (0: checks without waiting; ZKHA_WAIT_FOREVER:
/// without limit); ZKHA_STATUS_TIMEOUT if not granted. On success `*out_fencing_token` (may
/// be NULL) receives the grant's token.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_wait(
    election: *const zkha_election,
    timeout_ms: u64,
    out_fencing_token: *mut i64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?.election.clone();
        // ZKHA_WAIT_FOREVER's u64::MAX milliseconds is a deadline tokio never reaches.
        let l = block(async move { e.wait_for_leadership(ms(timeout_ms)).await })?;
        if !out_fencing_token.is_null() {
            unsafe { out_fencing_token.write(l.fencing_token) };
        }
        Ok(())
    })
}

/// Publishes `len` bytes at `data` at `path` as this leader's ephemeral node, a write fenced
/// on the latch node: ZKHA_STATUS_NOT_LEADER, and nothing written, once the grant is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_publish_leader_info(
    election: *const zkha_election,
    path: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?.election.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        block(async move { e.publish_leader_info(&p, &d).await })
    })
}

/// True while this contender leads and its lease holds (false for NULL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_has_leadership(election: *const zkha_election) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { election.as_ref() }.is_some_and(|e| e.election.has_leadership())
    }))
    .unwrap_or(false)
}

/// The current grant's fencing token, or -1 if not leading.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_fencing_token(election: *const zkha_election) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { election.as_ref() }
            .and_then(|e| e.election.leadership())
            .map(|l| l.fencing_token)
            .unwrap_or(-1)
    }))
    .unwrap_or(-1)
}

/// The next election event, waiting up to `timeout_ms` (0: one that already arrived, without
/// waiting; ZKHA_WAIT_FOREVER: without limit); kind NONE on timeout. For services with their
/// own loop; do not mix with a revoke callback for the same purpose.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_next_event(
    election: *const zkha_election,
    timeout_ms: u64,
    out_event: *mut zkha_election_event,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?;
        if out_event.is_null() {
            return Err(null("out_event"));
        }
        let mut none = zkha_election_event {
            kind: zkha_election_event_kind::None,
            fencing_token: -1,
            revoke_reason: -1,
            error_status: zkha_status::Ok,
        };
        let got = next_event(&e.events, timeout_ms)?;
        match got {
            Some(ElectionEvent::Granted(l)) => {
                none.kind = zkha_election_event_kind::Granted;
                none.fencing_token = l.fencing_token;
            }
            Some(ElectionEvent::Revoked { reason }) => {
                none.kind = zkha_election_event_kind::Revoked;
                none.revoke_reason = reason.code();
            }
            Some(ElectionEvent::Error { kind, .. }) => {
                none.kind = zkha_election_event_kind::Error;
                none.error_status = kind.into();
            }
            None => {}
        }
        unsafe { out(out_event, "out_event", none) }
    })
}

/// Registers `cb` to be called every time leadership is revoked, on a thread of its own (a
/// slow callback delays only later calls of itself, never zkha's work). No call starts after
/// `zkha_election_free` has returned; the revocation that freeing causes (ZKHA_REASON_CLOSED)
/// is delivered before it returns.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_on_revoke(
    election: *const zkha_election,
    cb: zkha_revoke_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let mut events = e.election.events();
        let r = callbacks::Registration::start("zkha-on-revoke", cb, user_data, |tx, mut stop| {
            async move {
                let send = |ev: &ElectionEvent| match ev {
                    ElectionEvent::Revoked { reason } => tx.send(reason.code()).is_ok(),
                    _ => true,
                };
                loop {
                    tokio::select! {
                        ev = events.next() => match ev {
                            Some(ev) if send(&ev) => {}
                            _ => return,
                        },
                        _ = stop.wait_for(|s| *s) => break,
                    }
                }
                // Stopped: what is already due still goes out.
                while let Some(ev) = events.next_timeout(Duration::ZERO).await {
                    if !send(&ev) {
                        return;
                    }
                }
            }
        })?;
        e.on_revoke
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
        Ok(())
    })
}

/// Leaves the election (revoking, deleting the node at once) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_free(election: *mut zkha_election) {
    if election.is_null() {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: created by Box::into_raw in this library.
        let e = unsafe { Box::from_raw(election) };
        let el = e.election.clone();
        let _ = zkha::runtime::block_on(async move {
            el.close().await;
            Ok(())
        });
        // Its revoke callbacks: the revocation of the close is delivered, then they stop.
        drop(e);
    }));
}

// ---- locks ---------------------------------------------------------------------------------

/// Kind of lock for `zkha_lock_acquire`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_lock_kind {
    /// Curator InterProcessMutex.
    Mutex = 0,
    /// Shared lock of a read-write lock.
    Read,
    /// Exclusive lock of a read-write lock.
    Write,
    /// One lease of a semaphore (`leases` leases).
    Semaphore,
}

/// Every `zkha_lock_kind`, at the index of its value (core's code).
#[cfg(test)]
const LOCK_KINDS: [zkha_lock_kind; 4] = [
    zkha_lock_kind::Mutex,
    zkha_lock_kind::Read,
    zkha_lock_kind::Write,
    zkha_lock_kind::Semaphore,
];

/// Acquires a lock of `kind` (a `zkha_lock_kind`; another value is
/// ZKHA_STATUS_INVALID_ARGUMENT) on `path`, waiting up to `timeout_ms`: 0 tries once without
/// waiting (taken only if free), ZKHA_WAIT_FOREVER waits without limit. ZKHA_STATUS_TIMEOUT
/// if not acquired (no node is left behind). `leases` is used for semaphores only.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_acquire(
    client: *const zkha_client,
    path: *const c_char,
    kind: i32,
    leases: u32,
    timeout_ms: u64,
    out_lock: *mut *mut zkha_lock,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_lock.is_null() {
            return Err(null("out_lock"));
        }
        let lock = c.lock(LockKind::parse_code(kind)?, &p, leases as usize)?;
        let guard = block(async move { lock.acquire(wait_ms(timeout_ms)).await })?;
        unsafe {
            out(
                out_lock,
                "out_lock",
                Box::into_raw(Box::new(zkha_lock {
                    guard: Some(guard),
                    on_lost: Vec::new(),
                })),
            )
        }
    })
}

/// The acquisition's fencing token (-1 for NULL or released).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_fencing_token(lock: *const zkha_lock) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { lock.as_ref() }
            .and_then(|l| l.guard.as_ref())
            .map(|g| g.fencing_token())
            .unwrap_or(-1)
    }))
    .unwrap_or(-1)
}

/// True while the lock is held (not released, not lost, lease holding).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_is_held(lock: *const zkha_lock) -> bool {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { lock.as_ref() }
            .and_then(|l| l.guard.as_ref())
            .is_some_and(|g| g.is_held())
    }))
    .unwrap_or(false)
}

/// Registers `cb` to be called once if the lock is lost, on a thread of its own. No call
/// starts after `zkha_lock_release` has returned (a released lock is not lost), and nothing
/// of the registration outlives it.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_on_lost(
    lock: *mut zkha_lock,
    cb: zkha_lost_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        // SAFETY: a lock from this library or NULL.
        let l = unsafe { lock.as_mut() }.ok_or_else(|| null("lock"))?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let g = l
            .guard
            .as_ref()
            .ok_or_else(|| Fail(zkha_status::Closed, "the lock was released".into()))?;
        let lost = g.lost_future();
        let r = callbacks::Registration::start(
            "zkha-on-lost",
            cb,
            user_data,
            |tx, mut stop| async move {
                tokio::select! {
                    reason = lost => {
                        let _ = tx.send(reason.code());
                    }
                    _ = stop.wait_for(|s| *s) => {}
                }
            },
        )?;
        l.on_lost.push(r);
        Ok(())
    })
}

/// Releases the lock (waiting for ZooKeeper's acknowledgement) and frees it. NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_release(
    lock: *mut zkha_lock,
    err: *mut *mut zkha_error,
) -> zkha_status {
    if lock.is_null() {
        return zkha_status::Ok;
    }
    guard(err, || {
        // SAFETY: created by Box::into_raw in this library.
        let mut l = unsafe { Box::from_raw(lock) };
        match l.guard.take() {
            Some(g) => block(async move { g.release().await }),
            None => Ok(()),
        }
    })
}

// ---- counter -------------------------------------------------------------------------------

/// A counter at `path` created with `initial` on first use; `wide`: 8-byte format, else Flink's
/// 4-byte format.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_counter_new(
    client: *const zkha_client,
    path: *const c_char,
    initial: i64,
    wide: bool,
    out_counter: *mut *mut zkha_counter,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let p = unsafe { text(path, "path") }?;
        let format = if wide {
            CounterFormat::Int64
        } else {
            CounterFormat::Int32
        };
        let counter = c.client.counter(p, format, initial)?;
        unsafe {
            out(
                out_counter,
                "out_counter",
                Box::into_raw(Box::new(zkha_counter { counter })),
            )
        }
    })
}

/// Reads the value (and, if not NULL, its version).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_counter_get(
    counter: *const zkha_counter,
    out_value: *mut i64,
    out_version: *mut i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(counter, "counter") }?.counter.clone();
        if out_value.is_null() {
            return Err(null("out_value"));
        }
        let (v, version) = block(async move { c.get().await })?;
        unsafe { out_value.write(v) };
        if !out_version.is_null() {
            unsafe { out_version.write(version) };
        }
        Ok(())
    })
}

/// Increments atomically; `*out_previous` receives the value before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_counter_get_and_increment(
    counter: *const zkha_counter,
    out_previous: *mut i64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(counter, "counter") }?.counter.clone();
        if out_previous.is_null() {
            return Err(null("out_previous"));
        }
        let v = block(async move { c.get_and_increment().await })?;
        unsafe { out(out_previous, "out_previous", v) }
    })
}

/// Sets `value` if the counter is at `expected_version`; `*out_swapped` tells whether it was.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_counter_compare_and_set(
    counter: *const zkha_counter,
    expected_version: i32,
    value: i64,
    out_swapped: *mut bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(counter, "counter") }?.counter.clone();
        if out_swapped.is_null() {
            return Err(null("out_swapped"));
        }
        let ok = block(async move { c.compare_and_set(expected_version, value).await })?;
        unsafe { out(out_swapped, "out_swapped", ok) }
    })
}

/// Frees a counter (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_counter_free(counter: *mut zkha_counter) {
    unsafe { free_box(counter) }
}

// ---- pointer store -------------------------------------------------------------------------

/// A pointer store rooted at `root`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_new(
    client: *const zkha_client,
    root: *const c_char,
    out_store: *mut *mut zkha_store,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let r = unsafe { text(root, "root") }?;
        let store = c.client.pointer_store(r)?;
        unsafe {
            out(
                out_store,
                "out_store",
                Box::into_raw(Box::new(zkha_store { store })),
            )
        }
    })
}

/// Adds `name` and locks it for this store.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_add_and_lock(
    store: *const zkha_store,
    name: *const c_char,
    data: *const u8,
    len: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        let d = unsafe { bytes_in(data, len, "data") }?.to_vec();
        block(async move { s.add_and_lock(&n, &d).await.map(|_| ()) })
    })
}

/// Locks and reads `name` (free `*out_data` with zkha_bytes_free).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_get_and_lock(
    store: *const zkha_store,
    name: *const c_char,
    out_data: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        if out_data.is_null() {
            return Err(null("out_data"));
        }
        let e = block(async move { s.get_and_lock(&n).await })?;
        unsafe { out(out_data, "out_data", bytes_out(e.data)) }
    })
}

/// Releases this store's lock and removes `name` if nobody else holds it; `*out_removed`
/// tells whether it is gone.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_release_and_try_remove(
    store: *const zkha_store,
    name: *const c_char,
    out_removed: *mut bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        if out_removed.is_null() {
            return Err(null("out_removed"));
        }
        let removed = block(async move { s.release_and_try_remove(&n).await })?;
        unsafe { out(out_removed, "out_removed", removed) }
    })
}

/// The version of `name`, or -1 if it does not exist or is marked for deletion.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_exists(
    store: *const zkha_store,
    name: *const c_char,
    out_version: *mut i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        if out_version.is_null() {
            return Err(null("out_version"));
        }
        let v = block(async move { s.exists(&n).await })?;
        unsafe { out(out_version, "out_version", v.unwrap_or(-1)) }
    })
}

/// Replaces `name`'s data if it is at `expected_version` and this store holds a lock on it;
/// `*out_version` (may be NULL) receives the new version.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_replace(
    store: *const zkha_store,
    name: *const c_char,
    expected_version: i32,
    data: *const u8,
    len: usize,
    out_version: *mut i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        let d = unsafe { bytes_in(data, len, "data") }?.to_vec();
        let v = block(async move { s.replace(&n, expected_version, &d).await })?;
        if !out_version.is_null() {
            unsafe { out_version.write(v) };
        }
        Ok(())
    })
}

/// Releases this store's lock on `name` (missing is fine); the entry stays.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_release(
    store: *const zkha_store,
    name: *const c_char,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        let n = unsafe { text(name, "name") }?.to_string();
        block(async move { s.release(&n).await })
    })
}

/// The names of all entries (including ones marked for deletion), as `count` NUL-separated
/// names in `*out_names` (free with zkha_bytes_free).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_list(
    store: *const zkha_store,
    out_names: *mut zkha_bytes,
    out_count: *mut usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { obj(store, "store") }?.store.clone();
        if out_names.is_null() || out_count.is_null() {
            return Err(null("out_names and out_count"));
        }
        let names = block(async move { s.get_all_handles().await })?;
        let mut buf = Vec::new();
        for n in &names {
            buf.extend_from_slice(n.as_bytes());
            buf.push(0);
        }
        unsafe {
            out_count.write(names.len());
            out_names.write(bytes_out(buf));
        }
        Ok(())
    })
}

/// Frees a store handle (its locks stay until released or the session ends). NULL is fine.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_store_free(store: *mut zkha_store) {
    unsafe { free_box(store) }
}

// ---- watches -------------------------------------------------------------------------------

/// Watches the subtree at `root`; returns once its first complete read is in (at most 30 s,
/// else ZKHA_STATUS_TIMEOUT). `zkha_config_watch_next` then gives every change after that
/// view, none missed and none twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_config_watch_start(
    client: *const zkha_client,
    root: *const c_char,
    out_watch: *mut *mut zkha_config_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let r = unsafe { text(root, "root") }?;
        if out_watch.is_null() {
            return Err(null("out_watch"));
        }
        let watch = c.client.config_watch(r)?;
        let w = watch.clone();
        block(async move { w.ready(Duration::from_secs(30)).await.map(|_| ()) })?;
        // Changes after the view then, taken with it (none missed, none twice).
        let (_, changes) = watch.snapshot_and_changes();
        let events = changes.shared();
        unsafe {
            out(
                out_watch,
                "out_watch",
                Box::into_raw(Box::new(zkha_config_watch { watch, events })),
            )
        }
    })
}

/// The current value of `rel_path` under the root; ZKHA_STATUS_NO_NODE if absent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_config_watch_get(
    watch: *const zkha_config_watch,
    rel_path: *const c_char,
    out_value: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        let p = unsafe { text(rel_path, "rel_path") }?;
        match w.watch.get(p) {
            Some(v) => unsafe { out(out_value, "out_value", bytes_out(v)) },
            None => Err(Fail(zkha_status::NoNode, format!("no value at {p:?}"))),
        }
    })
}

/// Waits up to `timeout_ms` (0: no wait, ZKHA_WAIT_FOREVER: no limit) for the next change:
/// `*out_changed` false on timeout; else
/// `*out_path` (free with zkha_bytes_free; relative path, not NUL-terminated) and
/// `*out_value` (len 0 and `*out_deleted` true if deleted).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_config_watch_next(
    watch: *const zkha_config_watch,
    timeout_ms: u64,
    out_changed: *mut bool,
    out_path: *mut zkha_bytes,
    out_value: *mut zkha_bytes,
    out_deleted: *mut bool,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        if out_changed.is_null()
            || out_path.is_null()
            || out_value.is_null()
            || out_deleted.is_null()
        {
            return Err(null("out_changed, out_path, out_value and out_deleted"));
        }
        let next = next_event(&w.events, timeout_ms)?;
        unsafe {
            match next {
                None => out_changed.write(false),
                Some(ch) => {
                    out_changed.write(true);
                    out_path.write(bytes_out(ch.path.into_bytes()));
                    out_deleted.write(ch.value.is_none());
                    out_value.write(bytes_out(ch.value.unwrap_or_default()));
                }
            }
        }
        Ok(())
    })
}

/// Stops and frees a config watch (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_config_watch_free(watch: *mut zkha_config_watch) {
    unsafe { free_box(watch) }
}

/// Watches one leader-information znode, or the data of any znode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_leader_watch_start(
    client: *const zkha_client,
    path: *const c_char,
    out_watch: *mut *mut zkha_leader_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let p = unsafe { text(path, "path") }?;
        if out_watch.is_null() {
            return Err(null("out_watch"));
        }
        let watch = c.client.watch_leader_info(p)?;
        let events = watch.events().shared();
        unsafe {
            out(
                out_watch,
                "out_watch",
                Box::into_raw(Box::new(zkha_leader_watch {
                    _watch: watch,
                    events,
                })),
            )
        }
    })
}

/// Waits up to `timeout_ms` (0: no wait, ZKHA_WAIT_FOREVER: no limit) for the next
/// leader-information change: `*out_changed` false on timeout; else `*out_present` and
/// `*out_data` (free with zkha_bytes_free).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_leader_watch_next(
    watch: *const zkha_leader_watch,
    timeout_ms: u64,
    out_changed: *mut bool,
    out_present: *mut bool,
    out_data: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        if out_changed.is_null() || out_present.is_null() || out_data.is_null() {
            return Err(null("out_changed, out_present and out_data"));
        }
        let next = next_event(&w.events, timeout_ms)?;
        unsafe {
            match next {
                None => out_changed.write(false),
                Some(LeaderInfo::Present(d)) => {
                    out_changed.write(true);
                    out_present.write(true);
                    out_data.write(bytes_out(d));
                }
                Some(LeaderInfo::Empty) => {
                    out_changed.write(true);
                    out_present.write(false);
                    out_data.write(zkha_bytes {
                        data: std::ptr::null_mut(),
                        len: 0,
                    });
                }
            }
        }
        Ok(())
    })
}

/// Stops and frees a leader watch (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_leader_watch_free(watch: *mut zkha_leader_watch) {
    unsafe { free_box(watch) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enum_tables_sit_at_their_values() {
        for (i, m) in ACL_MODES.iter().enumerate() {
            assert_eq!(*m as usize, i);
        }
        for (i, s) in STATUSES.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        for (i, s) in STATES.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        for (i, r) in REASONS.iter().enumerate() {
            assert_eq!(*r as usize, i + 1);
        }
        assert!(variant(2, &ACL_MODES, "ACL mode").is_err());
        assert!(variant(-1, &ACL_MODES, "ACL mode").is_err());
    }

    /// "NoAuth" -> "no_auth": a C enum member's Rust name as core names the kind.
    pub(crate) fn snake(member: impl std::fmt::Debug) -> String {
        let mut out = String::new();
        for (i, c) in format!("{member:?}").chars().enumerate() {
            if c.is_ascii_uppercase() && i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        }
        out
    }

    fn c_name(p: *const c_char) -> String {
        // SAFETY: the name functions return static NUL-terminated strings.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_string()
    }

    /// The header's prose and zkha.hpp name only constants the header defines (they once
    /// named ZKHA_OK and ZKHA_ERR_*, which never existed).
    #[test]
    fn header_prose_names_real_constants() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
        let header = std::fs::read_to_string(dir.join("zkha.h")).unwrap();
        let hpp = std::fs::read_to_string(dir.join("zkha.hpp")).unwrap();
        let names = |text: &str| -> Vec<String> {
            let mut out = Vec::new();
            let mut rest = text;
            while let Some(i) = rest.find("ZKHA_") {
                let name: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                    .collect();
                rest = &rest[i + name.len()..];
                out.push(name);
            }
            out
        };
        let defined: std::collections::HashSet<String> = header
            .lines()
            .filter_map(|l| {
                let t = l.trim_start();
                let t = t.strip_prefix("#define ").unwrap_or(t);
                t.starts_with("ZKHA_")
                    .then(|| names(t).into_iter().next())
                    .flatten()
            })
            .collect();
        for used in names(&header).into_iter().chain(names(&hpp)) {
            let guard_or_prefix = used == "ZKHA_H" || used == "ZKHA_HPP" || used.ends_with('_');
            assert!(
                guard_or_prefix || defined.contains(&used),
                "{used} is named but not defined"
            );
        }
    }

    /// Every core kind reaches a C value of its own, equal to its code, of the same name.
    #[test]
    fn c_enums_carry_cores_codes_and_names() {
        let mut seen = std::collections::HashSet::new();
        for &k in ErrorKind::ALL {
            let s = zkha_status::from(k);
            assert_eq!(s as i32, k.code(), "{k:?}");
            assert_eq!(snake(s), k.name());
            assert_eq!(c_name(zkha_status_name(s as i32)), k.name());
            assert!(seen.insert(s as i32), "{k:?} shares {s:?}");
        }
        // Besides core's kinds, only C's own statuses.
        let own = [
            zkha_status::Ok,
            zkha_status::NullArgument,
            zkha_status::Internal,
        ];
        assert_eq!(seen.len() + own.len(), STATUSES.len());
        assert_eq!(
            c_name(zkha_status_name(zkha_status::Internal as i32)),
            "internal"
        );
        assert_eq!(c_name(zkha_status_name(-3)), "unknown");
        for &k in ConnectionStateKind::ALL {
            let s = STATES[k.code() as usize];
            assert_eq!(snake(s), k.name());
            assert_eq!(c_name(zkha_connection_state_name(k.code())), k.name());
        }
        assert_eq!(STATES.len(), ConnectionStateKind::ALL.len());
        for &r in zkha::RevokeReason::ALL {
            let c = REASONS[r.code() as usize - 1];
            assert_eq!(snake(c), r.name());
            assert_eq!(c_name(zkha_reason_name(r.code())), r.name());
        }
        assert_eq!(REASONS.len(), zkha::RevokeReason::ALL.len());
        for &k in LockKind::ALL {
            assert_eq!(LOCK_KINDS[k.code() as usize] as i32, k.code());
            assert_eq!(snake(LOCK_KINDS[k.code() as usize]), k.name());
        }
        assert_eq!(LOCK_KINDS.len(), LockKind::ALL.len());
    }
}
