//! Plain znode operations of a [`Client`] (namespace-relative paths), and the tree helpers
//! recipes share.

use zookeeper_client as zk;

use super::{Client, Inner, Session};
use crate::error::{Error, ErrorKind, Result};
use crate::{path, runtime};

impl Client {
    /// Reads a znode's data (namespace-relative path). `None` if it does not exist.
    pub async fn get_data(&self, path: &str) -> Result<Option<(Vec<u8>, NodeStat)>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &full, async |zk| zk.get_data(&full).await)
                        .await
                    {
                        Ok((data, stat)) => Ok(Some((data, NodeStat::from(&stat)))),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// A znode's ACL (namespace-relative path). `None` if it does not exist.
    pub async fn get_acl(&self, path: &str) -> Result<Option<Vec<crate::AclEntry>>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &full, async |zk| zk.get_acl(&full).await)
                        .await
                    {
                        Ok((acl, _)) => Ok(Some(acl.iter().map(acl_entry).collect())),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// A znode's stat (namespace-relative path). `None` if it does not exist.
    pub async fn exists(&self, path: &str) -> Result<Option<NodeStat>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    inner
                        .run(&s, &full, async |zk| zk.check_stat(&full).await)
                        .await
                        .map(|stat| stat.as_ref().map(NodeStat::from))
                })
                .await
        })
        .await
    }

    /// Sets a znode's data if its data version is `version` (`None`: any); unfenced and sent
    /// once (after a connection loss the outcome is unknown). Returns the new stat; `NoNode`
    /// and `BadVersion` are errors of that kind.
    pub async fn set_data(
        &self,
        path: &str,
        data: &[u8],
        version: Option<i32>,
    ) -> Result<NodeStat> {
        let full = self.resolve(path)?;
        self.inner().check_payload(&full, data.len())?;
        let inner = self.inner().clone();
        let data = data.to_vec();
        runtime::run(async move {
            let s = inner.session().await?;
            inner
                .run(&s, &full, async |zk| {
                    zk.set_data(&full, &data, version).await
                })
                .await
                .map(|stat| NodeStat::from(&stat))
        })
        .await
    }

    /// Lists a znode's children (namespace-relative path), sorted. `None` if it does not exist.
    pub async fn get_children(&self, path: &str) -> Result<Option<Vec<String>>> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &full, async |zk| zk.get_children(&full).await)
                        .await
                    {
                        Ok((mut children, _)) => {
                            children.sort();
                            Ok(Some(children))
                        }
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(None),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Creates one znode (namespace-relative path; the parent must exist); unfenced and sent
    /// once (after a connection loss the outcome is unknown: `ConnectionLoss`). Returns the
    /// created path (with the sequence suffix for sequential modes) and its stat.
    pub async fn create(
        &self,
        path: &str,
        data: &[u8],
        mode: NodeMode,
    ) -> Result<(String, NodeStat)> {
        let full = self.resolve(path)?;
        self.inner().check_payload(&full, data.len())?;
        let inner = self.inner().clone();
        let data = data.to_vec();
        runtime::run(async move {
            let s = inner.session().await?;
            let opts = mode.to_zk().with_acls(inner.acls());
            let (stat, seq) = inner
                .run(&s, &full, async |zk| zk.create(&full, &data, &opts).await)
                .await?;
            let created = match mode {
                NodeMode::PersistentSequential | NodeMode::EphemeralSequential => {
                    format!("{full}{seq}")
                }
                _ => full,
            };
            Ok((inner.relative(&created), NodeStat::from(&stat)))
        })
        .await
    }

    /// Deletes one znode if its data version is `version` (`None`: any); unfenced and sent
    /// once. `NoNode`, `BadVersion` and `NotEmpty` are errors of that kind.
    pub async fn delete(&self, path: &str, version: Option<i32>) -> Result<()> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            let s = inner.session().await?;
            inner
                .run(&s, &full, async |zk| zk.delete(&full, version).await)
                .await
        })
        .await
    }

    /// Creates or overwrites a persistent znode (and its parents) with `data`; unfenced.
    pub async fn put(&self, path: &str, data: &[u8]) -> Result<()> {
        let full = self.resolve(path)?;
        self.inner().check_payload(&full, data.len())?;
        let inner = self.inner().clone();
        let data = data.to_vec();
        // Idempotent: the end state is the same however often it runs.
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    inner.ensure_parents(&s, &full).await?;
                    let opts = zk::CreateMode::Persistent.with_acls(inner.acls());
                    match inner
                        .run(&s, &full, async |zk| zk.create(&full, &data, &opts).await)
                        .await
                    {
                        Ok(_) => Ok(()),
                        Err(e) if e.kind() == ErrorKind::NodeExists => inner
                            .run(&s, &full, async |zk| zk.set_data(&full, &data, None).await)
                            .await
                            .map(|_| ()),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Makes this client's next reads see every write the ensemble committed before this call
    /// (ZooKeeper's `sync`: a server may otherwise answer from a slightly older state). Use it
    /// before reading what another client has just written.
    pub async fn sync(&self, path: &str) -> Result<()> {
        let full = self.resolve(path)?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    match inner.run(&s, &full, async |zk| zk.sync(&full).await).await {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
                        Err(e) => Err(e),
                    }
                })
                .await
        })
        .await
    }

    /// Deletes a znode and everything below it (namespace-relative path); unfenced. It first
    /// syncs the path, so what other clients created before the call is deleted too (the
    /// subtree is listed by reads, which a follower behind the leader would answer without
    /// it). No error if absent.
    pub async fn delete_recursive(&self, path: &str) -> Result<()> {
        let full = self.resolve(path)?;
        if full == "/" {
            return Err(Error::invalid("refusing to delete the root znode '/'"));
        }
        self.sync(path).await?;
        let inner = self.inner().clone();
        runtime::run(async move {
            inner
                .retrying(|| async {
                    let s = inner.session().await?;
                    inner.delete_tree(&s, &full).await
                })
                .await
        })
        .await
    }
}

