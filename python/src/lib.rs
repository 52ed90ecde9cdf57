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

// ---- security options ----------------------------------------------------------------------

/// A PEM option: text if it holds a PEM block, else the path of a file.
fn pem(v: String) -> Pem {
    if v.trim_start().starts_with("-----BEGIN") {
        Pem::Text(v)
    } else {
        Pem::File(v.into())
    }
}

/// `zkha.Tls`, read by attribute.
#[derive(FromPyObject)]
struct TlsArg {
    ca: String,
    cert: Option<String>,
    key: Option<String>,
    hostname_verification: bool,
    reload_every: Option<f64>,
}

impl TlsArg {
    fn config(self) -> zkha::Result<TlsConfig> {
        let mut t = TlsConfig::new(pem(self.ca));
        match (self.cert, self.key) {
            (Some(c), Some(k)) => t = t.identity(pem(c), pem(k)),
            (None, None) => {}
            _ => {
                return Err(invalid(
                    "TLS: a client certificate and its key go together (give both cert and key)",
                ))
            }
        }
        t.hostname_verification = self.hostname_verification;
        if let Some(every) = self
            .reload_every
            .map(|s| finite_secs("TLS: reload_every", s).map_err(invalid))
            .transpose()?
        {
            t.reload_every = every;
        }
        Ok(t)
    }
}

/// A SASL object (`zkha.SaslDigestMd5`, ...), told apart by its `mechanism`. A new mechanism
/// (Kerberos) is one more arm here and one more class in `zkha/_security.py`.
fn sasl_arg(s: &Bound<'_, PyAny>) -> PyResult<zkha::Result<Sasl>> {
    let mechanism: String = s.getattr("mechanism")?.extract()?;
    Ok(match mechanism.as_str() {
        "DIGEST-MD5" => Ok(Sasl::DigestMd5 {
            username: s.getattr("username")?.extract()?,
            password: s.getattr("password")?.extract()?,
        }),
        "GSSAPI" => {
            let text = |name: &str| -> PyResult<Option<String>> { s.getattr(name)?.extract() };
            let mut k = zkha::Kerberos::ticket_cache(text("ticket_cache")?);
            k.principal = text("principal")?;
            k.keytab = text("keytab")?.map(Into::into);
            k.service = s.getattr("service")?.extract()?;
            k.server_principal = text("server_principal")?;
            k.server_realm = text("server_realm")?;
            k.canonicalize_hostname = s.getattr("canonicalize_hostname")?.extract()?;
            k.krb5_conf = text("krb5_conf")?.map(Into::into);
            Ok(Sasl::Kerberos(k))
        }
        other => Err(invalid(format!(
            "SASL mechanism {other:?} is not supported (DIGEST-MD5, GSSAPI)"
        ))),
    })
}

/// `acl=`: "open", "creator" (any case) or a list of `scheme:id:perms` entries.
#[derive(FromPyObject)]
enum AclArg {
    Mode(String),
    Entries(Vec<String>),
}

impl AclArg {
    fn mode(self) -> zkha::Result<AclMode> {
        match self {
            AclArg::Mode(m) => match m.trim().to_ascii_lowercase().as_str() {
                "open" => Ok(AclMode::Open),
                "creator" => Ok(AclMode::Creator),
                _ => Err(invalid(format!(
                    "acl {m:?} is not \"open\", \"creator\" or a list of scheme:id:perms entries"
                ))),
            },
            AclArg::Entries(e) if e.is_empty() => Err(invalid(
                "acl: the list of entries is empty (ZooKeeper refuses a node without ACL)",
            )),
            AclArg::Entries(e) => Ok(AclMode::Custom(
                e.iter()
                    .map(|s| AclEntry::parse(s))
                    .collect::<zkha::Result<_>>()?,
            )),
        }
    }
}

