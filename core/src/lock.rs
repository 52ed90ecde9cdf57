//! Distributed locks with Curator's node names, so a Curator process and a zkha process
//! exclude each other on one path:
//!
//! - [`Mutex`]: Curator `InterProcessMutex` (`_c_<uuid>-lock-<seq>`).
//! - [`ReadWriteLock`]: Curator `InterProcessReadWriteLock` (`__READ__` / `__WRIT__`): readers
//!   share, a writer excludes everyone.
//! - [`Semaphore`]: N leases on the same queue (Curator's first `InterProcessSemaphore`
//!   layout; not the `InterProcessSemaphoreV2` layout).
//!
//! An acquire sends `create` and `getChildren` back to back (one write round trip when
//! uncontended); waiters watch only the node that blocks them, so a release wakes exactly one
//! waiter. Every acquisition carries a fencing token (the czxid of its node) and can fence
//! writes ([`LockGuard::fence`]). A holder keeps the lock through a disconnect while its
//! lease holds; [`LockGuard::lost`] resolves when the lock is lost (the lease ran out, the
//! session expired, or the node was deleted).
//!
//! Cancellation: dropping an acquire future, or timing out, deletes the node it created;
//! dropping a [`LockGuard`] releases in the background; [`LockGuard::release`] waits for the
//! server's acknowledgement and retries through connection loss until the node is gone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::fence::Fence;
use crate::queue::{self, QueueNode};
use crate::session::{Client, ConnectionState, Inner, Session};
use crate::{path, runtime};

const LOCK: &str = "lock-";
const READ: &str = "__READ__";
const WRITE: &str = "__WRIT__";

/// Why a held lock was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// Disconnected longer than the lease.
    LeaseExpired,
    /// The session expired.
    SessionExpired,
    /// The lock node was deleted by someone else.
    NodeDeleted,
    /// The client was closed.
    Closed,
}

/// What kind of queue member a lock acquires.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// Holds while among the first `leases` nodes (mutex: 1).
    Exclusive {
        name: &'static str,
        leases: usize,
        names: &'static [&'static str],
    },
    /// Holds while no writer is ahead of it.
    Read,
}

/// A lock recipe bound to a path.
#[derive(Clone)]
struct Recipe {
    client: Client,
    path: String,
    kind: Kind,
}

/// A Curator-compatible mutex. Cheap to clone.
#[derive(Clone)]
pub struct Mutex {
    recipe: Recipe,
}

/// A Curator-compatible read-write lock.
#[derive(Clone)]
pub struct ReadWriteLock {
    read: Recipe,
    write: Recipe,
}

/// A counting semaphore with a fixed number of leases.
#[derive(Clone)]
pub struct Semaphore {
    recipe: Recipe,
}

impl Client {
    /// A mutex on `path` (namespace-relative).
    pub fn mutex(&self, path: &str) -> Result<Mutex> {
        let path = self.inner().resolve(path, "lock path")?;
        Ok(Mutex {
            recipe: Recipe {
                client: self.clone(),
                path,
                kind: Kind::Exclusive {
                    name: LOCK,
                    leases: 1,
                    names: &[LOCK],
                },
            },
        })
    }

    /// A read-write lock on `path` (namespace-relative).
    pub fn read_write_lock(&self, path: &str) -> Result<ReadWriteLock> {
        let path = self.inner().resolve(path, "lock path")?;
        Ok(ReadWriteLock {
            read: Recipe {
                client: self.clone(),
                path: path.clone(),
                kind: Kind::Read,
            },
            write: Recipe {
                client: self.clone(),
                path,
                kind: Kind::Exclusive {
                    name: WRITE,
                    leases: 1,
                    names: &[READ, WRITE],
                },
            },
        })
    }

    /// A semaphore with `leases` leases on `path` (namespace-relative).
    pub fn semaphore(&self, path: &str, leases: usize) -> Result<Semaphore> {
        if leases == 0 {
            return Err(Error::invalid("a semaphore needs at least one lease"));
        }
        let path = self.inner().resolve(path, "semaphore path")?;
        Ok(Semaphore {
            recipe: Recipe {
                client: self.clone(),
                path,
                kind: Kind::Exclusive {
                    name: LOCK,
                    leases,
                    names: &[LOCK],
                },
            },
        })
    }
}

