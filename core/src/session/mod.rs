//! The client: one ZooKeeper session at a time, its connection states, and the leadership
//! lease.
//!
//! - [`lease`]: how long the session is provably alive (the leadership lease).
//! - [`requests`]: sending one request of a session, and repeating idempotent operations.
//! - [`supervisor`]: opening sessions, watching them, heartbeats, re-opening after expiry.
//! - [`nodes`]: plain znode operations of a [`Client`].
//!
//! One listener is intended across modules: every connection-state change is told to the
//! client's held locks ([`crate::holds::Holds::on_state`], from [`Inner::emit`]), so a held
//! lock costs no task of its own.
//!
//! # States
//! `Connected` → (`Suspended` → `Reconnected` | `Lost` → `Reconnected`)* → `Expired` →
//! `Connected` (a new session, opened automatically) … → `Closed`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::holds::Holds;
use crate::liveness::Endpoint;
use crate::metrics::{Metrics, MetricsSnapshot};
use crate::options::{AclMode, ClientOptions};
use crate::{path, runtime};

mod lease;
mod nodes;
mod renewal;
mod requests;
mod supervisor;

pub(crate) use lease::{Lease, Stamp};
pub use nodes::{NodeMode, NodeStat};
pub(crate) use renewal::{Anchor, Anchors};

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

crate::contract::coded_enum! {
    /// The kind of a [`ConnectionState`], without its data: what bindings report.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum ConnectionStateKind ("connection state") {
        /// [`ConnectionState::Connecting`].
        Connecting = 0, "connecting";
        /// [`ConnectionState::Connected`].
        Connected = 1, "connected";
        /// [`ConnectionState::Suspended`].
        Suspended = 2, "suspended";
        /// [`ConnectionState::Reconnected`].
        Reconnected = 3, "reconnected";
        /// [`ConnectionState::Lost`].
        Lost = 4, "lost";
        /// [`ConnectionState::Expired`].
        Expired = 5, "expired";
        /// [`ConnectionState::Closed`].
        Closed = 6, "closed";
    }
}

