//! Renewing the lease with requests the ZooKeeper leader must have taken part in.
//!
//! A chain on one session: `k`, an answered heartbeat (any request touches the session on
//! the server it reaches: the client library's pings, which it sends whenever the connection
//! was idle for a while, and the chains' own requests); then, at least `D` after k's answer, `j`, a `sync` (the server
//! answers it only after the leader's reply came back through the same FIFO link that
//! carries the touch relays); then, after j's answer, `m`, a multi with one `check` of an
//! ephemeral node of this session (a write: the leader checks the session and a quorum
//! commits it). With D at least the longest gap between the leader's pings to a learner, a
//! relay carrying k's touch reached the leader before m, so the leader set the session's
//! expiry later than `s_k + T`; m's commit shows that leader was the legitimate one. So
//! `lease = s_k + T - margin`. A reconnect in between only helps: the new server revalidates
//! the session at the leader, after s_k and before m. docs/failure-model.md has the
//! derivation and the ZooKeeper classes it rests on.
//!
//! Rule of continuity: a renewal counts only if m was answered before the lease it extends
//! ended (the leader may be expiring the session right as a late touch arrives); after a
//! lapse, two chains in a row are needed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use zookeeper_client as zk;

use super::lease::Stamp;
use super::{Inner, Session};
use crate::events::until_true;

/// Runs `make` (which sends one request and awaits it) between two readings of the lease
/// clock: the send time is taken before the request exists, the answer time after the
/// answer, so `sent <= the server's receipt <= answered`.
async fn timed<T>(make: impl AsyncFnOnce() -> T) -> (Stamp, T, Stamp) {
    let sent = Stamp::now();
    let out = make().await;
    (sent, out, Stamp::now())
}

/// The client library's pings on one session, as heartbeats: each answered ping goes into
/// `heard` with a time taken before it was queued and a time taken after its answer was
/// read (so `sent <= the server's receipt <= answered`).
#[derive(Default)]
pub(super) struct Pings {
    pub heard: Arc<Heard>,
    /// The pings not answered yet: number and send time, oldest first (one at a time on a
    /// connection; those of a connection that dropped stay until a later answer).
    outstanding: Mutex<VecDeque<(u64, Stamp)>>,
}

impl Pings {
    /// The observer to give the session's connector.
    pub(super) fn observer(self: &Arc<Self>) -> zk::PingObserver {
        let pings = Arc::downgrade(self);
        Arc::new(move |event| {
            if let Some(p) = pings.upgrade() {
                p.observe(event);
            }
        })
    }

    fn observe(&self, event: zk::PingEvent) {
        let mut outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        match event {
            zk::PingEvent::Sent(n) => {
                if outstanding.len() == 8 {
                    outstanding.pop_front();
                }
                outstanding.push_back((n, Stamp::now()));
            }
            zk::PingEvent::Answered(n) => {
                // Earlier pings will not be answered (their connection dropped).
                while outstanding.front().is_some_and(|(m, _)| *m < n) {
                    outstanding.pop_front();
                }
                // Only with the send time of this very ping: a later one would overstate
                // the lease.
                if let Some(&(m, sent)) = outstanding.front() {
                    if m == n {
                        outstanding.pop_front();
                        drop(outstanding);
                        self.heard.record(sent, Stamp::now());
                    }
                }
            }
        }
    }

    /// Since when a ping waits for its answer, if one does.
    pub(super) fn outstanding_since(&self) -> Option<Stamp> {
        let outstanding = self.outstanding.lock().unwrap_or_else(|p| p.into_inner());
        outstanding.front().map(|(_, sent)| *sent)
    }
}

/// Heartbeats answered on a session: `(sent, answered)`, newest last.
#[derive(Default)]
pub(super) struct Heard {
    log: Mutex<VecDeque<(Stamp, Stamp)>>,
}

impl Heard {
    const KEEP: usize = 64;

    pub(super) fn record(&self, sent: Stamp, answered: Stamp) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if log.len() == Self::KEEP {
            log.pop_front();
        }
        log.push_back((sent, answered));
    }

    /// The newest heartbeat answered no later than `by` (a chain's `k`).
    pub(super) fn newest_answered_by(&self, by: Stamp) -> Option<(Stamp, Stamp)> {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        log.iter().rev().find(|(_, a)| *a <= by).copied()
    }
}

