//! The locks a client holds, told of connection-state changes by the session supervisor
//! itself: no task, subscription or channel per acquisition (an uncontended lock cycle stays
//! close to a bare create + delete, and memory does not grow with the number of cycles).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::watch;

use crate::lock::LostReason;
use crate::session::{ConnectionState, Inner, Session};
use crate::{queue, runtime};

/// One held lock.
struct Hold {
    session: Arc<Session>,
    node: String,
    lost: watch::Sender<Option<LostReason>>,
}

/// Every lock a client holds right now.
#[derive(Default)]
pub(crate) struct Holds {
    held: Mutex<(u64, HashMap<u64, Hold>)>,
}

impl Holds {
    fn held(&self) -> std::sync::MutexGuard<'_, (u64, HashMap<u64, Hold>)> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a lock node held under `session`; returns its id and the receiver of its
    /// loss.
    pub(crate) fn add(
        &self,
        session: Arc<Session>,
        node: String,
    ) -> (u64, watch::Receiver<Option<LostReason>>) {
        let (lost, rx) = watch::channel(None);
        let mut held = self.held();
        held.0 += 1;
        let id = held.0;
        held.1.insert(
            id,
            Hold {
                session,
                node,
                lost,
            },
        );
        (id, rx)
    }

    /// Forgets a released lock (nothing is reported for it from now on).
    pub(crate) fn remove(&self, id: u64) {
        self.held().1.remove(&id);
    }

    /// Reports `reason` for lock `id` if it is still held (from the node watch).
    pub(crate) fn report(&self, id: u64, reason: LostReason) {
        if let Some(h) = self.held().1.remove(&id) {
            lose(&h, reason);
        }
    }

    /// Called on every connection-state change: the lease ran out (`Lost`), the session
    /// ended (`Expired`) or the client closes (`Closed`) ends the holds it concerns.
    pub(crate) fn on_state(&self, inner: &Arc<Inner>, state: ConnectionState) {
        let reason = match state {
            ConnectionState::Lost => LostReason::LeaseExpired,
            ConnectionState::Expired { .. } => LostReason::SessionExpired,
            ConnectionState::Closed => LostReason::Closed,
            _ => return,
        };
        let now = Instant::now();
        let ended: Vec<Hold> = {
            let mut held = self.held();
            let ids: Vec<u64> = held
                .1
                .iter()
                .filter(|(_, h)| {
                    reason != LostReason::LeaseExpired
                        || inner
                            .lease
                            .safe_until(h.session.generation)
                            .is_none_or(|t| t <= now)
                })
                .map(|(id, _)| *id)
                .collect();
            ids.iter().filter_map(|id| held.1.remove(id)).collect()
        };
        for h in ended {
            lose(&h, reason);
            if reason == LostReason::LeaseExpired {
                // The holder was told; do not keep blocking others once reconnected.
                let inner = inner.clone();
                runtime::spawn(async move {
                    let _ = queue::leave(&inner, &h.session, &h.node).await;
                });
            }
        }
    }
}

fn lose(h: &Hold, reason: LostReason) {
    tracing::warn!(target: "zkha::lock", node = %h.node, reason = ?reason, "lock lost");
    h.lost.send_replace(Some(reason));
}
