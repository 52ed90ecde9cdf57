//! The native `Election`: waiting, events, leader information, fences.

use super::*;

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Election {
    pub(crate) inner: zkha::Election,
    pub(crate) events: SharedEventStream<ElectionEvent>,
}

#[pymethods]
impl Election {
    /// Waits for leadership: (fencing_token, leader_session_id, latch_node, session_id).
    #[pyo3(signature = (timeout, aio=None))]
    fn wait(
        &self,
        py: Python<'_>,
        timeout: f64,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let e = self.inner.clone();
        let t = wait_for("timeout", timeout)?;
        go(py, aio, async move {
            Ok(leadership_tuple(&e.wait_for_leadership(t).await?))
        })
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

    /// The next event: ("granted", leadership tuple), ("revoked", reason) or ("error", (error
    /// kind code, message)) as (kind, leadership, reason, error); None on timeout.
    #[pyo3(signature = (timeout=None, aio=None))]
    fn next_event(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ev = self.events.clone();
        let limit = wait_limit("timeout", timeout)?;
        go(py, aio, async move {
            Ok(ev.next_within(limit).await.map(|e| match e {
                ElectionEvent::Granted(l) => ("granted", Some(leadership_tuple(&l)), None, None),
                ElectionEvent::Revoked { reason } => ("revoked", None, Some(reason.name()), None),
                ElectionEvent::Error { kind, message } => {
                    ("error", None, None, Some((kind.code(), message)))
                }
            }))
        })
    }

    /// Publishes `data` at `path` as this leader's ephemeral node, a write fenced on the latch
    /// node (NotLeaderError once the grant is gone; nothing is written then).
    #[pyo3(signature = (path, data, aio=None))]
    fn publish_leader_info(
        &self,
        py: Python<'_>,
        path: String,
        data: Vec<u8>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let e = self.inner.clone();
        go(
            py,
            aio,
            async move { e.publish_leader_info(&path, &data).await },
        )
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

    /// Leaves the election; waits for it up to `timeout` seconds (None: the core's bound).
    #[pyo3(signature = (timeout=None, aio=None))]
    fn close(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let e = self.inner.clone();
        go(
            py,
            aio,
            bounded(
                wait_limit("timeout", timeout)?,
                async move { e.close().await },
            ),
        )
    }
}