/// The security keywords of `Client.connect` and `Client.from_flink_config`: each one given
/// replaces what `o` has (the Flink configuration's, for the latter).
fn with_security(
    py: Python<'_>,
    mut o: ClientOptions,
    tls: Option<TlsArg>,
    sasl: Option<&Bound<'_, PyAny>>,
    auth: Option<Vec<String>>,
    acl: Option<AclArg>,
) -> PyResult<ClientOptions> {
    let err = |e| to_py_err(py, e);
    if let Some(t) = tls {
        o.tls = Some(t.config().map_err(err)?);
    }
    if let Some(s) = sasl {
        o.sasl = Some(sasl_arg(s)?.map_err(err)?);
    }
    if let Some(a) = auth {
        o.auth = a
            .iter()
            .map(|c| Credential::parse(c))
            .collect::<zkha::Result<_>>()
            .map_err(err)?;
    }
    if let Some(a) = acl {
        o.acl = a.mode().map_err(err)?;
    }
    o.validate().map_err(err)?;
    Ok(o)
}

// ---- client --------------------------------------------------------------------------------

/// One ZooKeeper session at a time, re-opened after expiry.
#[pyclass(module = "zkha._zkha", frozen)]
struct Client {
    inner: zkha::Client,
}

fn connect(
    py: Python<'_>,
    options: ClientOptions,
    aio: Option<&Bound<'_, PyAny>>,
) -> PyResult<Py<PyAny>> {
    go(py, aio, async move {
        let inner = zkha::Client::connect(options).await?;
        Ok(Client { inner })
    })
}

#[pymethods]
impl Client {
    /// Connects (blocking) with the given options; durations in seconds.
    #[staticmethod]
    /// `retry`: (max_retries, base_wait, max_wait); `liveness`: (enabled, listen_host,
    /// listen_port, advertise).
    #[pyo3(signature = (hosts, session_timeout=None, connection_timeout=None, namespace=None, lease_margin=None, strict=None, operation_timeout=None, tls=None, sasl=None, auth=None, acl=None, retry=None, liveness=None, aio=None))]
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
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let mut o = ClientOptions::new(hosts);
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

    /// Closes the session; waits for it up to `timeout` seconds (None: the core's bound).
    #[pyo3(signature = (timeout=None, aio=None))]
    fn close(
        &self,
        py: Python<'_>,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(
            py,
            aio,
            bounded(
                wait_limit("timeout", timeout)?,
                async move { c.close().await },
            ),
        )
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

    fn connect_string(&self) -> String {
        self.inner.options().connect_string.clone()
    }

    fn state_events(&self) -> StateStream {
        StateStream {
            events: self.inner.state_events().shared(),
        }
    }

