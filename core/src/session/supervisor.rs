//! The supervisor of a client's sessions: opens each, publishes it, watches its connection
//! states and its pings, runs the lease's renewer, and opens a new session after expiry.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use zookeeper_client as zk;

use super::lease::Stamp;
use super::renewal::{Pings, Renewer};
use super::{ConnectionState, Inner, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::events::until_true;

/// A session just opened.
pub(super) struct Opened {
    pub zk: zk::Client,
    /// Taken before its connect request left.
    pub started: Stamp,
    /// Its pings (the lease's heartbeats).
    pub pings: Arc<Pings>,
}

/// Opens a new session, retrying per the retry policy (forever after the first session,
/// until the client closes).
pub(super) async fn open_session(inner: Arc<Inner>) -> Result<Opened> {
    let o = &inner.options;
    let mut retry = 0u32;
    let mut finding: Option<String> = None;
    loop {
        // Before the connect request leaves: the leader's session tracking starts later.
        let started = Stamp::now();
        if let Some(tls) = &inner.tls {
            tls.reload_if_changed();
        }
        let pings = Arc::new(Pings::default());
        let connector = inner
            .connector(o.session_timeout)
            .with_ping_observer(pings.observer());
        let attempt = crate::security::connect(o, connector);
        let limit = o.session_timeout.max(o.connection_timeout) + Duration::from_secs(1);
        let err = match tokio::time::timeout(limit, attempt).await {
            Ok(Ok(zk)) => return Ok(Opened { zk, started, pings }),
            // The servers refused the credentials: repeating cannot help.
            Ok(Err(zk::Error::AuthFailed)) => {
                return Err(Error::new(
                    ErrorKind::NoAuth,
                    match &o.sasl {
                        Some(s) => format!(
                            "the ZooKeeper servers at {:?} refused the authentication as {}",
                            o.connect_string,
                            s.principal()
                        ),
                        None => format!(
                            "the ZooKeeper servers at {:?} refused an unauthenticated session: \
                             they require SASL authentication (configure SASL: DIGEST-MD5 or \
                             Kerberos)",
                            o.connect_string
                        ),
                    },
                ))
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no session within {limit:?}"),
        };
        let first =
            inner.current().is_none() && *inner.state.borrow() == ConnectionState::Connecting;
        if inner.is_closing() {
            return Err(Error::closed("client"));
        }
        // The client library says only "timeout" for a TLS client at a plain port, a refused
        // certificate, ...: ask the servers directly, once.
        if retry == 0 {
            let opts = o.clone();
            let probed = tokio::task::spawn_blocking(move || crate::security::diagnose(&opts));
            match probed.await.ok().flatten() {
                Some(crate::security::Finding::Fatal(why)) if first => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "cannot connect to ZooKeeper at {:?}: {why}",
                            o.connect_string
                        ),
                    ))
                }
                Some(
                    crate::security::Finding::Fatal(why) | crate::security::Finding::Passing(why),
                ) => {
                    tracing::warn!(target: "zkha::session", connect_string = %o.connect_string, finding = %why, "probed the servers");
                    finding = Some(why);
                }
                None => {}
            }
        }
        let err = match &finding {
            Some(f) => format!("{err} ({f})"),
            None => err,
        };
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

/// An upper bound on the gap between the ZooKeeper leader's pings to a learner (the `D` of
/// a renewal chain, [`super::renewal`]): the servers' tickTime (the leader pings every
/// tickTime/2, plus the time its loop takes). Taken from `ClientOptions::server_tick` if set;
/// else learned as half the smallest session timeout the servers grant (ZooKeeper's default
/// `minSessionTimeout` is 2 x tickTime), asked for with a short-lived probe session; else half
/// the negotiated timeout `t` (the same assumption, less fresh).
pub(super) async fn relay_gap(inner: &Inner, t: Duration) -> Duration {
    /// What the probe learned, per connect string (one probe per process and ensemble).
    static LEARNED: std::sync::Mutex<Vec<(String, Duration)>> = std::sync::Mutex::new(Vec::new());
    let o = &inner.options;
    let known = LEARNED
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .find(|(cs, _)| *cs == o.connect_string)
        .map(|(_, min)| *min);
    let tick = match (o.server_tick, known) {
        (Some(tick), _) => tick,
        (None, Some(min)) => (min / 2).min(t / 2),
        (None, None) => {
            // The 1 ms asked for must not limit the connect (a TLS handshake takes longer).
            let connector = inner
                .connector(Duration::from_millis(1))
                .with_first_connect_timeout(o.connection_timeout);
            let probe = crate::security::connect(o, connector);
            match tokio::time::timeout(o.connection_timeout, probe).await {
                Ok(Ok(probe)) => {
                    let min = probe.session_timeout();
                    tracing::debug!(target: "zkha::session", ?min, "smallest session timeout the servers grant");
                    LEARNED
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push((o.connect_string.clone(), min));
                    (min / 2).min(t / 2)
                }
                failed => {
                    let why = match failed {
                        Ok(Err(e)) => e.to_string(),
                        _ => format!("no answer within {:?}", o.connection_timeout),
                    };
                    tracing::info!(target: "zkha::session", probe = %why, "could not learn the servers' tickTime; assuming at most T/2 (set server_tick to renew the lease sooner)");
                    t / 2
                }
            }
        }
    };
    // Allowance for clock-rate differences (0.2 %).
    tick + tick / 500
}

