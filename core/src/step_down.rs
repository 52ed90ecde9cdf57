//! Planned hand-over: ask an election's leader to step down, so that its next contender leads
//! without anything being restarted (host maintenance, moving leadership off a busy machine).
//!
//! The request is a write to the leader's own latch node: its data, unchanged, set at the
//! version just read. Every zkha contender watches its own node; a leader whose node's data is
//! set by someone else revokes ([`RevokeReason::StepDown`](crate::RevokeReason::StepDown)),
//! deletes its node and joins again at the end of the queue, and the next contender, which
//! watches its predecessor, leads as soon as that node is gone. The write also raises the
//! node's version, and every fenced write of the leader checks its node at the version of its
//! grant: from the moment the request is written the old leader's writes fail, before it has
//! even heard of it. So the hand-over is ordered (the old leader revokes before its node goes)
//! and the two leaders' ZooKeeper writes never overlap. A contender asked before it leads
//! gives up its place too (see [`crate::election`]).
//!
//! Refused, with nothing written, when there is no contender, when there is no standby (the
//! leader would lead again at once), when the leader is not a zkha contender (a Flink built-in
//! HA JobManager or another Curator LeaderLatch: it does not watch its own node), and when the
//! next contender is not a zkha contender (it would lead without fenced writes, and could not
//! be asked to step down again). `force` overrides the last two, and then the leader's node is
//! deleted rather than asked: Curator's latch lists the queue again only when its predecessor
//! is deleted (a data change uses up its one-shot watch and strands it). A leader that is not
//! zkha then leads on beside its successor until its session ends, so force that only for a
//! leader known to be gone; a zkha leader revokes when it sees the deletion.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::node_watch::NodeChildren;
use crate::session::{Client, NodeStat};
use crate::{liveness, path, queue};

/// How to step down ([`Client::step_down`]).
#[derive(Debug, Clone)]
pub struct StepDownOptions {
    /// Hand over also when the leader or its successor is not a zkha contender.
    pub force: bool,
    /// How long to wait for the hand-over (the leader releasing, the successor leading).
    pub timeout: Duration,
}

impl Default for StepDownOptions {
    fn default() -> StepDownOptions {
        StepDownOptions {
            force: false,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A contender taking part in a hand-over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Participant {
    /// Its latch node's name.
    pub node: String,
    /// Its participant id (the node's data; empty for Flink's built-in HA).
    pub participant_id: String,
    /// Its ZooKeeper session (hex, as ZooKeeper's tools print it).
    pub session: String,
    /// True for a zkha contender (it steps down when asked); false for Curator's and Flink's
    /// built-in LeaderLatch.
    pub zkha: bool,
}

impl Participant {
    fn of(node: &str, data: &[u8], stat: &NodeStat) -> Participant {
        Participant {
            node: node.to_string(),
            participant_id: String::from_utf8_lossy(data).into_owned(),
            session: format!("0x{:x}", stat.ephemeral_owner),
            zkha: liveness::is_zkha_latch(node),
        }
    }

    /// How a message names it: its participant id, else its node.
    pub fn name(&self) -> String {
        if self.participant_id.is_empty() {
            self.node.clone()
        } else {
            format!("{} ({})", self.participant_id, self.node)
        }
    }
}

/// One moment of a hand-over.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    /// Milliseconds after the request was sent.
    pub at_ms: f64,
    /// What happened.
    pub what: String,
}

/// What a step-down did, with its timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepDown {
    /// The election's latch path.
    pub latch_path: String,
    /// The leader asked to step down.
    pub leader: Participant,
    /// The contender that was next in the queue.
    pub successor: Participant,
    /// Who leads afterwards (normally `successor`).
    pub new_leader: Option<Participant>,
    /// True if a check was overridden (`force`).
    pub forced: bool,
    /// How the leader was made to step down: `asked` (its node rewritten; a zkha leader) or
    /// `deleted` (its node deleted; forced on a leader that is not zkha).
    pub how: String,
    /// Request to the leader's node gone, in milliseconds.
    pub released_ms: Option<f64>,
    /// Request to the new leader first in the queue (it leads from then on), in milliseconds.
    pub new_leader_ms: Option<f64>,
    /// The events, in order.
    pub timeline: Vec<Step>,
    #[serde(skip)]
    origin: Option<Instant>,
}

impl StepDown {
    /// Adds `what` at `at` to the timeline; returns its offset in milliseconds.
    pub fn mark(&mut self, what: impl Into<String>, at: Instant) -> f64 {
        let origin = *self.origin.get_or_insert(at);
        let ms = (at.saturating_duration_since(origin).as_secs_f64() * 10_000.0).round() / 10.0;
        self.timeline.push(Step {
            at_ms: ms,
            what: what.into(),
        });
        ms
    }

