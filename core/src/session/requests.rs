//! Sending one request of a session (send time, latency, lease, operation timeout), and
//! repeating idempotent operations through a connection loss.

use std::future::Future;
use std::time::Instant;

use zookeeper_client as zk;

use super::{Inner, Session};
use crate::error::{Error, ErrorKind, Result};

impl Inner {
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
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use crate::{runtime, Client, ClientOptions};

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
