//! Watches on any node: its data (`zkha_leader_watch_*`, named for leader information, its
//! first use) and its children (`zkha_children_watch_*`), both over the core's `NodeWatch`.

use std::ffi::{c_char, c_void};
use std::sync::mpsc;

use tokio::sync::watch;
use zkha::node_watch::Watched;
use zkha::{NodeChildren, NodeData, NodeWatch, SharedEventStream};

use crate::callbacks::{Registration, UserData};
use crate::{
    bytes_out, free_box, guard, next_event, null, obj, out, out_new, text, zkha_bytes, zkha_client,
    zkha_error, zkha_status, R,
};

/// A node watch with its change callbacks: the state behind both C watch types.
pub struct WatchHandle<T: Watched> {
    /// Change callbacks, stopped when the handle is freed (before the watch ends).
    on_change: std::sync::Mutex<Vec<Registration>>,
    watch: NodeWatch<T>,
    events: SharedEventStream<T>,
}

/// A watch on one znode's children.
pub struct zkha_children_watch(WatchHandle<NodeChildren>);

/// A watch on one znode's data (leader information, or any node's).
pub struct zkha_leader_watch(WatchHandle<NodeData>);

impl<T: Watched> WatchHandle<T> {
    /// The start of a watch: `make` watches `path` of `client`, `wrap` makes it the C type,
    /// stored in `*out_watch`.
    ///
    /// # Safety
    /// The pointers as the calling `*_start` function documents them.
    unsafe fn start<W>(
        client: *const zkha_client,
        path: *const c_char,
        out_watch: *mut *mut W,
        make: impl FnOnce(&zkha::Client, &str) -> zkha::Result<NodeWatch<T>>,
        wrap: impl FnOnce(WatchHandle<T>) -> W,
    ) -> R<()> {
        let c = unsafe { obj(client, "client") }?;
        let p = unsafe { text(path, "path") }?;
        unsafe {
            out_new(out_watch, "out_watch", || {
                let watch = make(&c.client, p)?;
                let events = watch.events().shared();
                Ok(wrap(WatchHandle {
                    on_change: Default::default(),
                    watch,
                    events,
                }))
            })
        }
    }

    /// Calls `call` with every value (the current one first) on a thread of its own.
    fn on_change(&self, call: impl Fn(T) + Send + 'static) -> R<()> {
        let r = Registration::start_with("zkha-on-change", call, feed(&self.watch))?;
        self.on_change
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(r);
        Ok(())
    }
}

/// Called with each value of a watched node's data (the current one first), on the
/// registration's own thread: `present` false while the node does not exist (or the
/// connection is in doubt); `data`/`len` valid during the call only.
pub type zkha_data_cb = Option<
    unsafe extern "C" fn(user_data: *mut c_void, present: bool, data: *const u8, len: usize),
>;

/// Called with each value of a watched node's children (the current one first), on the
/// registration's own thread: `present` false while the node does not exist; `count` sorted
/// names, each followed by a NUL byte, in `names`/`len`, valid during the call only.
pub type zkha_children_cb = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        present: bool,
        names: *const u8,
        len: usize,
        count: usize,
    ),
>;

/// Feeds every value of `watch` (the current one first) to `tx` until stopped.
fn feed<T: Watched>(
    watch: &NodeWatch<T>,
) -> impl FnOnce(mpsc::Sender<T>, watch::Receiver<bool>) -> BoxFuture {
    let mut events = watch.events();
    move |tx, mut stop| {
        Box::pin(async move {
            loop {
                tokio::select! {
                    v = events.next() => {
                        let Some(v) = v else { return };
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    _ = stop.wait_for(|s| *s) => return,
                }
            }
        })
    }
}

type BoxFuture = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// Calls `cb` with every value of the children (the current one first) on a thread of its
/// own; no call starts after `zkha_children_watch_free` has returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_children_watch_on_change(
    watch: *const zkha_children_watch,
    cb: zkha_children_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let ud = UserData(user_data);
        let call = move |v: NodeChildren| {
            let (present, names) = match v {
                NodeChildren::Present(n) => (true, n),
                NodeChildren::Empty => (false, Vec::new()),
            };
            // A name holding a NUL (ZooKeeper never sends one) would be split: not delivered.
            let Ok(packed) = crate::packed_names(&names) else {
                return;
            };
            // SAFETY: the registered C function and user data; the bytes live for the call.
            unsafe {
                cb(
                    ud.get(),
                    present,
                    packed.as_ptr(),
                    packed.len(),
                    names.len(),
                )
            }
        };
        w.0.on_change(call)
    })
}

/// Calls `cb` with every value of a data (or leader-information) watch, the current one
/// first, on a thread of its own; no call starts after `zkha_leader_watch_free` has returned.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_leader_watch_on_change(
    watch: *const zkha_leader_watch,
    cb: zkha_data_cb,
    user_data: *mut c_void,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let w = unsafe { obj(watch, "watch") }?;
        let Some(cb) = cb else { return Err(null("cb")) };
        let ud = UserData(user_data);
        let call = move |v: NodeData| {
            let (present, data) = match v {
                NodeData::Present(d) => (true, d),
                NodeData::Empty => (false, Vec::new()),
            };
            // SAFETY: the registered C function and user data; the bytes live for the call.
            unsafe { cb(ud.get(), present, data.as_ptr(), data.len()) }
        };
        w.0.on_change(call)
    })
}

/// Watches the children of the znode at `path` (it need not exist yet).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_children_watch_start(
    client: *const zkha_client,
    path: *const c_char,
    out_watch: *mut *mut zkha_children_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || unsafe {
        WatchHandle::start(
            client,
            path,
            out_watch,
            |c, p| c.watch_children(p),
            zkha_children_watch,
        )
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
        let (changed, present, names) = match next_event(&w.0.events, timeout_ms)? {
            None => (false, false, Vec::new()),
            Some(NodeChildren::Empty) => (true, false, Vec::new()),
            Some(NodeChildren::Present(names)) => (true, true, names),
        };
        let packed = crate::packed_names(&names)?;
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

/// Watches one leader-information znode, or the data of any znode.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_leader_watch_start(
    client: *const zkha_client,
    path: *const c_char,
    out_watch: *mut *mut zkha_leader_watch,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || unsafe {
        WatchHandle::start(
            client,
            path,
            out_watch,
            |c, p| c.watch_leader_info(p),
            zkha_leader_watch,
        )
    })
}

/// Waits up to `timeout_ms` (0: no wait, ZKHA_WAIT_FOREVER: no limit) for the next
/// leader-information change: `*out_changed` false on timeout (the other outputs then empty);
/// else `*out_present` and
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
        let next = next_event(&w.0.events, timeout_ms)?;
        unsafe {
            match next {
                // Every output is written, also on timeout: a caller may free them alike.
                None => {
                    out_changed.write(false);
                    out_present.write(false);
                    out_data.write(bytes_out(Vec::new()));
                }
                Some(NodeData::Present(d)) => {
                    out_changed.write(true);
                    out_present.write(true);
                    out_data.write(bytes_out(d));
                }
                Some(NodeData::Empty) => {
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