/// Ephemeral nodes of the client's sessions that zkha knows of (latch and held lock nodes):
/// a chain's `check` names one, so it also fails once the session's ephemerals are being
/// deleted (with local sessions on, the leader's session check lets an unknown session
/// pass). Without one, the chain checks `/`. Whether one is held also sets how often the
/// session renews ([`Need`]).
#[derive(Default)]
pub(crate) struct Anchors {
    next: AtomicU64,
    nodes: Mutex<Vec<AnchorEntry>>,
    /// Told when a node starts being held: renew at once.
    renew_now: tokio::sync::Notify,
}

struct AnchorEntry {
    id: u64,
    generation: u64,
    path: String,
    held: bool,
}

/// How much a session needs its lease fresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// It holds something (a grant, a lock): renew every period, so the lease stays near its
    /// full length and rides out a ZooKeeper leader election.
    Holding,
    /// It waits for something (a contender in the queue): keep at least half the lease, so
    /// a grant starts with a lease that outlasts the first renewal.
    Waiting,
    /// Nothing: renew only before the lease would lapse.
    Idle,
}

impl Need {
    /// Whether a session with `left` of its lease of timeout `t` renews now.
    fn due(self, left: Duration, t: Duration) -> bool {
        match self {
            Need::Holding => true,
            Need::Waiting => left <= t / 2,
            Need::Idle => left <= t / 4,
        }
    }
}

/// An entry of [`Anchors`]; dropping it removes the entry.
pub(crate) struct Anchor {
    id: u64,
    anchors: Weak<Anchors>,
}

