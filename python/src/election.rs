//! The native `Election`: waiting, events, leader information, fences.

use super::*;

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Election {
    pub(crate) inner: zkha::Election,
    pub(crate) events: SharedEventStream<ElectionEvent>,
}

py_methods! {
    impl Election {
        async(self, py, e = inner) {
            /// Waits for leadership: (fencing_token, leader_session_id, latch_node, session_id).
            fn wait(timeout: f64) {
                let t = wait_for("timeout", timeout)?;
            } async {
                Ok(leadership_tuple(&e.wait_for_leadership(t).await?))
            }
            /// The next event: ("granted", leadership tuple), ("revoked", reason) or ("error",
            /// (error kind code, message)) as (kind, leadership, reason, error); None on
            /// timeout.
            fn next_event(timeout: Option<f64> = None) {
                let ev = self.events.clone();
                let limit = wait_limit("timeout", timeout)?;
            } async {
                Ok(ev.next_within(limit).await.map(|e| match e {
                    ElectionEvent::Granted(l) => {
                        ("granted", Some(leadership_tuple(&l)), None, None)
                    }
                    ElectionEvent::Revoked { reason } => {
                        ("revoked", None, Some(reason.name()), None)
                    }
                    ElectionEvent::Error { kind, message } => {
                        ("error", None, None, Some((kind.code(), message)))
                    }
                }))
            }
            /// Publishes `data` at `path` as this leader's ephemeral node, a write fenced on the
            /// latch node (NotLeaderError once the grant is gone; nothing is written then).
            fn publish_leader_info(path: String, data: Vec<u8>) async {
                e.publish_leader_info(&path, &data).await
            }
            /// Leaves the election; waits for it up to `timeout` seconds (None: the core's
            /// bound).
            fn close(timeout: Option<f64> = None) {
                let limit = wait_limit("timeout", timeout)?;
            } async {
                bounded(limit, async move { e.close().await }).await
            }
        }

        fn is_leader(&self) -> bool {
            self.inner.has_leadership()
        }

        fn leadership(&self) -> Option<LeadershipTuple> {
            self.inner.leadership().as_ref().map(leadership_tuple)
        }

        /// The fence of the current grant (NotLeaderError without one).
        fn fence(&self, py: Python<'_>) -> PyResult<Fence> {
            let inner = self.inner.fence().map_err(|e| to_py_err(py, e))?;
            Ok(Fence { inner })
        }

        fn participant_id(&self) -> String {
            self.inner.participant_id().to_string()
        }

        fn latch_path(&self) -> String {
            self.inner.latch_path().to_string()
        }

        fn node(&self) -> Option<String> {
            self.inner.node()
        }
    }
}
