//! The client: one ZooKeeper session at a time, its connection states, and the leadership
//! lease.
//!
//! # The lease
//! The server expires a session no sooner than T (the negotiated timeout) after it last
//! received something from the client, and a request it answered was received no earlier
//! than the moment the client sent it. So the session is provably alive until
//! `safe_until = send time of the newest answered request + T - margin`, on this process's
//! monotonic clock. A heartbeat (`exists` on the root) every T/5 keeps that fresh; every
//! other answered request counts too. Holders (elections, locks) keep their grant through a
//! disconnect until `safe_until` and give it up then ([`ConnectionState::Lost`]) unless the
//! client reconnected first.
//!
//! # States
//! `Connected` → (`Suspended` → `Reconnected` | `Lost` → `Reconnected`)* → `Expired` →
//! `Connected` (a new session, opened automatically) … → `Closed`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::fence::NodeMode;
use crate::holds::Holds;
use crate::liveness::Endpoint;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::options::{AclMode, ClientOptions};
use crate::{path, runtime};

/// A connection state change, as seen by users of a [`Client`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not connected yet (only the initial value of [`Client::state`]).
    Connecting,
    /// A session is open (the first one, or a new one after `Expired`).
    Connected {
        /// The session id.
        session_id: i64,
        /// The negotiated session timeout.
        session_timeout: Duration,
    },
    /// Disconnected; the session may still be alive. Grants are kept until `safe_until`
    /// (unless strict mode is on).
    Suspended {
        /// The instant the lease ends if the client does not reconnect before.
        safe_until: Instant,
    },
    /// Reconnected with the same session.
    Reconnected {
        /// The session id.
        session_id: i64,
    },
    /// The lease ran out while disconnected: every grant has been revoked. The session may
    /// still be alive; `Reconnected` or `Expired` follows.
    Lost,
    /// The server expired the session; a new session is being opened.
    Expired {
        /// The id of the session that expired.
        session_id: i64,
    },
    /// The client was closed.
    Closed,
}

impl ConnectionState {
    /// True while requests can reach the server.
    pub fn is_connected(self) -> bool {
        matches!(
            self,
            ConnectionState::Connected { .. } | ConnectionState::Reconnected { .. }
        )
    }
}

/// One ZooKeeper session (replaced after expiry).
///
/// The ZooKeeper client library closes a session only when the last clone of its client is
/// dropped, and guards, fences and recipes hold the session for as long as they live. So the
/// session holds the one client in a slot that [`Session::end`] empties: from then on no new
/// request can start, and the library sends CloseSession as soon as the requests already in
/// flight are answered, whatever handles still point at the session.
#[derive(Debug)]
pub(crate) struct Session {
    client: std::sync::RwLock<Option<Arc<zk::Client>>>,
    pub id: i64,
    pub timeout: Duration,
    pub generation: u64,
}

impl Session {
    fn new(zk: zk::Client, generation: u64) -> Session {
        Session {
            id: zk.session_id().0,
            timeout: zk.session_timeout(),
            generation,
            client: std::sync::RwLock::new(Some(Arc::new(zk))),
        }
    }

