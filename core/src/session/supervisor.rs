//! The supervisor of a client's sessions: opens each, publishes it, watches its connection
//! states and heartbeats, keeps the lease, and opens a new session after expiry.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use zookeeper_client as zk;

use super::{ConnectionState, Inner, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::events::until_true;

/// Opens a new session, retrying per the retry policy (forever after the first session,
/// until the client closes).
pub(super) async fn open_session(inner: Arc<Inner>) -> Result<(zk::Client, Instant)> {
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
pub(super) async fn supervise(inner: Arc<Inner>, first: zk::Client, first_started: Instant) {
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
