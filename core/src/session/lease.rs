//! The leadership lease: until when the current session is provably alive on the server, on
//! a clock that keeps counting while the host is suspended.
//!
//! Only the ZooKeeper leader expires sessions, and it hears of a client's activity only when a
//! follower relays it (in its reply to the leader's ping, about every tickTime/2). A plain
//! answer does not prove the session alive: a follower cut off from the leader goes on
//! answering reads for up to syncLimit x tickTime. So the lease is renewed only by a chain the
//! leader must have taken part in ([`super::renewal`]); docs/failure-model.md has the
//! derivation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// A point on the lease clock: nanoseconds of `CLOCK_BOOTTIME`, which counts the time the
/// host was suspended (`CLOCK_MONOTONIC`, behind `std::time::Instant`, stops then, and a
/// lease measured on it would outlive a suspend of the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Stamp(u64);

impl Stamp {
    /// Now.
    pub(crate) fn now() -> Stamp {
        Stamp(boot_ns().saturating_add(skew_ns()))
    }

    /// This point moved later by `d`.
    pub(crate) fn after(self, d: Duration) -> Stamp {
        Stamp(self.0.saturating_add(d.as_nanos() as u64))
    }

    /// This point moved earlier by `d`.
    pub(crate) fn before(self, d: Duration) -> Stamp {
        Stamp(self.0.saturating_sub(d.as_nanos() as u64))
    }

    /// How long after `earlier` this point is (zero if it is not later).
    pub(crate) fn since(self, earlier: Stamp) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }

    /// Nanoseconds on the lease clock (for atomics).
    pub(crate) fn as_nanos(self) -> u64 {
        self.0
    }

    /// The point [`Stamp::as_nanos`] gave.
    pub(crate) fn from_nanos(ns: u64) -> Stamp {
        Stamp(ns)
    }

    /// Where this point lies on the `Instant` clock, seen from now (for the public API and
    /// for timers; the two clocks drift apart only while the host is suspended).
    pub(crate) fn to_instant(self) -> Instant {
        let now = Stamp::now();
        let at = Instant::now();
        if self >= now {
            at + self.since(now)
        } else {
            at.checked_sub(now.since(self)).unwrap_or(at)
        }
    }
}

fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given; CLOCK_BOOTTIME exists on every
    // Linux since 2.6.39.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if rc != 0 {
        // Not reachable on Linux; keep a monotonic reading rather than panic.
        return fallback_ns();
    }
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

fn fallback_ns() -> u64 {
    static BASE: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

#[cfg(not(test))]
fn skew_ns() -> u64 {
    0
}

#[cfg(test)]
static SKEW_NS: AtomicU64 = AtomicU64::new(0);

#[cfg(test)]
fn skew_ns() -> u64 {
    SKEW_NS.load(Ordering::SeqCst)
}

/// Tests: as if the host had been suspended for `d` (the lease clock jumps, `Instant` does
/// not).
#[cfg(test)]
pub(crate) fn suspend_host_for(d: Duration) {
    SKEW_NS.fetch_add(d.as_nanos() as u64, Ordering::SeqCst);
}

/// The leadership lease of the current session.
#[derive(Debug, Default)]
pub(crate) struct Lease {
    generation: AtomicU64,
    until: AtomicU64,
}

impl Lease {
    /// A new session: proven alive until `until`.
    pub(super) fn reset(&self, generation: u64, until: Stamp) {
        self.generation.store(0, Ordering::SeqCst);
        self.until.store(until.0, Ordering::SeqCst);
        self.generation.store(generation, Ordering::SeqCst);
    }

    /// Moves the end of session `generation`'s lease to `until` if that is later.
    pub(super) fn extend(&self, generation: u64, until: Stamp) {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.until.fetch_max(until.0, Ordering::SeqCst);
        }
    }

    /// End of the lease of session `generation` (`None` if that session is gone).
    pub(crate) fn until(&self, generation: u64) -> Option<Stamp> {
        if generation == 0 || self.generation.load(Ordering::SeqCst) != generation {
            return None;
        }
        Some(Stamp(self.until.load(Ordering::SeqCst)))
    }

    /// True while session `generation` is the current one and its lease has not ended.
    pub(crate) fn holds(&self, generation: u64) -> bool {
        self.until(generation).is_some_and(|t| t > Stamp::now())
    }

    /// [`Lease::until`] on the `Instant` clock.
    pub(crate) fn safe_until(&self, generation: u64) -> Option<Instant> {
        self.until(generation).map(Stamp::to_instant)
    }

    pub(super) fn invalidate(&self) {
        self.generation.store(0, Ordering::SeqCst);
    }
}