    /// The session's ZooKeeper client; `Closed` once the session was ended.
    pub(crate) fn zk(&self) -> Result<Arc<zk::Client>> {
        self.client
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::closed("client"))
    }

    /// Lets the session close: drops the client, so CloseSession goes out once the requests
    /// in flight are answered.
    fn end(&self) {
        self.client
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// Monotonic nanoseconds since a process-wide base instant.
fn base() -> Instant {
    static BASE: OnceLock<Instant> = OnceLock::new();
    *BASE.get_or_init(Instant::now)
}

fn to_ns(t: Instant) -> u64 {
    t.saturating_duration_since(base()).as_nanos() as u64
}

fn from_ns(ns: u64) -> Instant {
    base() + Duration::from_nanos(ns)
}

/// The leadership lease of the current session.
#[derive(Debug, Default)]
pub(crate) struct Lease {
    generation: AtomicU64,
    heard_ns: AtomicU64,
    window_ns: AtomicU64,
}

impl Lease {
    fn reset(&self, generation: u64, heard: Instant, window: Duration) {
        self.generation.store(0, Ordering::SeqCst);
        self.heard_ns.store(to_ns(heard), Ordering::SeqCst);
        self.window_ns
            .store(window.as_nanos() as u64, Ordering::SeqCst);
        self.generation.store(generation, Ordering::SeqCst);
    }

    /// Records that a request of session `generation` sent at `sent` was answered.
    pub(crate) fn note(&self, generation: u64, sent: Instant) {
        if self.generation.load(Ordering::SeqCst) == generation {
            self.heard_ns.fetch_max(to_ns(sent), Ordering::SeqCst);
        }
    }

    /// End of the lease of session `generation` (`None` if that session is gone).
    pub(crate) fn safe_until(&self, generation: u64) -> Option<Instant> {
        if generation == 0 || self.generation.load(Ordering::SeqCst) != generation {
            return None;
        }
        let heard = self.heard_ns.load(Ordering::SeqCst);
        Some(from_ns(heard + self.window_ns.load(Ordering::SeqCst)))
    }

    fn invalidate(&self) {
        self.generation.store(0, Ordering::SeqCst);
    }
}

/// Shared state of a client, held by its background tasks and recipes.
pub(crate) struct Inner {
    pub options: ClientOptions,
    pub namespace: String,
    session: watch::Sender<Option<Arc<Session>>>,
    state: watch::Sender<ConnectionState>,
    subscribers: Subscribers<ConnectionState>,
    pub lease: Lease,
    pub metrics: Metrics,
    closing: watch::Sender<bool>,
    /// True once the last session is closed (after `closing`): the liveness endpoint stays
    /// up until then, so a graceful close never looks like a crash to a successor.
    closed: watch::Sender<bool>,
    /// Local address of the route to ZooKeeper (the liveness link's default address).
    route_ip: Option<IpAddr>,
    /// The liveness endpoint, bound by the first election.
    liveness: Mutex<Option<Arc<Endpoint>>>,
    /// The locks held right now (told of losses by [`Inner::emit`]).
    pub holds: Holds,
}

/// A zkha client: a ZooKeeper session that is re-opened after expiry, with connection states
/// and a leadership lease. Cheap to clone; the session closes when the last clone and every
/// recipe made from it are dropped, or on [`Client::close`].
#[derive(Clone)]
pub struct Client {
    handle: Arc<Handle>,
}

/// Closes the client when the last user-facing clone goes away.
struct Handle {
    inner: Arc<Inner>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.inner.begin_close();
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connect_string", &self.inner().options.connect_string)
            .field("state", &self.state())
            .finish()
    }
}

impl Client {
    /// Connects and waits for the first session (retrying per the retry policy).
    pub async fn connect(options: ClientOptions) -> Result<Client> {
        options.validate()?;
        let namespace = path::normalize_root(&options.namespace, "namespace")?;
        let lv = &options.liveness;
        let route_ip = if lv.enabled && (lv.listen_host.is_none() || lv.advertise.is_none()) {
            let cs = options.connect_string.clone();
            // Bounded: a slow resolver costs connect at most 2 s (then no default address).
            let route = tokio::time::timeout(Duration::from_secs(2), async move {
                crate::liveness::route_to(&cs).await
            });
            runtime::spawn(route)
                .await
                .ok()
                .and_then(|r| r.ok())
                .flatten()
        } else {
            None
        };
        let inner = Arc::new(Inner {
            options,
            namespace,
            session: watch::channel(None).0,
            state: watch::channel(ConnectionState::Connecting).0,
            subscribers: Subscribers::default(),
            lease: Lease::default(),
            metrics: Metrics::default(),
            closing: watch::channel(false).0,
            closed: watch::channel(false).0,
            route_ip,
            liveness: Mutex::new(None),
            holds: Holds::default(),
        });
        let first = runtime::spawn(open_session(inner.clone()));
        let (zk, started) = match first.await {
            Ok(r) => r?,
            Err(_) => return Err(Error::closed("the zkha runtime")),
        };
        runtime::spawn(supervise(inner.clone(), zk, started));
        // Wait until the supervisor has published the session.
        let mut rx = inner.session.subscribe();
        while rx.borrow_and_update().is_none() {
            if rx.changed().await.is_err() {
                return Err(Error::closed("client"));
            }
        }
        Ok(Client {
            handle: Arc::new(Handle { inner }),
        })
    }

