//! Config watches (`zkha_config_watch_*`): a subtree of small values.

use super::*;

/// Watches the subtree at `root`; returns once its first complete read is in, waiting up to
/// `timeout_ms` for it (0: only if it is in at once; ZKHA_WAIT_FOREVER: without limit), else
/// ZKHA_STATUS_TIMEOUT and no watch. `zkha_config_watch_next` then gives every change after
/// that view, none missed and none twice.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_config_watch_start(
    client: *const zkha_client,
    root: *const c_char,
    timeout_ms: u64,
    out_watch: *mut *mut zkha_config_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let r = unsafe { text(root, "root") }?;
        unsafe {
            out_new(out_watch, "out_watch", || {
                let watch = c.client.config_watch(r)?;
                let w = watch.clone();
                // No limit: a deadline past the clock's end waits forever.
                let limit = wait_ms(timeout_ms).unwrap_or(Duration::MAX);
                block(async move { w.ready(limit).await.map(|_| ()) })?;
                // Changes after the view then, taken with it (none missed, none twice).
                let (_, changes) = watch.snapshot_and_changes();
                let events = changes.shared();
                Ok(zkha_config_watch { watch, events })
            })
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
/// `*out_changed` false on timeout (the other outputs then empty); else
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
                // Every output is written, also on timeout: a caller may free them alike.
                None => {
                    out_changed.write(false);
                    out_path.write(bytes_out(Vec::new()));
                    out_deleted.write(false);
                    out_value.write(bytes_out(Vec::new()));
                }
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
