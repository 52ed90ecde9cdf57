//! Flink: byte formats, the znode layout and the cluster view.

use super::*;

/// Decodes Flink's leader connection info: (address, leader_session_id).
#[pyfunction]
pub(crate) fn decode_connection_info(py: Python<'_>, data: &[u8]) -> PyResult<(String, String)> {
    zkha::flink::connection_info::decode(data)
        .map(|(a, id)| (a, id.to_string()))
        .map_err(|e| to_py_err(py, e))
}

/// Encodes Flink's leader connection info.
#[pyfunction]
pub(crate) fn encode_connection_info<'py>(
    py: Python<'py>,
    address: &str,
    leader_session_id: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let id = leader_session_id
        .parse()
        .map_err(|_| to_py_err(py, invalid(format!("not a UUID: {leader_session_id:?}"))))?;
    let b = zkha::flink::connection_info::encode(address, id).map_err(|e| to_py_err(py, e))?;
    Ok(PyBytes::new(py, &b))
}

/// Decodes a counter value (wide: 8 bytes, else Flink's 4-byte SharedCount).
#[pyfunction]
#[pyo3(signature = (data, wide=false))]
pub(crate) fn decode_counter(py: Python<'_>, data: &[u8], wide: bool) -> PyResult<i64> {
    let f = if wide {
        CounterFormat::Int64
    } else {
        CounterFormat::Int32
    };
    f.decode(data, "counter").map_err(|e| to_py_err(py, e))
}

/// The Flink layout root of a configuration file and its quorum: (quorum, cluster_root).
#[pyfunction]
pub(crate) fn flink_config_layout(py: Python<'_>, path: &str) -> PyResult<(String, String)> {
    let c = FlinkConfig::load(path).map_err(|e| to_py_err(py, e))?;
    let q = c.quorum().map_err(|e| to_py_err(py, e))?;
    let r = c.cluster_root().map_err(|e| to_py_err(py, e))?;
    Ok((q, r))
}

/// Decodes a checkpoint or execution-plan pointer written by Flink (or zkha):
/// (handle_class, file_path or None, state_size or None).
#[pyfunction]
pub(crate) fn decode_state_handle(
    py: Python<'_>,
    data: &[u8],
) -> PyResult<(String, Option<String>, Option<i64>)> {
    zkha::flink::state_handle::decode(data)
        .map(|p| (p.handle_class, p.file_path, p.state_size))
        .map_err(|e| to_py_err(py, e))
}

/// (component, address, leader_session_id)
pub(crate) type LeaderRow = (String, String, String);
/// (id, location, state_size, handle_class, znode)
pub(crate) type CheckpointRow = (i64, Option<String>, Option<i64>, String, String);

pub(crate) fn leader_row(l: zkha::flink::view::Leader) -> LeaderRow {
    (l.component, l.address, l.leader_session_id)
}

pub(crate) fn checkpoint_row(c: zkha::flink::view::Checkpoint) -> CheckpointRow {
    (c.id, c.location, c.state_size, c.handle_class, c.znode)
}

/// Core's read-only view of one Flink cluster's HA data (`zkha.flink.Cluster` wraps it).
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct FlinkView {
    pub(crate) inner: zkha::flink::ClusterView,
}

py_methods! {
    impl FlinkView {
        async(self, py, v = inner) {
            /// [(component, leader row or None)] in Flink's component order.
            fn leaders() async {
                let all = v.leaders().await?;
                Ok(all
                    .into_iter()
                    .map(|(c, l)| (c, l.map(leader_row)))
                    .collect::<Vec<_>>())
            }
            fn job_leader(job_id: String) async {
                Ok(v.job_leader(&job_id).await?.map(leader_row))
            }
            fn jobs() async { v.jobs().await }
            fn execution_plan(job_id: String) async { v.execution_plan(&job_id).await }
            fn checkpoints(job_id: String) async {
                let all = v.checkpoints(&job_id).await?;
                Ok(all.into_iter().map(checkpoint_row).collect::<Vec<_>>())
            }
            fn latest_checkpoint(job_id: String) async {
                Ok(v.latest_checkpoint(&job_id).await?.map(checkpoint_row))
            }
            fn checkpoint_counter(job_id: String) async { v.checkpoint_counter(&job_id).await }
            /// The status document as JSON text.
            fn status_json() async { Ok(v.status().await?.to_json()) }
            /// Makes the leading JobManager hand over to a standby (core's
            /// `ClusterView::step_down`): the report as JSON text.
            fn step_down_json(force: bool = false, timeout: f64 = 30.0) {
                let options = zkha::StepDownOptions { force, timeout: wait_for("timeout", timeout)? };
            } async {
                Ok(v.step_down(&options).await?.to_json())
            }
        }

        #[new]
        fn new(client: PyRef<'_, Client>, root: &str) -> FlinkView {
            let layout = zkha::flink::FlinkLayout::new(root);
            FlinkView {
                inner: zkha::flink::ClusterView::new(client.inner.clone(), layout),
            }
        }
    }
}