impl Mutex {
    /// Acquires the mutex, waiting at most `timeout` (`None`: without limit).
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.recipe.acquire(timeout).await
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        &self.recipe.path
    }
}

impl ReadWriteLock {
    /// Acquires a shared (read) lock.
    pub async fn read(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.read.acquire(timeout).await
    }

    /// Acquires the exclusive (write) lock.
    pub async fn write(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.write.acquire(timeout).await
    }
}

impl Semaphore {
    /// Acquires one lease.
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.recipe.acquire(timeout).await
    }
}

/// Sets the cancel flag when the acquire future is dropped before it finished.
struct CancelOnDrop(Option<watch::Sender<bool>>);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            tx.send_replace(true);
        }
    }
}

impl Recipe {
    async fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        let (cancel_tx, cancel_rx) = watch::channel(false);
        let mut guard = CancelOnDrop(Some(cancel_tx));
        let recipe = self.clone();
        // Runs on the shared runtime; if this future is dropped, the task sees the cancel
        // flag and deletes its node; if the task finished but nobody takes the guard, the
        // guard's own Drop releases it.
        let task = runtime::spawn(async move { recipe.acquire_task(timeout, cancel_rx).await });
        let r = task.await.map_err(|_| Error::closed("client"))?;
        guard.0 = None;
        r
    }

    async fn acquire_task(
        &self,
        timeout: Option<Duration>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<LockGuard> {
        let inner = self.client.inner().clone();
        let deadline = timeout.map(|t| Instant::now() + t);
        let s = inner.session().await?;
        let (node, children) = queue::join(&inner, &s, &self.path, self.node_name(), &[]).await?;
        let waited = self
            .wait_turn(&inner, &s, &node, children, deadline, &mut cancel)
            .await;
        match waited {
            Ok(()) => Ok(LockGuard::new(self.client.clone(), s, node)),
            Err(e) => {
                // Leave no node behind: cancelled, timed out or failed.
                let _ = queue::leave(&inner, &s, &node.path).await;
                Err(e)
            }
        }
    }

    fn node_name(&self) -> &'static str {
        match self.kind {
            Kind::Exclusive { name, .. } => name,
            Kind::Read => READ,
        }
    }

    /// Waits until `node` holds the lock.
    async fn wait_turn(
        &self,
        inner: &Arc<Inner>,
        s: &Arc<Session>,
        node: &QueueNode,
        first_listing: Vec<String>,
        deadline: Option<Instant>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let mut listing = Some(first_listing);
        loop {
            let children = match listing.take() {
                Some(c) => c,
                None => {
                    inner
                        .run(s, &self.path, s.zk.get_children(&self.path))
                        .await?
                        .0
                }
            };
            let blockers = self.blockers(&children, &node.name)?;
            if blockers.is_empty() {
                return Ok(());
            }
            // Watch every node that blocks us; if one vanished meanwhile, list again.
            let mut watches = tokio::task::JoinSet::new();
            let mut vanished = false;
            for b in blockers {
                let b = path::join(&self.path, &b);
                let (stat, watcher) = inner.run(s, &b, s.zk.check_and_watch_stat(&b)).await?;
                if stat.is_none() {
                    vanished = true;
                    break;
                }
                watches.spawn(watcher.changed());
            }
            if vanished {
                continue;
            }
            crate::metrics::Metrics::inc(&inner.metrics.lock_waits);
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                ev = watches.join_next() => {
                    crate::metrics::Metrics::inc(&inner.metrics.lock_wakeups);
                    let Some(Ok(ev)) = ev else {
                        return Err(Error::closed("client"));
                    };
                    if ev.event_type == zk::EventType::Session && ev.session_state.is_terminated() {
                        return Err(Error::new(ErrorKind::SessionExpired, format!("session ended while waiting for {}", self.path)));
                    }
                }
                _ = sleep => {
                    return Err(Error::new(ErrorKind::Timeout, format!("lock {} not acquired within the timeout", self.path)));
                }
                _ = crate::session::until_true(cancel) => {
                    return Err(Error::new(ErrorKind::Interrupted, format!("acquiring {} was cancelled", self.path)));
                }
            }
        }
    }

    /// The children that block `own` (the ones to watch); empty if `own` holds the lock.
    ///
    /// Exclusive with N leases: the N nodes right ahead of ours. Deleting a node further
    /// ahead does not change whether we hold (N nodes stay ahead), so only these matter; a
    /// mutex (N = 1) watches just its predecessor, so each release wakes exactly one waiter.
    /// Read: the first writer ahead (Curator's read-lock predicate).
    fn blockers(&self, children: &[String], own: &str) -> Result<Vec<String>> {
        let names: &[&str] = match self.kind {
            Kind::Exclusive { names, .. } => names,
            Kind::Read => &[READ, WRITE],
        };
        let sorted = queue::sorted(children, names);
        let idx = sorted.iter().position(|(_, c)| c == own).ok_or_else(|| {
            Error::new(
                ErrorKind::NoNode,
                format!(
                    "our lock node {own} vanished from {} (deleted by someone else?)",
                    self.path
                ),
            )
        })?;
        Ok(match self.kind {
            Kind::Exclusive { leases, .. } if idx >= leases => sorted[idx - leases..idx]
                .iter()
                .map(|(_, c)| c.clone())
                .collect(),
            Kind::Exclusive { .. } => Vec::new(),
            Kind::Read => sorted[..idx]
                .iter()
                .find(|(_, c)| c.contains(WRITE))
                .map(|(_, c)| vec![c.clone()])
                .unwrap_or_default(),
        })
    }
}

