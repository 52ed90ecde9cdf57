//! Planned hand-over of a Flink cluster's JobManager leadership (`zkha flink step-down`): the
//! election's step-down ([`crate::step_down`]) on the cluster's latch, then until the new
//! leader published its REST address and the old leader joined again as a standby.

use std::time::{Duration, Instant};

use super::{connection_info, ClusterView};
use crate::error::Result;
use crate::node_watch::{NodeChildren, NodeData};
use crate::step_down::{deadline_after, StepDown, StepDownOptions};
use crate::{liveness, path};

/// How long a step-down waits for the old leader to join again once the new one leads.
const REJOIN_WAIT: Duration = Duration::from_secs(5);

impl ClusterView {
    /// Makes the leading JobManager hand over to a standby without a restart (see
    /// [`crate::step_down`]: refused without a standby, or when the leader or the next
    /// contender is a Flink built-in HA JobManager, unless `options.force`), and waits until
    /// the new leader has published its REST address (`leader/rest_server/connection_info`)
    /// and the old one has joined again as a standby (for a few seconds at most). Returns the
    /// hand-over with its timeline.
    pub async fn step_down(&self, options: &StepDownOptions) -> Result<StepDown> {
        let client = self.client();
        let latch = self.layout().latch();
        let rest_path = self.layout().connection_info("rest_server");
        let published = client.watch_data(&rest_path)?;
        let queue = client.watch_children(&latch)?;
        let before = self.leader("rest_server").await?;
        let started = Instant::now();
        let mut report = client.step_down(&latch, options).await?;
        let left = options.timeout.saturating_sub(started.elapsed());
        let deadline = deadline_after(left);
        // The new leader's REST address, published once its components confirmed leadership
        // (waited for only if the old leader had published one: an election that is not a
        // Flink cluster's has none).
        let mut events = published.events();
        let mut seen = before.is_none();
        while !seen {
            let Ok(Some(d)) = tokio::time::timeout_at(deadline, events.next()).await else {
                break;
            };
            let at = Instant::now();
            let NodeData::Present(bytes) = d else {
                continue;
            };
            let Ok((address, session)) = connection_info::decode(&bytes) else {
                continue;
            };
            if before
                .as_ref()
                .is_some_and(|b| b.leader_session_id == session.to_string())
            {
                continue;
            }
            report.mark(
                format!("the new leader published its REST address {address} (leader session {session})"),
                at,
            );
            seen = true;
        }
        if !seen {
            report.mark(
                format!(
                    "the new leader did not publish its REST address within {left:?} (what was \
                     left of the timeout)"
                ),
                Instant::now(),
            );
        }
        // The old leader back in the queue as a standby: a node of its participant id.
        let old = &report.leader;
        if old.zkha && !old.participant_id.is_empty() {
            let mut events = queue.events();
            let until =
                deadline_after(REJOIN_WAIT.min(options.timeout.saturating_sub(started.elapsed())));
            'wait: while let Ok(Some(c)) = tokio::time::timeout_at(until, events.next()).await {
                let at = Instant::now();
                let NodeChildren::Present(children) = c else {
                    continue;
                };
                for name in children
                    .iter()
                    .filter(|n| **n != old.node && liveness::is_zkha_latch(n))
                {
                    let node = path::join(&latch, name);
                    // Best effort: the hand-over is done; a failed read ends the wait.
                    let Ok(read) = client.get_data(&node).await else {
                        break 'wait;
                    };
                    if let Some((data, _)) = read {
                        if data == old.participant_id.as_bytes() {
                            let what = format!(
                                "the old leader {} joined again as a standby ({name})",
                                old.participant_id
                            );
                            report.mark(what, at);
                            break 'wait;
                        }
                    }
                }
            }
        }
        Ok(report)
    }
}
