//! PyO3 binding: the native module `zkha._zkha` behind the `zkha` Python package.
//!
//! The binding maps types, errors and threads only; every decision lives in the `zkha` core.
//! Every operation is a core future run on the shared runtime ([`zkha::runtime`]):
//!
//! - sync: the caller waits with the GIL released, in slices of [`SLICE`], and checks for
//!   signals between slices; on `KeyboardInterrupt` the core task is aborted (dropping an
//!   acquire future deletes its node) and the exception propagates;
//! - asyncio: when a method gets an event loop (`aio=loop`), it returns an `asyncio.Future` of
//!   that loop instead, completed with `loop.call_soon_threadsafe`; cancelling it aborts the
//!   core task.
//!
//! Errors become the exception classes of `zkha._errors` (one per [`ErrorKind`]).

use std::future::Future;
use std::sync::mpsc::{sync_channel, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex as StdMutex, OnceLock};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use pyo3::IntoPyObjectExt;
use tokio::task::AbortHandle;

use zkha::flink::FlinkConfig;
use zkha::{
    AclEntry, AclMode, ClientOptions, Coded, ConnectionState, CounterFormat, Credential,
    ElectionEvent, ElectionOptions, ErrorKind, LeaderInfo, LivenessOptions, LockGuard, LockKind,
    NodeMode, NodeStat, Op, OpResult, Pem, RetryPolicy, Sasl, SharedEventStream, TlsConfig,
};

