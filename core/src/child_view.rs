//! An exact local copy of a lock parent's children, kept by one persistent recursive watch, so
//! an uncontended acquire learns its place from its own `create` alone (no `getChildren`).
//!
//! Why it is exact: the watch is registered before the parent is listed, and ZooKeeper sends
//! one connection's notifications and replies in the order of the transactions behind them.
//! So the view is the listing with every event received since re-applied in order (an event
//! the listing already reflects changes nothing: per child name, the last event decides), and
//! once the reply to our `create` has arrived, the event of every child change before it has
//! arrived too. Events may be lost across a reconnect (ZOOKEEPER-4698, and the client does not
//! re-register persistent watches), so a view that saw its connection drop is discarded, never
//! repaired. Servers before 3.9 send no zxid with events and keep only one watch mode per
//! path and connection (ZOOKEEPER-4466: a one-shot watch on the parent by the same client
//! silently ends the recursive one), so the first event without a zxid disables views for the
//! handle; a lock then always lists.

use std::collections::BTreeSet;
use std::future::Future;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use zookeeper_client as zk;

use crate::error::Result;
use crate::session::{Inner, Session};

/// The children of one parent, as ZooKeeper has them now.
pub(crate) struct ChildView {
    parent: String,
    watcher: zk::PersistentWatcher,
    generation: u64,
    children: BTreeSet<String>,
    broken: bool,
    /// An event came without a zxid: the server is older than 3.9.
    old_server: bool,
    last_used: Instant,
}

impl ChildView {
    /// Registers the watch on `parent`, then lists it.
    pub(crate) async fn open(inner: &Inner, s: &Session, parent: &str) -> Result<ChildView> {
        let watcher = inner
            .run(s, parent, async |zk| {
                zk.watch(parent, zk::AddWatchMode::PersistentRecursive)
                    .await
            })
            .await?;
        let (listed, _) = inner
            .run(s, parent, async |zk| zk.get_children(parent).await)
            .await?;
        let mut view = ChildView {
            parent: parent.to_string(),
            watcher,
            generation: s.generation,
            children: listed.into_iter().collect(),
            broken: false,
            old_server: false,
            last_used: Instant::now(),
        };
        view.catch_up();
        Ok(view)
    }

    /// Applies every event received so far; false if the view can no longer be trusted (the
    /// connection dropped, the session changed, or the parent itself changed).
    pub(crate) fn catch_up(&mut self) -> bool {
        while !self.broken {
            let Some(ev) = poll_now(self.watcher.changed()) else {
                break;
            };
            match ev.event_type {
                // Any session event (Disconnected first) means events may be missing.
                zk::EventType::Session => self.broken = true,
                _ if ev.zxid < 0 => {
                    self.old_server = true;
                    self.broken = true;
                }
                zk::EventType::NodeCreated | zk::EventType::NodeDeleted => {
                    match direct_child(&self.parent, &ev.path) {
                        Some(name) if ev.event_type == zk::EventType::NodeCreated => {
                            self.children.insert(name.to_string());
                        }
                        Some(name) => {
                            self.children.remove(name);
                        }
                        // The parent itself was deleted or created (CURATOR-724): start over.
                        None if ev.path == self.parent => self.broken = true,
                        None => {} // a grandchild
                    }
                }
                _ => {}
            }
        }
        !self.broken
    }

    /// True if the view is still exact for session `s`.
    pub(crate) fn usable_for(&mut self, s: &Session) -> bool {
        self.last_used = Instant::now();
        self.generation == s.generation && self.catch_up()
    }

    /// The children, if `own` is among them (it must be, once its create was answered).
    pub(crate) fn children_with(&mut self, own: &str) -> Option<Vec<String>> {
        if !self.catch_up() || !self.children.contains(own) {
            return None;
        }
        Some(self.children.iter().cloned().collect())
    }

    /// True once an event showed the server cannot keep views exact (older than 3.9).
    pub(crate) fn old_server(&self) -> bool {
        self.old_server
    }

    /// When an acquire last asked for the view.
    pub(crate) fn last_used(&self) -> Instant {
        self.last_used
    }
}

/// The name of `path` if it is a direct child of `parent`.
fn direct_child<'a>(parent: &str, path: &'a str) -> Option<&'a str> {
    let rest = if parent == "/" {
        path.strip_prefix('/')?
    } else {
        path.strip_prefix(parent)?.strip_prefix('/')?
    };
    (!rest.is_empty() && !rest.contains('/')).then_some(rest)
}

/// Polls `f` once: its output if it is ready now.
pub(crate) fn poll_now<F: Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => Some(v),
        Poll::Pending => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn direct_children_only() {
        assert_eq!(direct_child("/a/b", "/a/b/c"), Some("c"));
        assert_eq!(direct_child("/a/b", "/a/b/c/d"), None);
        assert_eq!(direct_child("/a/b", "/a/bc"), None);
        assert_eq!(direct_child("/a/b", "/a/b"), None);
        assert_eq!(direct_child("/", "/x"), Some("x"));
    }

    #[test]
    fn poll_now_takes_what_is_ready() {
        assert_eq!(poll_now(async { 7 }), Some(7));
        assert_eq!(poll_now(std::future::pending::<()>()), None);
    }
}
