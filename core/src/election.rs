//! Leader election on Curator's LeaderLatch protocol, so zkha contenders and Curator/Flink
//! JobManagers can share one latch.
//!
//! Each contender creates an `EPHEMERAL_SEQUENTIAL` node `_c_<uuid>-latch-<seq>` under the
//! latch path. The lowest sequence leads; every other contender watches only its immediate
//! predecessor. Before a grant the contender reads its own node and requires that its
//! `ephemeralOwner` is its own session (CURATOR-696). The fencing token of a grant is the
//! czxid of the winning node: zxids only grow, so tokens are monotonic on a path even when a
//! deleted parent makes sequence numbers restart.
//!
//! Leadership and the lease: a leader keeps leadership through a disconnect until the
//! session's `safe_until`, and revokes then ([`RevokeReason::LeaseExpired`]) unless it
//! reconnected; strict mode revokes on any disconnect. After a revocation the contender
//! deletes its node and joins again with a new one, so a later grant always has a larger
//! token. After a session expiry it rejoins under the new session by itself.
//!
//! Liveness link (fast crash failover, [`crate::liveness`]): each contender's node name
//! carries its client's liveness endpoint; the immediate successor holds a connection to it
//! while it waits. On evidence that the predecessor's process died (the link broke and
//! reconnects are refused), it deletes exactly that node (version-checked) and goes on with
//! the normal grant, ownership check included. Every contender watches its own node: a leader
//! whose node is deleted revokes at once (and its fenced writes fail anyway); a waiting one
//! joins again.
//!
//! Planned hand-over ([`Client::step_down`]): a leader whose latch node's data is set by
//! someone else (the write also makes its fenced writes fail: they check the node at the
//! version of the grant) revokes ([`RevokeReason::StepDown`]), deletes its node and joins
//! again at the end of the queue; its successor leads as soon as the node is gone.
//!
//! Cancellation: dropping the last [`Election`] handle (or [`Election::close`]) revokes and
//! deletes the contender's node in the background; `close` waits for it.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{watch, Notify};
use uuid::Uuid;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::fence::{Fence, Op, OpResult};
use crate::liveness::{self, Endpoint, Evidence, Registration};
use crate::metrics::Metrics;
use crate::queue::QueueNode;
use crate::session::{Anchor, Client, ConnectionState, Inner, Session};
use crate::{path, queue, runtime};

crate::contract::coded_enum! {
    /// Why leadership was revoked, or a held lock lost ([`LostReason`](crate::LostReason) is
    /// this type).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum RevokeReason ("reason") {
        /// Disconnected longer than the lease (the session may survive).
        LeaseExpired = 1, "lease_expired";
        /// The session expired.
        SessionExpired = 2, "session_expired";
        /// The latch or lock node was deleted by someone else (or its parent was).
        NodeDeleted = 3, "node_deleted";
        /// The contender, the lock or the client was closed.
        Closed = 4, "closed";
        /// Disconnected, and strict mode gives grants up on any disconnect.
        Suspended = 5, "suspended";
        /// Asked to hand over to the next contender ([`Client::step_down`]): the leader's
        /// latch node was rewritten by someone else.
        StepDown = 6, "step_down";
    }
}

/// A grant of leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leadership {
    /// Monotonic across grants on this latch path (czxid of the winning node).
    pub fencing_token: i64,
    /// A fresh UUID per grant (Flink's leader session id).
    pub leader_session_id: Uuid,
    /// Full path of the winning latch node.
    pub latch_node: String,
    /// The ZooKeeper session holding the grant.
    pub session_id: i64,
}

/// An election event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElectionEvent {
    /// This contender leads.
    Granted(Leadership),
    /// This contender no longer leads.
    Revoked {
        /// Why.
        reason: RevokeReason,
    },
    /// Contending fails for a reason that does not go away by itself (an ACL that refuses
    /// the latch node, a bad path): told once per run of failures; the contender keeps
    /// retrying with backoff, so fixing the cause lets it in without a restart.
    Error {
        /// What kind of failure.
        kind: ErrorKind,
        /// The core's message, naming the path.
        message: String,
    },
}

/// A contender's liveness link as it is now ([`Election::liveness`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LivenessStatus {
    /// The endpoint (`host:port`) named in this contender's latch node; `None` with the link
    /// off, before the node exists, or if no address could be determined.
    pub endpoint: Option<String>,
    /// The predecessor's endpoint this contender links to; `None` while leading, or if the
    /// predecessor names none (a Curator or Flink contender, or the link off there).
    pub peer: Option<String>,
    /// True while the link to `peer` is up (the endpoint confirmed it serves that node).
    /// Only a link that was up can ever yield evidence of death.
    pub linked: bool,
}

