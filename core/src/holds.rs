//! The locks a client holds, told of connection-state changes by the session supervisor
//! itself: no task, subscription or channel per acquisition (an uncontended lock cycle stays
//! close to a bare create + delete, and memory does not grow with the number of cycles).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::session::{Anchor, ConnectionState, Inner, Session, Stamp};
use crate::{queue, runtime};

/// Why a held lock was lost: the reasons leadership ends for, with the same codes and names.
pub type LostReason = crate::election::RevokeReason;

/// One held lock.
struct Hold {
    session: Arc<Session>,
    node: String,
    lost: watch::Sender<Option<LostReason>>,
    /// The node as a lease anchor while held.
    _anchor: Anchor,
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
    /// loss. A lock whose end was already announced (the client closing, the session gone) is
    /// reported lost at once.
    pub(crate) fn add(
        &self,
        inner: &Arc<Inner>,
        session: Arc<Session>,
        node: String,
    ) -> (u64, watch::Receiver<Option<LostReason>>) {
        let (lost, rx) = watch::channel(None);
        let mut held = self.held();
        held.0 += 1;
        let id = held.0;
        // Checked under the lock: `on_state` runs after these conditions are set and scans
        // under the same lock, so each hold is reported exactly once.
        // A lease that ran out already may have been announced (`Lost`) before this hold
        // existed: report it here, as `on_state` would have.
        let ended = if inner.is_closing() {
            Some(LostReason::Closed)
        } else {
            lease_end(inner, &session, Stamp::now())
        };
        let hold = Hold {
            _anchor: inner.anchors.add(session.generation, &node, true),
            session,
            node,
            lost,
        };
        match ended {
            Some(reason) => {
                lose(&hold, reason);
                drop(held);
                if matches!(reason, LostReason::LeaseExpired | LostReason::Suspended) {
                    leave_later(inner, hold);
                }
            }
            None => {
                held.1.insert(id, hold);
            }
        }
        (id, rx)
    }

    /// Number of locks held right now.
    pub(crate) fn count(&self) -> usize {
        self.held().1.len()
    }

    /// Forgets a released lock (nothing is reported for it from now on).
    pub(crate) fn remove(&self, id: u64) {
        self.held().1.remove(&id);
    }

    /// Reports `reason` for lock `id` if it is still held (from the node watch).
    pub(crate) fn report(&self, id: u64, reason: LostReason) {
        let mut held = self.held();
        if let Some(h) = held.1.remove(&id) {
            lose(&h, reason);
        }
    }

    /// Called on every connection-state change: the lease ran out (`Lost`), the session
    /// ended (`Expired`) or the client closes (`Closed`) ends the holds it concerns.
    pub(crate) fn on_state(&self, inner: &Arc<Inner>, state: ConnectionState) {
        // `None`: each hold's own lease decides.
        let every = match state {
            ConnectionState::Lost => None,
            ConnectionState::Suspended { .. } if inner.options.strict => {
                Some(LostReason::Suspended)
            }
            ConnectionState::Expired { .. } => Some(LostReason::SessionExpired),
            ConnectionState::Closed => Some(LostReason::Closed),
            _ => return,
        };
        let now = Stamp::now();
        let reason_for = |h: &Hold| every.or_else(|| lease_end(inner, &h.session, now));
        // Reported under the lock, so a release that runs meanwhile either finds the hold
        // (and nothing is reported) or comes after the report.
        let mut leave = Vec::new();
        {
            let mut held = self.held();
            let ended: Vec<(u64, LostReason)> = held
                .1
                .iter()
                .filter_map(|(id, h)| reason_for(h).map(|r| (*id, r)))
                .collect();
            for (id, reason) in ended {
                if let Some(h) = held.1.remove(&id) {
                    lose(&h, reason);
                    if matches!(reason, LostReason::LeaseExpired | LostReason::Suspended) {
                        leave.push(h);
                    }
                }
            }
        }
        for h in leave {
            leave_later(inner, h);
        }
    }
}

/// How a hold under `session` has ended by `now`, judged by its lease: `LeaseExpired` once
/// the lease ran out, `SessionExpired` once the session is no longer the current one.
fn lease_end(inner: &Inner, session: &Session, now: Stamp) -> Option<LostReason> {
    match inner.lease.until(session.generation) {
        None => Some(LostReason::SessionExpired),
        Some(t) if t <= now => Some(LostReason::LeaseExpired),
        Some(_) => None,
    }
}

/// Deletes the node of a hold whose lease ran out: the holder was told; do not keep blocking
/// others once reconnected.
fn leave_later(inner: &Arc<Inner>, h: Hold) {
    let inner = inner.clone();
    runtime::spawn(async move {
        let _ = queue::leave(&inner, &h.session, &h.node).await;
    });
}

fn lose(h: &Hold, reason: LostReason) {
    tracing::warn!(target: "zkha::lock", node = %h.node, reason = ?reason, "lock lost");
    h.lost.send_replace(Some(reason));
}
