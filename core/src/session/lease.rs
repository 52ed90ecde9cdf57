//! The leadership lease: until when the current session is provably alive on the server.
//!
//! The server expires a session no sooner than T (the negotiated timeout) after it last
//! received something from the client, and a request it answered was received no earlier
//! than the moment the client sent it. So the session is provably alive until
//! `safe_until = send time of the newest answered request + T - margin`, on this process's
//! monotonic clock. Holders (elections, locks) keep their grant through a disconnect until
//! `safe_until` and give it up then ([`super::ConnectionState::Lost`]) unless the client
//! reconnected first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Monotonic nanoseconds since a process-wide base instant.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn to_ns(t: Instant) -> u64 {
    t.saturating_duration_since(base()).as_nanos() as u64
}

fn from_ns(ns: u64) -> Instant {
    base() + Duration::from_nanos(ns)
}

/// The leadership lease of the current session.
#[derive(Debug, Default)]
pub(crate) struct Lease {
    generation: AtomicU64,
    heard_ns: AtomicU64,
    pub(super) window_ns: AtomicU64,
}

impl Lease {
    pub(super) fn reset(&self, generation: u64, heard: Instant, window: Duration) {
        self.generation.store(0, Ordering::SeqCst);
        self.heard_ns.store(to_ns(heard), Ordering::SeqCst);
        self.window_ns
            .store(window.as_nanos() as u64, Ordering::SeqCst);
        self.generation.store(generation, Ordering::SeqCst);
    }

    /// Records that a request of session `generation` sent at `sent` was answered.
    pub(crate) fn note(&self, generation: u64, sent: Instant) {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.heard_ns.fetch_max(to_ns(sent), Ordering::SeqCst);
        }
    }

    /// End of the lease of session `generation` (`None` if that session is gone).
    pub(crate) fn safe_until(&self, generation: u64) -> Option<Instant> {
        if generation == 0 || self.generation.load(Ordering::SeqCst) != generation {
            return None;
        }
        let heard = self.heard_ns.load(Ordering::SeqCst);
        Some(from_ns(heard + self.window_ns.load(Ordering::SeqCst)))
    }

    pub(super) fn invalidate(&self) {
        self.generation.store(0, Ordering::SeqCst);
    }
}
