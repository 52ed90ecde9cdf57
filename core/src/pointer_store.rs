//! A store of small pointers (bytes naming a file elsewhere: a checkpoint, an execution plan)
//! with Flink's `ZooKeeperStateHandleStore` semantics and layout, so Flink's own HA and zkha
//! can read each other's entries:
//!
//! ```text
//! <root>/<name>                   the pointer bytes (persistent)
//! <root>/<name>/locks             persistent; its absence marks the entry for deletion
//! <root>/<name>/locks/<owner-id>  ephemeral, one per store instance holding the entry
//! ```
//!
//! - `add_and_lock` is one multi: create the entry, its `locks` node, and our lock.
//! - `release_and_try_remove` deletes our lock, then `locks` (if another owner still holds a
//!   lock: `NotEmpty`, the entry stays, `false`), then the entry (`true`).
//! - An entry without `locks` is marked for deletion and invisible to readers.
//! - `add_and_lock` first removes an entry that is marked for deletion.
//! - `clear_entries` deletes the whole store root (Flink does the same on a terminal job).
//! - `get_all_and_lock` re-reads until the root's children version is stable, so it returns a
//!   consistent set even while entries are added concurrently.
//! - Payloads above the server limit are refused before sending, naming size and limit.
//! - Writes can be fenced by a leadership: a stale leader's `add_and_lock` or `replace` fails
//!   atomically.

use std::sync::Arc;

use uuid::Uuid;

use crate::error::{Error, ErrorKind, Result};
use crate::fence::{add_ops, map_results, FenceSource, Op};
use crate::session::NodeMode;
use crate::session::{Client, Inner, Session};
use crate::{path, runtime};

/// Deletes per fenced multi in [`PointerStore::clear_entries`] (paths of ~100 bytes: far
/// below ZooKeeper's 1 MB request limit).
const CLEAR_BATCH: usize = 200;
/// Listings [`PointerStore::clear_entries`] takes of a tree that keeps changing under it.
const CLEAR_RELISTS: u32 = 10;

/// A pointer store rooted at one path. Cheap to clone; clones share the owner id.
#[derive(Clone)]
pub struct PointerStore {
    client: Client,
    rel_root: String,
    root: String,
    owner: String,
    fence: Option<Arc<dyn FenceSource>>,
}

/// One entry read with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The entry's name (child of the root).
    pub name: String,
    /// The pointer bytes.
    pub data: Vec<u8>,
    /// The entry's data version (for `replace`).
    pub version: i32,
}

impl Client {
    /// A pointer store at `root` (namespace-relative) with a fresh owner id.
    pub fn pointer_store(&self, root: &str) -> Result<PointerStore> {
        self.pointer_store_with_owner(root, &Uuid::new_v4().to_string())
    }

    /// A pointer store at `root` whose locks are named `owner`.
    pub fn pointer_store_with_owner(&self, root: &str, owner: &str) -> Result<PointerStore> {
        let full = self.inner().resolve(root, "pointer store root")?;
        path::validate_name(owner, "pointer store owner id")?;
        Ok(PointerStore {
            client: self.clone(),
            rel_root: root.to_string(),
            root: full,
            owner: owner.to_string(),
            fence: None,
        })
    }
}

macro_rules! on_runtime {
    ($self:ident, |$me:ident| $body:expr) => {{
        let $me = $self.clone();
        runtime::run(async move { $body }).await
    }};
}

/// [`on_runtime!`] for an idempotent body: repeated through connection loss per the retry
/// policy. The body sees `me` and each named capture by reference.
macro_rules! on_runtime_retrying {
    ($self:ident, [$($cap:ident),*], |$me:ident| $body:expr) => {{
        let $me = $self.clone();
        runtime::run(async move {
            let $me = &$me;
            $(let $cap = &$cap;)*
            $me.inner().retrying(|| async move { $body }).await
        })
        .await
    }};
}

impl PointerStore {
    /// The same store with its writes fenced by `source` (an election or a fence).
    pub fn fenced_by(mut self, source: Arc<dyn FenceSource>) -> PointerStore {
        self.fence = Some(source);
        self
    }