/// A held lock (or lease). Dropping it releases in the background.
pub struct LockGuard {
    client: Client,
    session: Arc<Session>,
    node: QueueNode,
    released: Arc<AtomicBool>,
    lost: watch::Receiver<Option<LostReason>>,
    stop_monitor: watch::Sender<bool>,
    watch_node: watch::Sender<bool>,
}

impl std::fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LockGuard")
            .field("node", &self.node.path)
            .field("token", &self.node.czxid)
            .finish()
    }
}

impl LockGuard {
    fn new(client: Client, session: Arc<Session>, node: QueueNode) -> LockGuard {
        crate::metrics::Metrics::inc(&client.inner().metrics.grants);
        let (lost_tx, lost_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let (watch_tx, watch_rx) = watch::channel(false);
        runtime::spawn(monitor(
            client.inner().clone(),
            session.clone(),
            node.path.clone(),
            lost_tx,
            stop_rx,
            watch_rx,
        ));
        LockGuard {
            client,
            session,
            node,
            released: Arc::new(AtomicBool::new(false)),
            lost: lost_rx,
            stop_monitor: stop_tx,
            watch_node: watch_tx,
        }
    }

    /// The fencing token of this acquisition (czxid of the lock node).
    pub fn fencing_token(&self) -> i64 {
        self.node.czxid
    }

    /// The full path of the lock node.
    pub fn node(&self) -> &str {
        &self.node.path
    }

    /// True while the lock is held: not released, not lost, and the lease holds.
    pub fn is_held(&self) -> bool {
        !self.released.load(Ordering::SeqCst)
            && self.lost.borrow().is_none()
            && self
                .client
                .inner()
                .lease
                .safe_until(self.session.generation)
                .is_some_and(|t| t > Instant::now())
    }

    /// Resolves when the lock is lost (never, if it is released first): the lease ran out,
    /// the session expired, the client closed, or (watched from the first call on) the lock
    /// node was deleted.
    pub async fn lost(&self) -> LostReason {
        self.lost_future().await
    }

    /// Like [`LockGuard::lost`], as a `'static` future (for callbacks on another task).
    pub fn lost_future(&self) -> impl std::future::Future<Output = LostReason> + Send + 'static {
        self.watch_node.send_replace(true);
        let mut rx = self.lost.clone();
        async move {
            loop {
                if let Some(r) = *rx.borrow_and_update() {
                    return r;
                }
                if rx.changed().await.is_err() {
                    return std::future::pending().await;
                }
            }
        }
    }

