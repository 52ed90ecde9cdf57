//! Counters and an operation-latency histogram, readable as a plain struct
//! ([`MetricsSnapshot`]), in the OpenMetrics text Prometheus scrapes ([`openmetrics_text`]),
//! and from an HTTP endpoint ([`MetricsEndpoint`]).

mod endpoint;
mod exposition;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::contract::Coded;
use crate::election::RevokeReason;

pub(crate) use endpoint::shared_endpoint;
pub use endpoint::MetricsEndpoint;
pub use exposition::openmetrics_text;
pub(crate) use exposition::register;

/// Slots of the revocations-by-reason counters, indexed by [`RevokeReason`] code.
const REASONS: usize = 8;

/// The revocations-by-reason slot of `reason`.
fn reason_slot(reason: RevokeReason) -> usize {
    usize::try_from(reason.code()).unwrap_or(0).min(REASONS - 1)
}

/// Number of latency buckets: bucket `i` holds latencies below `2^i` microseconds.
const BUCKETS: usize = 32;

/// Live metrics of one client (shared by its recipes).
#[derive(Debug, Default)]
pub struct Metrics {
    pub(crate) state_transitions: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) suspensions: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) leases_lost: AtomicU64,
    pub(crate) expiries: AtomicU64,
    pub(crate) grants: AtomicU64,
    pub(crate) revokes: AtomicU64,
    revokes_by_reason: [AtomicU64; REASONS],
    /// Elections this client leads right now.
    pub(crate) leading: AtomicI64,
    pub(crate) fenced_rejections: AtomicU64,
    pub(crate) forced_takeovers: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) lock_wakeups: AtomicU64,
    pub(crate) lock_view_acquires: AtomicU64,
    pub(crate) queue_strays: AtomicU64,
    pub(crate) ops: AtomicU64,
    pub(crate) op_errors: AtomicU64,
    latency_sum_us: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

/// A point-in-time copy of a client's metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetricsSnapshot {
    /// Connection-state changes reported.
    pub state_transitions: u64,
    /// Sessions opened (the first one and every one after an expiry).
    pub connects: u64,
    /// Disconnects (`Suspended`).
    pub suspensions: u64,
    /// Reconnects with the same session.
    pub reconnects: u64,
    /// Leases that ran out while disconnected (`Lost`).
    pub leases_lost: u64,
    /// Sessions expired.
    pub expiries: u64,
    /// Leadership grants (elections and locks).
    pub grants: u64,
    /// Leadership revocations.
    pub revokes: u64,
    /// Leadership revocations by reason (name of the [`RevokeReason`], count), every reason
    /// listed.
    pub revokes_by_reason: Vec<(String, u64)>,
    /// Elections this client leads right now.
    pub leading: u64,
    /// Fenced writes refused because the fence no longer held.
    pub fenced_rejections: u64,
    /// Predecessor latch nodes deleted on evidence of death (liveness link).
    pub forced_takeovers: u64,
    /// Times a lock waiter started waiting on the node ahead of it.
    pub lock_waits: u64,
    /// Times a lock waiter was woken by a watch (one per release it waited on).
    pub lock_wakeups: u64,
    /// Lock acquires that learned their place from the handle's child view (a `create`
    /// alone, no `getChildren`).
    pub lock_view_acquires: u64,
    /// Stray queue nodes of this client's own joins deleted: creates ZooKeeper applied after
    /// their answer was lost (and after the join had looked for them).
    pub queue_strays: u64,
    /// ZooKeeper operations sent.
    pub ops: u64,
    /// Operations that failed.
    pub op_errors: u64,
    /// Operation latencies.
    pub op_latency: Histogram,
    /// The connection state now (`connected`, `suspended`, ...).
    pub state: String,
    /// Time left on the leadership lease, in ms (0 with no session or a lease run out).
    pub lease_remaining_ms: u64,
    /// The negotiated session timeout in ms (0 with no session).
    pub session_timeout_ms: u64,
    /// The session timeout asked for, in ms (the server caps it at 20 x tickTime).
    pub session_timeout_requested_ms: u64,
    /// Locks held now.
    pub locks_held: u64,
}