impl Anchors {
    /// Registers `path`, an ephemeral node of session `generation`, held (a lock) or waited
    /// with (a contender's latch node, until [`Anchor::set_held`]); the session renews at
    /// once if less than half its lease is left.
    pub(crate) fn add(self: &Arc<Self>, generation: u64, path: &str, held: bool) -> Anchor {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.lock().push(AnchorEntry {
            id,
            generation,
            path: path.to_string(),
            held,
        });
        // A waiting contender keeps half a lease, a holder a full one: a session idle until
        // now may have only a quarter left.
        self.renew_now.notify_one();
        Anchor {
            id,
            anchors: Arc::downgrade(self),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AnchorEntry>> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest registered node of session `generation`.
    fn pick(&self, generation: u64) -> Option<String> {
        self.lock()
            .iter()
            .rev()
            .find(|e| e.generation == generation)
            .map(|e| e.path.clone())
    }

    /// How much session `generation` needs its lease fresh.
    fn need(&self, generation: u64) -> Need {
        let nodes = self.lock();
        let mut of_session = nodes.iter().filter(|e| e.generation == generation);
        match of_session.next() {
            None => Need::Idle,
            Some(first) if first.held || of_session.any(|e| e.held) => Need::Holding,
            Some(_) => Need::Waiting,
        }
    }
}

impl Anchor {
    /// Marks the node held (a grant: renew every period, at once if less than half the lease
    /// is left) or waited with again.
    pub(crate) fn set_held(&self, held: bool) {
        if let Some(a) = self.anchors.upgrade() {
            if let Some(e) = a.lock().iter_mut().find(|e| e.id == self.id) {
                e.held = held;
            }
            if held {
                a.renew_now.notify_one();
            }
        }
    }
}

impl Drop for Anchor {
    fn drop(&mut self) {
        if let Some(a) = self.anchors.upgrade() {
            a.lock().retain(|e| e.id != self.id);
        }
    }
}

/// What a session's renewer needs to know.
pub(super) struct Renewer {
    pub inner: Arc<Inner>,
    pub session: Arc<Session>,
    pub heard: Arc<Heard>,
    /// D: an upper bound on the gap between the leader's pings to a learner.
    pub relay_gap: Duration,
    /// How often a busy session renews.
    pub period: Duration,
    /// Renewals, told to the session's monitor.
    pub renewed: mpsc::UnboundedSender<()>,
    /// Since when a chain waits for an answer (nanoseconds of [`Stamp`]; 0: none).
    pub waiting_since: Arc<AtomicU64>,
    /// Set by the monitor while the session is suspended (or just reconnected): renew now,
    /// idle or not, so `Reconnected` follows as soon as the leader answers.
    pub wanted: Arc<tokio::sync::Notify>,
}

impl Renewer {
    /// Renews the lease of one session until `stop` (the session ended).
    pub(super) async fn run(self, mut stop: watch::Receiver<bool>) {
        // The old rule renews from heartbeats alone, with no chain (whose sync would block the
        // session on a server cut off from the quorum and so hide the old rule's flaw).
        #[cfg(feature = "sabotage")]
        if self
            .inner
            .options
            .sabotaged(|s| *s == crate::options::Sabotage::LeaseFromAnyAnswer)
        {
            return;
        }
        let s = &self.session;
        let t = s.timeout;
        let margin = self.inner.options.lease_margin_for(t);
        let limit = self.inner.options.operation_timeout_for(t);
        // After a lapse: the candidate of the first chain, waiting for a second one.
        let mut after_lapse: Option<Stamp> = None;
        let mut tick = tokio::time::interval(self.period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // `nudged`: a node was joined, granted or taken: renew now if the lease is below
            // what a waiting contender keeps (a session idle until then), not otherwise (a
            // lock taken and released many times a second must not cost a chain each).
            let (wanted, nudged) = tokio::select! {
                _ = until_true(&mut stop) => return,
                _ = tick.tick() => (false, false),
                _ = self.wanted.notified() => (true, false),
                _ = self.inner.anchors.renew_now.notified() => (false, true),
            };
            let lease = self.inner.lease.until(s.generation);
            let Some(lease) = lease else { return };
            // A holder renews every period; a waiting contender keeps half its lease; an idle
            // session only keeps its lease from lapsing (a lapse costs its next grant two
            // chains).
            let need = if wanted {
                Need::Holding
            } else {
                self.inner.anchors.need(s.generation)
            };
            let left = lease.since(Stamp::now());
            let due = if nudged {
                need != Need::Idle && Need::Waiting.due(left, t)
            } else {
                need.due(left, t)
            };
            if !due {
                continue;
            }
            let Some((k_sent, _)) = self
                .heard
                .newest_answered_by(Stamp::now().before(self.relay_gap))
            else {
                if wanted {
                    // No answer old enough yet (a fresh session, or one back at once): look
                    // again after the relay gap, not a whole period later.
                    tokio::select! {
                        _ = until_true(&mut stop) => return,
                        _ = tokio::time::sleep(self.relay_gap.max(Duration::from_millis(10))) => {}
                    }
                    self.wanted.notify_one();
                }
                continue;
            };
            let Ok(zk) = s.zk() else { return };
            let anchor = self
                .inner
                .anchors
                .pick(s.generation)
                .unwrap_or_else(|| "/".to_string());
            self.waiting_since
                .store(Stamp::now().as_nanos(), Ordering::SeqCst);
            let answered = tokio::select! {
                _ = until_true(&mut stop) => return,
                a = chain(&zk, &anchor, limit) => a,
            };
            self.waiting_since.store(0, Ordering::SeqCst);
            drop(zk);
            let m_answered = match answered {
                Ok(Chain { j, m }) => {
                    // Both touched the session: heartbeats for the next chain when the
                    // session is too busy for the client library to ping.
                    self.heard.record(j.0, j.1);
                    self.heard.record(m.0, m.1);
                    m.1
                }
                Err(e) => {
                    tracing::debug!(target: "zkha::session", anchor = %anchor, error = %e, "lease renewal failed");
                    continue;
                }
            };
            let candidate = k_sent.after(t.saturating_sub(margin));
            #[cfg(feature = "sabotage")]
            let candidate = match self.inner.options.sabotage {
                Some(crate::options::Sabotage::LeaseOverstated(d)) => candidate.after(d),
                _ => candidate,
            };
            if m_answered < lease {
                self.inner.lease.extend(s.generation, candidate);
                after_lapse = None;
            } else {
                match after_lapse.take() {
                    Some(first) if m_answered < first => {
                        self.inner.lease.extend(s.generation, first.max(candidate));
                    }
                    _ => {
                        after_lapse = Some(candidate);
                        continue;
                    }
                }
            }
            let _ = self.renewed.send(());
        }
    }
}

/// An answered chain: the send and answer times of `j` and of `m`.
struct Chain {
    j: (Stamp, Stamp),
    m: (Stamp, Stamp),
}

/// `j` then `m`: a sync, then a multi checking `anchor`.
async fn chain(zk: &zk::Client, anchor: &str, limit: Duration) -> Result<Chain, String> {
    let (j_sent, r, j_answered) =
        timed(async || tokio::time::timeout(limit, zk.sync("/")).await).await;
    match r {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(format!("sync: {e}")),
        Err(_) => return Err(format!("sync: no answer within {limit:?}")),
    }
    let mut w = zk.new_multi_writer();
    w.add_check_version(anchor, -1)
        .map_err(|e| format!("check {anchor}: {e}"))?;
    let (m_sent, r, m_answered) =
        timed(async || tokio::time::timeout(limit, w.commit()).await).await;
    match r {
        Ok(Ok(_)) => Ok(Chain {
            j: (j_sent, j_answered),
            m: (m_sent, m_answered),
        }),
        Ok(Err(e)) => Err(format!("check {anchor}: {e}")),
        Err(_) => Err(format!("check {anchor}: no answer within {limit:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chain's times bracket the request: its send time is taken before the request is
    /// made, its answer time after the answer (a send time taken later would stretch the
    /// lease past what the answer proves).
    #[tokio::test]
    async fn timed_brackets_the_request() {
        let made = Mutex::new(None);
        let (sent, (), answered) = timed(async || {
            std::thread::sleep(Duration::from_millis(5));
            *made.lock().unwrap() = Some(Stamp::now());
            tokio::time::sleep(Duration::from_millis(5)).await;
        })
        .await;
        let made = made.lock().unwrap().unwrap();
        assert!(
            sent.after(Duration::from_millis(5)) <= made,
            "sent {sent:?} made {made:?}"
        );
        assert!(made.after(Duration::from_millis(5)) <= answered);
    }

    #[test]
    fn the_newest_heartbeat_answered_early_enough_is_k() {
        let heard = Heard::default();
        let t0 = Stamp::now();
        for i in 0..5u64 {
            let s = t0.after(Duration::from_millis(100 * i));
            heard.record(s, s.after(Duration::from_millis(10)));
        }
        let by = t0.after(Duration::from_millis(250));
        assert_eq!(
            heard.newest_answered_by(by).map(|(s, _)| s),
            Some(t0.after(Duration::from_millis(200)))
        );
        assert_eq!(heard.newest_answered_by(t0), None);
    }

    /// An answer counts with its own ping's send time only: pings of a dropped connection
    /// are skipped, an answer to a ping not seen sent counts for nothing.
    #[test]
    fn a_ping_answer_pairs_with_its_own_send_time() {
        let pings = Pings::default();
        pings.observe(zk::PingEvent::Sent(1));
        let first = pings.outstanding_since().unwrap();
        std::thread::sleep(Duration::from_millis(2));
        pings.observe(zk::PingEvent::Sent(2));
        let second = pings.outstanding.lock().unwrap()[1].1;
        assert_eq!(
            pings.outstanding_since(),
            Some(first),
            "the oldest waits longest"
        );
        pings.observe(zk::PingEvent::Answered(2));
        let heard = pings.heard.newest_answered_by(Stamp::now()).unwrap();
        assert_eq!(heard.0, second, "ping 2's own send time, not ping 1's");
        assert_eq!(
            pings.outstanding_since(),
            None,
            "ping 1 will not be answered"
        );
        pings.observe(zk::PingEvent::Answered(3));
        assert_eq!(
            pings.heard.newest_answered_by(Stamp::now()).unwrap().0,
            second,
            "an answer without its send counts for nothing"
        );
    }

    #[test]
    fn anchors_come_and_go_with_their_entries() {
        let anchors = Arc::new(Anchors::default());
        assert_eq!(anchors.pick(1), None);
        let a = anchors.add(1, "/latch/a", false);
        let b = anchors.add(1, "/lock/b", true);
        let _c = anchors.add(2, "/other", false);
        assert_eq!(anchors.pick(1).as_deref(), Some("/lock/b"));
        assert_eq!(anchors.need(1), Need::Holding);
        drop(b);
        assert_eq!(anchors.pick(1).as_deref(), Some("/latch/a"));
        assert_eq!(anchors.need(1), Need::Waiting);
        a.set_held(true);
        assert_eq!(anchors.need(1), Need::Holding);
        a.set_held(false);
        assert_eq!(anchors.need(1), Need::Waiting);
        drop(a);
        assert_eq!(
            (anchors.need(1), anchors.need(2)),
            (Need::Idle, Need::Waiting)
        );
    }
}
