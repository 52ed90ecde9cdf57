//! Sending one request of a session (send time, latency, operation timeout), and
//! repeating idempotent operations through a connection loss.

use std::future::Future;
use std::time::Instant;

use zookeeper_client as zk;

use super::{Inner, Session};
use crate::error::{Error, ErrorKind, Result};

impl Inner {
    /// Awaits a request future created at `sent`, recording its latency, within the
    /// operation timeout. The future must have been created just before this call
    /// (zookeeper-client sends at creation). Answers do not renew the lease: only the
    /// renewal chain does ([`super::renewal`]).
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
                self.metrics.record_op(took, true);
                Ok(v)
            }
            Ok(Err(e)) => {
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
    /// it as [`Inner::run_at`] does. The send time is taken before the request exists.
    pub(crate) async fn run<T, F>(&self, s: &Session, path: &str, make: F) -> Result<T>
    where
        F: AsyncFnOnce(&zk::Client) -> std::result::Result<T, zk::Error>,
    {
        let zk = s.zk()?;
        let sent = Instant::now();
        self.run_at(s, path, sent, make(&zk)).await
    }
}