    /// `bytes` of the znode, or None if it does not exist.
    #[pyo3(signature = (path, aio=None))]
    fn get_data(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            Ok(c.get_data(&path).await?.map(|(d, _)| B(d)))
        })
    }

    #[pyo3(signature = (path, aio=None))]
    fn get_children(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.get_children(&path).await })
    }

    /// Creates or overwrites a persistent znode (parents included).
    #[pyo3(signature = (path, data, aio=None))]
    fn put(
        &self,
        py: Python<'_>,
        path: String,
        data: Vec<u8>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.put(&path, &data).await })
    }

    #[pyo3(signature = (path, aio=None))]
    fn delete_recursive(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.delete_recursive(&path).await })
    }

    /// Creates one znode (`mode`: a node mode name; the parent must exist): (created path,
    /// stat); sequential modes add the suffix.
    #[pyo3(signature = (path, data, mode="persistent", aio=None))]
    fn create(
        &self,
        py: Python<'_>,
        path: String,
        data: Vec<u8>,
        mode: &str,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        let mode = NodeMode::parse_name(mode).map_err(|e| to_py_err(py, e))?;
        go(py, aio, async move {
            let (created, stat) = c.create(&path, &data, mode).await?;
            Ok((created, stat_tuple(&stat)))
        })
    }

    /// The znode's stat tuple, or None if it does not exist.
    #[pyo3(signature = (path, aio=None))]
    fn exists(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            Ok(c.exists(&path).await?.as_ref().map(stat_tuple))
        })
    }

    /// (`bytes`, stat tuple) of the znode, or None if it does not exist.
    #[pyo3(signature = (path, aio=None))]
    fn get_with_stat(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            Ok(c.get_data(&path)
                .await?
                .map(|(d, s)| (B(d), stat_tuple(&s))))
        })
    }

    /// The contenders queued under an election's latch path or a lock's path, in queue order
    /// (the first leads or holds): [(node, data, stat tuple)].
    #[pyo3(signature = (path, aio=None))]
    fn contenders(
        &self,
        py: Python<'_>,
        path: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            let all = c.contenders(&path).await?;
            Ok(all
                .into_iter()
                .map(|x| (x.node, B(x.data), stat_tuple(&x.stat)))
                .collect::<Vec<_>>())
        })
    }

    /// Sets the znode's data if its version is `version` (None: any); the new stat tuple.
    #[pyo3(signature = (path, data, version=None, aio=None))]
    fn set_data(
        &self,
        py: Python<'_>,
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move {
            Ok(stat_tuple(&c.set_data(&path, &data, version).await?))
        })
    }

    /// Deletes one znode if its version is `version` (None: any).
    #[pyo3(signature = (path, version=None, aio=None))]
    fn delete(
        &self,
        py: Python<'_>,
        path: String,
        version: Option<i32>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        go(py, aio, async move { c.delete(&path, version).await })
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

    /// Acquires a lock: kind is "mutex", "read", "write" or "semaphore"; timeout in seconds
    /// (None: wait forever).
    #[pyo3(signature = (kind, path, leases=1, timeout=None, aio=None))]
    fn acquire(
        &self,
        py: Python<'_>,
        kind: &str,
        path: String,
        leases: usize,
        timeout: Option<f64>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let c = self.inner.clone();
        let timeout = wait_limit("timeout", timeout)?;
        // Made here, so bad input raises at the call, also for asyncio.
        let lock = LockKind::parse_name(kind)
            .and_then(|kind| c.lock(kind, &path, leases))
            .map_err(|e| to_py_err(py, e))?;
        go(py, aio, async move {
            Ok(Guard::new(lock.acquire(timeout).await?))
        })
    }

    /// A shared counter (Flink's checkpoint-id counter format when wide is False).
    #[pyo3(signature = (path, wide=false, initial=0))]
    fn counter(&self, py: Python<'_>, path: &str, wide: bool, initial: i64) -> PyResult<Counter> {
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

/// Connection states as they happen (starts with the current one).
#[pyclass(module = "zkha._zkha", frozen)]
struct StateStream {
    events: SharedEventStream<ConnectionState>,
}

#[pymethods]
impl StateStream {
    /// The next state name, or None on timeout or after "closed".
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
            Ok(ev.next_within(limit).await.map(|s| s.kind().name()))
        })
    }
}

// ---- election ------------------------------------------------------------------------------

#[pyclass(module = "zkha._zkha", frozen)]
struct Election {
    inner: zkha::Election,
    events: SharedEventStream<ElectionEvent>,
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

// ---- fences --------------------------------------------------------------------------------

/// (czxid, mzxid, version, cversion, ephemeral_owner, num_children, data_length)
type StatTuple = (i64, i64, i32, i32, i64, i32, i32);

fn stat_tuple(s: &NodeStat) -> StatTuple {
    (
        s.czxid,
        s.mzxid,
        s.version,
        s.cversion,
        s.ephemeral_owner,
        s.num_children,
        s.data_length,
    )
}

/// One operation of a multi: (kind, path, data, mode, version), kind "create", "set",
/// "delete" or "check"; mode a node mode name (create only).
type OpTuple = (String, String, Option<Vec<u8>>, Option<String>, Option<i32>);

fn op_of((kind, path, data, mode, version): OpTuple) -> zkha::Result<Op> {
    let data = data.unwrap_or_default();
    Ok(match kind.as_str() {
        "create" => Op::Create {
            path,
            data,
            mode: NodeMode::parse_name(mode.as_deref().unwrap_or("persistent"))?,
        },
        "set" => Op::SetData {
            path,
            data,
            version,
        },
        "delete" => Op::Delete { path, version },
        "check" => Op::Check { path, version },
        other => {
            return Err(invalid(format!(
                "unknown operation {other:?} (create, set, delete, check)"
            )))
        }
    })
}

/// (kind, created path, stat tuple) of one result: "created", "set", "deleted" or "checked".
fn result_tuple(r: OpResult) -> (&'static str, Option<String>, Option<StatTuple>) {
    match r {
        OpResult::Created { path, stat } => ("created", Some(path), Some(stat_tuple(&stat))),
        OpResult::SetData { stat } => ("set", None, Some(stat_tuple(&stat))),
        OpResult::Deleted => ("deleted", None, None),
        OpResult::Checked => ("checked", None, None),
    }
}

/// Proof of a grant (an election's or a lock's): writes through it succeed only while the
/// grant holds.
#[pyclass(module = "zkha._zkha", frozen)]
struct Fence {
    inner: zkha::Fence,
}

#[pymethods]
impl Fence {
    #[getter]
    fn token(&self) -> i64 {
        self.inner.token()
    }

