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
//! uncontended); a lock handle that keeps finding the lock free keeps an exact view of the
//! children ([`crate::child_view`]) and then sends the `create` alone. Waiters watch only the
//! node that blocks them, so a release wakes exactly one waiter. Every acquisition carries a fencing token (the czxid of its node) and can fence
//! writes ([`LockGuard::fence`]). A holder keeps the lock through a disconnect while its
//! lease holds; [`LockGuard::lost`] resolves when the lock is lost (the lease ran out, the
//! session expired, or the node was deleted).
//!
//! Cancellation: dropping an acquire future, or timing out, deletes the node it created;
//! dropping a [`LockGuard`] releases in the background; [`LockGuard::release`] waits for the
//! server's acknowledgement and retries through connection loss until the node is gone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::child_view::ChildView;
use crate::error::{Error, ErrorKind, Result};
use crate::fence::Fence;
use crate::holds::LostReason;
use crate::queue::{self, QueueNode};
use crate::session::{Client, Inner, Session};
use crate::{path, runtime};

const LOCK: &str = "lock-";
const READ: &str = "__READ__";
const WRITE: &str = "__WRIT__";

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
    /// Shared by every handle on this path of this client ([`ViewSlots`]).
    views: Arc<StdMutex<ViewSlot>>,
}

/// Uncontended acquires in a row after which a lock handle keeps a [`ChildView`].
const CALM_BEFORE_VIEW: u32 = 3;
/// How often a kept view is drained of the events of others' changes while no acquire asks.
const VIEW_DRAIN_EVERY: Duration = Duration::from_secs(1);
/// A view no acquire asked for this long is dropped (its watch removed).
const VIEW_IDLE: Duration = Duration::from_secs(10);

/// A lock handle's view of its parent's children, while the lock looks uncontended.
///
/// Every change of the parent is sent to every view holder, so a contended lock drops its
/// view (waiters watch only their predecessor, as before) and opens one again only after
/// [`CALM_BEFORE_VIEW`] uncontended acquires; an idle one goes after [`VIEW_IDLE`].
#[derive(Default)]
struct ViewSlot {
    view: Option<ChildView>,
    /// Counts installed views (a keeper task serves one).
    epoch: u64,
    opening: bool,
    calm: u32,
    /// The server cannot keep views exact (older than 3.9): never open one again.
    disabled: bool,
}

/// The view slots of one client, one per lock path, shared by every handle on that path: a
/// caller (or a binding) that makes a new handle for each acquire keeps the one-round-trip
/// acquire of a warm view. A slot no handle uses and that keeps no view is forgotten once the
/// map has doubled since it was last pruned.
#[derive(Default)]
pub(crate) struct ViewSlots {
    by_path: StdMutex<SlotMap>,
}

/// The slots by full path, and the map's size when it was last pruned.
#[derive(Default)]
struct SlotMap {
    pruned_at: usize,
    slots: HashMap<String, Arc<StdMutex<ViewSlot>>>,
}

impl ViewSlots {
    /// The slot of `path` (a full path).
    fn for_path(&self, path: &str) -> Arc<StdMutex<ViewSlot>> {
        let mut map = self.by_path.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = map.slots.get(path) {
            return s.clone();
        }
        if map.slots.len() >= (map.pruned_at * 2).max(64) {
            map.slots.retain(|_, s| {
                Arc::strong_count(s) > 1 || {
                    let slot = ViewSlot::lock(s);
                    slot.view.is_some() || slot.opening
                }
            });
            map.pruned_at = map.slots.len();
        }
        let s = Arc::new(StdMutex::new(ViewSlot::default()));
        map.slots.insert(path.to_string(), s.clone());
        s
    }
}

