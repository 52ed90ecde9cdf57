//! Central configuration of Flink clusters (`zkha_flink_config_*`): core's
//! `flink::config_store`, documents and reports as JSON text, the pulled file as text.

use std::ffi::c_char;

use zkha::flink::config_store::{self, ConfigDocument, ConfigStore, Format, Part, PushOptions};
use zkha::flink::FlinkConfig;

use super::*;

/// The store at `store_path` through `client`.
unsafe fn store(client: *const zkha_client, store_path: *const c_char) -> R<ConfigStore> {
    let c = unsafe { obj(client, "client") }?.client.clone();
    let path = unsafe { text(store_path, "store_path") }?;
    Ok(ConfigStore::new(c, path, config_store::DEFAULT_KEEP))
}

/// Writes `json` (UTF-8 text) to `*out_json` if it is not NULL.
unsafe fn json_out(out_json: *mut zkha_bytes, json: String) -> R<()> {
    if out_json.is_null() {
        return Ok(());
    }
    unsafe { out(out_json, "out_json", bytes_out(json.into_bytes())) }
}

/// Runs `f` on the store at `store_path` and writes the JSON text it returns to `*out_json`
/// (if not NULL).
unsafe fn json_call<F>(
    client: *const zkha_client,
    store_path: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
    f: impl FnOnce(ConfigStore) -> F,
) -> zkha_status
where
    F: std::future::Future<Output = zkha::Result<String>> + Send + 'static,
{
    guard(err, || {
        let s = unsafe { store(client, store_path) }?;
        let json = block(f(s))?;
        unsafe { json_out(out_json, json) }
    })
}

/// Push options from the C arguments (`expected_version` < 0: none; `secret_markers`
/// NULL: the defaults).
unsafe fn push_options(
    author: *const c_char,
    note: *const c_char,
    allow_secrets: bool,
    expected_version: i64,
    secret_markers: *const c_char,
) -> R<PushOptions> {
    let author = unsafe { text(author, "author") }?;
    let note = unsafe { text(note, "note") }?;
    let mut o = PushOptions::new(author, note);
    o.allow_secrets = allow_secrets;
    o.expected_version = u64::try_from(expected_version).ok();
    if let Some(list) = unsafe { opt_text(secret_markers, "secret_markers") }? {
        o.secret_markers = config_store::parse_secret_markers(list)?;
    }
    Ok(o)
}

/// The store path (`<path.root>/zkha-config/<cluster-id>`) of the cluster the Flink
/// configuration file (or conf directory) `flink_config` names, as text in `*out_path` (free
/// with zkha_bytes_free; not NUL-terminated).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_store_path(
    flink_config: *const c_char,
    out_path: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let file = unsafe { text(flink_config, "flink_config") }?;
        let path = config_store::store_path(&FlinkConfig::load(file)?)?;
        unsafe { out(out_path, "out_path", bytes_out(path.into_bytes())) }
    })
}

/// The current document as JSON in `*out_json` (`null` before the first push): `{version,
/// author, time_ms, note, changed, format, base, roles, hosts}`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_current(
    client: *const zkha_client,
    store_path: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    unsafe {
        json_call(client, store_path, out_json, err, |s| async move {
            Ok(config_store::to_json(&s.current().await?))
        })
    }
}

/// The kept versions as JSON in `*out_json`, newest first: `[{version, author, time_ms, note,
/// changed}]`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_history(
    client: *const zkha_client,
    store_path: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    unsafe {
        json_call(client, store_path, out_json, err, |s| async move {
            Ok(config_store::to_json(&s.history().await?))
        })
    }
}

/// Stores `len` bytes of configuration text at `text` as `part` (`base`, `role:<role>`,
/// `host:<host>`) of the document, a new version: checked first (ZKHA_STATUS_CONFIG naming the
/// key or the file, ZKHA_STATUS_TOO_LARGE with the size and the limit; nothing written), then
/// written compare-and-set on the version read, or on `expected_version` (>= 0);
/// ZKHA_STATUS_BAD_VERSION, naming the version that won, if another push came first.
/// `file_name` (`config.yaml` or `flink-conf.yaml`) gives the base's format. A value in clear
/// of a key whose name holds a secret marker is refused unless `allow_secrets`:
/// `secret_markers` is a comma-separated list (`password,secret,token,credential`), NULL for
/// the defaults (`password,secret,token`). `*out_json` (may be NULL) receives the new document.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn zkha_flink_config_push(
    client: *const zkha_client,
    store_path: *const c_char,
    part: *const c_char,
    text_data: *const u8,
    len: usize,
    file_name: *const c_char,
    author: *const c_char,
    note: *const c_char,
    allow_secrets: bool,
    expected_version: i64,
    secret_markers: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { store(client, store_path) }?;
        let part = Part::parse(unsafe { text(part, "part") }?)?;
        let body = unsafe { bytes_in(text_data, len, "text") }?;
        let body = std::str::from_utf8(body)
            .map_err(|_| {
                zkha::Error::new(
                    zkha::ErrorKind::InvalidArgument,
                    "text: the configuration text is not UTF-8",
                )
            })?
            .to_string();
        let format = Format::of_file(unsafe { text(file_name, "file_name") }?);
        let options = unsafe {
            push_options(
                author,
                note,
                allow_secrets,
                expected_version,
                secret_markers,
            )
        }?;
        let doc = block(async move { s.push(&part, &body, format, &options).await })?;
        unsafe { json_out(out_json, config_store::to_json(&doc)) }
    })
}