/// How to join an election.
#[derive(Debug, Clone)]
pub struct ElectionOptions {
    /// Identifies this participant (stored as the latch node's data unless `node_data` is set).
    pub participant_id: String,
    /// Data for the latch node (Curator and Flink ignore it).
    pub node_data: Option<Vec<u8>>,
}

impl ElectionOptions {
    /// Options for a participant id.
    pub fn new(participant_id: impl Into<String>) -> ElectionOptions {
        ElectionOptions {
            participant_id: participant_id.into(),
            node_data: None,
        }
    }
}

/// Current grant, with what a fence needs.
#[derive(Clone)]
struct Held {
    leadership: Leadership,
    session: Arc<Session>,
    version: i32,
}

struct Shared {
    inner: Arc<Inner>,
    latch: String,
    options: ElectionOptions,
    held: Mutex<Option<Held>>,
    own_node: Mutex<Option<QueueNode>>,
    /// Our node as a lease anchor of the client, while it exists.
    anchor: Mutex<Option<Anchor>>,
    /// The client's liveness endpoint (`None` with the link off).
    endpoint: Option<Arc<Endpoint>>,
    /// Our node's registration with the endpoint, while the node exists.
    registration: Mutex<Option<Registration>>,
    link: Mutex<LivenessStatus>,
    events: Subscribers<ElectionEvent>,
    /// Persistent failures in a row (backoff, and the error event only for the first).
    failures: AtomicU32,
    /// The told error of the current run of failures, renewed by each failed retry, `None`
    /// once contending works again: a wait learns of it even if begun after it was told.
    trouble: watch::Sender<Option<Trouble>>,
    /// Numbers told failures (never reset: a waiter tells a new failure from the one it saw).
    told: AtomicU64,
    /// Cuts a retry's backoff short: a waiter wants the outcome of an attempt made now.
    retry_now: Notify,
    close: watch::Sender<bool>,
    finished: watch::Sender<bool>,
}

/// A contender in a leader election. Cheap to clone.
#[derive(Clone)]
pub struct Election {
    handle: Arc<ElectionHandle>,
}

struct ElectionHandle {
    shared: Arc<Shared>,
    _client: Client,
}

impl Drop for ElectionHandle {
    fn drop(&mut self) {
        self.shared.close.send_replace(true);
    }
}

impl Client {
    /// Joins the election on `latch_path` (namespace-relative) as `participant_id`.
    pub fn election(&self, latch_path: &str, options: ElectionOptions) -> Result<Election> {
        let latch = self.inner().resolve(latch_path, "latch path")?;
        if options.participant_id.is_empty() {
            return Err(Error::invalid("participant id must not be empty"));
        }
        let endpoint = self.inner().liveness_endpoint()?;
        let shared = Arc::new(Shared {
            inner: self.inner().clone(),
            latch,
            options,
            held: Mutex::new(None),
            own_node: Mutex::new(None),
            anchor: Mutex::new(None),
            endpoint,
            registration: Mutex::new(None),
            link: Mutex::new(LivenessStatus::default()),
            events: Subscribers::default(),
            failures: AtomicU32::new(0),
            trouble: watch::Sender::new(None),
            told: AtomicU64::new(0),
            retry_now: Notify::new(),
            close: watch::channel(false).0,
            finished: watch::channel(false).0,
        });
        runtime::spawn(contend(shared.clone()));
        Ok(Election {
            handle: Arc::new(ElectionHandle {
                shared,
                _client: self.clone(),
            }),
        })
    }
}

impl Election {
    fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    /// Events from now on; if this contender leads, the stream starts with its `Granted`.
    pub fn events(&self) -> EventStream<ElectionEvent> {
        let sh = self.shared();
        sh.events.subscribe(|| {
            let held = sh.held.lock().unwrap_or_else(|p| p.into_inner());
            held.as_ref()
                .map(|h| ElectionEvent::Granted(h.leadership.clone()))
        })
    }

    /// True while this contender leads and its lease holds.
    pub fn has_leadership(&self) -> bool {
        self.leadership().is_some()
    }

    /// The current grant, if this contender leads and its lease holds.
    pub fn leadership(&self) -> Option<Leadership> {
        let held = self
            .shared()
            .held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()?;
        let ok = self.shared().inner.lease.holds(held.session.generation);
        ok.then_some(held.leadership)
    }