/// Why a session's monitor ended.
enum End {
    /// The session expired; `lease_was_running` if its lease had not been reported lost.
    Expired {
        lease_was_running: bool,
    },
    Closed,
}

/// Owns the sessions of a client: publishes each, monitors it, re-opens after expiry.
pub(super) async fn supervise(inner: Arc<Inner>, first: Opened, relay_gap: Duration) {
    let mut next = Some(first);
    let mut generation = 0u64;
    loop {
        let Opened { zk, started, pings } = match next.take() {
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
        // A new session is alive at the leader from its creation on (the leader starts
        // tracking it after our connect request left).
        inner
            .lease
            .reset(generation, started.after(timeout.saturating_sub(margin)));
        // State first: once `connect` returns (it waits for the session), the state says so.
        inner.emit(ConnectionState::Connected {
            session_id: session.id,
            session_timeout: timeout,
        });
        inner.session.send_replace(Some(session.clone()));
        let session_id = session.id;
        let end = monitor(&inner, session, states, pings, relay_gap).await;
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

/// The heartbeat and renewal period of a session of timeout `t`: the configured heartbeat
/// (default T/5), shorter when a long relay gap leaves less of the lease (so a lease renewed
/// every period never lapses while the servers answer).
fn period(inner: &Inner, t: Duration, relay_gap: Duration) -> Duration {
    let margin = inner.options.lease_margin_for(t);
    let spare = t.saturating_sub(margin).saturating_sub(relay_gap) / 4;
    inner
        .options
        .heartbeat_for(t)
        .min(spare)
        .max(Duration::from_millis(10))
}

/// Watches one session until it expires or the client closes: connection states, pings
/// (the `k` of a renewal chain, and a silence that suspends), the renewer, and the lease's
/// end (`Lost`, once per lapse, whether or not the connection looks alive: a follower cut off
/// from the leader goes on answering).
async fn monitor(
    inner: &Arc<Inner>,
    session: Arc<Session>,
    mut states: zk::StateWatcher,
    pings: Arc<Pings>,
    relay_gap: Duration,
) -> End {
    let mut closing = inner.closing_watch();
    let t = session.timeout;
    let every = period(inner, t, relay_gap);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (renewed_tx, mut renewed) = mpsc::unbounded_channel::<()>();
    let waiting_since = Arc::new(AtomicU64::new(0));
    let wanted = Arc::new(tokio::sync::Notify::new());
    let stop = watch::channel(false).0;
    tokio::spawn(
        Renewer {
            inner: inner.clone(),
            session: session.clone(),
            heard: pings.heard.clone(),
            relay_gap,
            period: every,
            renewed: renewed_tx,
            waiting_since: waiting_since.clone(),
            wanted: wanted.clone(),
        }
        .run(stop.subscribe()),
    );
    let _stop_renewer = StopOnDrop(stop);
    // A ping or a renewal unanswered this long suspends even before the client library
    // notices a disconnect.
    let silence_limit = t / 3;
    // `Reconnected` only for a lease that lasts until a chain on a fresh heartbeat can renew
    // it: after a heal, the first chains may rest on a heartbeat answered before the cut and
    // prove a lease only milliseconds longer than the one that ran out (granting on it would
    // revoke again at once).
    let worth_announcing =
        (relay_gap + every).min(t.saturating_sub(inner.options.lease_margin_for(t)) / 2);
    let mut suspended = false;
    let mut lost = false;
    tracing::debug!(target: "zkha::session", ?relay_gap, ?every, "lease renewal");

    loop {
        let lease_end = inner.lease.until(session.generation);
        let lease_timer = async {
            match (lost, lease_end) {
                (false, Some(end)) => tokio::time::sleep_until(end.to_instant().into()).await,
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
                    // The client library pings at once on a new connection: the renewal
                    // chain's next `k`.
                    if suspended || lost {
                        wanted.notify_one();
                    }
                }
                zk::SessionState::Expired | zk::SessionState::AuthFailed => {
                    return End::Expired { lease_was_running: !lost };
                }
                zk::SessionState::Closed => return End::Closed,
            },
            Some(()) = renewed.recv() => {
                // Back (or never gone): the leader saw the session, the lease holds again.
                let lasts = inner
                    .lease
                    .until(session.generation)
                    .map(|end| end.since(Stamp::now()))
                    .unwrap_or_default();
                if (suspended || lost) && lasts >= worth_announcing && inner.lease.holds(session.generation) {
                    suspended = false;
                    lost = false;
                    inner.emit(ConnectionState::Reconnected { session_id: session.id });
                }
            }
            _ = ticker.tick() => {
                let now = Stamp::now();
                let waiting = waiting_since.load(Ordering::SeqCst);
                let renewal_stalled = waiting != 0 && now.since(Stamp::from_nanos(waiting)) >= silence_limit;
                let ping_stalled = pings.outstanding_since().is_some_and(|sent| now.since(sent) >= silence_limit);
                if !suspended && (renewal_stalled || ping_stalled) {
                    suspended = true;
                    suspend(inner, &session);
                }
                if suspended || lost {
                    wanted.notify_one();
                }
                #[cfg(feature = "sabotage")]
                lease_from_any_answer(inner, &session, &pings);
                // A timer on the `Instant` clock misses a suspend of the host: check here too.
                if !lost && !inner.lease.holds(session.generation) {
                    lose(inner, &session, &mut suspended, &mut lost);
                }
            }
            _ = lease_timer => {
                // Re-check: a renewal may have moved the end meanwhile.
                if !inner.lease.holds(session.generation) {
                    lose(inner, &session, &mut suspended, &mut lost);
                }
            }
        }
    }
}

/// Stops a session's renewer when its monitor ends.
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.send_replace(true);
    }
}

