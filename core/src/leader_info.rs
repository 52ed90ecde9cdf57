//! Leader information: the leader publishes who it is (an address and its leader session id,
//! or any bytes) in an ephemeral znode per component; everyone else watches it.
//!
//! Publishing follows Flink's `ZooKeeperUtils.writeLeaderInformationToZooKeeper`: if the node
//! exists and is ours, set its data; if it belongs to another (old) session, delete it; if it
//! does not exist, create it as ephemeral — and every one of those writes is a fenced multi
//! that first checks the leader's latch node, so a stale leader writes nothing.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use zookeeper_client as zk;

use crate::election::Election;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{EventStream, Subscribers};
use crate::fence::{Fence, Op};
use crate::runtime;
use crate::session::NodeMode;
use crate::session::{Client, ConnectionState, Inner};

/// What a leader-information znode currently says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaderInfo {
    /// The node exists with these bytes.
    Present(Vec<u8>),
    /// There is no node (no leader has published, or it stepped down).
    Empty,
}

impl Election {
    /// Publishes `data` at `path` (namespace-relative) as this leader's ephemeral node, fenced
    /// on the latch node. Fails with `NotLeader` if the grant is gone.
    pub async fn publish_leader_info(&self, path: &str, data: &[u8]) -> Result<()> {
        self.publish_ephemeral(path, data).await
    }

    /// Deletes this leader's node at `path` (if it is ours), fenced on the latch node.
    pub async fn delete_leader_info(&self, path: &str) -> Result<()> {
        self.delete_own_ephemeral(path).await
    }
}

/// The publish loop (runs on the runtime).
pub(crate) async fn publish(
    inner: &Arc<Inner>,
    fence: &Fence,
    rel: &str,
    data: &[u8],
) -> Result<()> {
    let full = inner.resolve(rel, "leader information path")?;
    inner.check_payload(&full, data.len())?;
    let s = fence.session.clone();
    inner.ensure_parents(&s, &full).await?;
    for _ in 0..32 {
        let stat = inner
            .run(&s, &full, async |zk| zk.check_stat(&full).await)
            .await?;
        let ops = match stat {
            Some(st) if st.ephemeral_owner == s.id => {
                vec![Op::SetData {
                    path: rel.to_string(),
                    data: data.to_vec(),
                    version: Some(st.version),
                }]
            }
            Some(st) => vec![Op::Delete {
                path: rel.to_string(),
                version: Some(st.version),
            }],
            None => vec![Op::Create {
                path: rel.to_string(),
                data: data.to_vec(),
                mode: NodeMode::Ephemeral,
            }],
        };
        let last = matches!(ops[0], Op::SetData { .. } | Op::Create { .. });
        let creating = matches!(ops[0], Op::Create { .. });
        match fence.multi_here(ops).await {
            Ok(_) if last => return Ok(()),
            Ok(_) => continue,
            // The parent was removed meanwhile (an emptied `leader/<component>` node is
            // cleaned up as Flink's built-in HA does): make it again.
            Err(e) if creating && e.kind() == ErrorKind::NoNode => {
                inner.ensure_parents(&s, &full).await?;
            }
            // Raced with another change of the node: look again.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NoNode | ErrorKind::NodeExists | ErrorKind::BadVersion
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::BadVersion,
        format!("{full} kept changing while publishing leader information"),
    ))
}

/// Deletes our node at `rel` if it is ours, fenced.
pub(crate) async fn unpublish(inner: &Arc<Inner>, fence: &Fence, rel: &str) -> Result<()> {
    let full = inner.resolve(rel, "leader information path")?;
    let s = fence.session.clone();
    match inner
        .run(&s, &full, async |zk| zk.check_stat(&full).await)
        .await?
    {
        Some(st) if st.ephemeral_owner == s.id => {
            match fence
                .multi_here(vec![Op::Delete {
                    path: rel.to_string(),
                    version: Some(st.version),
                }])
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
                Err(e) => Err(e),
            }
        }
        _ => Ok(()),
    }
}

/// Watches one leader-information znode and reports every change of what it says, without
/// duplicates; it follows the client across sessions. Dropping the last clone stops it.
#[derive(Clone)]
pub struct LeaderInfoWatch {
    shared: Arc<WatchShared>,
}