/// What zkha tells about a znode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStat {
    /// zxid of the creating transaction.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Data version.
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// Owning session of an ephemeral node (0 for persistent ones).
    pub ephemeral_owner: i64,
    /// Number of children.
    pub num_children: i32,
    /// Data length.
    pub data_length: i32,
    /// Time of the last data change (ms since the epoch, the server's clock).
    pub mtime: i64,
}

impl From<&zk::Stat> for NodeStat {
    fn from(s: &zk::Stat) -> NodeStat {
        NodeStat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            version: s.version,
            cversion: s.cversion,
            ephemeral_owner: s.ephemeral_owner,
            num_children: s.num_children,
            data_length: s.data_length,
            mtime: s.mtime,
        }
    }
}

crate::contract::coded_enum! {
    /// How a znode created by [`Client::create`] or an [`crate::Op::Create`] lives.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum NodeMode ("node mode") {
        /// Persistent.
        Persistent = 0, "persistent";
        /// Persistent with a sequence suffix.
        PersistentSequential = 1, "persistent_sequential";
        /// Deleted when the creating session ends.
        Ephemeral = 2, "ephemeral";
        /// Ephemeral with a sequence suffix.
        EphemeralSequential = 3, "ephemeral_sequential";
        /// Deleted by the server once its last child is gone.
        Container = 4, "container";
    }
}

impl NodeMode {
    pub(crate) fn to_zk(self) -> zk::CreateMode {
        match self {
            NodeMode::Persistent => zk::CreateMode::Persistent,
            NodeMode::PersistentSequential => zk::CreateMode::PersistentSequential,
            NodeMode::Ephemeral => zk::CreateMode::Ephemeral,
            NodeMode::EphemeralSequential => zk::CreateMode::EphemeralSequential,
            NodeMode::Container => zk::CreateMode::Container,
        }
    }
}

