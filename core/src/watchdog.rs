//! A liveness watchdog for the process that hosts zkha (a JVM, a Python interpreter).
//!
//! zkha's own threads keep the ZooKeeper session alive even while the host is frozen (a long
//! GC pause, a stuck interpreter), so ZooKeeper would keep a frozen leader as leader. The host
//! pings the watchdog from its own thread; if the pings stop for longer than the bound, zkha
//! closes the client: every grant is revoked and the session ends, so its ephemeral nodes
//! vanish and a standby can lead.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::runtime;
use crate::session::Client;

/// Pinged by the host; closes the client when the pings stop for `timeout`.
#[derive(Clone)]
pub struct Watchdog {
    shared: Arc<Shared>,
}

struct Shared {
    start: Instant,
    last_ping_ms: AtomicU64,
    fired: AtomicBool,
    stopped: AtomicBool,
}

impl Client {
    /// Arms a watchdog: unless [`Watchdog::ping`] is called at least every `timeout`, the
    /// client is closed. Dropping every clone of the watchdog disarms it.
    pub fn watchdog(&self, timeout: Duration) -> Result<Watchdog> {
        if timeout < Duration::from_millis(10) {
            return Err(Error::invalid(format!(
                "watchdog timeout {timeout:?} is too short (at least 10 ms)"
            )));
        }
        let shared = Arc::new(Shared {
            start: Instant::now(),
            last_ping_ms: AtomicU64::new(0),
            fired: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        let client = self.clone();
        runtime::spawn(async move {
            let tick = (timeout / 4).max(Duration::from_millis(5));
            loop {
                tokio::time::sleep(tick).await;
                let Some(sh) = weak.upgrade() else { return };
                if sh.stopped.load(Ordering::SeqCst) {
                    return;
                }
                let silent = sh.start.elapsed().saturating_sub(Duration::from_millis(
                    sh.last_ping_ms.load(Ordering::SeqCst),
                ));
                if silent > timeout {
                    sh.fired.store(true, Ordering::SeqCst);
                    tracing::error!(target: "zkha::watchdog", ?silent, ?timeout,
                        "the host process stopped answering the watchdog: giving up leadership and closing the session");
                    client.close().await;
                    return;
                }
            }
        });
        Ok(Watchdog { shared })
    }
}

impl Watchdog {
    /// Tells the watchdog the host is alive.
    pub fn ping(&self) {
        let ms = self.shared.start.elapsed().as_millis() as u64;
        self.shared.last_ping_ms.store(ms, Ordering::SeqCst);
    }

    /// True once the watchdog closed the client.
    pub fn fired(&self) -> bool {
        self.shared.fired.load(Ordering::SeqCst)
    }

    /// Disarms the watchdog.
    pub fn stop(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
    }
}
