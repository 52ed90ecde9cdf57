//! Leader information: the leader publishes who it is (an address and its leader session id,
//! or any bytes) in an ephemeral znode per component; everyone else watches it.
//!
//! Publishing follows Flink's `ZooKeeperUtils.writeLeaderInformationToZooKeeper`: if the node
//! exists and is ours, set its data; if it belongs to another (old) session, delete it; if it
//! does not exist, create it as ephemeral — and every one of those writes is a fenced multi
//! that first checks the leader's latch node, so a stale leader writes nothing.

use std::sync::Arc;

use crate::election::Election;
use crate::error::{Error, ErrorKind, Result};
use crate::fence::{Fence, Op};
use crate::node_watch::{NodeData, NodeWatch};
use crate::session::NodeMode;
use crate::session::{Client, Inner};

/// What a leader-information znode currently says: the data of a node (`Empty`: no leader
/// has published, or it stepped down).
pub type LeaderInfo = NodeData;

/// Watches one leader-information znode (see [`NodeWatch`]).
pub type LeaderInfoWatch = NodeWatch<LeaderInfo>;

impl Client {
    /// Starts watching the leader information at `path` (namespace-relative).
    pub fn watch_leader_info(&self, path: &str) -> Result<LeaderInfoWatch> {
        self.watch_data(path)
    }
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
            // A parent is missing (the first publish, or an emptied `leader/<component>`
            // node cleaned up as Flink's built-in HA does): make it, fenced too, so a grant
            // that went with a cleaned-up root recreates nothing.
            Err(e) if creating && e.kind() == ErrorKind::NoNode => {
                fence.make_parents(rel).await?;
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