/// The `#[pymethods]` block of a native class whose core calls run either way: blocking with
/// the GIL released, or as an `asyncio.Future` of the event loop passed as `aio`.
///
/// In the `async(self, py, h = field)` section, each `fn name(args) { prelude } async { body }`
/// becomes a method taking `args` and a trailing `aio=None` (an arg's `= default` goes into
/// its Python signature): it clones `self.field` into `h`, runs the optional prelude (checks
/// of the arguments that raise at the call, also for asyncio), then runs `body`, a future of
/// `zkha::Result<T>`, through [`go`]. The items after the section pass through unchanged.
macro_rules! py_methods {
    (
        impl $ty:ident {
            async($slf:ident, $py:ident, $h:ident = $field:ident) {
                $(
                    $(#[$m:meta])*
                    fn $name:ident($($arg:ident: $t:ty $(= $default:tt)?),* $(,)?)
                        $({ $($pre:stmt;)* })? async $body:block
                )*
            }
            $($rest:tt)*
        }
    ) => {
        #[pymethods]
        impl $ty {
            $(
                $(#[$m])*
                #[pyo3(signature = ($($arg $(= $default)?,)* aio = None))]
                #[allow(clippy::too_many_arguments)]
                fn $name(
                    &$slf,
                    $py: Python<'_>,
                    $($arg: $t,)*
                    aio: Option<&Bound<'_, PyAny>>,
                ) -> PyResult<Py<PyAny>> {
                    #[allow(unused_variables)]
                    let $h = $slf.$field.clone();
                    $($($pre;)*)?
                    go($py, aio, async move $body)
                }
            )*
            $($rest)*
        }
    };
}

mod client;
mod election;
mod fences;
mod flink;
mod locks;
mod logging;
mod security;
mod stores;

#[allow(unused_imports)]
use {client::*, election::*, fences::*, flink::*, locks::*, logging::*, security::*, stores::*};

/// How long a sync caller waits with the GIL released before checking for signals.
const SLICE: Duration = Duration::from_millis(100);

// ---- plumbing ------------------------------------------------------------------------------

/// The Python class name (in `zkha._errors`) of an error kind.
fn error_class(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Config => "ConfigError",
        ErrorKind::ConnectionLoss => "ConnectionLossError",
        ErrorKind::SessionExpired => "SessionExpiredError",
        ErrorKind::Closed => "ClosedError",
        ErrorKind::Timeout => "TimeoutError",
        ErrorKind::NoNode => "NoNodeError",
        ErrorKind::NodeExists => "NodeExistsError",
        ErrorKind::BadVersion => "BadVersionError",
        ErrorKind::NotEmpty => "NotEmptyError",
        ErrorKind::NotLeader => "NotLeaderError",
        ErrorKind::TooLarge => "TooLargeError",
        ErrorKind::Corrupt => "CorruptError",
        ErrorKind::NoAuth => "NoAuthError",
        ErrorKind::Interrupted => "InterruptedError",
        ErrorKind::Io => "IoError",
        ErrorKind::ZooKeeper => "ZooKeeperError",
        // A kind added to core later: the base class until it gets its own.
        _ => "ZkhaError",
    }
}

/// A core error as an instance of its `zkha` exception class, with core's `kind` name and
/// `outcome_unknown` verdict as attributes.
fn to_py_err(py: Python<'_>, e: zkha::Error) -> PyErr {
    let make = || -> PyResult<PyErr> {
        let cls = py.import("zkha._errors")?.getattr(error_class(e.kind()))?;
        let value = cls.call1((e.message().to_string(),))?;
        value.setattr("kind", e.kind().name())?;
        value.setattr("outcome_unknown", e.outcome_unknown())?;
        Ok(PyErr::from_value(value))
    };
    make().unwrap_or_else(|_| PyRuntimeError::new_err(e.message().to_string()))
}

/// ([(host, port)], chroot or None)
type ConnectParts = (Vec<(String, u16)>, Option<String>);

/// Every live client's metrics in this process as OpenMetrics text (what Prometheus scrapes).
#[pyfunction]
fn openmetrics_text() -> String {
    zkha::metrics::openmetrics_text()
}

/// `zkha doctor` (core's checks): the ensemble at `hosts` or the one and the Flink cluster of
/// `flink_conf` (`hosts` then replaces its quorum); `admin`: AdminServer addresses;
/// `flink_home`: the Flink installation whose file systems check remote storage;
/// `via_flink`: local paths through them too. Returns (passed, report as JSON, as text).
#[pyfunction]
#[pyo3(signature = (hosts=None, flink_conf=None, session_timeout=None, admin=Vec::new(), timeout=3.0, flink_home=None, via_flink=false))]
#[allow(clippy::too_many_arguments)]
fn doctor(
    py: Python<'_>,
    hosts: Option<String>,
    flink_conf: Option<String>,
    session_timeout: Option<f64>,
    admin: Vec<String>,
    timeout: f64,
    flink_home: Option<String>,
    via_flink: bool,
) -> PyResult<(bool, String, String)> {
    use zkha::doctor::DoctorOptions;
    let made = match (&flink_conf, &hosts) {
        (Some(path), _) => FlinkConfig::load(path).and_then(DoctorOptions::from_flink_config),
        (None, Some(h)) => Ok(DoctorOptions::new(ClientOptions::new(h.as_str()))),
        (None, None) => {
            return Err(PyValueError::new_err(
                "give the ensemble (hosts) or a Flink configuration (flink_conf)",
            ))
        }
    };
    let mut o = made.map_err(|e| to_py_err(py, e))?;
    if let (Some(h), Some(_)) = (&hosts, &flink_conf) {
        o.client.connect_string = h.clone();
    }
    if let Some(t) = setting("session_timeout", session_timeout)? {
        o.client.session_timeout = t;
    }
    o.admin = admin;
    o.timeout = finite_secs("timeout", timeout).map_err(PyValueError::new_err)?;
    o.flink_home = flink_home.map(Into::into);
    o.via_flink = via_flink;
    let report = py
        .detach(move || zkha::runtime::block_on(async move { Ok(zkha::doctor::run(&o).await) }))
        .map_err(|e| to_py_err(py, e))?;
    Ok((report.passed(), report.to_json(), report.to_text()))
}

/// Core's parse of a ZooKeeper connect string: ([(host, port)], chroot or None); an
/// InvalidArgumentError naming the bad part.
#[pyfunction]
fn parse_connect_string(py: Python<'_>, connect: &str) -> PyResult<ConnectParts> {
    let cs = zkha::options::parse_connect_string(connect).map_err(|e| to_py_err(py, e))?;
    Ok((cs.hosts, cs.chroot))
}

/// Core's error kinds as (code, name, exception class name), in code order.
#[pyfunction]
fn error_kinds() -> Vec<(i32, &'static str, &'static str)> {
    ErrorKind::ALL
        .iter()
        .map(|&k| (k.code(), k.name(), error_class(k)))
        .collect()
}

/// The exception a native call raises for a failure of kind `code` with `message` (so tests
/// can check every kind's class); an unknown code gives an InvalidArgumentError naming it.
#[pyfunction]
fn error_of_kind(py: Python<'_>, code: i32, message: String) -> Py<PyAny> {
    let e = match ErrorKind::parse_code(code) {
        Ok(kind) => zkha::Error::new(kind, message),
        Err(e) => e,
    };
    to_py_err(py, e).into_value(py).into_any()
}

/// Core's coded kinds by what they are ("error kind", "reason" (of a revocation or a lost
/// lock), "connection state", "lock kind"), each as (code, name) in code order.
#[pyfunction]
fn contract() -> Vec<(&'static str, Vec<(i32, &'static str)>)> {
    fn rows<K: Coded>() -> (&'static str, Vec<(i32, &'static str)>) {
        (
            K::WHAT,
            K::ALL.iter().map(|k| (k.code(), k.name())).collect(),
        )
    }
    vec![
        rows::<ErrorKind>(),
        rows::<zkha::RevokeReason>(),
        rows::<NodeMode>(),
        rows::<zkha::ConnectionStateKind>(),
        rows::<LockKind>(),
    ]
}

