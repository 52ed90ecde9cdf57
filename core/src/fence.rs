//! Fenced writes: a ZooKeeper multi whose first operation checks the writer's own latch (or
//! lock) node. If the writer lost its grant — its node was deleted, or its session expired —
//! the whole multi fails atomically and nothing is written.

use std::sync::Arc;
use std::time::Instant;

use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::metrics::Metrics;
use crate::session::{Inner, NodeMode, NodeStat, Session};

/// One operation of a (fenced) multi. Paths are relative to the client's namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create `path` with `data`.
    Create {
        /// Path.
        path: String,
        /// Data.
        data: Vec<u8>,
        /// Lifetime.
        mode: NodeMode,
    },
    /// Set `path`'s data, if its version is `version` (any version if `None`).
    SetData {
        /// Path.
        path: String,
        /// Data.
        data: Vec<u8>,
        /// Expected version.
        version: Option<i32>,
    },
    /// Delete `path`, if its version is `version` (any version if `None`).
    Delete {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
    /// Require `path` to exist at `version` (any version if `None`).
    Check {
        /// Path.
        path: String,
        /// Expected version.
        version: Option<i32>,
    },
}

impl Op {
    /// The operation's path.
    pub fn path(&self) -> &str {
        match self {
            Op::Create { path, .. }
            | Op::SetData { path, .. }
            | Op::Delete { path, .. }
            | Op::Check { path, .. } => path,
        }
    }
}

/// The result of one [`Op`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpResult {
    /// Created, with the actual path (namespace-relative; sequential nodes get their suffix).
    Created {
        /// The created path.
        path: String,
        /// Its stat.
        stat: NodeStat,
    },
    /// Data set; the node's new stat.
    SetData {
        /// The new stat.
        stat: NodeStat,
    },
    /// Deleted.
    Deleted,
    /// Check passed.
    Checked,
}

/// Proof of a grant: the holder's own node at a version, on one session. Fenced writes made
/// through it succeed only while that node still exists unchanged.
#[derive(Clone)]
pub struct Fence {
    pub(crate) inner: Arc<Inner>,
    pub(crate) session: Arc<Session>,
    /// Full path of the holder's node.
    pub(crate) node: String,
    pub(crate) version: i32,
    pub(crate) token: i64,
}

impl std::fmt::Debug for Fence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fence")
            .field("node", &self.node)
            .field("token", &self.token)
            .finish()
    }
}

impl Fence {
    /// The fencing token of the grant (the czxid of the holder's node).
    pub fn token(&self) -> i64 {
        self.token
    }

    /// The full path of the node the fence checks.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The session id the grant belongs to.
    pub fn session_id(&self) -> i64 {
        self.session.id
    }

    /// Runs `ops` atomically after checking the fence node. Fails with
    /// [`ErrorKind::NotLeader`] if the fence no longer holds (nothing is written).
    pub async fn multi(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let fence = self.clone();
        crate::runtime::run(async move { fence.multi_here(ops).await }).await
    }

    /// Creates or overwrites the persistent znode `path` (namespace-relative) with `data`,
    /// fenced: a set if it exists, else a create (missing parents are created first, unfenced,
    /// empty). Returns the node's stat. `NotLeader` once the grant is gone: nothing is written.
    pub async fn put(&self, path: &str, data: &[u8]) -> Result<NodeStat> {
        let fence = self.clone();
        let (path, data) = (path.to_string(), data.to_vec());
        crate::runtime::run(async move {
            let full = fence.inner.resolve(&path, "path")?;
            for _ in 0..3 {
                let set = Op::SetData {
                    path: path.clone(),
                    data: data.clone(),
                    version: None,
                };
                match fence.multi_here(vec![set]).await {
                    Ok(r) => return Ok(stat_of(&r)),
                    Err(e) if e.kind() == ErrorKind::NoNode => {}
                    Err(e) => return Err(e),
                }
                fence.make_parents(&path).await?;
                let create = Op::Create {
                    path: path.clone(),
                    data: data.clone(),
                    mode: NodeMode::Persistent,
                };
                match fence.multi_here(vec![create]).await {
                    Ok(r) => return Ok(stat_of(&r)),
                    // Created meanwhile by someone else: set it; or a parent removed
                    // meanwhile: make it again.
                    Err(e) if matches!(e.kind(), ErrorKind::NodeExists | ErrorKind::NoNode) => {}
                    Err(e) => return Err(e),
                }
            }
            Err(Error::new(
                ErrorKind::BadVersion,
                format!("fenced put on {full}: the node kept appearing and vanishing"),
            ))
        })
        .await
    }