    /// Blocking [`Client::connect`] for callers outside async code.
    pub fn connect_blocking(options: ClientOptions) -> Result<Client> {
        runtime::block_on(Client::connect(options))
    }

    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.handle.inner
    }

    /// The options in force.
    pub fn options(&self) -> &ClientOptions {
        &self.inner().options
    }

    /// The current connection state.
    pub fn state(&self) -> ConnectionState {
        *self.inner().state.borrow()
    }

    /// A stream of connection-state changes, starting with the current state.
    pub fn state_events(&self) -> StateEvents {
        self.inner().subscribe()
    }

    /// The current session id (0 while no session is open).
    pub fn session_id(&self) -> i64 {
        self.inner().current().map(|s| s.id).unwrap_or(0)
    }

    /// The negotiated session timeout of the current session.
    pub fn session_timeout(&self) -> Option<Duration> {
        self.inner().current().map(|s| s.timeout)
    }

    /// End of the current lease (`None` while no session is open).
    pub fn safe_until(&self) -> Option<Instant> {
        let s = self.inner().current()?;
        self.inner().lease.safe_until(s.generation)
    }

    /// The address the liveness endpoint listens on (`None` until the first election binds
    /// it, or with the link off).
    pub fn liveness_address(&self) -> Option<SocketAddr> {
        let slot = self
            .inner()
            .liveness
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        slot.as_ref().map(|ep| ep.local_addr())
    }

    /// A copy of the metrics.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner().metrics.snapshot()
    }

    /// Resolves a recipe path against the namespace, validating it.
    pub fn resolve(&self, path: &str) -> Result<String> {
        self.inner().resolve(path, "path")
    }

    /// Closes the session now (ephemeral nodes vanish at once) and waits until it is closed.
    pub async fn close(&self) {
        let inner = self.inner().clone();
        inner.begin_close();
        let mut rx = inner.state.subscribe();
        let wait = async {
            while *rx.borrow_and_update() != ConnectionState::Closed {
                if rx.changed().await.is_err() {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
    }

    /// Reads a znode's data (namespace-relative path). `None` if it does not exist.
    pub async fn get_data(&self, path: &str) -> Result<Option<(Vec<u8>, NodeStat)>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &full, async |zk| zk.get_data(&full).await)
                        .await
                    {
                        Ok((data, stat)) => Ok(Some((data, NodeStat::from(&stat)))),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Lists a znode's children (namespace-relative path), sorted. `None` if it does not exist.
    pub async fn get_children(&self, path: &str) -> Result<Option<Vec<String>>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &full, async |zk| zk.get_children(&full).await)
                        .await
                    {
                        Ok((mut children, _)) => {
                            children.sort();
                            Ok(Some(children))
                        }
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Creates one znode (namespace-relative path; the parent must exist); unfenced and sent
    /// once (after a connection loss the outcome is unknown: `ConnectionLoss`). Returns the
    /// created path (with the sequence suffix for sequential modes) and its stat.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: NodeMode,
    ) -> Result<(String, NodeStat)> {
        let full = self.resolve(path)?;
        self.inner().check_payload(&full, data.len())?;
        let inner = self.inner().clone();
        let data = data.to_vec();
        runtime::run(async move {
            let s = inner.session().await?;
            let opts = mode.to_zk().with_acls(inner.acls());
            let (stat, seq) = inner
                .run(&s, &full, async |zk| zk.create(&full, &data, &opts).await)
                .await?;
            let created = match mode {
                NodeMode::PersistentSequential | NodeMode::EphemeralSequential => {
                    format!("{full}{seq}")
                }
                _ => full,
            };
            Ok((inner.relative(&created), NodeStat::from(&stat)))
        })
        .await
    }

    /// Deletes one znode if its data version is `version` (`None`: any); unfenced and sent
    /// once. `NoNode`, `BadVersion` and `NotEmpty` are errors of that kind.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            let s = inner.session().await?;
            inner
                .run(&s, &full, async |zk| zk.delete(&full, version).await)
                .await
        })
        .await
    }

    /// Creates or overwrites a persistent znode (and its parents) with `data`; unfenced.
    pub async fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        let full = self.resolve(path)?;
        self.inner().check_payload(&full, data.len())?;
        let inner = self.inner().clone();
        let data = data.to_vec();
        // Idempotent: the end state is the same however often it runs.
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    inner.ensure_parents(&s, &full).await?;
                    let opts = zk::CreateMode::Persistent.with_acls(inner.acls());
                    match inner
                        .run(&s, &full, async |zk| zk.create(&full, &data, &opts).await)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == ErrorKind::NodeExists => inner
                            .run(&s, &full, async |zk| zk.set_data(&full, &data, None).await)
                            .await
                            .map(|_| ()),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Makes this client's next reads see every write the ensemble committed before this call
    /// (ZooKeeper's `sync`: a server may otherwise answer from a slightly older state). Use it
    /// before reading what another client has just written.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner.run(&s, &full, async |zk| zk.sync(&full).await).await {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Deletes a znode and everything below it (namespace-relative path); unfenced.
    pub async fn delete_recursive(&self, path: &str) -> Result<()> {
        let full = self.resolve(path)?;
        if full == "/" {
            return Err(Error::invalid("refusing to delete the root znode '/'"));
        }
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    inner.delete_tree(&s, &full).await
                })
                .await
        })
        .await
    }
}