impl ViewSlot {
    /// Locks a handle's slot (a panic while it was held leaves it usable).
    fn lock(slot: &StdMutex<ViewSlot>) -> std::sync::MutexGuard<'_, ViewSlot> {
        slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the view (remembering if it showed the server too old for views).
    fn discard(&mut self) {
        if let Some(v) = self.view.take() {
            self.disabled |= v.old_server();
        }
    }
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
            recipe: Recipe::new(
                self,
                path,
                Kind::Exclusive {
                    name: LOCK,
                    leases: 1,
                    names: &[LOCK],
                },
            ),
        })
    }

    /// A read-write lock on `path` (namespace-relative).
    pub fn read_write_lock(&self, path: &str) -> Result<ReadWriteLock> {
        let path = self.inner().resolve(path, "lock path")?;
        Ok(ReadWriteLock {
            read: Recipe::new(self, path.clone(), Kind::Read),
            write: Recipe::new(
                self,
                path,
                Kind::Exclusive {
                    name: WRITE,
                    leases: 1,
                    names: &[READ, WRITE],
                },
            ),
        })
    }

    /// A semaphore with `leases` leases on `path` (namespace-relative).
    pub fn semaphore(&self, path: &str, leases: usize) -> Result<Semaphore> {
        if leases == 0 {
            return Err(Error::invalid("a semaphore needs at least one lease"));
        }
        let path = self.inner().resolve(path, "semaphore path")?;
        Ok(Semaphore {
            recipe: Recipe::new(
                self,
                path,
                Kind::Exclusive {
                    name: LOCK,
                    leases,
                    names: &[LOCK],
                },
            ),
        })
    }
}

crate::contract::coded_enum! {
    /// The kinds of lock, for callers that choose one at run time (see [`Client::lock`]).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub enum LockKind ("lock kind") {
        /// A [`Mutex`].
        Mutex = 0, "mutex";
        /// The shared side of a [`ReadWriteLock`].
        Read = 1, "read";
        /// The exclusive side of a [`ReadWriteLock`].
        Write = 2, "write";
        /// One lease of a [`Semaphore`].
        Semaphore = 3, "semaphore";
    }
}

/// A lock of a kind chosen at run time (the one dispatch the bindings share). Cheap to clone;
/// handles of one path share the client's view of the lock's children.
#[derive(Clone)]
pub struct Lock {
    kind: LockKind,
    recipe: Recipe,
}

impl Client {
    /// A lock of `kind` on `path` (namespace-relative); `leases` counts for a semaphore only
    /// (at least 1).
    pub fn lock(&self, kind: LockKind, path: &str, leases: usize) -> Result<Lock> {
        let recipe = match kind {
            LockKind::Mutex => self.mutex(path)?.recipe,
            LockKind::Read => self.read_write_lock(path)?.read,
            LockKind::Write => self.read_write_lock(path)?.write,
            LockKind::Semaphore => self.semaphore(path, leases)?.recipe,
        };
        Ok(Lock { kind, recipe })
    }
}

impl Lock {
    /// Acquires the lock, waiting at most `timeout` (`None`: without limit).
    pub async fn acquire(&self, timeout: Option<Duration>) -> Result<LockGuard> {
        self.recipe.acquire(timeout).await
    }

    /// The lock's kind.
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// The lock path.
    pub fn path(&self) -> &str {
        &self.recipe.path
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
    fn new(client: &Client, path: String, kind: Kind) -> Recipe {
        Recipe {
            views: client.inner().lock_views.for_path(&path),
            client: client.clone(),
            path,
            kind,
        }
    }

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

    /// Acquires, repeating what passing trouble spoils until the deadline: a join that failed
    /// on a connection loss or a timeout (it leaves no node behind), and a wait whose session
    /// expired (our node went with it: join again under the next session). Other errors,
    /// the deadline and cancellation end it.
    async fn acquire_task(
        &self,
        timeout: Option<Duration>,
        mut cancel: watch::Receiver<bool>,
    ) -> Result<LockGuard> {
        let inner = self.client.inner().clone();
        // A limit past what an Instant holds is no limit (`Duration::MAX` from a binding's `inf`).
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut attempt = 0u32;
        loop {
            let e = match self.acquire_once(&inner, deadline, &mut cancel).await {
                Ok(g) => return Ok(g),
                Err(e) => e,
            };
            let passing = e.is_retryable() || e.kind() == ErrorKind::SessionExpired;
            let expired = deadline.is_some_and(|d| Instant::now() >= d);
            if !passing || expired || inner.is_closing() || *cancel.borrow() {
                return Err(e);
            }
            tracing::debug!(target: "zkha::lock", path = %self.path, error = %e, "acquiring again");
            let wait = inner.options.retry.wait(attempt.min(5));
            attempt = attempt.saturating_add(1);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = until(deadline) => return Err(self.timed_out()),
                _ = crate::events::until_true(&mut cancel) => return Err(self.cancelled()),
            }
        }
    }