impl ConnectionState {
    /// The state's kind (its stable code and name).
    pub fn kind(self) -> ConnectionStateKind {
        match self {
            ConnectionState::Connecting => ConnectionStateKind::Connecting,
            ConnectionState::Connected { .. } => ConnectionStateKind::Connected,
            ConnectionState::Suspended { .. } => ConnectionStateKind::Suspended,
            ConnectionState::Reconnected { .. } => ConnectionStateKind::Reconnected,
            ConnectionState::Lost => ConnectionStateKind::Lost,
            ConnectionState::Expired { .. } => ConnectionStateKind::Expired,
            ConnectionState::Closed => ConnectionStateKind::Closed,
        }
    }

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
    /// Ephemeral nodes of this client that a lease renewal may check.
    pub anchors: Arc<Anchors>,
    /// TLS certificates in use (reloaded when their files change).
    tls: Option<crate::security::TlsState>,
    /// The Kerberos login (SASL GSSAPI), if configured.
    kerberos: Option<Arc<crate::security::KerberosMechanism>>,
    /// The ACL of every znode zkha creates.
    acl: Vec<zk::Acl>,
    /// Sessions whose process the liveness link proved gone.
    pub dead_sessions: crate::dead_sessions::DeadSessions,
    /// The lock paths' child views, shared by every lock handle on a path.
    pub lock_views: crate::lock::ViewSlots,
    /// The HTTP endpoint serving the metrics (`ClientOptions::metrics`), while this client
    /// lives.
    metrics_endpoint: Option<Arc<crate::metrics::MetricsEndpoint>>,
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

/// A client handle that does not keep the client open: for background tasks that act for
/// the client's users only while they still hold it.
#[derive(Clone)]
pub(crate) struct WeakClient(std::sync::Weak<Handle>);

impl WeakClient {
    /// The client, unless its users have all let it go.
    pub(crate) fn upgrade(&self) -> Option<Client> {
        self.0.upgrade().map(|handle| Client { handle })
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
        let tls = match &options.tls {
            Some(cfg) => Some(crate::security::TlsState::load(cfg)?),
            None => None,
        };
        // Loads MIT Kerberos and logs in once, so that a misconfiguration fails here.
        let kerberos = match &options.sasl {
            Some(crate::security::Sasl::Kerberos(k)) => {
                let k = k.clone();
                let first_host = crate::options::parse_connect_string(&options.connect_string)?
                    .hosts
                    .first()
                    .map(|(h, _)| h.clone());
                Some(
                    runtime::handle()
                        .spawn_blocking(move || {
                            crate::security::KerberosMechanism::new(k, first_host.as_deref())
                        })
                        .await
                        .map_err(|_| Error::closed("client"))??,
                )
            }
            _ => None,
        };
        let acl = match &options.acl {
            AclMode::Open => zk::Acls::anyone_all().to_vec(),
            AclMode::Creator => zk::Acls::creator_all().to_vec(),
            AclMode::Custom(entries) if entries.is_empty() => {
                return Err(Error::invalid("an explicit ACL needs at least one entry"))
            }
            AclMode::Custom(entries) => entries.iter().map(|e| e.to_zk()).collect(),
        };
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
        let metrics_endpoint = match options.metrics.address {
            Some(addr) => Some(crate::metrics::shared_endpoint(
                addr,
                options.metrics.port_range_end,
            )?),
            None => None,
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
            anchors: Arc::default(),
            tls,
            kerberos,
            acl,
            dead_sessions: Default::default(),
            lock_views: Default::default(),
            metrics_endpoint,
        });
        crate::metrics::register(&inner);
        let first = runtime::spawn(supervisor::open_session(inner.clone()));
        let opened = match first.await {
            Ok(r) => r?,
            Err(_) => return Err(Error::closed("the zkha runtime")),
        };
        let t = opened.zk.session_timeout();
        let probe = inner.clone();
        let gap = runtime::spawn(async move { supervisor::relay_gap(&probe, t).await })
            .await
            .unwrap_or(t / 2);
        runtime::spawn(supervisor::supervise(inner.clone(), opened, gap));
        if let Some(every) = inner
            .tls
            .as_ref()
            .map(|t| t.every())
            .filter(|e| !e.is_zero())
        {
            // Certificates renewed on disk apply from the next connection.
            let weak = Arc::downgrade(&inner);
            runtime::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let Some(inner) = weak.upgrade() else { return };
                    if inner.is_closing() {
                        return;
                    }
                    if let Some(tls) = &inner.tls {
                        tls.reload_if_changed();
                    }
                }
            });
        }
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

    /// A [`WeakClient`] of this client.
    pub(crate) fn downgrade(&self) -> WeakClient {
        WeakClient(Arc::downgrade(&self.handle))
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

    /// Replaces the TLS CA certificates and/or the client certificate chain and key (those
    /// given; the others stay) without a new client: the next connection uses them, as a
    /// ZooKeeper Java client re-reads its stores at each connection. For certificates that are
    /// not files zkha watches (the Flink plugin converts changed JKS and PKCS12 stores and
    /// hands them over here). Nothing changes on an error, which says why; a client without
    /// TLS is an `InvalidArgument` error.
    pub fn replace_tls(
        &self,
        ca: Option<crate::security::Pem>,
        identity: Option<(crate::security::Pem, crate::security::Pem)>,
    ) -> Result<()> {
        match &self.inner().tls {
            Some(tls) => tls.replace(ca, identity),
            None => Err(Error::invalid(
                "this client does not use TLS: there are no certificates to replace",
            )),
        }
    }

    /// A copy of the metrics, with the connection state, lease and session timeout now.
    pub fn metrics(&self) -> MetricsSnapshot {
        self.inner().metrics_now()
    }

    /// The address the metrics endpoint listens on (`ClientOptions::metrics`), if any.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.inner()
            .metrics_endpoint
            .as_ref()
            .map(|e| e.local_addr())
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

    /// The counters with the connection state, lease and session timeout now.
    pub(crate) fn metrics_now(&self) -> MetricsSnapshot {
        let mut m = self.metrics.snapshot();
        let session = self.current();
        m.state = crate::contract::Coded::name(self.state.borrow().kind()).to_string();
        m.lease_remaining_ms = session
            .as_ref()
            .and_then(|s| self.lease.safe_until(s.generation))
            .map(|until| until.saturating_duration_since(Instant::now()).as_millis() as u64)
            .unwrap_or(0);
        m.session_timeout_ms = session.map_or(0, |s| s.timeout.as_millis() as u64);
        m.session_timeout_requested_ms = self.options.session_timeout.as_millis() as u64;
        m.locks_held = self.holds.count() as u64;
        m
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

    pub(crate) fn acls(&self) -> zk::Acls<'_> {
        zk::Acls::new(&self.acl)
    }

    /// The client library's connector for a session of timeout `t` (TLS, SASL, credentials).
    pub(crate) fn connector(&self, t: Duration) -> zk::Connector {
        crate::security::connector(
            &self.options,
            t,
            self.tls.as_ref().map(|s| s.certs()),
            self.kerberos.as_ref(),
        )
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
}
