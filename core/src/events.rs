//! Fan-out of events to any number of subscribers, each with its own unbounded queue.

use std::sync::Mutex;

use tokio::sync::mpsc;

/// Subscribers of events of type `T`.
#[derive(Debug)]
pub(crate) struct Subscribers<T> {
    txs: Mutex<Vec<mpsc::UnboundedSender<T>>>,
}

impl<T> Default for Subscribers<T> {
    fn default() -> Self {
        Subscribers {
            txs: Mutex::new(Vec::new()),
        }
    }
}

impl<T: Clone> Subscribers<T> {
    /// A new subscription that first receives the events `initial` returns; `initial` runs
    /// under the lock that [`Subscribers::publish_with`] holds, so a snapshot taken there and
    /// the stream that follows never miss or repeat an event.
    pub fn subscribe<I: IntoIterator<Item = T>>(
        &self,
        initial: impl FnOnce() -> I,
    ) -> EventStream<T> {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut txs = self.txs.lock().unwrap_or_else(|p| p.into_inner());
        for e in initial() {
            let _ = tx.send(e);
        }
        // Drop the subscriptions whose streams are gone, so subscribing often (with no state
        // change in between) does not grow the list.
        txs.retain(|t| !t.is_closed());
        txs.push(tx);
        EventStream { rx }
    }

    /// Runs `update` under the subscribers' lock and sends the event it returns (if any) to
    /// every live subscriber, so a state snapshot and the event stream never disagree.
    pub fn publish_with(&self, update: impl FnOnce() -> Option<T>) {
        let mut txs = self.txs.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(event) = update() {
            txs.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }

    /// Like [`Subscribers::publish_with`] for any number of events.
    pub fn publish_many_with(&self, update: impl FnOnce() -> Vec<T>) {
        let mut txs = self.txs.lock().unwrap_or_else(|p| p.into_inner());
        for event in update() {
            txs.retain(|tx| tx.send(event.clone()).is_ok());
        }
    }

    /// Waits until a publish in progress has delivered its events: after this, the events for
    /// every state change already visible have been sent.
    pub fn barrier(&self) {
        drop(self.txs.lock().unwrap_or_else(|p| p.into_inner()));
    }

    /// Ends every subscription (their streams yield `None` once drained).
    pub fn close(&self) {
        self.txs.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

/// A stream of events; ends (`None`) when the source closes.
#[derive(Debug)]
pub struct EventStream<T> {
    rx: mpsc::UnboundedReceiver<T>,
}

impl<T> EventStream<T> {
    /// The next event, waiting for it; `None` once the source is closed and drained.
    pub async fn next(&mut self) -> Option<T> {
        self.rx.recv().await
    }

    /// An event that already arrived, without waiting.
    pub fn try_next(&mut self) -> Option<T> {
        self.rx.try_recv().ok()
    }

    /// The next event, waiting at most `timeout`.
    pub async fn next_timeout(&mut self, timeout: std::time::Duration) -> Option<T> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }
}

/// Resolves once the watched flag is true (or its sender is gone).
pub(crate) async fn until_true(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}
