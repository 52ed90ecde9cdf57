//! Counters, pointer stores and watches (config, leader information, children).

use super::*;

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Counter {
    pub(crate) inner: zkha::Counter,
}

#[pymethods]
impl Counter {
    /// (value, version)
    #[pyo3(signature = (aio=None))]
    fn get(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.get().await })
    }

    #[pyo3(signature = (aio=None))]
    fn get_and_increment(
        &self,
        py: Python<'_>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.get_and_increment().await })
    }

    #[pyo3(signature = (expected_version, value, aio=None))]
    fn compare_and_set(
        &self,
        py: Python<'_>,
        expected_version: i32,
        value: i64,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            c.compare_and_set(expected_version, value).await
        })
    }

    #[pyo3(signature = (value, aio=None))]
    fn set(
        &self,
        py: Python<'_>,
        value: i64,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.set(value).await })
    }

    #[pyo3(signature = (aio=None))]
    fn remove(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.remove().await })
    }

    fn path(&self) -> String {
        self.inner.path().to_string()
    }
}

/// (name, data, version)
pub(crate) type EntryTuple = (String, B, i32);

pub(crate) fn entry(e: zkha::Entry) -> EntryTuple {
    (e.name, B(e.data), e.version)
}

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct PointerStore {
    pub(crate) inner: zkha::PointerStore,
}

#[pymethods]
impl PointerStore {
    #[pyo3(signature = (name, data, aio=None))]
    fn add_and_lock(
        &self,
        py: Python<'_>,
        name: String,
        data: Vec<u8>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move { s.add_and_lock(&name, &data).await })
    }

    #[pyo3(signature = (name, expected_version, data, aio=None))]
    fn replace(
        &self,
        py: Python<'_>,
        name: String,
        expected_version: i32,
        data: Vec<u8>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move {
            s.replace(&name, expected_version, &data).await
        })
    }

    #[pyo3(signature = (name, aio=None))]
    fn exists(
        &self,
        py: Python<'_>,
        name: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move { s.exists(&name).await })
    }

    #[pyo3(signature = (name, aio=None))]
    fn get_and_lock(
        &self,
        py: Python<'_>,
        name: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(
            py,
            aio,
            async move { Ok(entry(s.get_and_lock(&name).await?)) },
        )
    }

    #[pyo3(signature = (aio=None))]
    fn get_all_and_lock(
        &self,
        py: Python<'_>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move {
            Ok(s.get_all_and_lock()
                .await?
                .into_iter()
                .map(entry)
                .collect::<Vec<_>>())
        })
    }

    #[pyo3(signature = (aio=None))]
    fn get_all_handles(
        &self,
        py: Python<'_>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move { s.get_all_handles().await })
    }

    #[pyo3(signature = (name, aio=None))]
    fn release(
        &self,
        py: Python<'_>,
        name: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move { s.release(&name).await })
    }

    #[pyo3(signature = (name, aio=None))]
    fn release_and_try_remove(
        &self,
        py: Python<'_>,
        name: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(
            py,
            aio,
            async move { s.release_and_try_remove(&name).await },
        )
    }

    #[pyo3(signature = (aio=None))]
    fn release_all(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let s = self.inner.clone();
        go(py, aio, async move { s.release_all().await })
    }

    fn root(&self) -> String {
        self.inner.root().to_string()
    }
}

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct ConfigWatch {
    pub(crate) inner: zkha::ConfigWatch,
    /// Changes after the snapshot `ready` returned (before it: changes from the start).
    pub(crate) events: Arc<StdMutex<SharedEventStream<zkha::ConfigChange>>>,
}

impl ConfigWatch {
    fn events(&self) -> SharedEventStream<zkha::ConfigChange> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

#[pymethods]
impl ConfigWatch {
    /// Waits for the first complete read (seconds) and returns the view then; `next` gives
    /// the changes after that view (core's snapshot_and_changes: none missed, none twice).
    #[pyo3(signature = (timeout, aio=None))]
    fn ready(
        &self,
        py: Python<'_>,
        timeout: f64,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let w = self.inner.clone();
        let slot = self.events.clone();
        let t = wait_for("timeout", timeout)?;
        go(py, aio, async move {
            w.ready(t).await?;
            let (snapshot, changes) = w.snapshot_and_changes();
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = changes.shared();
            Ok(snapshot
                .into_iter()
                .map(|(k, v)| (k, B(v)))
                .collect::<std::collections::BTreeMap<_, _>>())
        })
    }

    fn get(&self, rel_path: &str) -> Option<B> {
        self.inner.get(rel_path).map(B)
    }

    fn snapshot<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        for (k, v) in self.inner.snapshot() {
            d.set_item(k, PyBytes::new(py, &v))?;
        }
        Ok(d)
    }

    /// The next change (rel_path, bytes or None if deleted), or None on timeout.
    #[pyo3(signature = (timeout=None, aio=None))]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ev = self.events();
        let limit = wait_limit("timeout", timeout)?;
        go(py, aio, async move {
            Ok(ev
                .next_within(limit)
                .await
                .map(|c| (c.path, c.value.map(B))))
        })
    }
}

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct LeaderWatch {
    pub(crate) inner: zkha::LeaderInfoWatch,
    pub(crate) events: SharedEventStream<LeaderInfo>,
}

pub(crate) fn leader_value(i: LeaderInfo) -> (bool, Option<B>) {
    match i {
        LeaderInfo::Present(d) => (true, Some(B(d))),
        LeaderInfo::Empty => (true, None),
    }
}

#[pymethods]
impl LeaderWatch {
    /// (known, bytes or None): known is False before the first read.
    fn current(&self) -> (bool, Option<B>) {
        match self.inner.current() {
            Some(i) => leader_value(i),
            None => (false, None),
        }
    }

    /// The next value (known, bytes or None when no leader is published); None on timeout.
    #[pyo3(signature = (timeout=None, aio=None))]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ev = self.events.clone();
        let limit = wait_limit("timeout", timeout)?;
        go(py, aio, async move {
            Ok(ev.next_within(limit).await.map(leader_value))
        })
    }
}

/// A live view of a node's children (sorted), or None while it does not exist.
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct ChildrenWatch {
    pub(crate) inner: zkha::NodeWatch<zkha::NodeChildren>,
    pub(crate) events: SharedEventStream<zkha::NodeChildren>,
}

pub(crate) fn children_value(c: zkha::NodeChildren) -> (bool, Option<Vec<String>>) {
    match c {
        zkha::NodeChildren::Present(names) => (true, Some(names)),
        zkha::NodeChildren::Empty => (true, None),
    }
}

#[pymethods]
impl ChildrenWatch {
    /// (known, names or None): known is False before the first read.
    fn current(&self) -> (bool, Option<Vec<String>>) {
        self.inner.current().map_or((false, None), children_value)
    }

    /// The next value (names, or None when the node does not exist); None on timeout.
    #[pyo3(signature = (timeout=None, aio=None))]
    fn next(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ev = self.events.clone();
        let limit = wait_limit("timeout", timeout)?;
        go(py, aio, async move {
            Ok(ev.next_within(limit).await.map(children_value))
        })
    }
}