    #[getter]
    fn node(&self) -> String {
        self.inner.node().to_string()
    }

    #[getter]
    fn session_id(&self) -> i64 {
        self.inner.session_id()
    }

    /// Creates or overwrites `path` with `data`, fenced; the stat tuple.
    #[pyo3(signature = (path, data, aio=None))]
    fn put(
        &self,
        py: Python<'_>,
        path: String,
        data: Vec<u8>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let f = self.inner.clone();
        go(py, aio, async move {
            Ok(stat_tuple(&f.put(&path, &data).await?))
        })
    }

    /// Deletes `path` if its version is `version` (None: any), fenced.
    #[pyo3(signature = (path, version=None, aio=None))]
    fn delete(
        &self,
        py: Python<'_>,
        path: String,
        version: Option<i32>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let f = self.inner.clone();
        go(py, aio, async move { f.delete(&path, version).await })
    }

    /// Runs operation tuples atomically behind the fence check; their result tuples.
    #[pyo3(signature = (ops, aio=None))]
    fn multi(
        &self,
        py: Python<'_>,
        ops: Vec<OpTuple>,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let ops = ops
            .into_iter()
            .map(op_of)
            .collect::<zkha::Result<Vec<_>>>()
            .map_err(|e| to_py_err(py, e))?;
        let f = self.inner.clone();
        go(py, aio, async move {
            let results = f.multi(ops).await?;
            Ok(results.into_iter().map(result_tuple).collect::<Vec<_>>())
        })
    }
}

// ---- locks ---------------------------------------------------------------------------------

/// A held lock, read or write lock, or semaphore lease.
#[pyclass(module = "zkha._zkha", frozen)]
struct Guard {
    inner: StdMutex<Option<LockGuard>>,
    fencing_token: i64,
    node: String,
    /// Why the lock was lost, once a watcher armed by `lost_reason` saw it.
    lost: Arc<StdMutex<Option<&'static str>>>,
    /// Stops the watcher on release (the core's lost future never resolves then).
    released: Arc<tokio::sync::Notify>,
    armed: std::sync::atomic::AtomicBool,
}

impl Guard {
    fn new(g: LockGuard) -> Guard {
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

// ---- counter, pointer store, watches -------------------------------------------------------

#[pyclass(module = "zkha._zkha", frozen)]
struct Counter {
    inner: zkha::Counter,
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
type EntryTuple = (String, B, i32);

fn entry(e: zkha::Entry) -> EntryTuple {
    (e.name, B(e.data), e.version)
}

#[pyclass(module = "zkha._zkha", frozen)]
struct PointerStore {
    inner: zkha::PointerStore,
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
struct ConfigWatch {
    inner: zkha::ConfigWatch,
    /// Changes after the snapshot `ready` returned (before it: changes from the start).
    events: Arc<StdMutex<SharedEventStream<zkha::ConfigChange>>>,
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
struct LeaderWatch {
    inner: zkha::LeaderInfoWatch,
    events: SharedEventStream<LeaderInfo>,
}

fn leader_value(i: LeaderInfo) -> (bool, Option<B>) {
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

    /// The next value (bytes, or None when no leader is published); raises on timeout.
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
struct ChildrenWatch {
    inner: zkha::NodeWatch<zkha::NodeChildren>,
    events: SharedEventStream<zkha::NodeChildren>,
}

fn children_value(c: zkha::NodeChildren) -> (bool, Option<Vec<String>>) {
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

// ---- Flink byte formats --------------------------------------------------------------------

/// Decodes Flink's leader connection info: (address, leader_session_id).
#[pyfunction]
fn decode_connection_info(py: Python<'_>, data: &[u8]) -> PyResult<(String, String)> {
    zkha::flink::connection_info::decode(data)
        .map(|(a, id)| (a, id.to_string()))
        .map_err(|e| to_py_err(py, e))
}

/// Encodes Flink's leader connection info.
#[pyfunction]
fn encode_connection_info<'py>(
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
fn decode_counter(py: Python<'_>, data: &[u8], wide: bool) -> PyResult<i64> {
    let f = if wide {
        CounterFormat::Int64
    } else {
        CounterFormat::Int32
    };
    f.decode(data, "counter").map_err(|e| to_py_err(py, e))
}

/// The Flink layout root of a configuration file and its quorum: (quorum, cluster_root).
#[pyfunction]
fn flink_config_layout(py: Python<'_>, path: &str) -> PyResult<(String, String)> {
    let c = FlinkConfig::load(path).map_err(|e| to_py_err(py, e))?;
    let q = c.quorum().map_err(|e| to_py_err(py, e))?;
    let r = c.cluster_root().map_err(|e| to_py_err(py, e))?;
    Ok((q, r))
}

/// Decodes a checkpoint or execution-plan pointer written by Flink (or zkha):
/// (handle_class, file_path or None, state_size or None).
#[pyfunction]
fn decode_state_handle(
    py: Python<'_>,
    data: &[u8],
) -> PyResult<(String, Option<String>, Option<i64>)> {
    zkha::flink::state_handle::decode(data)
        .map(|p| (p.handle_class, p.file_path, p.state_size))
        .map_err(|e| to_py_err(py, e))
}

/// (component, address, leader_session_id)
type LeaderRow = (String, String, String);
/// (id, location, state_size, handle_class, znode)
type CheckpointRow = (i64, Option<String>, Option<i64>, String, String);

fn leader_row(l: zkha::flink::view::Leader) -> LeaderRow {
    (l.component, l.address, l.leader_session_id)
}

fn checkpoint_row(c: zkha::flink::view::Checkpoint) -> CheckpointRow {
    (c.id, c.location, c.state_size, c.handle_class, c.znode)
}

/// Core's read-only view of one Flink cluster's HA data (`zkha.flink.Cluster` wraps it).
#[pyclass(module = "zkha._zkha", frozen)]
struct FlinkView {
    inner: zkha::flink::ClusterView,
}

#[pymethods]
impl FlinkView {
    #[new]
    fn new(client: PyRef<'_, Client>, root: &str) -> FlinkView {
        let layout = zkha::flink::FlinkLayout::new(root);
        FlinkView {
            inner: zkha::flink::ClusterView::new(client.inner.clone(), layout),
        }
    }

    /// [(component, leader row or None)] in Flink's component order.
    #[pyo3(signature = (aio=None))]
    fn leaders(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move {
            let all = v.leaders().await?;
            Ok(all
                .into_iter()
                .map(|(c, l)| (c, l.map(leader_row)))
                .collect::<Vec<_>>())
        })
    }

    #[pyo3(signature = (job_id, aio=None))]
    fn job_leader(
        &self,
        py: Python<'_>,
        job_id: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move {
            Ok(v.job_leader(&job_id).await?.map(leader_row))
        })
    }

    #[pyo3(signature = (aio=None))]
    fn jobs(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move { v.jobs().await })
    }

    #[pyo3(signature = (job_id, aio=None))]
    fn execution_plan(
        &self,
        py: Python<'_>,
        job_id: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move { v.execution_plan(&job_id).await })
    }

    #[pyo3(signature = (job_id, aio=None))]
    fn checkpoints(
        &self,
        py: Python<'_>,
        job_id: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move {
            let all = v.checkpoints(&job_id).await?;
            Ok(all.into_iter().map(checkpoint_row).collect::<Vec<_>>())
        })
    }

    #[pyo3(signature = (job_id, aio=None))]
    fn latest_checkpoint(
        &self,
        py: Python<'_>,
        job_id: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move {
            Ok(v.latest_checkpoint(&job_id).await?.map(checkpoint_row))
        })
    }

    #[pyo3(signature = (job_id, aio=None))]
    fn checkpoint_counter(
        &self,
        py: Python<'_>,
        job_id: String,
        aio: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move { v.checkpoint_counter(&job_id).await })
    }

