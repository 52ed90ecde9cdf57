//! Watches on any znode: its data ([`NodeData`]) or its children ([`NodeChildren`]). A watch
//! reads with a ZooKeeper watch, reports every change of what it read without duplicates,
//! reads again when the watch fires, and follows the client across sessions.
//!
//! A watch is not a holder: while the session may still be alive what it last read stays its
//! answer, even after the lease ran out (it guards nothing; a stale leader address is fenced
//! by the leader session id, and forgetting the leader during a ZooKeeper leader election
//! would make every TaskManager drop its JobManager). Once the connection has been gone for
//! the whole session timeout the server has surely expired the session, and the watch reports
//! the node `Empty` (as Curator reports `LOST` to Flink's built-in HA); in strict mode it does
//! so on any disconnect. It reads again on reconnect or with the next session.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::runtime;
use crate::session::{Client, ConnectionState, Inner};

/// What a watched node's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeData {
    /// The node exists with these bytes.
    Present(Vec<u8>),
    /// There is no node (or the connection is in doubt).
    Empty,
}

/// What a watched node's children are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeChildren {
    /// The node exists with these children (sorted).
    Present(Vec<String>),
    /// There is no node (or the connection is in doubt).
    Empty,
}

/// What a [`NodeWatch`] can watch: a node's data or its children.
pub trait Watched: Clone + PartialEq + Send + Sync + std::fmt::Debug + 'static {
    /// Reads `full` and sets a ZooKeeper watch on what was read (`Ok(None)`: the node is
    /// missing; a watch for its creation is then set by the caller).
    #[doc(hidden)]
    fn read(
        zk: &zk::Client,
        full: &str,
    ) -> impl std::future::Future<Output = std::result::Result<(Self, zk::OneshotWatcher), zk::Error>>
           + Send;

    /// The value of a missing node.
    #[doc(hidden)]
    fn empty() -> Self;
}

impl Watched for NodeData {
    async fn read(
        zk: &zk::Client,
        full: &str,
    ) -> std::result::Result<(Self, zk::OneshotWatcher), zk::Error> {
        let (data, _, w) = zk.get_and_watch_data(full).await?;
        Ok((NodeData::Present(data), w))
    }

    fn empty() -> Self {
        NodeData::Empty
    }
}

impl Watched for NodeChildren {
    async fn read(
        zk: &zk::Client,
        full: &str,
    ) -> std::result::Result<(Self, zk::OneshotWatcher), zk::Error> {
        let (mut children, _, w) = zk.get_and_watch_children(full).await?;
        children.sort();
        Ok((NodeChildren::Present(children), w))
    }

    fn empty() -> Self {
        NodeChildren::Empty
    }
}

/// A watch on one znode's data or children; reports every change of what it says, without
/// duplicates. Cheap to clone; dropping the last clone stops it.
pub struct NodeWatch<T: Watched> {
    shared: Arc<WatchShared<T>>,
}

impl<T: Watched> Clone for NodeWatch<T> {
    fn clone(&self) -> Self {
        NodeWatch {
            shared: self.shared.clone(),
        }
    }
}

struct WatchShared<T> {
    path: String,
    current: watch::Sender<Option<T>>,
    events: Subscribers<T>,
    stop: watch::Sender<bool>,
    _client: Client,
}

impl<T> Drop for WatchShared<T> {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl Client {
    /// Starts watching the data of the znode at `path` (namespace-relative).
    pub fn watch_data(&self, path: &str) -> Result<NodeWatch<NodeData>> {
        self.watch_node(path)
    }

    /// Starts watching the children of the znode at `path` (namespace-relative).
    pub fn watch_children(&self, path: &str) -> Result<NodeWatch<NodeChildren>> {
        self.watch_node(path)
    }

