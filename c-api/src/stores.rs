//! Counters (`zkha_counter_*`) and pointer stores (`zkha_store_*`).

use super::*;

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
        unsafe {
            out_new(out_counter, "out_counter", || {
                let counter = c.client.counter(p, format, initial)?;
                Ok(zkha_counter { counter })
            })
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
        unsafe {
            out_new(out_store, "out_store", || {
                let store = c.client.pointer_store(r)?;
                Ok(zkha_store { store })
            })
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
        let buf = packed_names(&names)?;
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