    /// A fence for writes guarded by this lock.
    pub fn fence(&self) -> Result<Fence> {
        if !self.is_held() {
            return Err(Error::new(
                ErrorKind::NotLeader,
                format!("lock {} is not held", self.node.path),
            ));
        }
        Ok(Fence {
            inner: self.client.inner().clone(),
            session: self.session.clone(),
            node: self.node.path.clone(),
            version: self.node.version,
            token: self.node.czxid,
        })
    }

    /// Releases the lock and waits until ZooKeeper has deleted the node (retrying through
    /// connection loss; done at once if the session is gone, which removed the node).
    pub async fn release(self) -> Result<()> {
        self.release_ref().await
    }

    async fn release_ref(&self) -> Result<()> {
        if self.released.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.stop_monitor.send_replace(true);
        let inner = self.client.inner().clone();
        let s = self.session.clone();
        let node = self.node.path.clone();
        runtime::run(async move { queue::leave(&inner, &s, &node).await }).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if !self.released.swap(true, Ordering::SeqCst) {
            self.stop_monitor.send_replace(true);
            let inner = self.client.inner().clone();
            let s = self.session.clone();
            let node = self.node.path.clone();
            let client = self.client.clone();
            runtime::spawn(async move {
                let _ = queue::leave(&inner, &s, &node).await;
                drop(client);
            });
        }
    }
}

/// Watches a held lock: its node, the lease and the session. Reports the first loss.
async fn monitor(
    inner: Arc<Inner>,
    s: Arc<Session>,
    node: String,
    lost: watch::Sender<Option<LostReason>>,
    mut stop: watch::Receiver<bool>,
    want_node_watch: watch::Receiver<bool>,
) {
    let mut states = inner.subscribe();
    let _ = states.try_next(); // the current state
    let mut closing = inner.closing_watch();
    let stopped = stop.clone();
    let report = |r: LostReason| {
        if !*stopped.borrow() {
            tracing::warn!(target: "zkha::lock", node = %node, reason = ?r, "lock lost");
            lost.send_replace(Some(r));
        }
    };
    // The node itself is watched only once someone awaits `lost()`: it costs a request per
    // acquisition, and losing a lock normally comes from the lease or the session.
    let mut fired: Option<
        std::pin::Pin<Box<dyn std::future::Future<Output = zk::WatchedEvent> + Send>>,
    > = None;
    let mut want_watch = want_node_watch;
    loop {
        let watching = fired.is_some();
        let node_event = async {
            match fired.as_mut() {
                Some(f) => f.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = stop.changed() => return,
            _ = crate::session::until_true(&mut closing) => { report(LostReason::Closed); return; }
            _ = crate::session::until_true(&mut want_watch), if !watching => {
                match inner.run(&s, &node, s.zk.check_and_watch_stat(&node)).await {
                    Ok((Some(_), w)) => fired = Some(Box::pin(w.changed())),
                    Ok((None, _)) => { report(LostReason::NodeDeleted); return; }
                    Err(_) => fired = Some(Box::pin(std::future::pending())),
                }
            }
            ev = node_event => {
                match ev.event_type {
                    zk::EventType::NodeDeleted => report(LostReason::NodeDeleted),
                    zk::EventType::Session if ev.session_state.is_terminated() => report(LostReason::SessionExpired),
                    _ => { fired = None; continue; }
                }
                return;
            }
            st = states.next() => match st {
                Some(ConnectionState::Lost) if inner.lease.safe_until(s.generation).is_none_or(|t| t <= Instant::now()) => {
                    report(LostReason::LeaseExpired);
                    // The holder was told; do not keep blocking others once reconnected.
                    let _ = queue::leave(&inner, &s, &node).await;
                    return;
                }
                Some(ConnectionState::Expired { .. }) | Some(ConnectionState::Closed) | None => {
                    report(LostReason::SessionExpired);
                    return;
                }
                _ => {}
            },
        }
    }
}
