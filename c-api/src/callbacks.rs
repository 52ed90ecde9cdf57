//! C callbacks: each registration calls its function on a thread of its own, never on one of
//! the runtime's two workers (a callback that blocks must not stall heartbeats and lease
//! renewals), and never after the registration was stopped (by the handle's `*_free` or
//! release, which waits for a call in progress and for the calls already due).

use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::{zkha_status, Fail, R};

/// A C callback with its user data and one integer (a reason code).
pub(crate) type Callback = unsafe extern "C" fn(*mut c_void, i32);

/// A user_data pointer handed to the callback's thread.
pub(crate) struct UserData(pub(crate) *mut c_void);
// SAFETY: the C caller promises user_data may be used from a zkha thread (documented).
unsafe impl Send for UserData {}

impl UserData {
    /// The pointer (a method, so closures capture the whole `Send` wrapper).
    pub(crate) fn get(&self) -> *mut c_void {
        self.0
    }
}

/// One registered callback: its thread, and the stop signal of the runtime task feeding it.
pub(crate) struct Registration {
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Registration {
    /// Starts a thread named `name` that calls `cb(user_data, code)` for each code sent to
    /// it, and spawns `feed(sender, stop)` on the runtime. The feed sends the codes and must
    /// end once `stop` turns true (after sending what is already due); the thread ends when
    /// the feed has ended. ZKHA_STATUS_IO if the thread cannot be started.
    pub(crate) fn start<F, Fut>(
        name: &str,
        cb: Callback,
        user_data: *mut c_void,
        feed: F,
    ) -> R<Registration>
    where
        F: FnOnce(mpsc::Sender<i32>, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let ud = UserData(user_data);
        // SAFETY: a C function pointer and its user data, as registered.
        Registration::start_with(name, move |code| unsafe { cb(ud.get(), code) }, feed)
    }

    /// As [`Registration::start`], for any payload: the thread calls `call(payload)` for each
    /// payload the feed sends (`call` wraps the C function and its user data).
    pub(crate) fn start_with<P, C, F, Fut>(name: &str, call: C, feed: F) -> R<Registration>
    where
        P: Send + 'static,
        C: Fn(P) + Send + 'static,
        F: FnOnce(mpsc::Sender<P>, watch::Receiver<bool>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<P>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                while let Ok(payload) = rx.recv() {
                    let _ = catch_unwind(AssertUnwindSafe(|| call(payload)));
                }
            })
            .map_err(|e| {
                Fail(
                    zkha_status::Io,
                    format!("cannot start a callback thread: {e}"),
                )
            })?;
        let (stop, stop_rx) = watch::channel(false);
        zkha::runtime::spawn(feed(tx, stop_rx));
        Ok(Registration {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the feed and waits until the thread has made every call that was due; no call
    /// starts after this returns. Called from the callback itself, it does not wait for
    /// itself.
    pub(crate) fn stop(&mut self) {
        self.stop.send_replace(true);
        if let Some(t) = self.thread.take() {
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.stop();
    }
}
