//! The native `Client`: connecting, state, znodes, and the recipes it makes.

use super::*;

/// One ZooKeeper session at a time, re-opened after expiry.
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct Client {
    pub(crate) inner: zkha::Client,
}

/// `metrics=`: (host, port, last port of a range, labels).
type MetricsArg = (String, Option<u16>, Option<u16>, Vec<(String, String)>);

/// Metrics options from their Python form; a bad host or range raises naming it.
fn metrics_options(
    py: Python<'_>,
    (host, port, end, labels): MetricsArg,
) -> PyResult<zkha::MetricsOptions> {
    let mut m = zkha::MetricsOptions {
        labels,
        ..Default::default()
    };
    if let Some(port) = port {
        m.serve_at(Some(&host), port, end)
            .map_err(|e| to_py_err(py, e))?;
    }
    Ok(m)
}

pub(crate) fn connect(
    py: Python<'_>,
    options: ClientOptions,
    aio: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    go(py, aio, async move {
        let inner = zkha::Client::connect(options).await?;
        Ok(Client { inner })
    })
}

py_methods! {
    impl Client {
        async(self, py, c = inner) {
            /// Closes the session; waits for it up to `timeout` seconds (None: the core's
            /// bound).
            fn close(timeout: Option<f64> = None) {
                let limit = wait_limit("timeout", timeout)?;
            } async {
                bounded(limit, async move { c.close().await }).await
            }
            /// `bytes` of the znode, or None if it does not exist.
            fn get_data(path: String) async { Ok(c.get_data(&path).await?.map(|(d, _)| B(d))) }
            fn get_children(path: String) async { c.get_children(&path).await }
            /// Creates or overwrites a persistent znode (parents included).
            fn put(path: String, data: Vec<u8>) async { c.put(&path, &data).await }
            fn delete_recursive(path: String) async { c.delete_recursive(&path).await }
            /// Creates one znode (`mode`: a node mode name; the parent must exist): (created
            /// path, stat); sequential modes add the suffix.
            fn create(path: String, data: Vec<u8>, mode: &str = "persistent") {
                let mode = NodeMode::parse_name(mode).map_err(|e| to_py_err(py, e))?;
            } async {
                let (created, stat) = c.create(&path, &data, mode).await?;
                Ok((created, stat_tuple(&stat)))
            }
            /// The znode's stat tuple, or None if it does not exist.
            fn exists(path: String) async { Ok(c.exists(&path).await?.as_ref().map(stat_tuple)) }
            /// (`bytes`, stat tuple) of the znode, or None if it does not exist.
            fn get_with_stat(path: String) async {
                Ok(c.get_data(&path)
                    .await?
                    .map(|(d, s)| (B(d), stat_tuple(&s))))
            }
            /// The contenders queued under an election's latch path or a lock's path, in queue
            /// order (the first leads or holds): [(node, data, stat tuple)].
            fn contenders(path: String) async {
                let all = c.contenders(&path).await?;
                Ok(all
                    .into_iter()
                    .map(|x| (x.node, B(x.data), stat_tuple(&x.stat)))
                    .collect::<Vec<_>>())
            }
            /// Makes the leader of the election at `latch` hand over to its next contender
            /// and waits up to `timeout` seconds for the hand-over (core's `step_down`):
            /// the report as JSON text.
            fn step_down_json(latch: String, force: bool = false, timeout: f64 = 30.0) {
                let options = zkha::StepDownOptions { force, timeout: wait_for("timeout", timeout)? };
            } async {
                Ok(c.step_down(&latch, &options).await?.to_json())
            }
            /// Sets the znode's data if its version is `version` (None: any); the new stat
            /// tuple.
            fn set_data(path: String, data: Vec<u8>, version: Option<i32> = None) async {
                Ok(stat_tuple(&c.set_data(&path, &data, version).await?))
            }
            /// Deletes one znode if its version is `version` (None: any).
            fn delete(path: String, version: Option<i32> = None) async {
                c.delete(&path, version).await
            }
            /// Acquires a lock: kind is "mutex", "read", "write" or "semaphore"; timeout in
            /// seconds (None: wait forever).
            fn acquire(kind: &str, path: String, leases: usize = 1, timeout: Option<f64> = None) {
                let timeout = wait_limit("timeout", timeout)?;
                // Made here, so bad input raises at the call, also for asyncio.
                let lock = LockKind::parse_name(kind)
                    .and_then(|kind| c.lock(kind, &path, leases))
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                Ok(Guard::new(lock.acquire(timeout).await?))
            }
        }

        /// Connects (blocking) with the given options; durations in seconds.
        #[staticmethod]
        /// `retry`: (max_retries, base_wait, max_wait); `liveness`: (enabled, listen_host,
        /// listen_port, advertise); `metrics`: (host, port or None, last port or None, labels).
        #[pyo3(signature = (hosts, session_timeout=None, connection_timeout=None, namespace=None, lease_margin=None, strict=None, operation_timeout=None, tls=None, sasl=None, auth=None, acl=None, retry=None, liveness=None, metrics=None, aio=None))]
        #[allow(clippy::too_many_arguments)]
        fn connect(
            py: Python<'_>,
            hosts: &str,
            session_timeout: Option<f64>,
            connection_timeout: Option<f64>,
            namespace: Option<&str>,
            lease_margin: Option<f64>,
            strict: Option<bool>,
            operation_timeout: Option<f64>,
            tls: Option<TlsArg>,
            sasl: Option<&Bound<'_, PyAny>>,
            auth: Option<Vec<String>>,
            acl: Option<AclArg>,
            retry: Option<(u32, f64, f64)>,
            liveness: Option<(bool, Option<String>, u16, Option<String>)>,
            metrics: Option<MetricsArg>,
            aio: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Py<PyAny>> {
            let mut o = ClientOptions::new(hosts);
            if let Some(m) = metrics {
                o.metrics = metrics_options(py, m)?;
            }
            if let Some((max_retries, base, max)) = retry {
                o = o.retry(RetryPolicy {
                    max_retries,
                    base_wait: finite_secs("retry base_wait", base).map_err(PyValueError::new_err)?,
                    max_wait: finite_secs("retry max_wait", max).map_err(PyValueError::new_err)?,
                });
            }
            if let Some((enabled, listen_host, listen_port, advertise)) = liveness {
                o = o.liveness(LivenessOptions {
                    enabled,
                    listen_host,
                    listen_port,
                    advertise,
                });
            }
            if let Some(t) = setting("session_timeout", session_timeout)? {
                o = o.session_timeout(t);
            }
            if let Some(t) = setting("connection_timeout", connection_timeout)? {
                o = o.connection_timeout(t);
            }
            if let Some(n) = namespace {
                o = o.namespace(n);
            }
            if let Some(t) = setting("lease_margin", lease_margin)? {
                o = o.lease_margin(t);
            }
            if let Some(s) = strict {
                o = o.strict(s);
            }
            if let Some(t) = setting("operation_timeout", operation_timeout)? {
                o = o.operation_timeout(t);
            }
            let o = with_security(py, o, tls, sasl, auth, acl)?;
            connect(py, o, aio)
        }

        /// Connects with the ZooKeeper settings of a Flink configuration file (its security
        /// included); security keywords given replace the file's.
        #[staticmethod]
        #[pyo3(signature = (path, tls=None, sasl=None, auth=None, acl=None, aio=None))]
        fn from_flink_config(
            py: Python<'_>,
            path: &str,
            tls: Option<TlsArg>,
            sasl: Option<&Bound<'_, PyAny>>,
            auth: Option<Vec<String>>,
            acl: Option<AclArg>,
            aio: Option<&Bound<'_, PyAny>>,
        ) -> PyResult<Py<PyAny>> {
            let o = FlinkConfig::load(path)
                .and_then(|c| c.client_options())
                .map_err(|e| to_py_err(py, e))?;
            let o = with_security(py, o, tls, sasl, auth, acl)?;
            connect(py, o, aio)
        }

        fn state(&self) -> &'static str {
            self.inner.state().kind().name()
        }

        fn session_id(&self) -> i64 {
            self.inner.session_id()
        }

        fn session_timeout(&self) -> Option<f64> {
            self.inner.session_timeout().map(|d| d.as_secs_f64())
        }

        /// The client's metrics as a JSON object.
        fn metrics_json(&self) -> String {
            self.inner.metrics().to_json()
        }

        /// "host:port" of the metrics endpoint, if the client serves one.
        fn metrics_address(&self) -> Option<String> {
            self.inner.metrics_address().map(|a| a.to_string())
        }

        fn connect_string(&self) -> String {
            self.inner.options().connect_string.clone()
        }

        fn state_events(&self) -> StateStream {
            StateStream {
                events: self.inner.state_events().shared(),
            }
        }

        /// Joins the election on `latch_path` (does not wait).
        fn election(
            &self,
            py: Python<'_>,
            latch_path: &str,
            participant_id: &str,
        ) -> PyResult<Election> {
            let inner = self
                .inner
                .election(latch_path, ElectionOptions::new(participant_id))
                .map_err(|e| to_py_err(py, e))?;
            let events = inner.events().shared();
            Ok(Election { inner, events })
        }

        /// A shared counter (Flink's checkpoint-id counter format when wide is False).
        #[pyo3(signature = (path, wide=false, initial=0))]
        fn counter(
            &self,
            py: Python<'_>,
            path: &str,
            wide: bool,
            initial: i64,
        ) -> PyResult<Counter> {
            let format = if wide {
                CounterFormat::Int64
            } else {
                CounterFormat::Int32
            };
            let inner = self
                .inner
                .counter(path, format, initial)
                .map_err(|e| to_py_err(py, e))?;
            Ok(Counter { inner })
        }

        fn pointer_store(&self, py: Python<'_>, root: &str) -> PyResult<PointerStore> {
            let inner = self
                .inner
                .pointer_store(root)
                .map_err(|e| to_py_err(py, e))?;
            Ok(PointerStore { inner })
        }

        fn config_watch(&self, py: Python<'_>, root: &str) -> PyResult<ConfigWatch> {
            let inner = self
                .inner
                .config_watch(root)
                .map_err(|e| to_py_err(py, e))?;
            let events = Arc::new(StdMutex::new(inner.events().shared()));
            Ok(ConfigWatch { inner, events })
        }

        fn leader_watch(&self, py: Python<'_>, path: &str) -> PyResult<LeaderWatch> {
            let inner = self
                .inner
                .watch_leader_info(path)
                .map_err(|e| to_py_err(py, e))?;
            let events = inner.events().shared();
            Ok(LeaderWatch { inner, events })
        }

        /// Watches the children of any node.
        fn children_watch(&self, py: Python<'_>, path: &str) -> PyResult<ChildrenWatch> {
            let inner = self
                .inner
                .watch_children(path)
                .map_err(|e| to_py_err(py, e))?;
            let events = inner.events().shared();
            Ok(ChildrenWatch { inner, events })
        }
    }
}

/// Connection states as they happen (starts with the current one).
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct StateStream {
    pub(crate) events: SharedEventStream<ConnectionState>,
}

py_methods! {
    impl StateStream {
        async(self, py, ev = events) {
            /// The next state name, or None on timeout or after "closed".
            fn next(timeout: Option<f64> = None) {
                let limit = wait_limit("timeout", timeout)?;
            } async {
                Ok(ev.next_within(limit).await.map(|s| s.kind().name()))
            }
        }
    }
}