    /// One attempt: join the queue in the current session and wait for our turn.
    async fn acquire_once(
        &self,
        inner: &Arc<Inner>,
        deadline: Option<Instant>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<LockGuard> {
        let s = inner.session().await?;
        let use_view = self.view_ready(&s);
        let (node, listed) =
            queue::join(inner, &s, &self.path, self.node_name(), &[], !use_view).await?;
        let children = listed.or_else(|| {
            let c = self.view_children(&node.name);
            if c.is_some() {
                crate::metrics::Metrics::inc(&inner.metrics.lock_view_acquires);
            }
            c
        });
        self.note_contention(inner, &s, children.as_ref().map(Vec::len));
        // Alone in the queue (the uncontended case): granted, nothing to sort or watch.
        let alone = children
            .as_deref()
            .is_some_and(|c| c.len() == 1 && c[0] == node.name);
        let waited = if alone {
            Ok(())
        } else {
            self.wait_turn(inner, &s, &node, children, deadline, cancel)
                .await
        };
        match waited {
            Ok(()) => {
                let guard = LockGuard::new(self.client.clone(), s, node);
                let born_lost = *guard.lost.borrow();
                match born_lost {
                    // Granted, but its end was announced already: never hand it out (the
                    // dropped guard releases the node).
                    Some(reason) => Err(Error::new(
                        match reason {
                            LostReason::Closed => ErrorKind::Closed,
                            LostReason::LeaseExpired | LostReason::Suspended => {
                                ErrorKind::ConnectionLoss
                            }
                            _ => ErrorKind::SessionExpired,
                        },
                        format!("lock {} was lost as it was granted ({reason:?})", self.path),
                    )),
                    None => Ok(guard),
                }
            }
            Err(e) => {
                // Leave no node behind: cancelled, timed out or failed.
                let _ = queue::leave_node(inner, &s, &node).await;
                Err(e)
            }
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, ViewSlot> {
        ViewSlot::lock(&self.views)
    }

    /// True if this handle has an exact view of the children for session `s`.
    fn view_ready(&self, s: &Session) -> bool {
        let mut slot = self.slot();
        let ready = slot.view.as_mut().is_some_and(|v| v.usable_for(s));
        if !ready {
            slot.discard();
        }
        ready
    }

    /// The children from the view, once our node `own` is in it; `None` (and the view is
    /// dropped) if the view cannot tell.
    fn view_children(&self, own: &str) -> Option<Vec<String>> {
        let mut slot = self.slot();
        let children = slot.view.as_mut()?.children_with(own);
        if children.is_none() {
            slot.discard();
        }
        children
    }

    /// Keeps a view while acquires find the queue empty (`queued` = children seen right after
    /// our create, ours included); drops it on contention.
    fn note_contention(&self, inner: &Arc<Inner>, s: &Arc<Session>, queued: Option<usize>) {
        let mut slot = self.slot();
        if queued != Some(1) {
            slot.calm = 0;
            slot.discard();
            return;
        }
        slot.calm = slot.calm.saturating_add(1);
        if slot.view.is_some() || slot.opening || slot.disabled || slot.calm < CALM_BEFORE_VIEW {
            return;
        }
        slot.opening = true;
        let (inner, s, path, views) = (
            inner.clone(),
            s.clone(),
            self.path.clone(),
            self.views.clone(),
        );
        runtime::spawn(async move {
            let view = ChildView::open(&inner, &s, &path).await;
            let mut slot = ViewSlot::lock(&views);
            slot.opening = false;
            match view {
                // Still calm: keep it (a contended acquire meanwhile reset `calm`).
                Ok(v) if slot.calm >= CALM_BEFORE_VIEW => {
                    slot.view = Some(v);
                    slot.epoch += 1;
                    runtime::spawn(keep_view(Arc::downgrade(&views), slot.epoch));
                }
                Ok(v) => slot.disabled |= v.old_server(),
                Err(e) => {
                    tracing::debug!(target: "zkha::lock", path = %path, error = %e, "no child view")
                }
            }
        });
    }

    fn node_name(&self) -> &'static str {
        match self.kind {
            Kind::Exclusive { name, .. } => name,
            Kind::Read => READ,
        }
    }

    /// Waits until `node` holds the lock. A connection loss or a timed-out request while
    /// waiting is repeated in place (our node keeps its place) while the session lives.
    async fn wait_turn(
        &self,
        inner: &Arc<Inner>,
        s: &Arc<Session>,
        node: &QueueNode,
        first_listing: Option<Vec<String>>,
        deadline: Option<Instant>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        let mut listing = first_listing;
        let mut troubles = 0u32;
        loop {
            let children = match listing.take() {
                Some(c) => c,
                None => match inner
                    .run(s, &self.path, async |zk| zk.get_children(&self.path).await)
                    .await
                {
                    Ok((c, _)) => c,
                    Err(e) => {
                        self.pause(inner, s, e, &mut troubles, deadline, cancel)
                            .await?;
                        continue;
                    }
                },
            };
            let children =
                match queue::drop_strays(inner, s, &self.path, &node.name, children).await {
                    Ok(c) => c,
                    Err(e) => {
                        self.pause(inner, s, e, &mut troubles, deadline, cancel)
                            .await?;
                        continue;
                    }
                };
            let blockers = self.blockers(&children, &node.name)?;
            #[cfg(feature = "sabotage")]
            if inner
                .options
                .sabotaged(|s| *s == crate::options::Sabotage::LockDoesNotWait)
            {
                return Ok(());
            }
            if blockers.is_empty() {
                return Ok(());
            }
            // Watch every node that blocks us; if one vanished meanwhile, list again.
            let mut watches = tokio::task::JoinSet::new();
            let mut vanished = false;
            let mut failed = None;
            for b in blockers {
                let b = path::join(&self.path, &b);
                match inner
                    .run(s, &b, async |zk| zk.check_and_watch_stat(&b).await)
                    .await
                {
                    Ok((Some(_), watcher)) => {
                        watches.spawn(watcher.changed());
                    }
                    Ok((None, _)) => {
                        vanished = true;
                        break;
                    }
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            if let Some(e) = failed {
                self.pause(inner, s, e, &mut troubles, deadline, cancel)
                    .await?;
                continue;
            }
            if vanished {
                continue;
            }
            crate::metrics::Metrics::inc(&inner.metrics.lock_waits);
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
                _ = until(deadline) => return Err(self.timed_out()),
                _ = crate::events::until_true(cancel) => return Err(self.cancelled()),
            }
        }
    }

    /// After a request failed while waiting: a passing trouble (connection loss, timeout)
    /// while our session lives waits a little (the retry policy's backoff) and returns
    /// `Ok` to list again; anything else is the error.
    async fn pause(
        &self,
        inner: &Inner,
        s: &Session,
        e: Error,
        troubles: &mut u32,
        deadline: Option<Instant>,
        cancel: &mut watch::Receiver<bool>,
    ) -> Result<()> {
        if !e.is_retryable() || !inner.is_current(s) {
            return Err(e);
        }
        tracing::debug!(target: "zkha::lock", path = %self.path, error = %e, "repeating a request while waiting");
        let wait = inner.options.retry.wait((*troubles).min(5));
        *troubles = troubles.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(wait) => Ok(()),
            _ = until(deadline) => Err(self.timed_out()),
            _ = crate::events::until_true(cancel) => Err(self.cancelled()),
        }
    }

    fn timed_out(&self) -> Error {
        Error::new(
            ErrorKind::Timeout,
            format!("lock {} not acquired within the timeout", self.path),
        )
    }

    fn cancelled(&self) -> Error {
        Error::new(
            ErrorKind::Interrupted,
            format!("acquiring {} was cancelled", self.path),
        )
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

/// Resolves at `deadline` (never without one).
async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Drains the view of installment `epoch` every [`VIEW_DRAIN_EVERY`] (so events of others'
/// changes do not pile up between acquires) and drops it once idle for [`VIEW_IDLE`], broken,
/// replaced, or its lock handle is gone.
async fn keep_view(views: std::sync::Weak<StdMutex<ViewSlot>>, epoch: u64) {
    let mut tick = tokio::time::interval(VIEW_DRAIN_EVERY);
    tick.tick().await; // the first tick is immediate
    loop {
        tick.tick().await;
        let Some(views) = views.upgrade() else {
            return;
        };
        let mut slot = ViewSlot::lock(&views);
        if slot.epoch != epoch {
            return;
        }
        let Some(view) = slot.view.as_mut() else {
            return;
        };
        if view.last_used().elapsed() >= VIEW_IDLE || !view.catch_up() {
            slot.discard();
            return;
        }
    }
}

/// A held lock (or lease). Dropping it releases in the background.
pub struct LockGuard {
    client: Client,
    session: Arc<Session>,
    node: QueueNode,
    released: AtomicBool,
    /// Id in the client's [`crate::holds::Holds`], which reports the loss.
    hold: u64,
    lost: watch::Receiver<Option<LostReason>>,
    /// Stops the node watch (started by the first [`LockGuard::lost_future`]).
    node_watch: StdMutex<Option<watch::Sender<bool>>>,
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
        let inner = client.inner();
        crate::metrics::Metrics::inc(&inner.metrics.grants);
        let (hold, lost) = inner.holds.add(inner, session.clone(), node.path.clone());
        LockGuard {
            client,
            session,
            node,
            released: AtomicBool::new(false),
            hold,
            lost,
            node_watch: StdMutex::new(None),
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
            && self.client.inner().lease.holds(self.session.generation)
    }

    /// Resolves when the lock is lost (never, if it is released first): the lease ran out,
    /// the session expired, the client closed, or (watched from the first call on) the lock
    /// node was deleted.
    pub async fn lost(&self) -> LostReason {
        self.lost_future().await
    }

    /// Like [`LockGuard::lost`], as a `'static` future (for callbacks on another task).
    pub fn lost_future(&self) -> impl std::future::Future<Output = LostReason> + Send + 'static {
        self.watch_node();
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

    /// Watches the lock node (once): its deletion by someone else is a loss.
    fn watch_node(&self) {
        let mut slot = self.node_watch.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() || self.released.load(Ordering::SeqCst) {
            return;
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        *slot = Some(stop_tx);
        runtime::spawn(node_watch(
            self.client.inner().clone(),
            self.session.clone(),
            self.node.path.clone(),
            self.hold,
            stop_rx,
        ));
    }

    /// Marks the guard released and stops reporting; false if it already was.
    fn begin_release(&self) -> bool {
        if self.released.swap(true, Ordering::SeqCst) {
            return false;
        }
        let slot = self.node_watch.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(stop) = slot.as_ref() {
            stop.send_replace(true);
        }
        self.client.inner().holds.remove(self.hold);
        true
    }

    async fn release_ref(&self) -> Result<()> {
        if !self.begin_release() {
            return Ok(());
        }
        let inner = self.client.inner().clone();
        let s = self.session.clone();
        let node = self.node.clone();
        runtime::run(async move { queue::leave_node(&inner, &s, &node).await }).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if self.begin_release() {
            let inner = self.client.inner().clone();
            let s = self.session.clone();
            let node = self.node.clone();
            let client = self.client.clone();
            runtime::spawn(async move {
                let _ = queue::leave_node(&inner, &s, &node).await;
                drop(client);
            });
        }
    }
}

/// Watches a held lock's node until the guard is released; reports its deletion. (Lease,
/// session and close are reported by the client's [`crate::holds::Holds`].)
async fn node_watch(
    inner: Arc<Inner>,
    s: Arc<Session>,
    node: String,
    hold: u64,
    mut stop: watch::Receiver<bool>,
) {
    let mut attempt = 0u32;
    loop {
        let watched = tokio::select! {
            _ = crate::events::until_true(&mut stop) => return,
            r = inner.run(&s, &node, async |zk| zk.check_and_watch_stat(&node).await) => r,
        };
        let ev = match watched {
            Ok((Some(_), w)) => {
                attempt = 0;
                tokio::select! {
                    _ = crate::events::until_true(&mut stop) => return,
                    ev = w.changed() => ev,
                }
            }
            Ok((None, _)) => {
                inner.holds.report(hold, LostReason::NodeDeleted);
                return;
            }
            // Connection trouble: watch again while the session lives (its end, and the
            // lease, are reported by the client's holds).
            Err(e) if e.is_retryable() && inner.is_current(&s) => {
                let wait = inner.options.retry.wait(attempt.min(5));
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = crate::events::until_true(&mut stop) => return,
                    _ = tokio::time::sleep(wait) => continue,
                }
            }
            Err(_) => return,
        };
        match ev.event_type {
            zk::EventType::NodeDeleted => {
                inner.holds.report(hold, LostReason::NodeDeleted);
                return;
            }
            zk::EventType::Session if ev.session_state.is_terminated() => return,
            // A data change, or a reconnect: watch again.
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::ClientOptions;

    fn ensemble() -> &'static zkha_testkit::Ensemble {
        static ZK: OnceLock<zkha_testkit::Ensemble> = OnceLock::new();
        ZK.get_or_init(|| {
            zkha_testkit::Ensemble::start(1, zkha_testkit::Options::default()).unwrap()
        })
    }

    async fn connect() -> Client {
        let t = Duration::from_secs(4);
        Client::connect(ClientOptions::new(ensemble().connect_string()).session_timeout(t))
            .await
            .unwrap()
    }

    /// Two nodes of one join (same uuid), in session `s`: what a create applied after its
    /// answer was lost, then repeated, leaves. Returns (first, second).
    async fn twin_nodes(c: &Client, path: &str) -> (Arc<Session>, QueueNode, QueueNode) {
        let inner = c.inner().clone();
        let s = inner.session().await.unwrap();
        let uuid = uuid::Uuid::new_v4().to_string();
        let (first, _) = queue::join_as(&inner, &s, path, &uuid, LOCK, &[], false)
            .await
            .unwrap();
        let (mut second, _) = queue::join_as(&inner, &s, path, &uuid, LOCK, &[], false)
            .await
            .unwrap();
        second.unsure = true;
        (s, first, second)
    }

    /// Handles of one path share one view slot; the slots of paths no handle uses any more
    /// are forgotten, so a client locking ever new paths does not grow.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn view_slots_are_shared_per_path_and_forgotten_when_unused() {
        let c = connect().await;
        let a = c.mutex("/slots/a").unwrap();
        let b = c.mutex("/slots/a").unwrap();
        assert!(Arc::ptr_eq(&a.recipe.views, &b.recipe.views));
        let slots = || c.inner().lock_views.by_path.lock().unwrap().slots.len();
        for i in 0..1000 {
            let m = c.mutex(&format!("/slots/{i}")).unwrap();
            m.acquire(None).await.unwrap().release().await.unwrap();
        }
        assert!(slots() <= 130, "{} slots kept for 1000 paths", slots());
        assert!(Arc::ptr_eq(
            &a.recipe.views,
            &c.mutex("/slots/a").unwrap().recipe.views
        ));
    }

    /// A stray of our own join ahead of our node (the lost create landed first) is ours:
    /// it must not make us wait for ourselves until the session ends.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stray_of_our_own_join_ahead_does_not_block_us() {
        let c = connect().await;
        let m = c.mutex("/stray-ahead").unwrap();
        let (s, stray, own) = twin_nodes(&c, "/stray-ahead").await;
        let inner = c.inner().clone();
        let (_tx, mut cancel) = watch::channel(false);
        let deadline = Instant::now() + Duration::from_secs(5);
        m.recipe
            .wait_turn(&inner, &s, &own, None, Some(deadline), &mut cancel)
            .await
            .expect("granted: the node ahead was our own stray");
        assert!(
            c.get_data(&stray.path).await.unwrap().is_none(),
            "the stray is deleted"
        );
        assert_eq!(c.metrics().queue_strays, 1);
    }

    /// A stray behind our node (the lost create landed after our repeat) is swept when we
    /// release: otherwise it would hold the lock for a session that is not waiting for it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stray_behind_our_node_goes_when_we_release() {
        let c = connect().await;
        let other = connect().await;
        let (s, mut own, stray) = twin_nodes(&c, "/stray-behind").await;
        own.unsure = true;
        let guard = LockGuard::new(c.clone(), s, own);
        guard.release().await.unwrap();
        let taken = other
            .mutex("/stray-behind")
            .unwrap()
            .acquire(Some(Duration::from_secs(5)))
            .await;
        assert!(taken.is_ok(), "another client takes the lock: {taken:?}");
        assert!(
            c.get_data(&stray.path).await.unwrap().is_none(),
            "the stray is deleted"
        );
    }

    /// A lost create can be applied after the join that sent it has ended: the server held it
    /// (paused, or cut off from its leader) and processed it once it ran again, even after we
    /// released (torture seed 9100: both mutex workers stalled 20 s, until the owner's
    /// process exited). Such a stray, ahead of every later contender, must go too.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stray_that_lands_after_we_released_goes_too() {
        let c = connect().await;
        let other = connect().await;
        let inner = c.inner().clone();
        let s = inner.session().await.unwrap();
        let uuid = uuid::Uuid::new_v4().to_string();
        let (mut own, _) = queue::join_as(&inner, &s, "/stray-late", &uuid, LOCK, &[], false)
            .await
            .unwrap();
        own.unsure = true;
        LockGuard::new(c.clone(), s.clone(), own)
            .release()
            .await
            .unwrap();
        // The late create lands now, well after the release swept the uuid once.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (late, _) = queue::join_as(&inner, &s, "/stray-late", &uuid, LOCK, &[], false)
            .await
            .unwrap();
        let taken = other
            .mutex("/stray-late")
            .unwrap()
            .acquire(Some(Duration::from_secs(5)))
            .await;
        assert!(taken.is_ok(), "another client takes the lock: {taken:?}");
        assert!(
            c.get_data(&late.path).await.unwrap().is_none(),
            "the late stray is deleted"
        );
        assert_eq!(c.metrics().queue_strays, 1);
    }
}
