//! The faults a round injects, all real, and how a schedule is drawn from a seed.

use std::time::Duration;

use serde::Serialize;

use crate::rng::Rng;

/// A kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A worker's connection closed (it reconnects at once).
    ClientCut,
    /// A worker's traffic held both ways (a partition of that client).
    ClientBlackhole,
    /// A worker's traffic delayed.
    ClientDelay,
    /// A ZooKeeper server killed (SIGKILL), restarted later.
    ServerKill,
    /// A ZooKeeper server frozen (SIGSTOP), resumed later.
    ServerPause,
    /// A ZooKeeper server stopped (SIGTERM) and started again at once.
    ServerRestart,
    /// The ensemble's leader killed, restarted later.
    LeaderKill,
    /// A follower cut off from the other servers (the minority side, with its clients).
    IsolateFollower,
    /// The leader cut off from the other servers (it is the minority side; the majority
    /// elects a new leader).
    IsolateLeader,
    /// Every server killed and started again.
    WholeRestart,
    /// A worker process frozen (SIGSTOP) for longer than the session timeout.
    WorkerPause,
    /// A worker process killed (SIGKILL) and replaced.
    WorkerKill,
    /// The leading contender's liveness endpoint refuses connections while its process
    /// lives: its successor takes over on false evidence.
    LivenessFalsePositive,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 13] = [
        Kind::ClientCut,
        Kind::ClientBlackhole,
        Kind::ClientDelay,
        Kind::ServerKill,
        Kind::ServerPause,
        Kind::ServerRestart,
        Kind::LeaderKill,
        Kind::IsolateFollower,
        Kind::IsolateLeader,
        Kind::WholeRestart,
        Kind::WorkerPause,
        Kind::WorkerKill,
        Kind::LivenessFalsePositive,
    ];

    /// The JSON name.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    /// Parses a JSON name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// One scheduled fault: from `at` after the round's start, for `lasting` (ignored by kinds
/// that are instantaneous), against `target` (a worker or server index, taken modulo their
/// count when applied).
#[derive(Debug, Clone, Serialize)]
pub struct Fault {
    /// What.
    pub kind: Kind,
    /// When, after the fault phase starts.
    #[serde(with = "millis")]
    pub at: Duration,
    /// For how long.
    #[serde(with = "millis")]
    pub lasting: Duration,
    /// Which worker or server (modulo their count).
    pub target: u64,
}

mod millis {
    pub fn serialize<S: serde::Serializer>(
        d: &std::time::Duration,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }
}

/// Draws a round's faults: `count` faults spread over `window`, each lasting between half
/// and twice the session timeout `t` (a pause of a worker always longer than `t`), from
/// `kinds` (all kinds if empty).
pub fn draw(
    rng: &mut Rng,
    kinds: &[Kind],
    count: usize,
    window: Duration,
    t: Duration,
) -> Vec<Fault> {
    let kinds: Vec<Kind> = if kinds.is_empty() {
        Kind::ALL.to_vec()
    } else {
        kinds.to_vec()
    };
    let tms = t.as_millis() as u64;
    let slot = window.as_millis() as u64 / count.max(1) as u64;
    let mut out = Vec::with_capacity(count);
    for i in 0..count as u64 {
        let kind = *rng.pick(&kinds);
        // One fault per slot, so every fault heals before the next starts (faults that
        // overlap make a round whose checks say little about either).
        let at = i * slot + rng.range(0, slot / 3 + 1);
        let lasting = match kind {
            Kind::WorkerPause => rng.range(tms * 3 / 2, tms * 5 / 2),
            Kind::ClientDelay => rng.range(tms / 4, tms),
            _ => rng.range(tms / 2, tms * 2),
        }
        .min(slot * 2 / 3);
        out.push(Fault {
            kind,
            at: Duration::from_millis(at),
            lasting: Duration::from_millis(lasting.max(100)),
            target: rng.next_u64(),
        });
    }
    out
}
