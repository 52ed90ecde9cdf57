//! A live, consistent view of a subtree of small values (configuration), on one persistent
//! recursive watch, with change events.
//!
//! After every reconnect and every new session the watch is registered again and the whole
//! subtree re-read; the differences to the last view are reported as changes. This matters:
//! persistent watches can miss events across a reconnect (ZOOKEEPER-4698), and the Rust client
//! does not re-register them, so a change made while the watcher's server was down is found
//! by the re-read.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::session::{Client, Inner, Session};
use crate::{path, runtime};

/// One changed value: `value` is `None` when the node was deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigChange {
    /// Path relative to the watched root (`a/b`).
    pub path: String,
    /// The new value, or `None` if deleted.
    pub value: Option<Vec<u8>>,
}

/// A snapshot: relative path → value.
pub type ConfigSnapshot = BTreeMap<String, Vec<u8>>;

struct Shared {
    view: watch::Sender<Option<ConfigSnapshot>>,
    events: Subscribers<ConfigChange>,
    stop: watch::Sender<bool>,
    _client: Client,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

/// Watches a subtree; dropping the last clone stops it.
#[derive(Clone)]
pub struct ConfigWatch {
    shared: Arc<Shared>,
}

impl Client {
    /// Starts watching the subtree at `root` (namespace-relative).
    pub fn config_watch(&self, root: &str) -> Result<ConfigWatch> {
        let full = self.inner().resolve(root, "config root")?;
        let shared = Arc::new(Shared {
            view: watch::channel(None).0,
            events: Subscribers::default(),
            stop: watch::channel(false).0,
            _client: self.clone(),
        });
        let stop = shared.stop.subscribe();
        runtime::spawn(follow(
            self.inner().clone(),
            full,
            Arc::downgrade(&shared),
            stop,
        ));
        Ok(ConfigWatch { shared })
    }
}

impl ConfigWatch {
    /// The current view (empty until the first read completes).
    pub fn snapshot(&self) -> ConfigSnapshot {
        self.shared.events.barrier();
        self.shared.view.borrow().clone().unwrap_or_default()
    }

    /// One value of the current view.
    pub fn get(&self, rel_path: &str) -> Option<Vec<u8>> {
        self.shared
            .view
            .borrow()
            .as_ref()?
            .get(rel_path.trim_matches('/'))
            .cloned()
    }

    /// Changes from now on.
    pub fn events(&self) -> EventStream<ConfigChange> {
        self.shared.events.subscribe(Vec::new)
    }

    /// The current view and the changes after it, taken together (under the lock that
    /// publishes changes): every change is either in the snapshot or in the stream, never in
    /// both and never in neither. What a consumer that prints the view and then follows it
    /// wants (after [`ConfigWatch::ready`]).
    pub fn snapshot_and_changes(&self) -> (ConfigSnapshot, EventStream<ConfigChange>) {
        let mut snapshot = ConfigSnapshot::default();
        let events = self.shared.events.subscribe(|| {
            snapshot = self.shared.view.borrow().clone().unwrap_or_default();
            Vec::new()
        });
        (snapshot, events)
    }

    /// Waits for the first complete read.
    pub async fn ready(&self, timeout: Duration) -> Result<ConfigSnapshot> {
        self.wait_for(timeout, |_| true).await
    }

    /// Waits until `pred` holds for the view.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&ConfigSnapshot) -> bool,
    ) -> Result<ConfigSnapshot> {
        let mut rx = self.shared.view.subscribe();
        let r = tokio::time::timeout(timeout, async {
            rx.wait_for(|v| v.as_ref().is_some_and(&pred))
                .await
                .map(|v| v.clone().unwrap_or_default())
        })
        .await;
        // Events of the state just seen are delivered before this returns.
        self.shared.events.barrier();
        match r {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(Error::closed("config watch")),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("config not as expected within {timeout:?}"),
            )),
        }
    }
}

fn rel(root: &str, full: &str) -> String {
    full.strip_prefix(root)
        .unwrap_or(full)
        .trim_start_matches('/')
        .to_string()
}