fn invalid(msg: impl Into<String>) -> zkha::Error {
    zkha::Error::new(ErrorKind::InvalidArgument, msg)
}

/// Runs `fut` on the shared runtime and waits for it with the GIL released; Ctrl-C (any
/// pending signal whose handler raises) aborts the core task.
fn run<T: Send + 'static>(
    py: Python<'_>,
    fut: impl Future<Output = zkha::Result<T>> + Send + 'static,
) -> PyResult<T> {
    let (tx, mut rx) = sync_channel(1);
    let task = zkha::runtime::spawn(async move {
        let _ = tx.send(fut.await);
    });
    loop {
        let (back, got) = py.detach(move || {
            let got = rx.recv_timeout(SLICE);
            (rx, got)
        });
        rx = back;
        match got {
            Ok(r) => return r.map_err(|e| to_py_err(py, e)),
            Err(RecvTimeoutError::Timeout) => {
                if let Err(e) = py.check_signals() {
                    task.abort();
                    return Err(e);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(PyRuntimeError::new_err(
                    "internal error: a zkha task panicked or the runtime stopped",
                ))
            }
        }
    }
}

/// Aborts a core task when its asyncio future is done (cancelled, or completed: then a no-op).
#[pyclass(module = "zkha._zkha")]
struct Canceller {
    abort: AbortHandle,
}

#[pymethods]
impl Canceller {
    fn __call__(&self, _fut: &Bound<'_, PyAny>) {
        self.abort.abort();
    }
}

/// Runs `fut` on the shared runtime and returns an `asyncio.Future` of `event_loop` that
/// completes with its result.
fn spawn_async<T>(
    py: Python<'_>,
    event_loop: &Bound<'_, PyAny>,
    fut: impl Future<Output = zkha::Result<T>> + Send + 'static,
) -> PyResult<Py<PyAny>>
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let py_fut = event_loop.call_method0("create_future")?;
    let resolve = py.import("zkha._support")?.getattr("_resolve")?.unbind();
    let lp = event_loop.clone().unbind();
    let target = py_fut.clone().unbind();
    let task = zkha::runtime::spawn(async move {
        let r = fut.await;
        // Attach to Python off the two runtime workers.
        let _ = tokio::task::spawn_blocking(move || {
            Python::try_attach(|py| {
                let (ok, value) = match r {
                    Ok(v) => match v.into_py_any(py) {
                        Ok(o) => (true, o),
                        Err(e) => (false, e.into_value(py).into_any()),
                    },
                    Err(e) => (false, to_py_err(py, e).into_value(py).into_any()),
                };
                // Fails only if the loop is closed: nobody waits any more.
                let _ = lp.call_method1(py, "call_soon_threadsafe", (resolve, target, ok, value));
            });
        })
        .await;
    });
    py_fut.call_method1(
        "add_done_callback",
        (Canceller {
            abort: task.abort_handle(),
        },),
    )?;
    Ok(py_fut.unbind())
}

/// Sync (`aio` is None) or asyncio (`aio` is the running loop) execution of one core future.
fn go<T>(
    py: Python<'_>,
    aio: Option<&Bound<'_, PyAny>>,
    fut: impl Future<Output = zkha::Result<T>> + Send + 'static,
) -> PyResult<Py<PyAny>>
where
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    match aio {
        None => run(py, fut)?.into_py_any(py),
        Some(lp) => spawn_async(py, lp, fut),
    }
}

