//! The checkers: what must hold over a round's histories and ZooKeeper's transaction log,
//! whatever the faults were.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use zkha_testkit::txnlog::Txn;

use crate::clock::ms;
use crate::history::Record;

/// A broken rule, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Violation {
    /// Which checker.
    pub check: &'static str,
    /// What it saw.
    pub evidence: String,
}

/// What the checkers need beyond the histories.
pub struct Facts<'a> {
    /// Every record of every worker.
    pub records: &'a [Record],
    /// Every committed transaction, in zxid order.
    pub txns: &'a [Txn],
    /// The round's root znode.
    pub root: &'a str,
    /// When each worker process ended (killed or stopped), on the shared clock.
    pub ended: &'a HashMap<String, u64>,
    /// When a quorum served again after the last fault was healed.
    pub healed_at: u64,
    /// The session timeout, in nanoseconds.
    pub t_ns: u64,
    /// Liveness false positives injected: `(worker, at)`.
    pub false_positives: &'a [(String, u64)],
    /// Znodes left after every worker stopped (latch, lock and store lock nodes).
    pub leftovers: &'a [String],
}

/// What the checkers found: violations, and overlaps that are the documented cost of a
/// liveness false positive (fencing held: the deposed leader wrote nothing accepted).
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    /// Broken rules.
    pub violations: Vec<Violation>,
    /// Documented, harmless deviations.
    pub tolerated: Vec<String>,
}

/// A belief interval of one worker: `[start, end]`, with the grant's token.
#[derive(Debug, Clone)]
pub struct Interval {
    /// The worker.
    pub worker: String,
    /// First sample that held.
    pub start: u64,
    /// Last sample that held (or the process's end).
    pub end: u64,
    /// The token of the grant.
    pub token: i64,
}

/// The belief intervals of kind `what` (`leadership`, `mutex`, `read`, `write`).
pub fn intervals(records: &[Record], what: &str, ended: &HashMap<String, u64>) -> Vec<Interval> {
    let mut open: HashMap<&str, (u64, i64)> = HashMap::new();
    let mut out = Vec::new();
    for r in records {
        match r {
            Record::BeliefStart {
                t,
                worker,
                what: w,
                token,
            } if w == what => {
                open.insert(worker, (*t, *token));
            }
            Record::BeliefEnd { t, worker, what: w } if w == what => {
                if let Some((start, token)) = open.remove(worker.as_str()) {
                    out.push(Interval {
                        worker: worker.clone(),
                        start,
                        end: *t,
                        token,
                    });
                }
            }
            _ => {}
        }
    }
    // Still believing when the process ended (killed): until then.
    for (worker, (start, token)) in open {
        let end = ended.get(worker).copied().unwrap_or(u64::MAX);
        out.push(Interval {
            worker: worker.to_string(),
            start,
            end,
            token,
        });
    }
    out.sort_by_key(|i| i.start);
    out
}

fn overlaps(a: &Interval, b: &Interval) -> bool {
    a.worker != b.worker && a.start <= b.end && b.start <= a.end
}

fn describe(i: &Interval, origin: u64) -> String {
    format!(
        "{} token {} from {:.1} ms to {:.1} ms",
        i.worker,
        i.token,
        ms(origin, i.start),
        ms(origin, i.end)
    )
}

/// Runs every checker.
pub fn run(f: &Facts<'_>) -> Outcome {
    let mut out = Outcome::default();
    let origin = f
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Started { t, .. } => Some(*t),
            _ => None,
        })
        .min()
        .unwrap_or(0);
    let writes = accepted_writes(f.txns, f.root);
    single_leader(f, &writes, origin, &mut out);
    exclusive_locks(f, origin, &mut out);
    tokens_grow(f, origin, &mut out);
    fenced_writes(&writes, &mut out);
    pointer_adds_stay(f, origin, &mut out);
    config_converges(f, &mut out);
    nothing_left(f, &mut out);
    progress(f, origin, &mut out);
    out
}

/// A committed write of one of the round's fenced znodes: `(path, data)` in zxid order.
fn accepted_writes(txns: &[Txn], root: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in txns {
        for op in t.writes() {
            let Some(path) = op.path.as_deref() else {
                continue;
            };
            if !path.starts_with(root) {
                continue;
            }
            if let Some(data) = op.data.as_deref() {
                out.push((path.to_string(), String::from_utf8_lossy(data).into_owned()));
            }
        }
    }
    out
}