/// Installs `next` as the view and reports what differs from the previous one (under the
/// subscribers' lock, so the view and the events never disagree).
fn apply(shared: &Shared, next: ConfigSnapshot) {
    shared.events.publish_many_with(|| {
        let prev = shared.view.borrow().clone().unwrap_or_default();
        let mut changes = Vec::new();
        for (k, v) in &next {
            if prev.get(k) != Some(v) {
                changes.push(ConfigChange {
                    path: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for k in prev.keys() {
            if !next.contains_key(k) {
                changes.push(ConfigChange {
                    path: k.clone(),
                    value: None,
                });
            }
        }
        shared.view.send_replace(Some(next));
        changes
    });
}

/// Applies one change to the view.
fn apply_one(shared: &Shared, change: ConfigChange) {
    shared.events.publish_with(|| {
        let mut view = shared.view.borrow().clone().unwrap_or_default();
        if view.get(&change.path) == change.value.as_ref() {
            return None;
        }
        match &change.value {
            Some(v) => view.insert(change.path.clone(), v.clone()),
            None => view.remove(&change.path),
        };
        shared.view.send_replace(Some(view));
        Some(change)
    });
}

/// Reads the whole subtree below `root` (not the root itself).
async fn read_tree(inner: &Inner, s: &Session, root: &str) -> Result<ConfigSnapshot> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_string()];
    while let Some(p) = stack.pop() {
        let children = match inner.run(s, &p, async |zk| zk.get_children(&p).await).await {
            Ok((c, _)) => c,
            Err(e) if e.kind() == ErrorKind::NoNode => continue,
            Err(e) => return Err(e),
        };
        for c in children {
            let child = path::join(&p, &c);
            match inner
                .run(s, &child, async |zk| zk.get_data(&child).await)
                .await
            {
                Ok((data, _)) => {
                    out.insert(rel(root, &child), data);
                    stack.push(child);
                }
                Err(e) if e.kind() == ErrorKind::NoNode => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(out)
}

/// Keeps the view up to date until stopped.
async fn follow(
    inner: Arc<Inner>,
    root: String,
    shared: Weak<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    'outer: while !*stop.borrow() {
        let s = tokio::select! {
            s = inner.session() => s,
            _ = stop.changed() => break,
        };
        let s = match s {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::Closed => break,
            Err(_) => continue,
        };
        // Register first, then read: nothing can fall in between.
        let mut watcher = match inner
            .run(&s, &root, async |zk| {
                zk.watch(&root, zk::AddWatchMode::PersistentRecursive).await
            })
            .await
        {
            Ok(w) => w,
            Err(e) => {
                tracing::debug!(target: "zkha::config", error = %e, "registering the watch failed; retrying");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        match read_tree(&inner, &s, &root).await {
            Ok(view) => match shared.upgrade() {
                Some(sh) => apply(&sh, view),
                None => break,
            },
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        }
        loop {
            let ev = tokio::select! {
                ev = watcher.changed() => ev,
                _ = stop.changed() => break 'outer,
            };
            let Some(sh) = shared.upgrade() else {
                break 'outer;
            };
            match ev.event_type {
                zk::EventType::Session => {
                    if ev.session_state.is_terminated() {
                        // Never poll this watcher again (it would panic): next session.
                        continue 'outer;
                    }
                    if ev.session_state == zk::SessionState::SyncConnected {
                        // Reconnected: register again and re-read (events may be lost).
                        drop(watcher);
                        continue 'outer;
                    }
                }
                zk::EventType::NodeDeleted if ev.path != root => {
                    apply_one(
                        &sh,
                        ConfigChange {
                            path: rel(&root, &ev.path),
                            value: None,
                        },
                    );
                }
                zk::EventType::NodeCreated | zk::EventType::NodeDataChanged => {
                    if ev.path == root {
                        continue;
                    }
                    let value = match inner
                        .run(&s, &ev.path, async |zk| zk.get_data(&ev.path).await)
                        .await
                    {
                        Ok((d, _)) => Some(d),
                        Err(e) if e.kind() == ErrorKind::NoNode => None,
                        Err(_) => continue 'outer, // re-read everything
                    };
                    apply_one(
                        &sh,
                        ConfigChange {
                            path: rel(&root, &ev.path),
                            value,
                        },
                    );
                }
                _ => {}
            }
        }
    }
}