impl MetricsSnapshot {
    /// The snapshot as a JSON object (field names as above), for bindings and tools.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// Every number of the snapshot as (name, value): the counters and gauges by their field
    /// names, revocations by reason as `revokes_<reason>`, the latency as `op_latency_count`,
    /// `op_latency_sum_us`, `op_latency_p50_us` and `op_latency_p99_us` (bucket bounds). Flat
    /// attributes for JMX and other key-value sinks.
    pub fn flat(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = [
            ("state_transitions", self.state_transitions),
            ("connects", self.connects),
            ("suspensions", self.suspensions),
            ("reconnects", self.reconnects),
            ("leases_lost", self.leases_lost),
            ("expiries", self.expiries),
            ("grants", self.grants),
            ("revokes", self.revokes),
            ("leading", self.leading),
            ("fenced_rejections", self.fenced_rejections),
            ("forced_takeovers", self.forced_takeovers),
            ("lock_waits", self.lock_waits),
            ("lock_wakeups", self.lock_wakeups),
            ("lock_view_acquires", self.lock_view_acquires),
            ("queue_strays", self.queue_strays),
            ("ops", self.ops),
            ("op_errors", self.op_errors),
            ("lease_remaining_ms", self.lease_remaining_ms),
            ("session_timeout_ms", self.session_timeout_ms),
            (
                "session_timeout_requested_ms",
                self.session_timeout_requested_ms,
            ),
            ("locks_held", self.locks_held),
            ("op_latency_count", self.op_latency.count),
            ("op_latency_sum_us", self.op_latency.sum_us),
            ("op_latency_p50_us", self.op_latency.quantile_us(0.5)),
            ("op_latency_p99_us", self.op_latency.quantile_us(0.99)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        for (reason, n) in &self.revokes_by_reason {
            out.push((format!("revokes_{reason}"), *n));
        }
        out
    }
}

/// Latency histogram with power-of-two microsecond buckets.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Histogram {
    /// Samples recorded.
    pub count: u64,
    /// Sum of all samples in microseconds.
    pub sum_us: u64,
    /// `buckets[i]`: samples below `2^i` µs (and at least `2^(i-1)`).
    pub buckets: Vec<u64>,
}

impl Histogram {
    /// Upper bound (µs) of the bucket holding quantile `q` (0..=1), or 0 if empty.
    pub fn quantile_us(&self, q: f64) -> u64 {
        if self.count == 0 {
            return 0;
        }
        let rank = ((self.count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return 1u64 << i;
            }
        }
        1u64 << (BUCKETS - 1)
    }

    /// Mean latency.
    pub fn mean(&self) -> Duration {
        Duration::from_micros(self.sum_us.checked_div(self.count).unwrap_or(0))
    }
}

impl Metrics {
    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    /// Counts a revocation for `reason`.
    pub(crate) fn revoked(&self, reason: RevokeReason) {
        self.revokes.fetch_add(1, Relaxed);
        self.revokes_by_reason[reason_slot(reason)].fetch_add(1, Relaxed);
    }

    pub(crate) fn record_op(&self, took: Duration, ok: bool) {
        self.ops.fetch_add(1, Relaxed);
        if !ok {
            self.op_errors.fetch_add(1, Relaxed);
        }
        let us = took.as_micros().min(u64::MAX as u128) as u64;
        self.latency_sum_us.fetch_add(us, Relaxed);
        let bucket = (64 - us.leading_zeros() as usize).min(BUCKETS - 1);
        self.latency[bucket].fetch_add(1, Relaxed);
    }

    /// Copies the current values.
    pub fn snapshot(&self) -> MetricsSnapshot {
        let buckets: Vec<u64> = self.latency.iter().map(|b| b.load(Relaxed)).collect();
        MetricsSnapshot {
            state_transitions: self.state_transitions.load(Relaxed),
            connects: self.connects.load(Relaxed),
            suspensions: self.suspensions.load(Relaxed),
            reconnects: self.reconnects.load(Relaxed),
            leases_lost: self.leases_lost.load(Relaxed),
            expiries: self.expiries.load(Relaxed),
            grants: self.grants.load(Relaxed),
            revokes: self.revokes.load(Relaxed),
            revokes_by_reason: RevokeReason::ALL
                .iter()
                .map(|r| {
                    let n = self.revokes_by_reason[reason_slot(*r)].load(Relaxed);
                    (r.name().to_string(), n)
                })
                .collect(),
            leading: self.leading.load(Relaxed).max(0) as u64,
            fenced_rejections: self.fenced_rejections.load(Relaxed),
            forced_takeovers: self.forced_takeovers.load(Relaxed),
            lock_waits: self.lock_waits.load(Relaxed),
            lock_wakeups: self.lock_wakeups.load(Relaxed),
            lock_view_acquires: self.lock_view_acquires.load(Relaxed),
            queue_strays: self.queue_strays.load(Relaxed),
            ops: self.ops.load(Relaxed),
            op_errors: self.op_errors.load(Relaxed),
            op_latency: Histogram {
                count: buckets.iter().sum(),
                sum_us: self.latency_sum_us.load(Relaxed),
                buckets,
            },
            ..MetricsSnapshot::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles() {
        let m = Metrics::default();
        for _ in 0..99 {
            m.record_op(Duration::from_micros(300), true);
        }
        m.record_op(Duration::from_millis(20), false);
        let s = m.snapshot();
        assert_eq!(s.ops, 100);
        assert_eq!(s.op_errors, 1);
        assert_eq!(s.op_latency.count, 100);
        assert_eq!(s.op_latency.quantile_us(0.5), 512);
        assert_eq!(s.op_latency.quantile_us(1.0), 32768);
    }
}