/// Flink's znode layout under `<path.root>/<cluster-id>` (paths as the core defines them).
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct FlinkLayout {
    pub(crate) inner: zkha::flink::FlinkLayout,
}

#[pymethods]
impl FlinkLayout {
    #[new]
    fn new(root: &str) -> FlinkLayout {
        FlinkLayout {
            inner: zkha::flink::FlinkLayout::new(root),
        }
    }

    #[staticmethod]
    fn components() -> Vec<&'static str> {
        zkha::flink::layout::COMPONENTS.to_vec()
    }

    fn root(&self) -> String {
        self.inner.root.clone()
    }

    fn latch(&self) -> String {
        self.inner.latch()
    }

    fn connection_info(&self, component: &str) -> String {
        self.inner.connection_info(component)
    }

    fn job_connection_info(&self, job_id: &str) -> String {
        self.inner.job_connection_info(job_id)
    }

    fn execution_plans(&self) -> String {
        self.inner.execution_plans()
    }

    fn checkpoints(&self, job_id: &str) -> String {
        self.inner.checkpoints(job_id)
    }

    fn checkpoint_id_counter(&self, job_id: &str) -> String {
        self.inner.checkpoint_id_counter(job_id)
    }

    #[staticmethod]
    fn checkpoint_name(id: i64) -> String {
        zkha::flink::FlinkLayout::checkpoint_name(id)
    }
}

/// Push options from the Python arguments (`secret_markers` None: the defaults).
fn push_options(
    author: String,
    note: String,
    allow_secrets: bool,
    expected: Option<u64>,
    secret_markers: Option<Vec<String>>,
) -> zkha::Result<zkha::flink::config_store::PushOptions> {
    let mut o = zkha::flink::config_store::PushOptions::new(author, note);
    o.allow_secrets = allow_secrets;
    o.expected_version = expected;
    if let Some(m) = secret_markers {
        o.set_secret_markers(m)?;
    }
    Ok(o)
}

/// `config.yaml` or `flink-conf.yaml`: the format of a base file of that name.
fn format_of(file_name: &str) -> zkha::flink::config_store::Format {
    zkha::flink::config_store::Format::of_file(file_name)
}

use zkha::flink::config_store::to_json;

/// Core's central configuration store of one Flink cluster (`zkha.flink.ConfigStore` wraps
/// it); documents and reports as JSON text.
#[pyclass(module = "zkha._zkha", frozen)]
pub(crate) struct ConfigStore {
    pub(crate) inner: zkha::flink::config_store::ConfigStore,
}

