//! Fan-out of events to any number of subscribers, each with its own unbounded queue.

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    pub async fn next_timeout(&mut self, timeout: Duration) -> Option<T> {
        tokio::time::timeout(timeout, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    /// This stream as a handle that many threads or tasks may hold and wait on.
    pub fn shared(self) -> SharedEventStream<T> {
        SharedEventStream(Arc::new(tokio::sync::Mutex::new(self)))
    }
}

/// An [`EventStream`] that several threads or tasks hold, waiting on it one at a time (each
/// event goes to one of them): what the bindings hand out. Cheap to clone.
#[derive(Debug)]
pub struct SharedEventStream<T>(Arc<tokio::sync::Mutex<EventStream<T>>>);

impl<T> Clone for SharedEventStream<T> {
    fn clone(&self) -> Self {
        SharedEventStream(self.0.clone())
    }
}

impl<T> SharedEventStream<T> {
    /// The next event, waiting at most `timeout` (`None`: without limit, until the source
    /// closes); `None` on timeout or once the source is closed and drained.
    pub async fn next_within(&self, timeout: Option<Duration>) -> Option<T> {
        // The wait for the stream counts against the timeout too: another holder waiting
        // without limit must not make a 0 timeout wait.
        let next = async { self.0.lock().await.next().await };
        match timeout {
            Some(t) => tokio::time::timeout(t, next).await.ok().flatten(),
            None => next.await,
        }
    }

    /// Drops the events that already arrived, without waiting for more.
    pub async fn drain(&self) {
        let mut s = self.0.lock().await;
        while s.try_next().is_some() {}
    }
}

/// Resolves once the watched flag is true (or its sender is gone).
pub(crate) async fn until_true(rx: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|v| *v).await.map(|_| ());
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Subscribers;

    /// Holders of one shared stream each take the next event; a timeout yields `None`, and
    /// `drain` drops what already arrived.
    #[tokio::test]
    async fn a_shared_stream_hands_each_event_to_one_holder() {
        let subs = Subscribers::<u32>::default();
        let a = subs.subscribe(Vec::new).shared();
        let b = a.clone();
        let waiting = tokio::spawn(async move { b.next_within(None).await });
        tokio::task::yield_now().await;
        subs.publish_with(|| Some(1));
        assert_eq!(waiting.await.unwrap(), Some(1));
        assert_eq!(a.next_within(Some(Duration::from_millis(20))).await, None);
        subs.publish_many_with(|| vec![2, 3]);
        a.drain().await;
        subs.publish_with(|| Some(4));
        assert_eq!(a.next_within(Some(Duration::from_secs(5))).await, Some(4));
        subs.close();
        assert_eq!(a.next_within(None).await, None);
    }

    /// A holder waiting without limit does not make another holder's short wait block.
    #[tokio::test]
    async fn a_short_wait_is_short_while_another_holder_waits_forever() {
        let subs = Subscribers::<u32>::default();
        let a = subs.subscribe(Vec::new).shared();
        let b = a.clone();
        let forever = tokio::spawn(async move { b.next_within(None).await });
        tokio::task::yield_now().await;
        let start = std::time::Instant::now();
        assert_eq!(a.next_within(Some(Duration::ZERO)).await, None);
        assert_eq!(a.next_within(Some(Duration::from_millis(50))).await, None);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{:?}",
            start.elapsed()
        );
        subs.publish_with(|| Some(1));
        assert_eq!(forever.await.unwrap(), Some(1));
    }
}