struct WatchShared {
    current: watch::Sender<Option<LeaderInfo>>,
    events: Subscribers<LeaderInfo>,
    stop: watch::Sender<bool>,
    _client: Client,
}

impl Drop for WatchShared {
    fn drop(&mut self) {
        self.stop.send_replace(true);
    }
}

impl Client {
    /// Starts watching the leader information at `path` (namespace-relative).
    pub fn watch_leader_info(&self, path: &str) -> Result<LeaderInfoWatch> {
        let full = self.inner().resolve(path, "leader information path")?;
        let shared = Arc::new(WatchShared {
            current: watch::channel(None).0,
            events: Subscribers::default(),
            stop: watch::channel(false).0,
            _client: self.clone(),
        });
        let inner = self.inner().clone();
        let weak = Arc::downgrade(&shared);
        let stop = shared.stop.subscribe();
        runtime::spawn(async move { follow(inner, full, weak, stop).await });
        Ok(LeaderInfoWatch { shared })
    }
}

impl LeaderInfoWatch {
    /// What the node says now (`None` until first read).
    pub fn current(&self) -> Option<LeaderInfo> {
        self.shared.events.barrier();
        self.shared.current.borrow().clone()
    }

    /// Changes from now on, starting with the current value if known.
    pub fn events(&self) -> EventStream<LeaderInfo> {
        let sh = &self.shared;
        sh.events.subscribe(|| sh.current.borrow().clone())
    }

    /// Waits until the value satisfies `pred`, up to `timeout`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        pred: impl Fn(&LeaderInfo) -> bool,
    ) -> Result<LeaderInfo> {
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
            Ok(Err(_)) => Err(Error::closed("leader information watch")),
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("leader information not as expected within {timeout:?}"),
            )),
        }
    }
}

/// Follows `full` until stopped: read with a watch, report changes, repeat.
async fn follow(
    inner: Arc<Inner>,
    full: String,
    shared: std::sync::Weak<WatchShared>,
    mut stop: watch::Receiver<bool>,
) {
    // While the connection is in doubt, what we last read may be stale: report `Empty` when the
    // lease runs out (or, in strict mode, on any disconnect) and read again on reconnect.
    let mut states = inner.subscribe();
    let strict = inner.options.strict;
    let report = |info: LeaderInfo| -> bool {
        let Some(sh) = shared.upgrade() else {
            return false;
        };
        sh.events.publish_with(|| {
            if sh.current.borrow().as_ref() == Some(&info) {
                return None;
            }
            sh.current.send_replace(Some(info.clone()));
            Some(info)
        });
        true
    };
    while !*stop.borrow() {
        let s = tokio::select! {
            s = inner.session() => s,
            _ = stop.changed() => break,
        };
        let s = match s {
            Ok(s) => s,
            Err(e) if e.kind() == ErrorKind::Closed => break,
            Err(_) => continue,
        };
        // Read data and set a watch; if the node is missing, watch for its creation.
        let read = inner
            .run(&s, &full, async |zk| zk.get_and_watch_data(&full).await)
            .await;
        let (info, watcher) = match read {
            Ok((data, _, w)) => (LeaderInfo::Present(data), w),
            Err(e) if e.kind() == ErrorKind::NoNode => {
                match inner
                    .run(&s, &full, async |zk| zk.check_and_watch_stat(&full).await)
                    .await
                {
                    Ok((None, w)) => (LeaderInfo::Empty, w),
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
        if !report(info) {
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
                    let doubt = matches!(st, Some(ConnectionState::Lost))
                        || (strict && matches!(st, Some(ConnectionState::Suspended { .. })));
                    if doubt && !report(LeaderInfo::Empty) {
                        return;
                    }
                    match st {
                        // Back (same or new session): read again; the old watch may be stale.
                        Some(ConnectionState::Reconnected { .. }) | Some(ConnectionState::Connected { .. }) => break,
                        None | Some(ConnectionState::Closed) => return,
                        _ => {}
                    }
                }
                _ = stop.changed() => return,
            }
        }
    }
}