py_methods! {
    impl ConfigStore {
        async(self, py, st = inner) {
            fn current_json() async { Ok(st.current().await?.map(|d| to_json(&d))) }
            fn version_json(version: u64) async { Ok(st.version(version).await?.map(|d| to_json(&d))) }
            fn history_json() async { Ok(to_json(&st.history().await?)) }
            /// The key changes `text` as `part` would make (checked; nothing written).
            fn preview_json(
                part: String,
                text: String,
                file_name: String,
                allow_secrets: bool = false,
                secret_markers: Option<Vec<String>> = None
            ) {
                let part = zkha::flink::config_store::Part::parse(&part).map_err(|e| to_py_err(py, e))?;
                let options = push_options(String::new(), String::new(), allow_secrets, None, secret_markers)
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                Ok(to_json(&st.preview(&part, &text, format_of(&file_name), &options).await?))
            }
            /// Stores `text` as `part` (a new version, compare-and-set): the new document.
            fn push_json(
                part: String,
                text: String,
                file_name: String,
                author: String,
                note: String,
                allow_secrets: bool = false,
                expected: Option<u64> = None,
                secret_markers: Option<Vec<String>> = None
            ) {
                let part = zkha::flink::config_store::Part::parse(&part).map_err(|e| to_py_err(py, e))?;
                let options = push_options(author, note, allow_secrets, expected, secret_markers)
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                Ok(to_json(&st.push(&part, &text, format_of(&file_name), &options).await?))
            }
            fn rollback_json(version: u64, author: String, note: String, expected: Option<u64> = None) {
                let options = push_options(author, note, false, expected, None)
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                Ok(to_json(&st.rollback(version, &options).await?))
            }
            fn remove_overlay_json(part: String, author: String, note: String, expected: Option<u64> = None) {
                let part = zkha::flink::config_store::Part::parse(&part).map_err(|e| to_py_err(py, e))?;
                let options = push_options(author, note, false, expected, None)
                    .map_err(|e| to_py_err(py, e))?;
            } async {
                Ok(to_json(&st.remove_overlay(&part, &options).await?))
            }
            /// (version, file text) for `role` on `host`, references resolved here;
            /// `file_name` `flink-conf.yaml` for the legacy format.
            fn pull(role: Option<String> = None, host: Option<String> = None, file_name: Option<String> = None) async {
                let format = format_of(file_name.as_deref().unwrap_or("config.yaml"));
                let (d, text) = st.pull_as(role.as_deref(), host.as_deref(), format).await?;
                Ok((d.version, text))
            }
            /// The effective key changes of `role` on `host` from version `from` (0: none) to `to`.
            fn diff_json(from: u64, to: u64, role: Option<String> = None, host: Option<String> = None) async {
                Ok(to_json(&st.diff_versions(from, to, role.as_deref(), host.as_deref()).await?))
            }
            fn status_json() async { Ok(to_json(&st.status().await?)) }
        }

        #[new]
        #[pyo3(signature = (client, path, keep = 20))]
        fn new(client: PyRef<'_, Client>, path: &str, keep: usize) -> ConfigStore {
            ConfigStore {
                inner: zkha::flink::config_store::ConfigStore::new(client.inner.clone(), path, keep),
            }
        }

        /// The store path of the cluster a Flink configuration file names.
        #[staticmethod]
        fn path_of_flink_config(py: Python<'_>, path: &str) -> PyResult<String> {
            let c = FlinkConfig::load(path).map_err(|e| to_py_err(py, e))?;
            zkha::flink::config_store::store_path(&c).map_err(|e| to_py_err(py, e))
        }

        /// The secret markers a push uses unless told others.
        #[staticmethod]
        fn default_secret_markers() -> Vec<&'static str> {
            zkha::flink::config_store::SECRET_MARKERS.to_vec()
        }

        /// The markers of a comma-separated list (`password,secret,token,credential`).
        #[staticmethod]
        fn parse_secret_markers(py: Python<'_>, list: &str) -> PyResult<Vec<String>> {
            zkha::flink::config_store::parse_secret_markers(list).map_err(|e| to_py_err(py, e))
        }

        /// (keys Flink `flink_version` does not define, the version of the list used).
        #[staticmethod]
        fn unknown_keys(py: Python<'_>, text: &str, file_name: &str, flink_version: &str) -> PyResult<(Vec<String>, String)> {
            zkha::flink::config_store::unknown_keys(text, format_of(file_name), flink_version).map_err(|e| to_py_err(py, e))
        }

        /// Keys and values of a configuration text (YAML, or legacy for `flink-conf.yaml`).
        #[staticmethod]
        fn parse_text(py: Python<'_>, text: &str, file_name: &str) -> PyResult<std::collections::BTreeMap<String, String>> {
            zkha::flink::config_store::parse(text, format_of(file_name), file_name).map_err(|e| to_py_err(py, e))
        }
    }
}