    /// Waits until this contender leads, up to `timeout`. Fails at once with the cause if
    /// contending fails persistently meanwhile ([`ElectionEvent::Error`]). If it was already
    /// failing when the wait began (the error told, the contender in its backoff), it tries
    /// again soon (at least [`FORCED_RETRY_GAP`] after the last failed attempt, so a caller
    /// looping on waits does not turn the backoff into a busy loop) and reports that
    /// attempt's outcome: the cause again, or the grant once the cause was fixed.
    pub async fn wait_for_leadership(&self, timeout: Duration) -> Result<Leadership> {
        let sh = self.shared();
        let mut events = self.events();
        let mut trouble = sh.trouble.subscribe();
        let wait = async {
            let standing = trouble.borrow_and_update().clone();
            let seen = standing.as_ref().map(|t| t.seq);
            let mut nudge_pending = standing.is_some();
            let gap = standing.map_or(Duration::ZERO, |t| {
                FORCED_RETRY_GAP.saturating_sub(t.at.elapsed())
            });
            let nudge = tokio::time::sleep(gap);
            tokio::pin!(nudge);
            loop {
                if let Some(l) = self.leadership() {
                    return Ok(l);
                }
                tokio::select! {
                    () = &mut nudge, if nudge_pending => {
                        nudge_pending = false;
                        // Wakes the backoff if the contender sleeps in one; an attempt under
                        // way reports by itself.
                        sh.retry_now.notify_waiters();
                    }
                    event = events.next() => match event {
                        Some(ElectionEvent::Granted(l)) => return Ok(l),
                        Some(ElectionEvent::Error { .. } | ElectionEvent::Revoked { .. }) => {}
                        None => return Err(Error::closed("election")),
                    },
                    changed = trouble.changed() => {
                        if changed.is_err() {
                            return Err(Error::closed("election"));
                        }
                        if let Some(t) = trouble.borrow_and_update().clone() {
                            if Some(t.seq) != seen {
                                return Err(Error::new(t.kind, t.message));
                            }
                        }
                    }
                }
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .unwrap_or_else(|_| {
                Err(Error::new(
                    ErrorKind::Timeout,
                    format!("not granted leadership within {timeout:?}"),
                ))
            })
    }

    /// The full path of this contender's latch node, once created.
    pub fn node(&self) -> Option<String> {
        self.shared()
            .own_node
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|n| n.path.clone())
    }

    /// The liveness link of this contender: its own endpoint, and its link to its
    /// predecessor.
    pub fn liveness(&self) -> LivenessStatus {
        self.shared().link()
    }

    /// The participant id.
    pub fn participant_id(&self) -> &str {
        &self.shared().options.participant_id
    }

    /// The full latch path.
    pub fn latch_path(&self) -> &str {
        &self.shared().latch
    }

    /// A fence for writes guarded by the current grant; `NotLeader` if not leading.
    pub fn fence(&self) -> Result<Fence> {
        let sh = self.shared();
        let held = sh.held.lock().unwrap_or_else(|p| p.into_inner()).clone();
        match (held, self.has_leadership()) {
            (Some(h), true) => Ok(Fence {
                inner: sh.inner.clone(),
                session: h.session.clone(),
                node: h.leadership.latch_node.clone(),
                version: h.version,
                token: h.leadership.fencing_token,
            }),
            _ => {
                Metrics::inc(&sh.inner.metrics.fenced_rejections);
                Err(Error::new(
                    ErrorKind::NotLeader,
                    format!(
                        "{} does not lead the election on {}",
                        sh.options.participant_id, sh.latch
                    ),
                ))
            }
        }
    }

    /// Runs `ops` atomically, guarded by the current grant (see [`Fence::multi`]).
    pub async fn fenced_multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        self.fence()?.multi(ops).await
    }

    /// Leaves the election: revokes if leading and deletes the latch node at once, so the next
    /// contender leads within about one round trip. Waits until done.
    pub async fn close(&self) {
        let sh = self.shared().clone();
        sh.close.send_replace(true);
        let mut finished = sh.finished.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(10), finished.wait_for(|f| *f)).await;
    }
}

/// How one pass in a session ended.
enum Pass {
    /// Close requested (or the client closed).
    Close,
    /// The session is gone; wait for the next.
    SessionGone,
    /// Delete our node (if any) and join again in the same session.
    Rejoin,
}