/// No two workers believe they lead at once. The one documented exception: a liveness false
/// positive deposes a live leader, which believes for about one more round trip; there the
/// overlap is tolerated if it is short and the deposed leader's writes after the successor's
/// grant were all rejected (fencing held).
fn single_leader(f: &Facts<'_>, writes: &[(String, String)], origin: u64, out: &mut Outcome) {
    let all = intervals(f.records, "leadership", f.ended);
    let register = crate::worker::register(f.root);
    for (i, a) in all.iter().enumerate() {
        for b in all[i + 1..].iter().filter(|b| overlaps(a, b)) {
            let (old, new) = if a.token < b.token { (a, b) } else { (b, a) };
            let false_positive = f
                .false_positives
                .iter()
                .any(|(w, at)| *w == old.worker && *at <= new.start && *at >= old.start);
            let short = old.end.saturating_sub(new.start) < 1_000_000_000;
            // Did the register ever take a write of the old token after the new token's?
            let mut seen_new = false;
            let mut stale = false;
            for (path, data) in writes.iter().filter(|(p, _)| *p == register) {
                let _ = path;
                let token: i64 = data
                    .split_whitespace()
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(-1);
                seen_new |= token == new.token;
                stale |= seen_new && token == old.token;
            }
            let text = format!(
                "{} and {} overlap",
                describe(old, origin),
                describe(new, origin)
            );
            if false_positive && short && !stale {
                out.tolerated.push(format!(
                    "liveness false positive: {text} (the deposed leader's later writes were rejected)"
                ));
            } else {
                out.violations.push(Violation {
                    check: "single_leader",
                    evidence: text,
                });
            }
        }
    }
}

/// No two mutex holds overlap; no write hold of the read-write lock overlaps another hold.
fn exclusive_locks(f: &Facts<'_>, origin: u64, out: &mut Outcome) {
    let mutex = intervals(f.records, "mutex", f.ended);
    for (i, a) in mutex.iter().enumerate() {
        for b in mutex[i + 1..].iter().filter(|b| overlaps(a, b)) {
            out.violations.push(Violation {
                check: "mutual_exclusion",
                evidence: format!(
                    "mutex held by {} and {}",
                    describe(a, origin),
                    describe(b, origin)
                ),
            });
        }
    }
    let writes = intervals(f.records, "write", f.ended);
    let mut all = writes.clone();
    all.extend(intervals(f.records, "read", f.ended));
    for w in &writes {
        for o in all.iter().filter(|o| overlaps(w, o)) {
            out.violations.push(Violation {
                check: "read_write_exclusion",
                evidence: format!(
                    "write lock held by {} while {}",
                    describe(w, origin),
                    describe(o, origin)
                ),
            });
        }
    }
}

/// Every grant carries a larger token than every earlier grant (elections and the mutex).
fn tokens_grow(f: &Facts<'_>, origin: u64, out: &mut Outcome) {
    for what in ["leadership", "mutex"] {
        let all = intervals(f.records, what, f.ended);
        // Grants in the order they began; the same grant can be seen again after a pause.
        let mut last: Option<&Interval> = None;
        for i in &all {
            if let Some(l) = last {
                if i.token < l.token {
                    out.violations.push(Violation {
                        check: "tokens_increase",
                        evidence: format!(
                            "{what}: {} began after {}",
                            describe(i, origin),
                            describe(l, origin)
                        ),
                    });
                }
            }
            if last.is_none_or(|l| i.token >= l.token) {
                last = Some(i);
            }
        }
    }
}

/// In ZooKeeper's log: no accepted fenced write carries a smaller token than one accepted
/// before it, and the counter, written only under the mutex, never repeats a value (a lost
/// update).
fn fenced_writes(writes: &[(String, String)], out: &mut Outcome) {
    let mut last_token: BTreeMap<&str, i64> = BTreeMap::new();
    let mut counter: Option<u64> = None;
    for (path, data) in writes {
        let kind = path.rsplit('/').next().unwrap_or("");
        match kind {
            "register" => {
                let token: i64 = data
                    .split_whitespace()
                    .nth(1)
                    .and_then(|t| t.parse().ok())
                    .unwrap_or(-1);
                let prev = last_token.entry("register").or_insert(token);
                if token < *prev {
                    out.violations.push(Violation {
                        check: "fenced_writes",
                        evidence: format!(
                            "the register took a write of token {token} after one of token {prev} ({data:?})"
                        ),
                    });
                } else {
                    *prev = token;
                }
            }
            "counter" => {
                let Ok(v) = data.trim().parse::<u64>() else {
                    continue;
                };
                if let Some(c) = counter {
                    if v != c + 1 && v != 0 {
                        out.violations.push(Violation {
                            check: "no_lost_update",
                            evidence: format!("the counter went from {c} to {v}"),
                        });
                    }
                }
                counter = Some(v);
            }
            _ => {}
        }
    }
}