/// Bytes that become Python `bytes` (a `Vec<u8>` would become a list).
struct B(Vec<u8>);

impl<'py> IntoPyObject<'py> for B {
    type Target = PyBytes;
    type Output = Bound<'py, PyBytes>;
    type Error = std::convert::Infallible;
    fn into_pyobject(self, py: Python<'py>) -> Result<Self::Output, Self::Error> {
        Ok(PyBytes::new(py, &self.0))
    }
}

/// A wait's limit in seconds from Python: `None`, `inf` and values past what a `Duration`
/// holds wait without limit (`None`); NaN and negative values are a ValueError naming
/// `name` (`Duration::from_secs_f64` would panic on them or on `inf`).
fn wait_limit(name: &str, v: Option<f64>) -> PyResult<Option<Duration>> {
    match v {
        None => Ok(None),
        Some(s) if s.is_nan() || s < 0.0 => Err(PyValueError::new_err(format!(
            "{name} must be a number of seconds >= 0 (None or inf: no limit), got {s}"
        ))),
        Some(s) => Ok(Duration::try_from_secs_f64(s).ok()),
    }
}

/// A required wait's limit (see [`wait_limit`]): no limit is `Duration::MAX`.
fn wait_for(name: &str, s: f64) -> PyResult<Duration> {
    Ok(wait_limit(name, Some(s))?.unwrap_or(Duration::MAX))
}

/// `s` seconds of a setting named `name`: finite and >= 0, else the message saying so.
fn finite_secs(name: &str, s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s)
        .map_err(|_| format!("{name} must be a finite number of seconds >= 0, got {s}"))
}

/// A setting in seconds from Python (`None`: the default): finite and >= 0, else a
/// ValueError naming `name`.
fn setting(name: &str, v: Option<f64>) -> PyResult<Option<Duration>> {
    v.map(|s| finite_secs(name, s).map_err(PyValueError::new_err))
        .transpose()
}

/// A core close: it starts at once, then waits for completion, at most `limit` (the core
/// bounds the wait itself too); stopping the wait early leaves the close going.
async fn bounded(limit: Option<Duration>, close: impl Future<Output = ()>) -> zkha::Result<()> {
    match limit {
        Some(t) => {
            let _ = tokio::time::timeout(t, close).await;
        }
        None => close.await,
    }
    Ok(())
}

/// (fencing_token, leader_session_id, latch_node, session_id)
type LeadershipTuple = (i64, String, String, i64);

fn leadership_tuple(l: &zkha::Leadership) -> LeadershipTuple {
    (
        l.fencing_token,
        l.leader_session_id.to_string(),
        l.latch_node.clone(),
        l.session_id,
    )
}

#[pymodule]
fn _zkha(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Client>()?;
    m.add_class::<StateStream>()?;
    m.add_class::<Election>()?;
    m.add_class::<Guard>()?;
    m.add_class::<Fence>()?;
    m.add_class::<Counter>()?;
    m.add_class::<PointerStore>()?;
    m.add_class::<ConfigWatch>()?;
    m.add_class::<LeaderWatch>()?;
    m.add_class::<Canceller>()?;
    m.add_function(wrap_pyfunction!(decode_connection_info, m)?)?;
    m.add_function(wrap_pyfunction!(encode_connection_info, m)?)?;
    m.add_function(wrap_pyfunction!(decode_counter, m)?)?;
    m.add_function(wrap_pyfunction!(flink_config_layout, m)?)?;
    m.add_function(wrap_pyfunction!(set_log_level, m)?)?;
    m.add_function(wrap_pyfunction!(openmetrics_text, m)?)?;
    m.add_function(wrap_pyfunction!(doctor, m)?)?;
    m.add_function(wrap_pyfunction!(decode_state_handle, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(error_of_kind, m)?)?;
    m.add_function(wrap_pyfunction!(contract, m)?)?;
    m.add_function(wrap_pyfunction!(parse_connect_string, m)?)?;
    m.add_class::<FlinkLayout>()?;
    m.add_class::<FlinkView>()?;
    m.add_class::<ConfigStore>()?;
    m.add_class::<ChildrenWatch>()?;
    Ok(())
}
