//! Every live client's metrics as OpenMetrics text, the format Prometheus scrapes: one series
//! per client, labelled with the client's own labels (`ClientOptions::metrics`, e.g. the
//! Flink cluster id and component) and `client`, its number in this process.

use std::sync::{Arc, Mutex, Weak};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use super::MetricsSnapshot;
use crate::contract::Coded;
use crate::session::{ConnectionStateKind, Inner};

/// A client known to the exposition.
struct Registered {
    inner: Weak<Inner>,
    labels: Vec<(String, String)>,
}

static CLIENTS: Mutex<(u64, Vec<Registered>)> = Mutex::new((0, Vec::new()));

/// Adds a client to every later exposition (until it is dropped).
pub(crate) fn register(inner: &Arc<Inner>) {
    let mut clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    clients.0 += 1;
    let mut labels = inner.options.metrics.labels.clone();
    labels.push(("client".to_string(), clients.0.to_string()));
    clients.1.retain(|c| c.inner.strong_count() > 0);
    clients.1.push(Registered {
        inner: Arc::downgrade(inner),
        labels,
    });
}

/// What one client shows at a scrape.
struct Reading {
    labels: Vec<(String, String)>,
    m: MetricsSnapshot,
}

fn readings() -> Vec<Reading> {
    let clients = CLIENTS.lock().unwrap_or_else(|p| p.into_inner());
    clients
        .1
        .iter()
        .filter_map(|c| {
            let inner = c.inner.upgrade()?;
            Some(Reading {
                labels: c.labels.clone(),
                m: inner.metrics_now(),
            })
        })
        .collect()
}

/// Milliseconds as seconds.
fn secs(ms: u64) -> f64 {
    ms as f64 / 1e3
}

/// The metrics of every live client of this process in the OpenMetrics text format (ends
/// with `# EOF`): what [`MetricsEndpoint`](super::MetricsEndpoint) serves.
pub fn openmetrics_text() -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Clients));
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

#[derive(Debug)]
struct Clients;

type Counter = fn(&MetricsSnapshot) -> u64;

/// Counters: name (OpenMetrics adds `_total`), help, value.
const COUNTERS: &[(&str, &str, Counter)] = &[
    (
        "zkha_sessions_opened",
        "ZooKeeper sessions opened (the first and one after each expiry)",
        |m| m.connects,
    ),
    (
        "zkha_suspensions",
        "Disconnects (Suspended): the lease starts running out",
        |m| m.suspensions,
    ),
    ("zkha_reconnects", "Reconnects with the same session", |m| {
        m.reconnects
    }),
    (
        "zkha_leases_lost",
        "Leases that ran out while disconnected (Lost): grants and locks given up",
        |m| m.leases_lost,
    ),
    ("zkha_session_expiries", "Sessions expired", |m| m.expiries),
    (
        "zkha_grants",
        "Leadership grants (elections and locks)",
        |m| m.grants,
    ),
    (
        "zkha_fenced_writes_rejected",
        "Fenced writes refused because leadership (or the lock) no longer held",
        |m| m.fenced_rejections,
    ),
    (
        "zkha_forced_takeovers",
        "Predecessors' latch nodes deleted on the liveness link's evidence of their death",
        |m| m.forced_takeovers,
    ),
    (
        "zkha_lock_waits",
        "Times a lock waiter started waiting on the node ahead of it",
        |m| m.lock_waits,
    ),
    (
        "zkha_lock_wakeups",
        "Times a lock waiter was woken by the release it waited on",
        |m| m.lock_wakeups,
    ),
    ("zkha_operations", "ZooKeeper operations sent", |m| m.ops),
    (
        "zkha_operation_errors",
        "ZooKeeper operations that failed",
        |m| m.op_errors,
    ),
];

type Gauge = fn(&Reading) -> f64;

/// Gauges: name, help, value.
const GAUGES: &[(&str, &str, Gauge)] = &[
    (
        "zkha_lease_remaining_seconds",
        "Time left on the leadership lease (0 with no session or a lease run out)",
        |r| secs(r.m.lease_remaining_ms),
    ),
    (
        "zkha_session_timeout_seconds",
        "Session timeout the server negotiated (0 with no session)",
        |r| secs(r.m.session_timeout_ms),
    ),
    (
        "zkha_session_timeout_requested_seconds",
        "Session timeout asked for (the server caps it at 20 x tickTime)",
        |r| secs(r.m.session_timeout_requested_ms),
    ),
    ("zkha_leading", "Elections this client leads now", |r| {
        r.m.leading as f64
    }),
    ("zkha_locks_held", "Locks this client holds now", |r| {
        r.m.locks_held as f64
    }),
];

impl Collector for Clients {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let all = readings();
        let state = encoder.encode_descriptor(
            "zkha_connection_state",
            "1 for the client's connection state, 0 for the others",
            None,
            MetricType::Gauge,
        )?;
        let mut state = state;
        for r in &all {
            for &kind in ConnectionStateKind::ALL {
                let labels = with(&r.labels, "state", kind.name());
                state
                    .encode_family(&labels)?
                    .encode_gauge(&i64::from(r.m.state == kind.name()))?;
            }
        }
        for (name, help, value) in COUNTERS {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for r in &all {
                family
                    .encode_family(&r.labels)?
                    .encode_counter::<NoLabelSet, _, u64>(&value(&r.m), None)?;
            }
        }
        let mut revocations = encoder.encode_descriptor(
            "zkha_revocations",
            "Leadership revocations by reason",
            None,
            MetricType::Counter,
        )?;
        for r in &all {
            for (reason, n) in &r.m.revokes_by_reason {
                revocations
                    .encode_family(&with(&r.labels, "reason", reason))?
                    .encode_counter::<NoLabelSet, _, u64>(n, None)?;
            }
        }
        for (name, help, value) in GAUGES {
            let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for r in &all {
                family.encode_family(&r.labels)?.encode_gauge(&value(r))?;
            }
        }
        let mut latency = encoder.encode_descriptor(
            "zkha_operation_latency_seconds",
            "Latency of ZooKeeper operations (send to answer)",
            None,
            MetricType::Histogram,
        )?;
        for r in &all {
            let h = &r.m.op_latency;
            let last = h.buckets.len().saturating_sub(1);
            let buckets: Vec<(f64, u64)> = h
                .buckets
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    // Bucket i holds samples below 2^i µs; the last one everything above.
                    let upper = if i == last {
                        f64::MAX
                    } else {
                        (1u64 << i) as f64 / 1e6
                    };
                    (upper, n)
                })
                .collect();
            latency
                .encode_family(&r.labels)?
                .encode_histogram::<NoLabelSet>(h.sum_us as f64 / 1e6, h.count, &buckets, None)?;
        }
        Ok(())
    }
}

/// `labels` and one more.
fn with(labels: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut all = labels.to_vec();
    all.push((key.to_string(), value.to_string()));
    all
}