/// What zkha tells about a znode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeStat {
    /// zxid of the creating transaction.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Data version.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// Owning session of an ephemeral node (0 for persistent ones).
    pub ephemeral_owner: i64,
    /// Number of children.
    pub num_children: i32,
    /// Data length.
    pub data_length: i32,
}

impl From<&zk::Stat> for NodeStat {
    fn from(s: &zk::Stat) -> NodeStat {
        NodeStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            version: s.version,
            cversion: s.cversion,
            ephemeral_owner: s.ephemeral_owner,
            num_children: s.num_children,
            data_length: s.data_length,
        }
    }
}

/// A stream of [`ConnectionState`] changes (ends after `Closed`).
pub type StateEvents = EventStream<ConnectionState>;

impl Inner {
    pub(crate) fn subscribe(&self) -> StateEvents {
        self.subscribers.subscribe(|| [*self.state.borrow()])
    }

    fn emit(self: &Arc<Self>, state: ConnectionState) {
        Metrics::inc(&self.metrics.state_transitions);
        let counter = match state {
            ConnectionState::Connected { .. } => Some(&self.metrics.connects),
            ConnectionState::Suspended { .. } => Some(&self.metrics.suspensions),
            ConnectionState::Reconnected { .. } => Some(&self.metrics.reconnects),
            ConnectionState::Lost => Some(&self.metrics.leases_lost),
            ConnectionState::Expired { .. } => Some(&self.metrics.expiries),
            _ => None,
        };
        if let Some(c) = counter {
            Metrics::inc(c);
        }
        tracing::info!(target: "zkha::session", ?state, "connection state");
        self.subscribers.publish_with(|| {
            self.state.send_replace(state);
            Some(state)
        });
        self.holds.on_state(self, state);
    }

    pub(crate) fn current(&self) -> Option<Arc<Session>> {
        self.session.borrow().clone()
    }

    /// True while `s` is the client's current session.
    pub(crate) fn is_current(&self, s: &Session) -> bool {
        self.session
            .borrow()
            .as_ref()
            .is_some_and(|c| c.generation == s.generation)
    }

    pub(crate) fn is_closing(&self) -> bool {
        *self.closing.borrow()
    }

