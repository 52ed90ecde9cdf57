//! The native lock `Guard`: holding, losing, releasing.

use super::*;

/// A held lock, read or write lock, or semaphore lease.
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Guard {
    pub(crate) inner: StdMutex<Option<LockGuard>>,
    pub(crate) fencing_token: i64,
    pub(crate) node: String,
    /// Why the lock was lost, once a watcher armed by `lost_reason` saw it.
    pub(crate) lost: Arc<StdMutex<Option<&'static str>>>,
    /// Stops the watcher on release (the core's lost future never resolves then).
    pub(crate) released: Arc<tokio::sync::Notify>,
    pub(crate) armed: std::sync::atomic::AtomicBool,
}

impl Guard {
    pub(crate) fn new(g: LockGuard) -> Guard {
        Guard {
            fencing_token: g.fencing_token(),
            node: g.node().to_string(),
            inner: StdMutex::new(Some(g)),
            lost: Arc::new(StdMutex::new(None)),
            released: Arc::new(tokio::sync::Notify::new()),
            armed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    fn take(&self) -> Option<LockGuard> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner()).take();
        self.released.notify_one();
        g
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.released.notify_one();
    }
}

#[pymethods]
impl Guard {
    #[getter]
    fn fencing_token(&self) -> i64 {
        self.fencing_token
    }

    #[getter]
    fn node(&self) -> String {
        self.node.clone()
    }

    fn is_held(&self) -> bool {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .is_some_and(|g| g.is_held())
    }

    /// The fence of this hold (ClosedError once released).
    fn fence(&self, py: Python<'_>) -> PyResult<Fence> {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let fence = match g.as_ref() {
            Some(g) => g.fence(),
            None => Err(zkha::Error::new(ErrorKind::Closed, "the lock was released")),
        };
        Ok(Fence {
            inner: fence.map_err(|e| to_py_err(py, e))?,
        })
    }

    /// None while held; the reason once the lock is lost. The first call starts watching
    /// (also the lock node's deletion); released locks report None.
    fn lost_reason(&self) -> Option<&'static str> {
        use std::sync::atomic::Ordering;
        if !self.armed.swap(true, Ordering::SeqCst) {
            let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = g.as_ref() {
                let lost = g.lost_future();
                let slot = self.lost.clone();
                let released = self.released.clone();
                zkha::runtime::spawn(async move {
                    tokio::select! {
                        r = lost => {
                            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.name());
                        }
                        _ = released.notified() => {}
                    }
                });
            }
        }
        *self.lost.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until the lock is lost; returns the reason (never returns once released).
    #[pyo3(signature = (aio=None))]
    fn lost(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let lost = {
            let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
            match g.as_ref() {
                Some(g) => g.lost_future(),
                None => {
                    return Err(to_py_err(
                        py,
                        zkha::Error::new(ErrorKind::Closed, "the lock was released"),
                    ));
                }
            }
        };
        go(py, aio, async move { Ok(lost.await.name()) })
    }

    /// Releases the lock (idempotent).
    #[pyo3(signature = (aio=None))]
    fn release(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let g = self.take();
        go(py, aio, async move {
            match g {
                Some(g) => g.release().await,
                None => Ok(()),
            }
        })
    }
}
