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
mod client;
mod config_store;
mod config_watches;
mod doctor;
mod election;
mod errors;
mod fences;
mod flink;
mod locks;
mod metrics;
mod options;
mod stores;
mod watches;

pub use fences::{zkha_contender, zkha_fence, zkha_node_mode, zkha_op, zkha_op_kind, zkha_stat};
pub use watches::{zkha_children_watch, zkha_leader_watch};
#[allow(unused_imports)]
pub use {client::*, config_watches::*, election::*, errors::*, locks::*, options::*, stores::*};

use zkha::flink::FlinkConfig;
use zkha::{
    AclEntry, AclMode, Client, ClientOptions, Coded, ConnectionStateKind, CounterFormat,
    Credential, ElectionEvent, ElectionOptions, ErrorKind, Kerberos, LockGuard, LockKind, Pem,
    Sasl, SharedEventStream, TlsConfig,
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
    /// Asked to hand over to the next contender (`zkha_step_down`).
    StepDown = 6,
}

/// Every `zkha_reason`, at the index of its value minus one.
#[cfg(test)]
const REASONS: [zkha_reason; 6] = [
    zkha_reason::LeaseExpired,
    zkha_reason::SessionExpired,
    zkha_reason::NodeDeleted,
    zkha_reason::Closed,
    zkha_reason::Suspended,
    zkha_reason::StepDown,
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

/// Names as C gets a list of them: each followed by a NUL byte. `Corrupt` for a name holding
/// a NUL (ZooKeeper never sends one; a C reader would split it).
fn packed_names(names: &[String]) -> R<Vec<u8>> {
    let mut packed = Vec::with_capacity(names.iter().map(|n| n.len() + 1).sum());
    for n in names {
        if n.contains('\0') {
            return Err(Fail(
                zkha_status::Corrupt,
                format!("name {n:?} holds a NUL byte"),
            ));
        }
        packed.extend_from_slice(n.as_bytes());
        packed.push(0);
    }
    Ok(packed)
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
