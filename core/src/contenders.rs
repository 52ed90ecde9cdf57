//! Who contends for an election or a lock, in queue order (Curator's `getParticipants`).

use crate::error::Result;
use crate::queue;
use crate::session::{Client, NodeStat};

/// The node-name markers of every queue zkha and Curator write: election latches, mutexes and
/// semaphores, read and write locks.
const QUEUE_NAMES: &[&str] = &["latch-", "lock-", "__READ__", "__WRIT__"];

/// One contender of an election or a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contender {
    /// The contender's node (its name under the latch or lock path).
    pub node: String,
    /// The node's data: an election contender's participant id (zkha and Curator write it),
    /// whatever the holder wrote for a lock (zkha: nothing).
    pub data: Vec<u8>,
    /// The node's stat; `ephemeral_owner` is the contender's session.
    pub stat: NodeStat,
}

impl Client {
    /// The contenders queued under `path` (an election's latch path or a lock's path), in
    /// queue order: the first leads or holds (for a read-write lock or a semaphore, the first
    /// few may hold at once). A node that vanishes while it is read is left out; an empty or
    /// missing path has none.
    pub async fn contenders(&self, path: &str) -> Result<Vec<Contender>> {
        let children = self.get_children(path).await?.unwrap_or_default();
        let mut out = Vec::new();
        for (_, name) in queue::sorted(&children, QUEUE_NAMES) {
            let full = format!("{}/{name}", path.trim_end_matches('/'));
            if let Some((data, stat)) = self.get_data(&full).await? {
                out.push(Contender {
                    node: name,
                    data,
                    stat,
                });
            }
        }
        Ok(out)
    }
}