    /// This instance's lock name.
    pub fn owner_id(&self) -> &str {
        &self.owner
    }

    /// The full root path.
    pub fn root(&self) -> &str {
        &self.root
    }

    fn inner(&self) -> &Arc<Inner> {
        self.client.inner()
    }

    fn rel(&self, name: &str, tail: &str) -> String {
        let base = path::join(&self.rel_root, name);
        if tail.is_empty() {
            base
        } else {
            path::join(&base, tail)
        }
    }

    fn full(&self, name: &str) -> String {
        path::join(&self.root, name)
    }

    /// This owner's lock node of entry `name` (full path).
    fn own_lock(&self, name: &str) -> String {
        path::join(&self.full(name), &self.own_lock_tail())
    }

    /// `locks/<owner>`: this owner's lock below an entry.
    fn own_lock_tail(&self) -> String {
        format!("locks/{}", self.owner)
    }

    fn check_name(name: &str) -> Result<()> {
        path::validate_name(name, "entry name")
    }

    /// Adds `name` with `data` and locks it for this owner, atomically. An entry marked for
    /// deletion is removed first; an existing live entry is a `NodeExists` error.
    ///
    /// A connection loss repeats the add per the retry policy. An attempt whose reply was lost
    /// may have been applied, so a repeat that finds the entry holding exactly `data` takes it
    /// for its own: it returns once the entry carries this owner's lock (locking it again, if
    /// the session changed meanwhile). An entry with other data stays a `NodeExists` error.
    pub async fn add_and_lock(&self, name: &str, data: &[u8]) -> Result<i32> {
        Self::check_name(name)?;
        self.inner().check_payload(&self.full(name), data.len())?;
        let data = data.to_vec();
        let name = name.to_string();
        let repeated = std::sync::atomic::AtomicBool::new(false);
        on_runtime_retrying!(self, [name, data, repeated], |me| {
            use std::sync::atomic::Ordering::Relaxed;
            let inner = me.inner();
            let s = inner.session().await?;
            let full = me.full(name);
            let own_lock = me.own_lock(name);
            if repeated.swap(true, Relaxed) {
                // What the lost attempt wrote, if anything, is visible after a sync (of the
                // store's root, which exists: a NoNode here must not read as "not written").
                let root = &me.root;
                match inner.run(&s, root, async |zk| zk.sync(root).await).await {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NoNode => {}
                    Err(e) => return Err(e),
                }
                if let Some(version) = me.adopt(&s, name, &full, data).await? {
                    return Ok(version);
                }
            }
            let ops = vec![
                Op::Create {
                    path: me.rel(name, ""),
                    data: data.clone(),
                    mode: NodeMode::Persistent,
                },
                Op::Create {
                    path: me.rel(name, "locks"),
                    data: vec![],
                    mode: NodeMode::Persistent,
                },
                Op::Create {
                    path: me.rel(name, &me.own_lock_tail()),
                    data: vec![],
                    mode: NodeMode::Ephemeral,
                },
            ];
            // The create first: the store's root is nearly always there and the entry nearly
            // never (one multi per add, as Flink's own store).
            match me.write(&s, ops.clone()).await {
                Ok(_) => return Ok(0),
                // The store's root is missing (the only parent not created here).
                Err(e) if e.kind() == ErrorKind::NoNode => inner.ensure_path(&s, &me.root).await?,
                // An entry is there: one marked for deletion goes first; a live one is an
                // error.
                Err(e) if e.kind() == ErrorKind::NodeExists => {
                    match inner
                        .run(&s, &full, async |zk| zk.check_stat(&full).await)
                        .await?
                    {
                        Some(st) if st.num_children == 0 => {
                            me.delete(&s, &me.rel(name, ""), &full).await?
                        }
                        Some(_) => {
                            return Err(Error::new(
                                ErrorKind::NodeExists,
                                format!("pointer store entry {full} already exists"),
                            ))
                        }
                        None => {}
                    }
                }
                Err(e) => return Err(e),
            }
            match me.write(&s, ops).await {
                Ok(_) => Ok(0),
                // A retried commit that had succeeded: our lock is there.
                Err(e) if e.kind() == ErrorKind::NodeExists => {
                    if inner
                        .run(&s, &own_lock, async |zk| zk.check_stat(&own_lock).await)
                        .await?
                        .is_some()
                    {
                        Ok(0)
                    } else {
                        Err(Error::new(
                            ErrorKind::NodeExists,
                            format!("pointer store entry {full} already exists"),
                        ))
                    }
                }
                Err(e) => Err(e),
            }
        })
    }