/// Makes the kept `version` current again, byte for byte, as a new version (compare-and-set
/// as `zkha_flink_config_push`); `*out_json` (may be NULL) receives the new document.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_rollback(
    client: *const zkha_client,
    store_path: *const c_char,
    version: u64,
    author: *const c_char,
    note: *const c_char,
    expected_version: i64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    unsafe {
        write_call(
            client,
            store_path,
            [author, note],
            expected_version,
            out_json,
            err,
            |s, o| Ok(async move { s.rollback(version, &o).await }),
        )
    }
}

/// A compare-and-set write (rollback, remove) with the options of the C arguments (`[author,
/// note]`): `f` gets the store and the options and returns the write; the new document goes
/// to `*out_json` (may be NULL).
unsafe fn write_call<F>(
    client: *const zkha_client,
    store_path: *const c_char,
    [author, note]: [*const c_char; 2],
    expected_version: i64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
    f: impl FnOnce(ConfigStore, PushOptions) -> R<F>,
) -> zkha_status
where
    F: std::future::Future<Output = zkha::Result<ConfigDocument>> + Send + 'static,
{
    guard(err, || {
        let s = unsafe { store(client, store_path) }?;
        let options =
            unsafe { push_options(author, note, false, expected_version, std::ptr::null()) }?;
        let doc = block(f(s, options)?)?;
        unsafe { json_out(out_json, config_store::to_json(&doc)) }
    })
}

/// Removes the overlay `part` (`role:<role>` or `host:<host>`) as a new version
/// (compare-and-set as `zkha_flink_config_push`; ZKHA_STATUS_NO_NODE if there is no such
/// overlay, ZKHA_STATUS_INVALID_ARGUMENT for `base`); `*out_json` (may be NULL) receives the
/// new document.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_remove_overlay(
    client: *const zkha_client,
    store_path: *const c_char,
    part: *const c_char,
    author: *const c_char,
    note: *const c_char,
    expected_version: i64,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    unsafe {
        write_call(
            client,
            store_path,
            [author, note],
            expected_version,
            out_json,
            err,
            |s, o| {
                let part = Part::parse(text(part, "part")?)?;
                Ok(async move { s.remove_overlay(&part, &o).await })
            },
        )
    }
}

/// The effective key changes of `role` on `host` (either may be NULL: no overlay) from kept
/// version `from` (0: from nothing) to `to`, as JSON in `*out_json`: `[{key, before, after}]`
/// (`null` for a key absent on that side; secrets in clear masked).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_diff(
    client: *const zkha_client,
    store_path: *const c_char,
    from: u64,
    to: u64,
    role: *const c_char,
    host: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { store(client, store_path) }?;
        let role = unsafe { opt_text(role, "role") }?.map(str::to_string);
        let host = unsafe { opt_text(host, "host") }?.map(str::to_string);
        let changes = block(async move {
            s.diff_versions(from, to, role.as_deref(), host.as_deref())
                .await
        })?;
        unsafe { json_out(out_json, config_store::to_json(&changes)) }
    })
}

/// The effective configuration of `role` on `host` (either may be NULL: no overlay),
/// references resolved on this host (ZKHA_STATUS_CONFIG naming an unset variable and its
/// key), as the `config.yaml` text Flink reads in `*out_text` (free with zkha_bytes_free; not
/// NUL-terminated); `*out_version` (may be NULL) receives its version.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_pull(
    client: *const zkha_client,
    store_path: *const c_char,
    role: *const c_char,
    host: *const c_char,
    out_text: *mut zkha_bytes,
    out_version: *mut u64,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let s = unsafe { store(client, store_path) }?;
        let role = unsafe { opt_text(role, "role") }?.map(str::to_string);
        let host = unsafe { opt_text(host, "host") }?.map(str::to_string);
        let (doc, text) = block(async move { s.pull(role.as_deref(), host.as_deref()).await })?;
        if !out_version.is_null() {
            unsafe { out(out_version, "out_version", doc.version) }?;
        }
        unsafe { out(out_text, "out_text", bytes_out(text.into_bytes())) }
    })
}

/// The processes started from a pulled configuration as JSON in `*out_json`: `[{role, host,
/// pid, version, started_ms, stale, differs: [{key, before, after}], known}]`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_flink_config_status(
    client: *const zkha_client,
    store_path: *const c_char,
    out_json: *mut zkha_bytes,
    err: *mut *mut zkha_error,
) -> zkha_status {
    unsafe {
        json_call(client, store_path, out_json, err, |s| async move {
            Ok(config_store::to_json(&s.status().await?))
        })
    }
}