/// The contender's life: join, wait, lead, rejoin, across sessions, until closed.
async fn contend(sh: Arc<Shared>) {
    let inner = sh.inner.clone();
    let mut close = sh.close.subscribe();
    let mut client_closing = inner.closing_watch();
    let mut sessions = inner.session_watch();
    let mut states = inner.subscribe();
    'sessions: loop {
        // Wait for a session (or close).
        let session = loop {
            if *close.borrow() || *client_closing.borrow() {
                break 'sessions;
            }
            if let Some(s) = sessions.borrow_and_update().clone() {
                break s;
            }
            tokio::select! {
                r = sessions.changed() => if r.is_err() { break 'sessions },
                _ = close.changed() => {},
                _ = client_closing.changed() => {},
            }
        };
        loop {
            let pass = run_pass(&sh, &session, &mut states, &mut close, &mut client_closing).await;
            match pass {
                Pass::Close => {
                    revoke(&sh, RevokeReason::Closed);
                    delete_own_node(&sh, &session).await;
                    break 'sessions;
                }
                Pass::SessionGone => {
                    revoke(&sh, RevokeReason::SessionExpired);
                    *sh.own_node.lock().unwrap_or_else(|p| p.into_inner()) = None;
                    sh.forget_registration();
                    // Wait for a different session.
                    loop {
                        if *close.borrow() || *client_closing.borrow() {
                            break 'sessions;
                        }
                        let current = sessions.borrow_and_update().clone();
                        if current.is_some_and(|s| s.generation != session.generation) {
                            continue 'sessions;
                        }
                        tokio::select! {
                            r = sessions.changed() => if r.is_err() { break 'sessions },
                            _ = close.changed() => {},
                            _ = client_closing.changed() => {},
                        }
                    }
                }
                Pass::Rejoin => {
                    delete_own_node(&sh, &session).await;
                    if sessions.borrow().as_ref().map(|s| s.generation) != Some(session.generation)
                    {
                        continue 'sessions;
                    }
                }
            }
        }
    }
    revoke(&sh, RevokeReason::Closed);
    sh.events.close();
    sh.finished.send_replace(true);
}

/// Grants leadership on our latch `node` of session `s`, its `stat` read in that session (its
/// creation zxid is the fencing token), and tells subscribers.
fn grant(sh: &Shared, s: &Arc<Session>, node: &str, stat: &zk::Stat) {
    let held = Held {
        leadership: Leadership {
            fencing_token: stat.czxid,
            leader_session_id: Uuid::new_v4(),
            latch_node: node.to_string(),
            session_id: s.id,
        },
        session: s.clone(),
        version: stat.version,
    };
    sh.recovered();
    sh.anchor_held(true);
    Metrics::inc(&sh.inner.metrics.grants);
    tracing::info!(target: "zkha::election", latch = %sh.latch, id = %sh.options.participant_id,
        token = held.leadership.fencing_token, "leadership granted");
    sh.events.publish_with(|| {
        let event = ElectionEvent::Granted(held.leadership.clone());
        let mut slot = sh.held.lock().unwrap_or_else(|p| p.into_inner());
        // The gauge moves before the grant is visible: whoever sees it leading and then
        // scrapes finds it counted.
        if slot.is_none() {
            sh.inner.metrics.leading.fetch_add(1, Ordering::Relaxed);
        }
        *slot = Some(held);
        Some(event)
    });
}

/// Clears the grant (if any) and tells subscribers.
fn revoke(sh: &Shared, reason: RevokeReason) {
    let mut was_held = false;
    sh.events.publish_with(|| {
        let mut slot = sh.held.lock().unwrap_or_else(|p| p.into_inner());
        was_held = slot.take().is_some();
        // Counted before the revocation is visible (as in `grant`).
        if was_held {
            sh.inner.metrics.revoked(reason);
            sh.inner.metrics.leading.fetch_sub(1, Ordering::Relaxed);
        }
        was_held.then_some(ElectionEvent::Revoked { reason })
    });
    if was_held {
        sh.anchor_held(false);
        tracing::info!(target: "zkha::election", latch = %sh.latch, id = %sh.options.participant_id, ?reason, "leadership revoked");
    }
}

/// Deletes our latch node if it exists (the session's end removes it anyway), then stops
/// serving it on the liveness endpoint (in that order: a successor that still sees the node
/// finds it served).
async fn delete_own_node(sh: &Shared, s: &Arc<Session>) {
    let node = sh.own_node.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(node) = node {
        if let Err(e) = queue::leave_node(&sh.inner, s, &node).await {
            tracing::warn!(target: "zkha::election", node = %node.path, error = %e, "could not delete the latch node");
        }
    }
    sh.forget_registration();
}

impl Shared {
    fn link(&self) -> LivenessStatus {
        self.link.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn update_link(&self, f: impl FnOnce(&mut LivenessStatus)) {
        f(&mut self.link.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Our node is gone: its endpoint stops serving it (and closes its successor's link), and
    /// lease renewals no longer check it.
    fn forget_registration(&self) {
        self.anchor.lock().unwrap_or_else(|p| p.into_inner()).take();
        let reg = self
            .registration
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        drop(reg);
        self.update_link(|l| l.endpoint = None);
    }
}

/// Clears the link status when the wait on a predecessor ends, however it ends.
struct PeerStatus<'a>(&'a Shared);

impl Drop for PeerStatus<'_> {
    fn drop(&mut self) {
        self.0.update_link(|l| {
            l.peer = None;
            l.linked = false;
        });
    }
}

/// Deletes the predecessor's node `pred` on `evidence` that its process is gone: exactly that
/// node (its name is unique, and the delete requires the version we watched). Its session
/// `owner` is remembered as dead ([`crate::dead_sessions`]).
async fn force_takeover(
    sh: &Shared,
    s: &Session,
    pred: &str,
    version: i32,
    owner: i64,
    evidence: &Evidence,
) -> Result<()> {
    let inner = &sh.inner;
    match inner
        .run(s, pred, async |zk| zk.delete(pred, Some(version)).await)
        .await
    {
        Ok(()) => {
            Metrics::inc(&inner.metrics.forced_takeovers);
            inner.dead_sessions.note(owner);
            tracing::warn!(target: "zkha::election", latch = %sh.latch, id = %sh.options.participant_id,
                predecessor = %pred, %evidence,
                "forced takeover: deleted the latch node of a contender whose process is gone");
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::NoNode => {
            tracing::debug!(target: "zkha::election", predecessor = %pred, %evidence, "predecessor already gone");
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::BadVersion => {
            tracing::warn!(target: "zkha::election", predecessor = %pred, %evidence,
                "predecessor's node changed since it was watched; not deleting it");
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// True while the lease of session `s` holds.
fn lease_holds(inner: &Inner, s: &Session) -> bool {
    inner.lease.holds(s.generation)
}

/// Maps an operation error to how the pass ends; `None` if worth retrying.
fn pass_on_error(e: &Error) -> Option<Pass> {
    match e.kind() {
        ErrorKind::SessionExpired => Some(Pass::SessionGone),
        ErrorKind::Closed => Some(Pass::Close),
        _ => None,
    }
}

/// What to do after a failed step of a pass.
enum Failed {
    /// End the pass this way.
    End(Pass),
    /// A passing trouble (connection loss, timeout): repeat the step in place, keeping our
    /// node and our place in the queue.
    Repeat,
}

/// Consecutive NoNode failures of joining taken as a concurrent delete, before one is reported.
const QUIET_NO_NODE: u32 = 100;

/// The least time between a failed attempt and one a waiter forces (see
/// [`Election::wait_for_leadership`]).
const FORCED_RETRY_GAP: Duration = Duration::from_millis(500);

/// A persistent failure to contend, as told to waiters.
#[derive(Clone)]
struct Trouble {
    /// A number no other told failure of this contender has (a new number: a new attempt
    /// failed).
    seq: u64,
    /// When the attempt failed.
    at: Instant,
    kind: ErrorKind,
    message: String,
}

impl Shared {
    /// Marks our node as held (renewing every period) or waited with (keeping half a lease).
    fn anchor_held(&self, held: bool) {
        if let Some(a) = self
            .anchor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            a.set_held(held);
        }
    }

    /// Contending works again: the run of failures (and its told error) is over.
    fn recovered(&self) {
        self.failures.store(0, Ordering::SeqCst);
        self.trouble.send_if_modified(|t| t.take().is_some());
    }

    /// Decides what a failed step means: the session's end and closing end the pass; a
    /// connection loss or timeout repeats the step after a short wait; anything else is
    /// persistent: told once as an [`ElectionEvent::Error`], then retried by joining again
    /// after a growing wait (the retry policy's backoff).
    async fn failed(&self, e: Error) -> Failed {
        if let Some(p) = pass_on_error(&e) {
            return Failed::End(p);
        }
        let retry = &self.inner.options.retry;
        if e.is_retryable() {
            tracing::debug!(target: "zkha::election", latch = %self.latch, error = %e, "repeating a step");
            tokio::time::sleep(retry.wait(0)).await;
            return Failed::Repeat;
        }
        let n = self.failures.fetch_add(1, Ordering::SeqCst);
        // NoNode: the latch or a parent was deleted between its recreation and our create
        // (a finished Flink application's leader removing the cluster's root, CURATOR-724):
        // joining again recreates them. Only a run of them is reported (say, a chroot that
        // does not exist): Flink makes an election error fatal.
        if e.kind() == ErrorKind::NoNode && n < QUIET_NO_NODE {
            tracing::debug!(target: "zkha::election", latch = %self.latch, error = %e, "a parent vanished; joining again");
            tokio::time::sleep(retry.wait(0)).await;
            return Failed::End(Pass::Rejoin);
        }
        let first = if e.kind() == ErrorKind::NoNode {
            QUIET_NO_NODE
        } else {
            0
        };
        if n >= first {
            self.trouble.send_replace(Some(Trouble {
                seq: self.told.fetch_add(1, Ordering::SeqCst) + 1,
                at: Instant::now(),
                kind: e.kind(),
                message: e.message().to_string(),
            }));
        }
        if n == first {
            tracing::error!(target: "zkha::election", latch = %self.latch, id = %self.options.participant_id,
                error = %e, "cannot contend; retrying with backoff");
            self.events.publish_with(|| {
                Some(ElectionEvent::Error {
                    kind: e.kind(),
                    message: e.message().to_string(),
                })
            });
        }
        tokio::select! {
            _ = tokio::time::sleep(retry.wait(n)) => {}
            _ = self.retry_now.notified() => {}
        }
        Failed::End(Pass::Rejoin)
    }
}

/// What woke a queued contender.
enum Woke {
    /// Something changed: list the queue again.
    ListAgain,
    /// The only contender ahead of us was deleted.
    OnlyPredecessorGone,
    /// The liveness link found the predecessor's process gone.
    Evidence(Evidence),
}

/// One pass of joining and contending within one session.
async fn run_pass(
    sh: &Arc<Shared>,
    s: &Arc<Session>,
    states: &mut EventStream<ConnectionState>,
    close: &mut watch::Receiver<bool>,
    client_closing: &mut watch::Receiver<bool>,
) -> Pass {
    let inner = &sh.inner;
    let strict = inner.options.strict;
    // A failed step: end the pass, or repeat the step (list again) keeping our node.
    macro_rules! try_op {
        ($e:expr) => {
            match $e {
                Ok(v) => v,
                Err(e) => match sh.failed(e).await {
                    Failed::End(p) => return p,
                    Failed::Repeat => continue,
                },
            }
        };
    }
    if *close.borrow() || *client_closing.borrow() {
        return Pass::Close;
    }
    // Join: create our node (protected against connection loss during create; a join that
    // still fails leaves no node behind, so joining again is all there is to do).
    let (node, first_listing) = match create_own_node(sh, s).await {
        Ok(v) => v,
        Err(e) => match sh.failed(e).await {
            Failed::End(p) => return p,
            Failed::Repeat => return Pass::Rejoin,
        },
    };
    let own_name = path::name(&node).to_string();
    let mut listing = Some(first_listing);

    loop {
        if *close.borrow() || *client_closing.borrow() {
            return Pass::Close;
        }
        let children = match listing.take() {
            Some(c) => c,
            None => match inner
                .run(s, &sh.latch, async |zk| zk.get_children(&sh.latch).await)
                .await
            {
                Ok((c, _)) => c,
                // Parent deleted (CURATOR-724): our node went with it; join again.
                Err(e) if e.kind() == ErrorKind::NoNode => return Pass::Rejoin,
                Err(e) => try_op!(Err(e)),
            },
        };
        let children = try_op!(queue::drop_strays(inner, s, &sh.latch, &own_name, children).await);
        let contenders = queue::sorted(&children, &["latch-"]);
        let Some(idx) = contenders.iter().position(|(_, c)| *c == own_name) else {
            // Our node is gone (deleted by someone else): join again.
            revoke(sh, RevokeReason::NodeDeleted);
            return Pass::Rejoin;
        };
        if idx == 0 {
            // Ownership check before the grant (CURATOR-696), and the fencing token.
            let stat = match try_op!(
                inner
                    .run(s, &node, async |zk| zk.check_stat(&node).await)
                    .await
            ) {
                // A node whose data someone set (version > 0: zkha never writes its own) was
                // asked to step down before it led: give up the place, join again.
                Some(st) if st.ephemeral_owner == s.id && st.version == 0 => st,
                _ => return Pass::Rejoin,
            };
            grant(sh, s, &node, &stat);
            return lead(
                sh,
                s,
                &node,
                stat.version,
                states,
                close,
                client_closing,
                strict,
            )
            .await;
        }
        // Watch only the predecessor. If it vanished between listing and watching, the watch
        // call says so and we list again at once (no livelock, CURATOR-645). Our own node is
        // watched too (both requests leave together): if someone deletes it — a successor's
        // wrong liveness takeover, an operator — we join again at once.
        let pred_name = &contenders[idx - 1].1;
        let pred = path::join(&sh.latch, pred_name);
        let zk = try_op!(s.zk());
        let sent = Instant::now();
        let pred_req = zk.check_and_watch_stat(&pred);
        let own_req = zk.check_and_watch_stat(&node);
        let pred_watched = inner.run_at(s, &pred, sent, pred_req).await;
        let own_watched = inner.run_at(s, &node, sent, own_req).await;
        let (stat, watcher) = try_op!(pred_watched);
        let (own_stat, own_watcher) = try_op!(own_watched);
        if own_stat.is_none() {
            revoke(sh, RevokeReason::NodeDeleted);
            return Pass::Rejoin;
        }
        let Some(stat) = stat else { continue };
        // Queued and watching: whatever failed before works now.
        sh.recovered();
        // The liveness link to the predecessor, if it names an endpoint (we serve one too).
        let peer = sh
            .endpoint
            .as_ref()
            .and_then(|_| liveness::peer_of(pred_name));
        let _status = PeerStatus(sh);
        sh.update_link(|l| l.peer = peer.as_ref().map(|p| p.addr.clone()));
        let linked = |up: bool| sh.update_link(|l| l.linked = up);
        let link = async {
            match &peer {
                Some(p) => liveness::watch(p, &linked).await,
                None => std::future::pending().await,
            }
        };
        let fired = watcher.changed();
        let own_fired = own_watcher.changed();
        tokio::pin!(link, fired, own_fired);
        let woke = loop {
            tokio::select! {
                ev = &mut fired => {
                    if ev.event_type == zk::EventType::Session && ev.session_state.is_terminated() {
                        return Pass::SessionGone;
                    }
                    break if ev.event_type == zk::EventType::NodeDeleted && idx == 1 {
                        Woke::OnlyPredecessorGone
                    } else {
                        Woke::ListAgain
                    };
                }
                ev = &mut own_fired => match ev.event_type {
                    zk::EventType::NodeDeleted => {
                        revoke(sh, RevokeReason::NodeDeleted);
                        return Pass::Rejoin;
                    }
                    zk::EventType::Session if ev.session_state.is_terminated() => return Pass::SessionGone,
                    // Asked to step down while waiting (the request raced a hand-over): go
                    // to the end of the queue, as a leader would.
                    zk::EventType::NodeDataChanged => return Pass::Rejoin,
                    _ => break Woke::ListAgain,
                },
                evidence = &mut link => break Woke::Evidence(evidence),
                st = states.next() => match st {
                    None | Some(ConnectionState::Closed) => return Pass::SessionGone,
                    _ if !inner.is_current(s) => return Pass::SessionGone,
                    _ => {}
                },
                _ = close.changed() => return Pass::Close,
                _ = client_closing.changed() => return Pass::Close,
            }
        };
        if let Woke::OnlyPredecessorGone = woke {
            // The one contender ahead of us is gone, and none can come before us: sequence
            // numbers only grow. Our node is still ours unless its own watch says otherwise
            // (ZooKeeper tells a session's watches in order: a deletion of our node that came
            // first is ready now). So lead at once, without listing again (one round trip less
            // than Curator's hand-over); anything uncertain takes the normal path.
            // Any event of our own node (deleted, data set: asked to step down) takes the
            // normal path.
            let own_gone = crate::child_view::poll_now(&mut own_fired).is_some();
            let own = own_stat.filter(|st| st.ephemeral_owner == s.id && st.version == 0);
            if let Some(st) =
                own.filter(|_| !own_gone && inner.is_current(s) && lease_holds(inner, s))
            {
                drop(_status);
                grant(sh, s, &node, &st);
                return lead(
                    sh,
                    s,
                    &node,
                    st.version,
                    states,
                    close,
                    client_closing,
                    strict,
                )
                .await;
            }
        }
        if let Woke::Evidence(evidence) = woke {
            // Then list again: the normal path grants (ownership check included) or waits on
            // the next predecessor.
            if let Err(e) =
                force_takeover(sh, s, &pred, stat.version, stat.ephemeral_owner, &evidence).await
            {
                if let Some(p) = pass_on_error(&e) {
                    return p;
                }
                tracing::debug!(target: "zkha::election", predecessor = %pred, error = %e, "forced takeover failed; listing again");
            }
        }
    }
}

/// Leading: watch our own node and the connection; revoke on deletion, lease end, expiry,
/// (strict) suspension, or close. Connection states are handled while any request of ours is
/// in flight too, so a revocation is never delayed by a request stuck in a disconnect.
#[allow(clippy::too_many_arguments)]
async fn lead(
    sh: &Arc<Shared>,
    s: &Arc<Session>,
    node: &str,
    granted_version: i32,
    states: &mut EventStream<ConnectionState>,
    close: &mut watch::Receiver<bool>,
    client_closing: &mut watch::Receiver<bool>,
    strict: bool,
) -> Pass {
    let inner = &sh.inner;
    // Revoked while the session lives on: wait to reconnect (then rejoin) or for expiry.
    let mut revoked = false;
    // Events are only hints: each is checked against the state of *this* session, so a
    // stale event queued during an earlier session never acts on this one.
    let on_state = |st: Option<ConnectionState>, revoked: &mut bool| -> Option<Pass> {
        let current = inner.is_current(s);
        match st {
            None | Some(ConnectionState::Closed) => Some(Pass::SessionGone),
            _ if !current => Some(Pass::SessionGone),
            Some(ConnectionState::Lost) if !*revoked && !lease_holds(inner, s) => {
                revoke(sh, RevokeReason::LeaseExpired);
                *revoked = true;
                None
            }
            Some(ConnectionState::Suspended { .. }) if strict && !*revoked => {
                revoke(sh, RevokeReason::Suspended);
                *revoked = true;
                None
            }
            Some(ConnectionState::Reconnected { .. }) if *revoked => Some(Pass::Rejoin),
            _ => None,
        }
    };
    loop {
        // Watch our own node; keep handling states while the request is in flight.
        let watch_req = inner.run(s, node, async |zk| zk.check_and_watch_stat(node).await);
        tokio::pin!(watch_req);
        let watched = loop {
            tokio::select! {
                r = &mut watch_req => break r,
                st = states.next() => if let Some(p) = on_state(st, &mut revoked) { return p },
                _ = close.changed() => return Pass::Close,
                _ = client_closing.changed() => return Pass::Close,
            }
        };
        let (stat, watcher) = match watched {
            Ok(v) => v,
            Err(e) => {
                if let Some(p) = pass_on_error(&e) {
                    return p;
                }
                if revoked {
                    return Pass::Rejoin;
                }
                // Disconnected: the lease decides; try again shortly.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(stat) = stat else {
            revoke(sh, RevokeReason::NodeDeleted);
            return Pass::Rejoin;
        };
        if revoked {
            // Reconnected after the lease ran out: give up the node, join again.
            return Pass::Rejoin;
        }
        if stat.version != granted_version {
            // Its data was set between the grant and this watch: a step-down request whose
            // event came before the watch (and our fence no longer passes).
            revoke(sh, RevokeReason::StepDown);
            return Pass::Rejoin;
        }
        let fired = watcher.changed();
        tokio::pin!(fired);
        loop {
            tokio::select! {
                ev = &mut fired => {
                    match ev.event_type {
                        zk::EventType::NodeDeleted => {
                            revoke(sh, RevokeReason::NodeDeleted);
                            return Pass::Rejoin;
                        }
                        zk::EventType::Session if ev.session_state.is_terminated() => return Pass::SessionGone,
                        // Someone set our node's data: a request to step down (and our
                        // fence, which checks the grant's version, no longer passes).
                        zk::EventType::NodeDataChanged => {
                            revoke(sh, RevokeReason::StepDown);
                            return Pass::Rejoin;
                        }
                        _ => break, // watch again
                    }
                }
                st = states.next() => if let Some(p) = on_state(st, &mut revoked) { return p },
                _ = close.changed() => return Pass::Close,
                _ = client_closing.changed() => return Pass::Close,
            }
        }
    }
}

/// Joins the latch queue (pipelined create + list, protected against connection loss). With
/// the liveness link on, the node is `_c_<uuid>-zkha@<endpoint>-latch-<seq>`, registered
/// with the endpoint before it is created.
async fn create_own_node(sh: &Shared, s: &Arc<Session>) -> Result<(String, Vec<String>)> {
    let data = sh
        .options
        .node_data
        .clone()
        .unwrap_or_else(|| sh.options.participant_id.as_bytes().to_vec());
    let uuid = Uuid::new_v4().to_string();
    let advertised = sh
        .endpoint
        .as_ref()
        .and_then(|ep| ep.advertised().map(str::to_string));
    let registration = match (&sh.endpoint, &advertised) {
        (Some(ep), Some(_)) => Some(ep.register(&uuid)),
        _ => None,
    };
    let lock_name = liveness::latch_lock_name(advertised.as_deref());
    let (node, children) =
        queue::join_as(&sh.inner, s, &sh.latch, &uuid, &lock_name, &data, true).await?;
    let children = children.unwrap_or_default(); // always listed with `true`
    *sh.own_node.lock().unwrap_or_else(|p| p.into_inner()) = Some(node.clone());
    *sh.anchor.lock().unwrap_or_else(|p| p.into_inner()) =
        Some(sh.inner.anchors.add(s.generation, &node.path, false));
    *sh.registration.lock().unwrap_or_else(|p| p.into_inner()) = registration;
    sh.update_link(|l| l.endpoint = advertised);
    Ok((node.path, children))
}

/// Convenience for fenced ops on a namespace-relative path.
impl Election {
    /// Creates or replaces `path` with `data` as an ephemeral node of this leader, fenced.
    pub(crate) async fn publish_ephemeral(&self, rel: &str, data: &[u8]) -> Result<()> {
        let fence = self.fence()?;
        let sh = self.shared().clone();
        let rel = rel.to_string();
        let data = data.to_vec();
        runtime::run(
            async move { crate::leader_info::publish(&sh.inner, &fence, &rel, &data).await },
        )
        .await
    }

    /// Deletes `path` if this leader owns it, fenced.
    pub(crate) async fn delete_own_ephemeral(&self, rel: &str) -> Result<()> {
        let fence = self.fence()?;
        let sh = self.shared().clone();
        let rel = rel.to_string();
        runtime::run(async move { crate::leader_info::unpublish(&sh.inner, &fence, &rel).await })
            .await
    }
}