    /// For a repeated [`PointerStore::add_and_lock`]: `Some(version)` if entry `name` holds
    /// exactly `data` (the attempt whose reply was lost was applied) and carries this owner's
    /// lock, locked again if the session changed since; `None` if it is absent or holds other
    /// data (the caller's checks decide). A failure to lock it again is reported as an
    /// outcome-unknown `ZooKeeper` error, never as one that says nothing was written.
    async fn adopt(&self, s: &Session, name: &str, full: &str, data: &[u8]) -> Result<Option<i32>> {
        let inner = self.inner();
        let (current, stat) = match inner.run(s, full, async |zk| zk.get_data(full).await).await {
            Ok(found) => found,
            Err(e) if e.kind() == ErrorKind::NoNode => return Ok(None),
            Err(e) => return Err(e),
        };
        if current != data {
            return Ok(None);
        }
        let own_lock = self.own_lock(name);
        let locked = inner
            .run(s, &own_lock, async |zk| zk.check_stat(&own_lock).await)
            .await?
            .is_some();
        if !locked {
            let lock = vec![Op::Create {
                path: self.rel(name, &self.own_lock_tail()),
                data: vec![],
                mode: NodeMode::Ephemeral,
            }];
            match self.write(s, lock).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NodeExists => {}
                Err(e) if e.kind().outcome_unknown() => return Err(e),
                Err(e) => {
                    return Err(Error::new(
                        ErrorKind::ZooKeeper,
                        format!(
                            "pointer store entry {full} was written by an attempt whose reply \
                             was lost, but cannot be locked again: {e}"
                        ),
                    ))
                }
            }
        }
        tracing::debug!(target: "zkha::pointer_store", entry = %full, "a lost reply: the entry was written");
        Ok(Some(stat.version))
    }

    /// Replaces `name`'s data if it is at `expected_version` and this owner holds a lock on
    /// it; returns the new version.
    pub async fn replace(&self, name: &str, expected_version: i32, data: &[u8]) -> Result<i32> {
        Self::check_name(name)?;
        self.inner().check_payload(&self.full(name), data.len())?;
        let data = data.to_vec();
        let name = name.to_string();
        on_runtime!(self, |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            let ops = vec![
                Op::Check {
                    path: me.rel(&name, &me.own_lock_tail()),
                    version: None,
                },
                Op::SetData {
                    path: me.rel(&name, ""),
                    data,
                    version: Some(expected_version),
                },
            ];
            match me.write(&s, ops).await {
                Ok(results) => Ok(match results.last() {
                    Some(crate::OpResult::SetData { stat }) => stat.version,
                    _ => expected_version + 1,
                }),
                Err(e) if e.kind() == ErrorKind::NoNode => Err(Error::new(
                    ErrorKind::NoNode,
                    format!(
                        "cannot replace {}: it does not exist or is not locked by {}",
                        me.full(&name),
                        me.owner
                    ),
                )),
                Err(e) => Err(e),
            }
        })
    }

    /// The version of `name`, or `None` if it does not exist or is marked for deletion.
    pub async fn exists(&self, name: &str) -> Result<Option<i32>> {
        Self::check_name(name)?;
        let name = name.to_string();
        on_runtime_retrying!(self, [name], |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            let full = me.full(name);
            match inner
                .run(&s, &full, async |zk| zk.check_stat(&full).await)
                .await?
            {
                Some(st) if st.num_children > 0 => Ok(Some(st.version)),
                _ => Ok(None),
            }
        })
    }

    /// Locks `name` for this owner and reads it. `NoNode` if it does not exist or is marked for
    /// deletion.
    pub async fn get_and_lock(&self, name: &str) -> Result<Entry> {
        Self::check_name(name)?;
        let name = name.to_string();
        on_runtime_retrying!(self, [name], |me| {
            let s = me.inner().session().await?;
            me.lock_and_read(&s, name).await
        })
    }

    async fn lock_and_read(&self, s: &Session, name: &str) -> Result<Entry> {
        let inner = self.inner();
        let lock = self.own_lock(name);
        let opts = zookeeper_client::CreateMode::Ephemeral.with_acls(inner.acls());
        match inner
            .run(s, &lock, async |zk| zk.create(&lock, &[], &opts).await)
            .await
        {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NodeExists => {}
            // No `locks` node: missing or marked for deletion.
            Err(e) if e.kind() == ErrorKind::NoNode => {
                return Err(Error::new(
                    ErrorKind::NoNode,
                    format!("pointer store entry {} does not exist", self.full(name)),
                ))
            }
            Err(e) => return Err(e),
        }
        let full = self.full(name);
        match inner
            .run(s, &full, async |zk| zk.get_data(&full).await)
            .await
        {
            Ok((data, stat)) => Ok(Entry {
                name: name.to_string(),
                data,
                version: stat.version,
            }),
            Err(e) => Err(e),
        }
    }

    /// Locks and reads `names`, pipelined: every lock create and read is sent before the first
    /// answer is awaited (one round trip for the whole set). Missing or marked entries are
    /// left out.
    async fn lock_and_read_all(&self, s: &Session, names: &[String]) -> Result<Vec<Entry>> {
        let inner = self.inner();
        let opts = zookeeper_client::CreateMode::Ephemeral.with_acls(inner.acls());
        let zk = s.zk()?;
        let sent = std::time::Instant::now();
        let paths: Vec<(String, String)> = names
            .iter()
            .map(|name| (self.full(name), self.own_lock(name)))
            .collect();
        let mut pending = Vec::with_capacity(names.len());
        for (name, (full, lock)) in names.iter().zip(&paths) {
            let create = zk.create(lock, &[], &opts);
            let read = zk.get_data(full);
            pending.push((name, lock, full, create, read));
        }
        let mut out = Vec::with_capacity(names.len());
        for (name, lock, full, create, read) in pending {
            let created = inner.run_at(s, lock, sent, create).await;
            let data = inner.run_at(s, full, sent, read).await;
            match created {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::NodeExists => {}
                Err(e) if e.kind() == ErrorKind::NoNode => continue, // missing or marked
                Err(e) => return Err(e),
            }
            match data {
                Ok((data, stat)) => out.push(Entry {
                    name: name.clone(),
                    data,
                    version: stat.version,
                }),
                Err(e) if e.kind() == ErrorKind::NoNode => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Locks and reads every entry; a consistent set (re-read until no entry was added or
    /// removed meanwhile). Entries marked for deletion are left out.
    pub async fn get_all_and_lock(&self) -> Result<Vec<Entry>> {
        on_runtime_retrying!(self, [], |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            loop {
                let Some(before) = inner
                    .run(&s, &me.root, async |zk| zk.check_stat(&me.root).await)
                    .await?
                else {
                    return Ok(Vec::new());
                };
                let (mut names, _) = inner
                    .run(&s, &me.root, async |zk| zk.get_children(&me.root).await)
                    .await?;
                names.sort();
                let out = me.lock_and_read_all(&s, &names).await?;
                let after = inner
                    .run(&s, &me.root, async |zk| zk.check_stat(&me.root).await)
                    .await?;
                if after.is_some_and(|a| a.cversion == before.cversion) {
                    return Ok(out);
                }
            }
        })
    }

    /// The names of all entries (including ones marked for deletion), sorted.
    pub async fn get_all_handles(&self) -> Result<Vec<String>> {
        on_runtime_retrying!(self, [], |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            match inner
                .run(&s, &me.root, async |zk| zk.get_children(&me.root).await)
                .await
            {
                Ok((mut names, _)) => {
                    names.sort();
                    Ok(names)
                }
                Err(e) if e.kind() == ErrorKind::NoNode => Ok(Vec::new()),
                Err(e) => Err(e),
            }
        })
    }

    /// Releases this owner's lock on `name` (missing is fine).
    pub async fn release(&self, name: &str) -> Result<()> {
        Self::check_name(name)?;
        let name = name.to_string();
        on_runtime_retrying!(self, [name], |me| {
            let s = me.inner().session().await?;
            me.release_here(&s, name).await
        })
    }

    async fn release_here(&self, s: &Session, name: &str) -> Result<()> {
        let inner = self.inner();
        let lock = self.own_lock(name);
        match inner
            .run(s, &lock, async |zk| zk.delete(&lock, None).await)
            .await
        {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Releases our lock and marks `name` for deletion if nobody else holds it, returning its
    /// bytes (so the caller can discard what they point at before [`PointerStore::remove_marked`]);
    /// `None` if another owner still holds a lock (the entry stays).
    pub async fn release_and_mark(&self, name: &str) -> Result<Option<Vec<u8>>> {
        Self::check_name(name)?;
        let name = name.to_string();
        on_runtime!(self, |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            let full = me.full(&name);
            let data = match inner
                .run(&s, &full, async |zk| zk.get_data(&full).await)
                .await
            {
                Ok((d, _)) => Some(d),
                Err(e) if e.kind() == ErrorKind::NoNode => None,
                Err(e) => return Err(e),
            };
            me.release_here(&s, &name).await?;
            let locks = path::join(&full, "locks");
            // The common case, the leader subsuming an entry it alone held: the locks node
            // goes at once (ZooKeeper refuses it while any lock is left). Not leading (no
            // fenced write tried, none counted as refused), or a lock left: look at the locks
            // first.
            if me.fence.as_ref().is_none_or(|f| f.leads()) {
                match me.delete(&s, &me.rel(&name, "locks"), &locks).await {
                    Ok(()) => return Ok(Some(data.unwrap_or_default())),
                    Err(e) if matches!(e.kind(), ErrorKind::NotEmpty | ErrorKind::NotLeader) => {}
                    Err(e) => return Err(e),
                }
            }
            // Another owner still holds it: done, no fenced write needed (a process that does
            // not lead may still release its own lock).
            // Sync first: a lagging server could still list a lock its owner just released.
            let _ = inner
                .run(&s, &locks, async |zk| zk.sync(&locks).await)
                .await;
            if let Ok((others, _)) = inner
                .run(&s, &locks, async |zk| zk.get_children(&locks).await)
                .await
            {
                if !others.is_empty() && !me.release_dead_owners(&s, &locks, &others).await {
                    return Ok(None);
                }
            }
            match me.delete(&s, &me.rel(&name, "locks"), &locks).await {
                Ok(()) => Ok(Some(data.unwrap_or_default())),
                Err(e) if e.kind() == ErrorKind::NotEmpty => Ok(None),
                Err(e) => Err(e),
            }
        })
    }

    /// Deletes the locks in `locks` (named `others`) whose session's process the liveness link
    /// proved gone (a predecessor this client took over from): its session, and so its
    /// ephemeral lock, lives on until ZooKeeper expires it, and an entry subsumed meanwhile
    /// would be left behind with its state. True if no lock remains.
    async fn release_dead_owners(&self, s: &Session, locks: &str, others: &[String]) -> bool {
        let inner = self.inner();
        for other in others {
            let lock = path::join(locks, other);
            let stat = match inner
                .run(s, &lock, async |zk| zk.check_stat(&lock).await)
                .await
            {
                Ok(Some(st)) => st,
                Ok(None) => continue,
                Err(_) => return false,
            };
            if !inner.dead_sessions.contains(stat.ephemeral_owner) {
                return false;
            }
            match inner
                .run(s, &lock, async |zk| {
                    zk.delete(&lock, Some(stat.version)).await
                })
                .await
            {
                Ok(()) => {
                    tracing::info!(target: "zkha::pointer_store", lock = %lock,
                        session = format_args!("{:#x}", stat.ephemeral_owner),
                        "released the lock of an owner whose process is gone");
                }
                Err(e) if e.kind() == ErrorKind::NoNode => {}
                Err(_) => return false,
            }
        }
        true
    }

    /// Deletes an entry marked for deletion (missing is fine).
    pub async fn remove_marked(&self, name: &str) -> Result<()> {
        Self::check_name(name)?;
        let name = name.to_string();
        on_runtime!(self, |me| {
            let s = me.inner().session().await?;
            let full = me.full(&name);
            me.delete(&s, &me.rel(&name, ""), &full).await
        })
    }

    /// Releases our lock and removes `name` if no other owner holds it: `true` only if the
    /// entry is gone. A lock of an owner whose process the liveness link proved gone (this
    /// client took over from it) does not count: it is deleted, as its session's expiry would.
    pub async fn release_and_try_remove(&self, name: &str) -> Result<bool> {
        match self.release_and_mark(name).await? {
            Some(_) => {
                self.remove_marked(name).await?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Releases our locks on every entry.
    pub async fn release_all(&self) -> Result<()> {
        for name in self.get_all_handles().await? {
            self.release(&name).await?;
        }
        Ok(())
    }

    /// Deletes every entry and the store's root, whoever holds locks (Flink's
    /// `clearEntries`, used when a job reaches a globally terminal state). In a fenced store
    /// every delete is fenced: a leader deposed before or during the call deletes nothing
    /// more (`NotLeader`).
    pub async fn clear_entries(&self) -> Result<()> {
        on_runtime!(self, |me| {
            let inner = me.inner();
            let s = inner.session().await?;
            let Some(f) = &me.fence else {
                return inner.delete_tree(&s, &me.root).await;
            };
            // Children before parents, a batch per multi behind the fence check; a tree that
            // changed meanwhile (NoNode, NotEmpty: nothing of that batch was deleted) is
            // listed again.
            let mut changed = 0;
            loop {
                let nodes = inner.subtree(&s, &me.root).await?;
                if nodes.is_empty() {
                    return Ok(());
                }
                let mut relist = None;
                for batch in nodes.chunks(CLEAR_BATCH) {
                    let ops = batch
                        .iter()
                        .map(|full| Op::Delete {
                            path: inner.relative(full),
                            version: None,
                        })
                        .collect();
                    match f.current_fence()?.multi_here(ops).await {
                        Ok(_) => {}
                        Err(e) if matches!(e.kind(), ErrorKind::NoNode | ErrorKind::NotEmpty) => {
                            relist = Some(e);
                            break;
                        }
                        Err(e) => return Err(e),
                    }
                }
                match relist {
                    None => return Ok(()),
                    Some(e) if changed >= CLEAR_RELISTS => {
                        return Err(e.context(format!(
                            "clearing {}: the tree kept changing ({changed} listings)",
                            me.root
                        )))
                    }
                    Some(_) => changed += 1,
                }
            }
        })
    }

    /// Deletes a node (missing is fine), fenced if the store is.
    async fn delete(&self, s: &Session, rel: &str, full: &str) -> Result<()> {
        let r = match &self.fence {
            Some(f) => f
                .current_fence()?
                .multi_here(vec![Op::Delete {
                    path: rel.to_string(),
                    version: None,
                }])
                .await
                .map(|_| ()),
            None => {
                self.inner()
                    .run(s, full, async |zk| zk.delete(full, None).await)
                    .await
            }
        };
        match r {
            Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
            other => other,
        }
    }

    /// Runs `ops` atomically, fenced if the store is.
    async fn write(&self, s: &Session, ops: Vec<Op>) -> Result<Vec<crate::OpResult>> {
        match &self.fence {
            Some(f) => f.current_fence()?.multi_here(ops).await,
            None => {
                let inner = self.inner();
                let zk = s.zk()?;
                let mut w = zk.new_multi_writer();
                add_ops(inner, &mut w, &ops)?;
                let sent = std::time::Instant::now();
                let commit = async { w.commit().await.map_err(zookeeper_client::Error::from) };
                let results = inner.run_at(s, &self.root, sent, commit).await?;
                Ok(map_results(inner, results))
            }
        }
    }
}