    /// The status document as JSON text.
    #[pyo3(signature = (aio=None))]
    fn status_json(&self, py: Python<'_>, aio: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let v = self.inner.clone();
        go(py, aio, async move { Ok(v.status().await?.to_json()) })
    }
}

/// Flink's znode layout under `<path.root>/<cluster-id>` (paths as the core defines them).
#[pyclass(module = "zkha._zkha", frozen)]
struct FlinkLayout {
    inner: zkha::flink::FlinkLayout,
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

// ---- logging -------------------------------------------------------------------------------

/// Maximum tracing level forwarded to Python (0 off, 1 error .. 5 trace).
static LOG_LEVEL: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);
static LOG_TX: OnceLock<SyncSender<(u8, String, String)>> = OnceLock::new();

fn level_num(l: &tracing::Level) -> u8 {
    match *l {
        tracing::Level::ERROR => 1,
        tracing::Level::WARN => 2,
        tracing::Level::INFO => 3,
        tracing::Level::DEBUG => 4,
        tracing::Level::TRACE => 5,
    }
}

struct PyLogLayer;

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        use std::fmt::Write;
        if field.name() == "message" {
            let _ = write!(
                self.0,
                "{}{value:?}",
                if self.0.is_empty() { "" } else { " " }
            );
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for PyLogLayer {
    fn register_callsite(
        &self,
        _: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        tracing::subscriber::Interest::sometimes()
    }

    fn enabled(
        &self,
        m: &tracing::Metadata<'_>,
        _: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        level_num(m.level()) <= LOG_LEVEL.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn on_event(&self, e: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let Some(tx) = LOG_TX.get() else { return };
        let mut f = Fields(String::new());
        e.record(&mut f);
        let m = e.metadata();
        let name = format!("zkha.{}", m.target().replace("::", "."))
            .replace("zkha.zkha", "zkha")
            .trim_end_matches('.')
            .to_string();
        // Never block a runtime thread on Python: drop records when the queue is full.
        if let Err(TrySendError::Full(_)) = tx.try_send((level_num(m.level()), name, f.0)) {}
    }
}

/// Forwards core `tracing` events at or above `level` (1 error .. 5 trace, 0 off) to Python
/// `logging` (logger `zkha.<module>`), on a dedicated thread that never blocks the runtime.
#[pyfunction]
fn set_log_level(level: u8) {
    LOG_LEVEL.store(level.min(5), std::sync::atomic::Ordering::Relaxed);
    LOG_TX.get_or_init(|| {
        let (tx, rx) = sync_channel::<(u8, String, String)>(10_000);
        let _ = std::thread::Builder::new()
            .name("zkha-log".into())
            .spawn(move || {
                while let Ok((lvl, name, msg)) = rx.recv() {
                    let py_level = [0, 40, 30, 20, 10, 5][lvl as usize];
                    let alive = Python::try_attach(|py| {
                        let _ = py
                            .import("logging")
                            .and_then(|l| l.call_method1("getLogger", (name,)))
                            .and_then(|lg| lg.call_method1("log", (py_level, msg)));
                    });
                    if alive.is_none() {
                        break;
                    }
                }
            });
        use tracing_subscriber::layer::SubscriberExt;
        let _ = tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(PyLogLayer),
        );
        tx
    });
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
    m.add_function(wrap_pyfunction!(decode_state_handle, m)?)?;
    m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
    m.add_function(wrap_pyfunction!(error_of_kind, m)?)?;
    m.add_function(wrap_pyfunction!(contract, m)?)?;
    m.add_function(wrap_pyfunction!(parse_connect_string, m)?)?;
    m.add_class::<FlinkLayout>()?;
    m.add_class::<FlinkView>()?;
    m.add_class::<ChildrenWatch>()?;
    Ok(())
}