/// Every acknowledged pointer-store add is listed by every later listing (after a sync) until
/// its removal was sent.
fn pointer_adds_stay(f: &Facts<'_>, origin: u64, out: &mut Outcome) {
    let mut removed: HashMap<&str, u64> = HashMap::new();
    for r in f.records {
        if let Record::RemoveSent { t, name, .. } = r {
            let e = removed.entry(name.as_str()).or_insert(*t);
            *e = (*e).min(*t);
        }
    }
    let snapshots: Vec<(u64, u64, &Vec<String>, &str)> = f
        .records
        .iter()
        .filter_map(|r| match r {
            Record::Snapshot {
                t_start,
                t_end,
                names,
                worker,
            } => Some((*t_start, *t_end, names, worker.as_str())),
            _ => None,
        })
        .collect();
    for r in f.records {
        let Record::AddAck {
            t_done,
            name,
            worker,
            ..
        } = r
        else {
            continue;
        };
        let gone_from = removed.get(name.as_str()).copied().unwrap_or(u64::MAX);
        for (start, end, names, by) in &snapshots {
            if *start > *t_done && *end < gone_from && !names.contains(name) {
                out.violations.push(Violation {
                    check: "pointer_adds_stay",
                    evidence: format!(
                        "{worker}'s entry {name}, acknowledged at {:.1} ms, is missing from {by}'s listing at {:.1} ms",
                        ms(origin, *t_done),
                        ms(origin, *start)
                    ),
                });
                break;
            }
        }
    }
}

/// The config watcher ends up holding the last value ZooKeeper committed.
fn config_converges(f: &Facts<'_>, out: &mut Outcome) {
    let path = crate::worker::config_value(f.root);
    let committed: Option<u64> = f
        .txns
        .iter()
        .flat_map(|t| t.writes())
        .filter(|op| op.path.as_deref() == Some(path.as_str()))
        .filter_map(|op| op.data.as_deref())
        .filter_map(|d| String::from_utf8_lossy(d).trim().parse().ok())
        .last();
    let seen = f
        .records
        .iter()
        .filter_map(|r| match r {
            Record::ConfigSeen { t, value, .. } => Some((*t, *value)),
            _ => None,
        })
        .max_by_key(|(t, _)| *t)
        .map(|(_, v)| v);
    if let (Some(c), Some(s)) = (committed, seen) {
        if s != Some(c) {
            out.violations.push(Violation {
                check: "config_converges",
                evidence: format!(
                    "the watcher's last value is {s:?}; ZooKeeper's last committed value is {c}"
                ),
            });
        }
    }
}

/// After every worker stopped: no latch node, lock node or pointer-store lock is left.
fn nothing_left(f: &Facts<'_>, out: &mut Outcome) {
    for n in f.leftovers {
        out.violations.push(Violation {
            check: "nothing_left_behind",
            evidence: format!("{n} is left after every worker stopped"),
        });
    }
}

/// Once a quorum serves again after the last fault healed, someone leads within T + 1 s, and
/// the mutex is taken again within 2T + 1 s.
fn progress(f: &Facts<'_>, origin: u64, out: &mut Outcome) {
    for (what, within) in [
        ("leadership", f.t_ns + 1_000_000_000),
        ("mutex", 2 * f.t_ns + 1_000_000_000),
    ] {
        let deadline = f.healed_at + within;
        let ok = intervals(f.records, what, f.ended)
            .iter()
            .any(|i| i.start <= deadline && i.end >= f.healed_at.min(deadline));
        if !ok {
            out.violations.push(Violation {
                check: "progress",
                evidence: format!(
                    "no {what} held between a quorum serving after the last heal at {:.1} ms and {:.1} ms",
                    ms(origin, f.healed_at),
                    ms(origin, deadline)
                ),
            });
        }
    }
}