    /// Deletes `path` (namespace-relative) if its data version is `version` (`None`: any),
    /// fenced. `NotLeader` once the grant is gone: nothing is deleted.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let op = Op::Delete {
            path: path.to_string(),
            version,
        };
        self.multi(vec![op]).await.map(|_| ())
    }

    /// Makes the missing ancestors of `rel` (namespace-relative) in one fenced multi: once
    /// the grant is gone, nothing is made (`NotLeader`), so a deposed leader never recreates
    /// a tree that was cleaned up (a finished Flink cluster's root, its latch nodes with it).
    /// Ancestors made or removed meanwhile by others are no error: the caller looks again.
    pub(crate) async fn make_parents(&self, rel: &str) -> Result<()> {
        let inner = &self.inner;
        let mut missing = Vec::new();
        let mut dir = crate::path::parent(rel);
        while dir != "/" {
            let full = inner.resolve(dir, "path")?;
            let stat = inner
                .run(&self.session, &full, async |zk| zk.check_stat(&full).await)
                .await?;
            if stat.is_some() {
                break;
            }
            missing.push(dir.to_string());
            dir = crate::path::parent(dir);
        }
        let ops: Vec<Op> = missing
            .into_iter()
            .rev()
            .map(|path| Op::Create {
                path,
                data: Vec::new(),
                mode: NodeMode::Persistent,
            })
            .collect();
        if ops.is_empty() {
            return Ok(());
        }
        match self.multi_here(ops).await {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.kind(), ErrorKind::NodeExists | ErrorKind::NoNode) => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn multi_here(&self, ops: Vec<Op>) -> Result<Vec<OpResult>> {
        let inner = &self.inner;
        if !inner.lease.holds(self.session.generation) {
            Metrics::inc(&inner.metrics.fenced_rejections);
            return Err(Error::new(
                ErrorKind::NotLeader,
                format!(
                    "fenced write refused: the lease of the grant on {} has ended",
                    self.node
                ),
            ));
        }
        let zk = self.session.zk()?;
        let mut w = zk.new_multi_writer();
        #[cfg(feature = "sabotage")]
        let skip = inner
            .options
            .sabotaged(|s| *s == crate::options::Sabotage::SkipFenceCheck);
        #[cfg(not(feature = "sabotage"))]
        let skip = false;
        if skip {
            // The check still heads the multi (results are mapped past it), but it checks
            // the root, which always passes.
            w.add_check_version("/", -1)
        } else {
            w.add_check_version(&self.node, self.version)
        }
        .map_err(|e| Error::invalid(format!("bad fence check on {}: {e}", self.node)))?;
        let full_paths = add_ops(inner, &mut w, &ops)?;
        let sent = Instant::now();
        let limit = inner.options.operation_timeout_for(self.session.timeout);
        let r = tokio::time::timeout(limit, w.commit()).await;
        inner
            .metrics
            .record_op(sent.elapsed(), matches!(r, Ok(Ok(_))));
        let results = match r {
            Err(_) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!(
                        "fenced write on {} got no answer within {limit:?}; the outcome is unknown",
                        self.node
                    ),
                ))
            }
            Ok(Ok(results)) => results,
            Ok(Err(zk::MultiWriteError::OperationFailed { index: 0, source })) => {
                Metrics::inc(&inner.metrics.fenced_rejections);
                tracing::warn!(target: "zkha::fence", node = %self.node, error = %source, "fenced write rejected: the grant is gone");
                return Err(Error::new(
                    ErrorKind::NotLeader,
                    format!(
                        "fenced write rejected by ZooKeeper: the grant's node {} is gone or changed ({source})",
                        self.node
                    ),
                ));
            }
            Ok(Err(zk::MultiWriteError::OperationFailed { index, source })) => {
                let path = full_paths.get(index - 1).map(String::as_str).unwrap_or("?");
                return Err(Error::zk(source, path));
            }
            Ok(Err(zk::MultiWriteError::RequestFailed { source })) => {
                // Not `NotLeader`: that kind promises nothing was written, and a request in
                // flight when the session ended may have been applied.
                if matches!(source, zk::Error::SessionExpired) {
                    Metrics::inc(&inner.metrics.fenced_rejections);
                    return Err(Error::new(
                        ErrorKind::SessionExpired,
                        format!(
                            "fenced write on {} failed: the session of the grant has ended \
                             (the grant is gone; the outcome of a request already sent is unknown)",
                            self.node
                        ),
                    ));
                }
                return Err(Error::zk(source, &self.node));
            }
        };
        // Drop the check's result; map the rest.
        Ok(map_results(inner, results.into_iter().skip(1)))
    }
}