    /// When the request was sent.
    pub fn origin(&self) -> Option<Instant> {
        self.origin
    }

    /// The report as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string())
    }

    /// The timeline as text, one event a line.
    pub fn timeline_text(&self) -> String {
        self.timeline
            .iter()
            .map(|s| format!("{:>+9.1} ms  {}", s.at_ms, s.what))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The contenders of `latch` in queue order, with their data and stat.
async fn queue_of(client: &Client, latch: &str) -> Result<Vec<Participant>> {
    Ok(client
        .contenders(latch)
        .await?
        .iter()
        .filter(|c| c.node.contains("latch-"))
        .map(|c| Participant::of(&c.node, &c.data, &c.stat))
        .collect())
}

/// Now plus `timeout`, or about a century ahead if that overflows (no limit).
pub(crate) fn deadline_after(timeout: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 86_400))
}

fn refused(msg: String) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("step-down refused: {msg}"),
    )
}

impl Client {
    /// Makes the leader of the election at `latch_path` hand over to its next contender and
    /// waits (up to `options.timeout`) until the successor leads; returns what happened, with
    /// a timeline. See the [module](crate::step_down) for the protocol and when it refuses
    /// (an `InvalidArgument` error naming the reason and the contender; nothing is written).
    pub async fn step_down(&self, latch_path: &str, options: &StepDownOptions) -> Result<StepDown> {
        let latch = latch_path.trim_end_matches('/').to_string();
        self.resolve(&latch)?;
        // Watch the queue from before the request, so no change is missed.
        let children = self.watch_children(&latch)?;
        // A long-lived client's server may lag: act on the queue as the ensemble has it.
        self.sync(&latch).await?;
        let contenders = queue_of(self, &latch).await?;
        let Some(leader) = contenders.first().cloned() else {
            return Err(Error::new(
                ErrorKind::NoNode,
                format!("step-down: no contender on {latch}, so no leader to step down"),
            ));
        };
        let Some(successor) = contenders.get(1).cloned() else {
            return Err(refused(format!(
                "no standby on {latch}: the leader {} is the only contender and would be \
                 elected again at once; start a standby first",
                leader.name()
            )));
        };
        if !leader.zkha && !options.force {
            return Err(refused(format!(
                "the leader {} on {latch} is not a zkha contender (a Flink built-in HA \
                 JobManager or another Curator LeaderLatch): it does not watch its own latch \
                 node, so it would not step down, and deleting the node would make two leaders \
                 until its session ends; stop that process instead (force deletes its node)",
                leader.name()
            )));
        }
        if !successor.zkha && !options.force {
            return Err(refused(format!(
                "the next contender {} on {latch} is not a zkha contender (a Flink built-in HA \
                 JobManager or another Curator LeaderLatch): it would lead without fenced \
                 writes and could not be asked to step down again (force hands over anyway)",
                successor.name()
            )));
        }
        let forced = !leader.zkha || !successor.zkha;
        // Ask (a versioned setData) only when both are zkha's. Curator's latch re-lists only
        // when its predecessor is deleted: a data change would use up its one-shot watch and
        // leave it waiting for good. So a Curator successor (forced) is handed over to by
        // deleting the leader's node, as is a Curator leader (it does not watch its node).
        let ask = leader.zkha && successor.zkha;
        let node = path::join(&latch, &leader.node);
        let mut report = StepDown {
            latch_path: latch.clone(),
            leader: leader.clone(),
            successor: successor.clone(),
            new_leader: None,
            forced,
            how: if ask { "asked" } else { "deleted" }.to_string(),
            released_ms: None,
            new_leader_ms: None,
            timeline: Vec::new(),
            origin: None,
        };
        let (data, stat) = self.get_data(&node).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::NoNode,
                format!(
                    "step-down: the leader's latch node {node} went away while asking; \
                     leadership changed by itself"
                ),
            )
        })?;
        let sent = Instant::now();
        let request = if ask {
            self.set_data(&node, &data, Some(stat.version))
                .await
                .map(|_| ())
        } else {
            self.delete(&node, Some(stat.version)).await
        };
        report.mark(
            if ask {
                format!(
                    "asked the leader {} to step down (its latch node rewritten at version {}: \
                     its fenced writes fail from here)",
                    leader.name(),
                    stat.version
                )
            } else if leader.zkha {
                format!(
                    "forced: deleted the latch node of the leader {} (its successor is not zkha \
                     and hears only a deletion); it revokes when it sees the deletion",
                    leader.name()
                )
            } else {
                format!(
                    "forced: deleted the latch node of the leader {}, which is not zkha and \
                     may lead on until its session ends",
                    leader.name()
                )
            },
            sent,
        );
        match request {
            Ok(()) => {
                report.mark("request acknowledged by ZooKeeper", Instant::now());
            }
            Err(e) if !e.kind().outcome_unknown() => {
                return Err(Error::new(
                    e.kind(),
                    format!(
                        "step-down on {latch}: the request to {} was refused and nothing \
                         changed (the queue changed meanwhile; look again before retrying): {e}",
                        leader.name()
                    ),
                ))
            }
            Err(e) => {
                // Sent, answer lost: applied if the node is gone or its version moved.
                match self.get_data(&node).await {
                    Ok(Some((_, now))) if now.version == stat.version => {
                        return Err(Error::new(
                            e.kind(),
                            format!(
                                "step-down on {latch}: the request to {} was not applied ({e}); \
                                 nothing changed",
                                leader.name()
                            ),
                        ))
                    }
                    Ok(_) => {
                        report.mark(
                            format!("request applied (checked after: {e})"),
                            Instant::now(),
                        );
                    }
                    Err(e2) => {
                        return Err(Error::new(
                            e2.kind(),
                            format!(
                                "step-down on {latch}: whether the request to {} was applied is \
                             unknown ({e}; then {e2}); check who leads before asking again",
                                leader.name()
                            ),
                        ))
                    }
                }
            }
        }
        let deadline = deadline_after(options.timeout);
        let mut events = children.events();
        let mut released = false;
        loop {
            let listing = match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(NodeChildren::Present(c))) => c,
                // No latch, or the connection in doubt: nothing to conclude; wait for a listing.
                Ok(Some(NodeChildren::Empty)) => continue,
                Ok(None) => {
                    return Err(Error::closed(&format!(
                        "step-down on {latch} (the request was sent): the queue watch"
                    )))
                }
                Err(_) => {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "step-down on {latch}: the request was sent, but {} within {:?}; \
                             timeline:\n{}",
                            if released {
                                "no new leader"
                            } else {
                                "the leader did not release its latch node"
                            },
                            options.timeout,
                            report.timeline_text()
                        ),
                    ))
                }
            };
            let at = Instant::now();
            if !released && !listing.contains(&leader.node) {
                released = true;
                report.released_ms = Some(report.mark(
                    format!(
                        "the leader {} released: its latch node is gone",
                        leader.name()
                    ),
                    at,
                ));
            }
            if !released {
                continue;
            }
            let first = queue::sorted(&listing, &["latch-"]).into_iter().next();
            if let Some((_, first)) = first.filter(|(_, f)| *f != leader.node) {
                let stat_data = self
                    .get_data(&path::join(&latch, &first))
                    .await
                    .map_err(|e| {
                        Error::new(
                            e.kind(),
                            format!(
                                "step-down on {latch}: the leader released, then reading the \
                                 new first contender failed: {e}"
                            ),
                        )
                    })?;
                let Some((d, st)) = stat_data else { continue };
                let p = Participant::of(&first, &d, &st);
                let what = if p.node == successor.node {
                    format!("the successor {} leads (first in the queue)", p.name())
                } else {
                    format!(
                        "{} leads (first in the queue; the successor {} left meanwhile)",
                        p.name(),
                        successor.name()
                    )
                };
                report.new_leader_ms = Some(report.mark(what, at));
                report.new_leader = Some(p);
                return Ok(report);
            }
        }
    }
}
