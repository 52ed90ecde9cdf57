//! A watch on any node's children (`zkha_children_watch_*`); any node's data is watched by
//! `zkha_leader_watch_*`.

use std::ffi::c_char;

use zkha::{NodeChildren, NodeWatch, SharedEventStream};

use crate::{
    bytes_out, free_box, guard, next_event, null, obj, out, text, zkha_bytes, zkha_client,
    zkha_error, zkha_status, Fail,
};

/// A watch on one znode's children.
pub struct zkha_children_watch {
    _watch: NodeWatch<NodeChildren>,
    events: SharedEventStream<NodeChildren>,
}

/// Watches the children of the znode at `path` (it need not exist yet).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_children_watch_start(
    client: *const zkha_client,
    path: *const c_char,
    out_watch: *mut *mut zkha_children_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?;
        let p = unsafe { text(path, "path") }?;
        if out_watch.is_null() {
            return Err(null("out_watch"));
        }
        let watch = c.client.watch_children(p)?;
        let events = watch.events().shared();
        let w = Box::new(zkha_children_watch {
            _watch: watch,
            events,
        });
        unsafe { out(out_watch, "out_watch", Box::into_raw(w)) }
    })
}

/// Waits up to `timeout_ms` (0: no wait, ZKHA_WAIT_FOREVER: no limit) for the next value of
/// the children (the current one first): `*out_changed` false on timeout (the other outputs
/// then empty); else
/// `*out_present` (false while the node does not exist or the connection is in doubt),
/// `*out_names` (free with zkha_bytes_free; each name followed by a NUL byte, sorted) and
/// `*out_count`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_children_watch_next(
    watch: *const zkha_children_watch,
    timeout_ms: u64,
    out_changed: *mut bool,
    out_present: *mut bool,
    out_names: *mut zkha_bytes,
    out_count: *mut usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        if out_changed.is_null()
            || out_present.is_null()
            || out_names.is_null()
            || out_count.is_null()
        {
            return Err(null("out_changed, out_present, out_names and out_count"));
        }
        let (changed, present, names) = match next_event(&w.events, timeout_ms)? {
            None => (false, false, Vec::new()),
            Some(NodeChildren::Empty) => (true, false, Vec::new()),
            Some(NodeChildren::Present(names)) => (true, true, names),
        };
        let mut packed = Vec::new();
        for n in &names {
            if n.contains('\0') {
                return Err(Fail(
                    zkha_status::Corrupt,
                    format!("child name {n:?} holds a NUL byte"),
                ));
            }
            packed.extend_from_slice(n.as_bytes());
            packed.push(0);
        }
        unsafe {
            out(out_changed, "out_changed", changed)?;
            out(out_present, "out_present", present)?;
            out(out_count, "out_count", names.len())?;
            out(out_names, "out_names", bytes_out(packed))
        }
    })
}

/// Stops and frees a children watch (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_children_watch_free(watch: *mut zkha_children_watch) {
    unsafe { free_box(watch) }
}
