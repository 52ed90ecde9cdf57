//! Errors and bytes handed to C: `zkha_error`, status names, `zkha_bytes`.

use super::*;

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