/// The lease ran out: `Suspended` first if not yet said, then `Lost` (once per lapse).
fn lose(inner: &Arc<Inner>, session: &Session, suspended: &mut bool, lost: &mut bool) {
    if !*suspended {
        *suspended = true;
        suspend(inner, session);
    }
    *lost = true;
    inner.emit(ConnectionState::Lost);
}

fn suspend(inner: &Arc<Inner>, session: &Session) {
    let safe_until = inner
        .lease
        .safe_until(session.generation)
        .unwrap_or_else(std::time::Instant::now);
    inner.emit(ConnectionState::Suspended { safe_until });
}

/// The old, unsafe rule (sabotage only): the lease extends from any answered ping, with no
/// chain: a server cut off from the quorum goes on answering pings.
#[cfg(feature = "sabotage")]
fn lease_from_any_answer(inner: &Arc<Inner>, session: &Session, pings: &Pings) {
    if !inner
        .options
        .sabotaged(|s| *s == crate::options::Sabotage::LeaseFromAnyAnswer)
    {
        return;
    }
    if let Some((sent, _)) = pings.heard.newest_answered_by(Stamp::now()) {
        let t = session.timeout;
        let margin = inner.options.lease_margin_for(t);
        inner
            .lease
            .extend(session.generation, sent.after(t.saturating_sub(margin)));
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::{Client, ClientOptions, ElectionEvent, ElectionOptions, RevokeReason};

    /// A suspend of the host stops `CLOCK_MONOTONIC` (and so `Instant` and every timer) but
    /// not the lease clock: after the host slept past the lease, leadership is gone at once
    /// and the revocation follows within a heartbeat period.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_suspended_host_wakes_up_without_its_lease() {
        let zk = zkha_testkit::Ensemble::start(1, zkha_testkit::Options::default()).unwrap();
        let t = Duration::from_secs(4);
        let c = Client::connect(ClientOptions::new(zk.connect_string()).session_timeout(t))
            .await
            .unwrap();
        let e = c.election("/suspend", ElectionOptions::new("a")).unwrap();
        e.wait_for_leadership(Duration::from_secs(10))
            .await
            .unwrap();
        let mut events = e.events();
        assert!(matches!(
            events.next().await,
            Some(ElectionEvent::Granted(_))
        ));
        super::super::lease::suspend_host_for(t * 2);
        let woke = Instant::now();
        assert!(
            !e.has_leadership(),
            "the lease is over the moment the host wakes up"
        );
        assert_eq!(
            events.next_timeout(t).await,
            Some(ElectionEvent::Revoked {
                reason: RevokeReason::LeaseExpired
            })
        );
        assert!(woke.elapsed() < t / 2, "revoked after {:?}", woke.elapsed());
    }
}
