//! Counters, pointer stores and watches (config, leader information, children).

use super::*;

#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Counter {
    pub(crate) inner: zkha::Counter,
}

py_methods! {
    impl Counter {
        async(self, py, c = inner) {
            /// (value, version)
            fn get() async { c.get().await }
            fn get_and_increment() async { c.get_and_increment().await }
            fn compare_and_set(expected_version: i32, value: i64) async {
                c.compare_and_set(expected_version, value).await
            }
            fn set(value: i64) async { c.set(value).await }
            fn remove() async { c.remove().await }
        }

        fn path(&self) -> String {
            self.inner.path().to_string()
        }
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

py_methods! {
    impl PointerStore {
        async(self, py, s = inner) {
            fn add_and_lock(name: String, data: Vec<u8>) async {
                s.add_and_lock(&name, &data).await
            }
            fn replace(name: String, expected_version: i32, data: Vec<u8>) async {
                s.replace(&name, expected_version, &data).await
            }
            fn exists(name: String) async { s.exists(&name).await }
            fn get_and_lock(name: String) async { Ok(entry(s.get_and_lock(&name).await?)) }
            fn get_all_and_lock() async {
                Ok(s.get_all_and_lock()
                    .await?
                    .into_iter()
                    .map(entry)
                    .collect::<Vec<_>>())
            }
            fn get_all_handles() async { s.get_all_handles().await }
            fn release(name: String) async { s.release(&name).await }
            fn release_and_try_remove(name: String) async {
                s.release_and_try_remove(&name).await
            }
            fn release_all() async { s.release_all().await }
        }

        fn root(&self) -> String {
            self.inner.root().to_string()
        }
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

py_methods! {
    impl ConfigWatch {
        async(self, py, w = inner) {
            /// Waits for the first complete read (seconds) and returns the view then; `next`
            /// gives the changes after that view (core's snapshot_and_changes: none missed,
            /// none twice).
            fn ready(timeout: f64) {
                let slot = self.events.clone();
                let t = wait_for("timeout", timeout)?;
            } async {
                w.ready(t).await?;
                let (snapshot, changes) = w.snapshot_and_changes();
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = changes.shared();
                Ok(snapshot
                    .into_iter()
                    .map(|(k, v)| (k, B(v)))
                    .collect::<std::collections::BTreeMap<_, _>>())
            }
            /// The next change (rel_path, bytes or None if deleted), or None on timeout.
            fn next(timeout: Option<f64> = None) {
                let ev = self.events();
                let limit = wait_limit("timeout", timeout)?;
            } async {
                Ok(ev
                    .next_within(limit)
                    .await
                    .map(|c| (c.path, c.value.map(B))))
            }
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
    }
}

pub(crate) fn leader_value(i: LeaderInfo) -> (bool, Option<B>) {
    match i {
        LeaderInfo::Present(d) => (true, Some(B(d))),
        LeaderInfo::Empty => (true, None),
    }
}

pub(crate) fn children_value(c: zkha::NodeChildren) -> (bool, Option<Vec<String>>) {
    match c {
        zkha::NodeChildren::Present(names) => (true, Some(names)),
        zkha::NodeChildren::Empty => (true, None),
    }
}

/// A native class over the core's `NodeWatch<T>`: its current value and its changes, each
/// as `(known, value or None)` made by `$value` (known is False before the first read).
macro_rules! node_watch_class {
    ($(#[$m:meta])* $name:ident, $t:ty, $value:ident -> $out:ty) => {
        $(#[$m])*
        #[pyclass(module = "zkha._zkha", frozen)]
        pub(crate) struct $name {
            pub(crate) inner: zkha::NodeWatch<$t>,
            pub(crate) events: SharedEventStream<$t>,
        }

        py_methods! {
            impl $name {
                async(self, py, ev = events) {
                    /// The next value; None on timeout.
                    fn next(timeout: Option<f64> = None) {
                        let limit = wait_limit("timeout", timeout)?;
                    } async {
                        Ok(ev.next_within(limit).await.map($value))
                    }
                }

                /// (known, value or None): known is False before the first read.
                fn current(&self) -> (bool, $out) {
                    self.inner.current().map_or((false, None), $value)
                }
            }
        }
    };
}

node_watch_class!(
    /// A live view of a node's data (a leader's published information).
    LeaderWatch, LeaderInfo, leader_value -> Option<B>
);
node_watch_class!(
    /// A live view of a node's children (sorted), or None while it does not exist.
    ChildrenWatch, zkha::NodeChildren, children_value -> Option<Vec<String>>
);