/// Adds `ops` (namespace-relative paths) to a multi, after checking every path and payload
/// size; returns the full paths in op order.
pub(crate) fn add_ops(
    inner: &Inner,
    w: &mut zk::MultiWriter<'_>,
    ops: &[Op],
) -> Result<Vec<String>> {
    let mut full_paths = Vec::with_capacity(ops.len());
    for op in ops {
        let full = inner.resolve(op.path(), "path")?;
        if let Op::Create { data, .. } | Op::SetData { data, .. } = op {
            inner.check_payload(&full, data.len())?;
        }
        full_paths.push(full);
    }
    let acls = inner.acls();
    for (op, full) in ops.iter().zip(&full_paths) {
        match op {
            Op::Create { data, mode, .. } => {
                w.add_create(full, data, &mode.to_zk().with_acls(acls))
            }
            Op::SetData { data, version, .. } => w.add_set_data(full, data, *version),
            Op::Delete { version, .. } => w.add_delete(full, *version),
            Op::Check { version, .. } => w.add_check_version(full, version.unwrap_or(-1)),
        }
        .map_err(|e| Error::invalid(format!("bad operation on {full}: {e}")))?;
    }
    Ok(full_paths)
}

/// Maps a multi's results; created paths are made namespace-relative again.
pub(crate) fn map_results(
    inner: &Inner,
    results: impl IntoIterator<Item = zk::MultiWriteResult>,
) -> Vec<OpResult> {
    results
        .into_iter()
        .map(|r| match r {
            zk::MultiWriteResult::Create { path, stat } => OpResult::Created {
                path: inner.relative(&path),
                stat: NodeStat::from(&stat),
            },
            zk::MultiWriteResult::SetData { stat } => OpResult::SetData {
                stat: NodeStat::from(&stat),
            },
            zk::MultiWriteResult::Delete => OpResult::Deleted,
            _ => OpResult::Checked,
        })
        .collect()
}

/// Something that can hand out the fence of a current grant: an [`crate::Election`] (the fence
/// of its current leadership, or `NotLeader`) or a fixed [`Fence`].
pub trait FenceSource: Send + Sync {
    /// The fence to guard the next write with.
    fn current_fence(&self) -> Result<Fence>;

    /// Whether [`FenceSource::current_fence`] would hand out a fence now, asked without
    /// counting a refusal (`zkha_fenced_writes_rejected_total`): for a write that is only worth
    /// trying while leading. A fixed fence: always.
    fn leads(&self) -> bool {
        true
    }
}

impl FenceSource for Fence {
    fn current_fence(&self) -> Result<Fence> {
        Ok(self.clone())
    }
}

impl FenceSource for crate::Election {
    fn current_fence(&self) -> Result<Fence> {
        self.fence()
    }

    fn leads(&self) -> bool {
        self.has_leadership()
    }
}

/// The stat a one-operation put returned.
fn stat_of(results: &[OpResult]) -> NodeStat {
    match results.first() {
        Some(OpResult::Created { stat, .. } | OpResult::SetData { stat }) => *stat,
        _ => NodeStat::default(),
    }
}