    fn watch_node<T: Watched>(&self, path: &str) -> Result<NodeWatch<T>> {
        let full = self.inner().resolve(path, "watched path")?;
        let shared = Arc::new(WatchShared {
            path: path.to_string(),
            current: watch::channel(None).0,
            events: Subscribers::default(),
            stop: watch::channel(false).0,
            _client: self.clone(),
        });
        let inner = self.inner().clone();
        let weak = Arc::downgrade(&shared);
        let stop = shared.stop.subscribe();
        runtime::spawn(async move { follow(inner, full, weak, stop).await });
        Ok(NodeWatch { shared })
    }
}

impl<T: Watched> NodeWatch<T> {
    /// What the node says now (`None` until first read).
    pub fn current(&self) -> Option<T> {
        self.shared.events.barrier();
        self.shared.current.borrow().clone()
    }

    /// Changes from now on, starting with the current value if known.
    pub fn events(&self) -> EventStream<T> {
        let sh = &self.shared;
        sh.events.subscribe(|| sh.current.borrow().clone())
    }

    /// Waits until the value satisfies `pred`, up to `timeout`.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&T) -> bool) -> Result<T> {
        let mut rx = self.shared.current.subscribe();
        let r = tokio::time::timeout(timeout, async {
            rx.wait_for(|v| v.as_ref().is_some_and(&pred))
                .await
                .map(|v| v.clone().expect("checked"))
        })
        .await;
        // Events of the state just seen are delivered before this returns.
        self.shared.events.barrier();
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Error::closed("node watch")),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "the watched node {} was not as expected within {timeout:?}",
                    self.shared.path
                ),
            )),
        }
    }
}

/// Follows `full` until stopped: read with a watch, report changes, repeat.
async fn follow<T: Watched>(
    inner: Arc<Inner>,
    full: String,
    shared: std::sync::Weak<WatchShared<T>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut states = inner.subscribe();
    let strict = inner.options.strict;
    // While disconnected: when the session is presumed gone (the session timeout after the
    // disconnect).
    let mut gone_at: Option<tokio::time::Instant> = None;
    let presumed_gone = async |at: Option<tokio::time::Instant>| match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    };
    let report = |value: T| -> bool {
        let Some(sh) = shared.upgrade() else {
            return false;
        };
        sh.events.publish_with(|| {
            if sh.current.borrow().as_ref() == Some(&value) {
                return None;
            }
            sh.current.send_replace(Some(value.clone()));
            Some(value)
        });
        true
    };
    while !*stop.borrow() {
        let s = tokio::select! {
            s = inner.session() => s,
            _ = stop.changed() => break,
            () = presumed_gone(gone_at) => {
                gone_at = None;
                if !report(T::empty()) {
                    return;
                }
                continue;
            }
        };
        let s = match s {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::Closed => break,
            Err(_) => continue,
        };
        // Read with a watch; if the node is missing, watch for its creation.
        let read = inner
            .run(&s, &full, async |zk| T::read(zk, &full).await)
            .await;
        let (value, watcher) = match read {
            Ok(v) => v,
            Err(e) if e.kind() == ErrorKind::NoNode => {
                match inner
                    .run(&s, &full, async |zk| zk.check_and_watch_stat(&full).await)
                    .await
                {
                    Ok((None, w)) => (T::empty(), w),
                    Ok((Some(_), _)) => continue, // created meanwhile: read again
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                }
            }
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        gone_at = None;
        let timeout = s.timeout;
        if !report(value) {
            break;
        }
        drop(s);
        let fired = watcher.changed();
        tokio::pin!(fired);
        loop {
            tokio::select! {
                ev = &mut fired => {
                    if ev.event_type == zk::EventType::Session && ev.session_state.is_terminated() {
                        // The session ended; the next one reads again.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    break;
                }
                st = states.next() => {
                    match st {
                        Some(ConnectionState::Suspended { .. }) => {
                            if !strict {
                                gone_at.get_or_insert_with(|| tokio::time::Instant::now() + timeout);
                            } else if !report(T::empty()) {
                                return;
                            }
                        }
                        // Back (same or new session): read again; the old watch may be stale.
                        Some(ConnectionState::Reconnected { .. }) | Some(ConnectionState::Connected { .. }) => {
                            gone_at = None;
                            break;
                        }
                        None | Some(ConnectionState::Closed) => return,
                        _ => {}
                    }
                }
                () = presumed_gone(gone_at) => {
                    gone_at = None;
                    if !report(T::empty()) {
                        return;
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}