    pub(crate) fn closing_watch(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    pub(crate) fn session_watch(&self) -> watch::Receiver<Option<Arc<Session>>> {
        self.session.subscribe()
    }

    fn begin_close(self: &Arc<Self>) {
        self.closing.send_replace(true);
        self.holds.on_state(self, ConnectionState::Closed);
    }

    /// The client's liveness endpoint, bound on first use (`None` with the link off).
    pub(crate) fn liveness_endpoint(&self) -> Result<Option<Arc<Endpoint>>> {
        if !self.options.liveness.enabled {
            return Ok(None);
        }
        let mut slot = self.liveness.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(ep) = slot.as_ref() {
            return Ok(Some(ep.clone()));
        }
        let ep = Endpoint::bind(
            &self.options.liveness,
            self.route_ip,
            self.closed.subscribe(),
        )?;
        tracing::info!(target: "zkha::election", listen = %ep.local_addr(),
            advertised = ep.advertised().unwrap_or("(none)"), "liveness endpoint up");
        *slot = Some(ep.clone());
        Ok(Some(ep))
    }

    /// The current session, waiting up to the operation timeout for one to open.
    pub(crate) async fn session(&self) -> Result<Arc<Session>> {
        let mut rx = self.session.subscribe();
        let wait = self
            .options
            .operation_timeout
            .unwrap_or(self.options.session_timeout);
        let found = tokio::time::timeout(wait, async {
            loop {
                if self.is_closing() {
                    return Err(Error::closed("client"));
                }
                if let Some(s) = rx.borrow_and_update().clone() {
                    return Ok(s);
                }
                if rx.changed().await.is_err() {
                    return Err(Error::closed("client"));
                }
            }
        })
        .await;
        match found {
            Ok(r) => r,
            // A timeout, not a connection loss: `retrying` must not wait this long again.
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no ZooKeeper session could be opened within {wait:?}"),
            )),
        }
    }

    pub(crate) fn resolve(&self, p: &str, what: &str) -> Result<String> {
        path::validate(p, what)?;
        let full = if self.namespace.is_empty() {
            p.to_string()
        } else {
            path::join(&self.namespace, p)
        };
        Ok(full)
    }

    /// The namespace-relative form of a full path (the inverse of [`Inner::resolve`]).
    pub(crate) fn relative(&self, full: &str) -> String {
        match full.strip_prefix(self.namespace.as_str()) {
            Some("") if !self.namespace.is_empty() => "/".to_string(),
            Some(rest) if !self.namespace.is_empty() && rest.starts_with('/') => rest.to_string(),
            _ => full.to_string(),
        }
    }

    pub(crate) fn acls(&self) -> zk::Acls<'static> {
        match self.options.acl {
            AclMode::Open => zk::Acls::anyone_all(),
            AclMode::Creator => zk::Acls::creator_all(),
        }
    }

    /// Refuses a payload above the server's limit before sending it.
    pub(crate) fn check_payload(&self, path: &str, len: usize) -> Result<()> {
        if len > self.options.max_payload {
            return Err(Error::new(
                ErrorKind::TooLarge,
                format!(
                    "payload of {len} bytes for {path} exceeds the limit of {} bytes \
                     (ZooKeeper's jute.maxbuffer; raise it on the servers and in the client options \
                     together)",
                    self.options.max_payload
                ),
            ));
        }
        Ok(())
    }

    /// Awaits a request future created at `sent`, recording latency and renewing the lease
    /// if the server answered. The future must have been created just before this call
    /// (zookeeper-client sends at creation).
    pub(crate) async fn run_at<T, F>(
        &self,
        s: &Session,
        path: &str,
        sent: Instant,
        fut: F,
    ) -> Result<T>
    where
        F: Future<Output = std::result::Result<T, zk::Error>>,
    {
        let limit = self.options.operation_timeout_for(s.timeout);
        let r = tokio::time::timeout(limit, fut).await;
        let took = sent.elapsed();
        match r {
            Ok(Ok(v)) => {
                self.lease.note(s.generation, sent);
                self.metrics.record_op(took, true);
                Ok(v)
            }
            Ok(Err(e)) => {
                if Error::server_answered(&e) {
                    self.lease.note(s.generation, sent);
                }
                self.metrics.record_op(took, false);
                Err(Error::zk(e, path))
            }
            Err(_) => {
                self.metrics.record_op(took, false);
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("no answer within {limit:?} (path {path}); the outcome is unknown"),
                ))
            }
        }
    }

    /// Runs `attempt` (a whole idempotent operation: repeating it after an unknown outcome
    /// does no harm) and repeats it after a connection loss, per the retry policy, until it
    /// succeeds, fails for another reason, or the client closes. The first repeat goes at
    /// once (the client holds a request made while disconnected until it has reconnected,
    /// within the operation timeout); later ones after the policy's backoff. An operation
    /// timeout is not repeated (that wait would only be multiplied), nor is a session expiry:
    /// an operation never silently crosses into the next session (a leader's pending reads
    /// fail with the session that made it leader).
    pub(crate) async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let mut retry = 0u32;
        loop {
            match attempt().await {
                Err(e)
                    if e.kind() == ErrorKind::ConnectionLoss
                        && retry < self.options.retry.max_retries
                        && !self.is_closing() =>
                {
                    tracing::debug!(target: "zkha::session", error = %e, retry, "repeating an idempotent operation");
                    if retry > 0 {
                        tokio::time::sleep(self.options.retry.wait(retry - 1)).await;
                    }
                    retry += 1;
                }
                r => return r,
            }
        }
    }

    /// Sends one request of session `s` (made by `make` from the session's client) and awaits
    /// it as [`Inner::run_at`] does. The send time is taken before the request exists, so the
    /// lease never counts from later than the request really left.
    pub(crate) async fn run<T, F>(&self, s: &Session, path: &str, make: F) -> Result<T>
    where
        F: AsyncFnOnce(&zk::Client) -> std::result::Result<T, zk::Error>,
    {
        let zk = s.zk()?;
        let sent = Instant::now();
        self.run_at(s, path, sent, make(&zk)).await
    }

    /// Creates the persistent parents of `path` that are missing.
    pub(crate) async fn ensure_parents(&self, s: &Session, full: &str) -> Result<()> {
        self.ensure_path(s, path::parent(full)).await
    }

    /// Creates `dir` and its ancestors as persistent znodes where missing.
    pub(crate) async fn ensure_path(&self, s: &Session, dir: &str) -> Result<()> {
        if dir == "/" {
            return Ok(());
        }
        // Fast path: it exists.
        if self
            .run(s, dir, async |zk| zk.check_stat(dir).await)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let opts = zk::CreateMode::Persistent.with_acls(self.acls());
        let mut at = String::new();
        for seg in dir[1..].split('/') {
            at.push('/');
            at.push_str(seg);
            match self
                .run(s, &at, async |zk| zk.create(&at, &[], &opts).await)
                .await
            {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NodeExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `full` and every node below it, children before their parents (empty if `full` does
    /// not exist).
    pub(crate) async fn subtree(&self, s: &Session, full: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![(full.to_string(), false)];
        while let Some((p, expanded)) = stack.pop() {
            if expanded {
                out.push(p);
                continue;
            }
            match self.run(s, &p, async |zk| zk.get_children(&p).await).await {
                Ok((children, _)) => {
                    stack.push((p.clone(), true));
                    for c in children {
                        stack.push((path::join(&p, &c), false));
                    }
                }
                Err(e) if e.kind() == ErrorKind::NoNode => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Deletes `full` and its subtree (children first); missing nodes are fine, a node that
    /// gained children meanwhile is listed again.
    pub(crate) async fn delete_tree(&self, s: &Session, full: &str) -> Result<()> {
        'list: loop {
            for p in self.subtree(s, full).await? {
                match self.run(s, &p, async |zk| zk.delete(&p, None).await).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NoNode => {}
                    Err(e) if e.kind() == ErrorKind::NotEmpty => continue 'list,
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
    }
}

/// Opens a new session, retrying per the retry policy (forever after the first session,
/// until the client closes).
async fn open_session(inner: Arc<Inner>) -> Result<(zk::Client, Instant)> {
    let o = &inner.options;
    let mut retry = 0u32;
    loop {
        let started = Instant::now();
        let attempt = zk::Client::connector()
            .with_session_timeout(o.session_timeout)
            .with_connection_timeout(o.connection_timeout)
            .connect(&o.connect_string);
        let limit = o.session_timeout.max(o.connection_timeout) + Duration::from_secs(1);
        let err = match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(zk)) => return Ok((zk, started)),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no session within {limit:?}"),
        };
        let first =
            inner.current().is_none() && *inner.state.borrow() == ConnectionState::Connecting;
        if inner.is_closing() {
            return Err(Error::closed("client"));
        }
        if first && retry >= o.retry.max_retries {
            return Err(Error::new(
                ErrorKind::ConnectionLoss,
                format!(
                    "cannot open a ZooKeeper session with {:?} after {} attempts: {err}",
                    o.connect_string,
                    retry + 1
                ),
            ));
        }
        tracing::warn!(target: "zkha::session", connect_string = %o.connect_string, error = %err, "connecting failed; retrying");
        let wait = o.retry.wait(retry);
        retry = retry.saturating_add(1);
        let mut closing = inner.closing_watch();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = until_true(&mut closing) => return Err(Error::closed("client")),
        }
    }
}

/// Why a session's monitor ended.
enum End {
    /// The session expired; `lease_was_running` if it was suspended with its lease not yet
    /// reported lost.
    Expired {
        lease_was_running: bool,
    },
    Closed,
}

/// Owns the sessions of a client: publishes each, monitors it, re-opens after expiry.
async fn supervise(inner: Arc<Inner>, first: zk::Client, first_started: Instant) {
    let mut next = Some((first, first_started));
    let mut generation = 0u64;
    loop {
        let (zk, started) = match next.take() {
            Some(s) => s,
            None => match open_session(inner.clone()).await {
                Ok(s) => s,
                Err(_) => break,
            },
        };
        generation += 1;
        let states = zk.state_watcher();
        let session = Arc::new(Session::new(zk, generation));
        let timeout = session.timeout;
        let margin = inner.options.lease_margin_for(timeout);
        inner
            .lease
            .reset(generation, started, timeout.saturating_sub(margin));
        // State first: once `connect` returns (it waits for the session), the state says so.
        inner.emit(ConnectionState::Connected {
            session_id: session.id,
            session_timeout: timeout,
        });
        inner.session.send_replace(Some(session.clone()));
        let session_id = session.id;
        let end = monitor(&inner, session, states).await;
        // Unpublish first, so whoever reacts to the events below sees no session.
        inner.lease.invalidate();
        inner.session.send_replace(None);
        match end {
            End::Expired { lease_was_running } => {
                if lease_was_running {
                    inner.emit(ConnectionState::Lost);
                }
                inner.emit(ConnectionState::Expired { session_id });
                continue;
            }
            End::Closed => break,
        }
    }
    inner.lease.invalidate();
    inner.session.send_replace(None);
    inner.closed.send_replace(true);
    inner.emit(ConnectionState::Closed);
    inner.subscribers.close();
}

/// Watches one session until it expires or the client closes.
async fn monitor(inner: &Arc<Inner>, session: Arc<Session>, mut states: zk::StateWatcher) -> End {
    let mut closing = inner.closing_watch();
    let heartbeat_every = inner.options.heartbeat_for(session.timeout);
    let mut ticker = tokio::time::interval(heartbeat_every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (hb_tx, mut hb_rx) = mpsc::unbounded_channel::<bool>();
    let hb_outstanding = Arc::new(AtomicBool::new(false));
    let mut hb_sent_at = Instant::now();
    // A heartbeat unanswered this long suspends even before the client library notices.
    let silence_limit = session.timeout / 3;
    let mut suspended = false;
    let mut lost = false;

    loop {
        let lease_end = inner.lease.safe_until(session.generation);
        let lease_timer = async {
            match (suspended && !lost, lease_end) {
                (true, Some(t)) => tokio::time::sleep_until(t.into()).await,
                _ => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = until_true(&mut closing) => {
                // End the session whoever still holds it: CloseSession goes out once the
                // requests in flight are answered, and its ephemeral nodes go with it.
                inner.lease.invalidate();
                inner.session.send_replace(None);
                session.end();
                drop(session);
                let wait = async {
                    loop {
                        if states.peek_state() == zk::SessionState::Closed { break; }
                        let s = states.changed().await;
                        if s.is_terminated() { break; }
                    }
                };
                let _ = tokio::time::timeout(Duration::from_secs(5), wait).await;
                return End::Closed;
            }
            state = states.changed() => match state {
                zk::SessionState::Disconnected => {
                    if !suspended {
                        suspended = true;
                        suspend(inner, &session);
                    }
                }
                zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {
                    // Prove the session alive at once, renewing the lease.
                    send_heartbeat(inner, &session, &hb_tx, &hb_outstanding, &mut hb_sent_at, true);
                }
                zk::SessionState::Expired | zk::SessionState::AuthFailed => {
                    return End::Expired { lease_was_running: suspended && !lost };
                }
                zk::SessionState::Closed => return End::Closed,
            },
            Some(ok) = hb_rx.recv() => {
                if ok && suspended {
                    suspended = false;
                    lost = false;
                    inner.emit(ConnectionState::Reconnected { session_id: session.id });
                }
            }
            _ = ticker.tick() => {
                if hb_outstanding.load(Ordering::SeqCst) {
                    if !suspended && hb_sent_at.elapsed() >= silence_limit {
                        suspended = true;
                        suspend(inner, &session);
                    }
                } else {
                    send_heartbeat(inner, &session, &hb_tx, &hb_outstanding, &mut hb_sent_at, false);
                }
            }
            _ = lease_timer => {
                // Re-check: an answer may have renewed the lease meanwhile.
                if inner.lease.safe_until(session.generation).is_some_and(|t| t <= Instant::now()) {
                    lost = true;
                    inner.emit(ConnectionState::Lost);
                }
            }
        }
    }
}

/// Resolves once the watched flag is true (or its sender is gone).
pub(crate) async fn until_true(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}

fn suspend(inner: &Arc<Inner>, session: &Session) {
    let safe_until = inner
        .lease
        .safe_until(session.generation)
        .unwrap_or_else(Instant::now);
    inner.emit(ConnectionState::Suspended { safe_until });
}

/// Sends one heartbeat (`exists /`) unless one is outstanding; `force` sends anyway.
fn send_heartbeat(
    inner: &Arc<Inner>,
    session: &Arc<Session>,
    done: &mpsc::UnboundedSender<bool>,
    outstanding: &Arc<AtomicBool>,
    sent_at: &mut Instant,
    force: bool,
) {
    let Ok(zk) = session.zk() else {
        return;
    };
    if outstanding.swap(true, Ordering::SeqCst) && !force {
        return;
    }
    let sent = Instant::now();
    *sent_at = sent;
    let fut = zk.check_stat("/");
    drop(zk);
    let inner = inner.clone();
    let generation = session.generation;
    let done = done.clone();
    let outstanding = outstanding.clone();
    tokio::spawn(async move {
        let ok = fut.await.is_ok();
        if ok {
            inner.lease.note(generation, sent);
        }
        outstanding.store(false, Ordering::SeqCst);
        let _ = done.send(ok);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lease counts from a send time taken before the request was made, never after
    /// (a later time would stretch the lease past what the server's answer proves).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn send_time_is_taken_before_the_request_is_made() {
        let zk = zkha_testkit::Ensemble::start(1, zkha_testkit::Options::default()).unwrap();
        // A long session: no heartbeat renews the lease while the test runs.
        let c = Client::connect(
            ClientOptions::new(zk.connect_string()).session_timeout(Duration::from_secs(40)),
        )
        .await
        .unwrap();
        let inner = c.inner().clone();
        let s = inner.current().unwrap();
        let window = inner.lease.window_ns.load(Ordering::SeqCst);
        for _ in 0..20 {
            let made = Arc::new(Mutex::new(None));
            let m = made.clone();
            let inner2 = inner.clone();
            let s2 = s.clone();
            runtime::run(async move {
                inner2
                    .run(&s2, "/", async |zk| {
                        *m.lock().unwrap() = Some(Instant::now());
                        zk.check_stat("/").await
                    })
                    .await
            })
            .await
            .unwrap();
            let made = made.lock().unwrap().unwrap();
            let heard =
                inner.lease.safe_until(s.generation).unwrap() - Duration::from_nanos(window);
            assert!(
                heard <= made,
                "the lease counts from {:?} after the request was made",
                heard - made
            );
        }
    }
}