impl Inner {
    /// Creates the persistent parents of `path` that are missing.
    /// A parent that refuses this identity is named beside `full`, the node being written.
    pub(crate) async fn ensure_parents(&self, s: &Session, full: &str) -> Result<()> {
        self.ensure_path(s, path::parent(full))
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::NoAuth => e.context(format!("{full}: a parent znode refused access")),
                _ => e,
            })
    }

    /// Creates `dir` and its ancestors as persistent znodes where missing.
    pub(crate) async fn ensure_path(&self, s: &Session, dir: &str) -> Result<()> {
        self.make_path(s, dir, false).await
    }

    /// Creates `dir` and its ancestors as container znodes where missing: the parents of an
    /// election's or a lock's queue, which ZooKeeper removes once they are empty again (as
    /// Curator's `creatingParentContainersIfNeeded` makes them). A server without containers
    /// (before 3.5.3) gets persistent ones.
    pub(crate) async fn ensure_containers(&self, s: &Session, dir: &str) -> Result<()> {
        self.make_path(s, dir, true).await
    }

    async fn make_path(&self, s: &Session, dir: &str, containers: bool) -> Result<()> {
        if dir == "/" {
            return Ok(());
        }
        // Fast path: it exists.
        if self
            .run(s, dir, async |zk| zk.check_stat(dir).await)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let opts = zk::CreateMode::Persistent.with_acls(self.acls());
        let container = zk::CreateMode::Container.with_acls(self.acls());
        let mut at = String::new();
        for seg in dir[1..].split('/') {
            at.push('/');
            at.push_str(seg);
            let created = self
                .run(s, &at, async |zk| {
                    if !containers {
                        return zk.create(&at, &[], &opts).await;
                    }
                    match zk.create(&at, &[], &container).await {
                        Err(zk::Error::Unimplemented) => zk.create(&at, &[], &opts).await,
                        r => r,
                    }
                })
                .await;
            match created {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NodeExists => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// `full` and every node below it, children before their parents (empty if `full` does
    /// not exist).
    pub(crate) async fn subtree(&self, s: &Session, full: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        let mut stack = vec![(full.to_string(), false)];
        while let Some((p, expanded)) = stack.pop() {
            if expanded {
                out.push(p);
                continue;
            }
            match self.run(s, &p, async |zk| zk.get_children(&p).await).await {
                Ok((children, _)) => {
                    stack.push((p.clone(), true));
                    for c in children {
                        stack.push((path::join(&p, &c), false));
                    }
                }
                Err(e) if e.kind() == ErrorKind::NoNode => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Deletes `full` and its subtree (children first); missing nodes are fine, a node that
    /// gained children meanwhile is listed again.
    pub(crate) async fn delete_tree(&self, s: &Session, full: &str) -> Result<()> {
        'list: loop {
            for p in self.subtree(s, full).await? {
                match self.run(s, &p, async |zk| zk.delete(&p, None).await).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NoNode => {}
                    Err(e) if e.kind() == ErrorKind::NotEmpty => continue 'list,
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
    }
}

/// A ZooKeeper ACL entry as zkha's [`AclEntry`](crate::AclEntry).
fn acl_entry(a: &zk::Acl) -> crate::AclEntry {
    let p = a.permission();
    let perms = [
        (zk::Permission::READ, 1),
        (zk::Permission::WRITE, 2),
        (zk::Permission::CREATE, 4),
        (zk::Permission::DELETE, 8),
        (zk::Permission::ADMIN, 16),
    ]
    .iter()
    .filter(|(bit, _)| p.has(*bit))
    .map(|(_, v)| v)
    .sum();
    crate::AclEntry {
        perms,
        scheme: a.scheme().to_string(),
        id: a.auth_id().id().to_string(),
    }
}
