//! A shared counter with versioned compare-and-set, in Flink's 4-byte `checkpoint_id_counter`
//! format (Curator `SharedCount`: big-endian i32) or an 8-byte big-endian i64.
//!
//! Writes can be fenced by a leadership ([`Counter::fenced_by`]): each write is then a multi
//! that first checks the leader's latch node, so a stale leader cannot move the counter.

use std::sync::Arc;

use crate::error::{Error, ErrorKind, Result};
use crate::fence::{FenceSource, Op};
use crate::session::Client;
use crate::session::NodeMode;
use crate::{path, runtime};

/// How the counter's value is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterFormat {
    /// 4 bytes, big-endian i32 (Flink's `checkpoint_id_counter`, Curator `SharedCount`).
    Int32,
    /// 8 bytes, big-endian i64.
    Int64,
}

impl CounterFormat {
    /// Encodes `v`, refusing values the format cannot hold.
    pub fn encode(self, v: i64, path: &str) -> Result<Vec<u8>> {
        match self {
            CounterFormat::Int32 => {
                i32::try_from(v)
                    .map(|v| v.to_be_bytes().to_vec())
                    .map_err(|_| {
                        Error::invalid(format!(
                            "counter {path}: {v} does not fit the 4-byte format"
                        ))
                    })
            }
            CounterFormat::Int64 => Ok(v.to_be_bytes().to_vec()),
        }
    }

    /// Decodes stored bytes.
    pub fn decode(self, b: &[u8], path: &str) -> Result<i64> {
        match (self, b.len()) {
            (CounterFormat::Int32, 4) => {
                Ok(i32::from_be_bytes(b.try_into().expect("4 bytes")) as i64)
            }
            (CounterFormat::Int64, 8) => Ok(i64::from_be_bytes(b.try_into().expect("8 bytes"))),
            (f, n) => Err(Error::new(
                ErrorKind::Corrupt,
                format!(
                    "counter {path} holds {n} bytes, not the {} bytes of its {f:?} format",
                    if f == CounterFormat::Int32 { 4 } else { 8 }
                ),
            )),
        }
    }
}

/// A shared counter on one znode. Cheap to clone.
#[derive(Clone)]
pub struct Counter {
    client: Client,
    path: String,
    rel: String,
    format: CounterFormat,
    initial: i64,
    fence: Option<Arc<dyn FenceSource>>,
}

impl Client {
    /// A counter at `path` (namespace-relative), created with `initial` on first use.
    pub fn counter(&self, path: &str, format: CounterFormat, initial: i64) -> Result<Counter> {
        let full = self.inner().resolve(path, "counter path")?;
        format.encode(initial, &full)?;
        Ok(Counter {
            client: self.clone(),
            path: full,
            rel: path.to_string(),
            format,
            initial,
            fence: None,
        })
    }
}

impl Counter {
    /// The same counter with every write fenced by `source` (an election or a fence).
    pub fn fenced_by(mut self, source: Arc<dyn FenceSource>) -> Counter {
        self.fence = Some(source);
        self
    }

    /// The full path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The current value and its version (creating the node with the initial value if
    /// missing).
    pub async fn get(&self) -> Result<(i64, i32)> {
        let me = self.clone();
        runtime::run(async move { me.get_here().await }).await
    }

    /// Sets `value` if the node is still at `expected_version`; false if someone changed it.
    pub async fn compare_and_set(&self, expected_version: i32, value: i64) -> Result<bool> {
        let me = self.clone();
        runtime::run(async move { me.cas_here(expected_version, value).await }).await
    }

    /// Atomically increments; returns the value before the increment.
    pub async fn get_and_increment(&self) -> Result<i64> {
        let me = self.clone();
        runtime::run(async move {
            loop {
                let (v, version) = me.get_here().await?;
                let next = v
                    .checked_add(1)
                    .ok_or_else(|| Error::invalid(format!("counter {} overflows", me.path)))?;
                if me.cas_here(version, next).await? {
                    return Ok(v);
                }
            }
        })
        .await
    }

    /// Sets the value unconditionally.
    pub async fn set(&self, value: i64) -> Result<()> {
        let me = self.clone();
        runtime::run(async move {
            loop {
                let (_, version) = me.get_here().await?;
                if me.cas_here(version, value).await? {
                    return Ok(());
                }
            }
        })
        .await
    }

    /// Deletes the counter's node (missing is fine).
    pub async fn remove(&self) -> Result<()> {
        let me = self.clone();
        runtime::run(async move {
            let inner = me.client.inner();
            match &me.fence {
                Some(f) => match f
                    .current_fence()?
                    .multi_here(vec![Op::Delete {
                        path: me.rel.clone(),
                        version: None,
                    }])
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
                    Err(e) => Err(e),
                },
                None => {
                    let s = inner.session().await?;
                    match inner
                        .run(&s, &me.path, async |zk| zk.delete(&me.path, None).await)
                        .await
                    {
                        Ok(()) => Ok(()),
                        Err(e) if e.kind() == ErrorKind::NoNode => Ok(()),
                        Err(e) => Err(e),
                    }
                }
            }
        })
        .await
    }

    /// Reads the value and version, creating the node with the initial value if missing;
    /// retried through connection loss (every step is idempotent).
    async fn get_here(&self) -> Result<(i64, i32)> {
        self.client.inner().retrying(|| self.get_once()).await
    }

    async fn get_once(&self) -> Result<(i64, i32)> {
        let inner = self.client.inner();
        loop {
            let s = inner.session().await?;
            match inner
                .run(&s, &self.path, async |zk| zk.get_data(&self.path).await)
                .await
            {
                Ok((data, stat)) => {
                    return Ok((self.format.decode(&data, &self.path)?, stat.version))
                }
                Err(e) if e.kind() == ErrorKind::NoNode => {
                    let data = self.format.encode(self.initial, &self.path)?;
                    let created = match &self.fence {
                        Some(f) => {
                            // Parents fenced too: a grant gone with a deleted tree makes
                            // nothing again (as fenced puts and leader information).
                            let fence = f.current_fence()?;
                            fence.make_parents(&self.rel).await?;
                            fence
                                .multi_here(vec![Op::Create {
                                    path: self.rel.clone(),
                                    data,
                                    mode: NodeMode::Persistent,
                                }])
                                .await
                                .map(|_| ())
                        }
                        None => {
                            inner.ensure_parents(&s, &self.path).await?;
                            let opts =
                                zookeeper_client::CreateMode::Persistent.with_acls(inner.acls());
                            inner
                                .run(&s, &self.path, async |zk| {
                                    zk.create(&self.path, &data, &opts).await
                                })
                                .await
                                .map(|_| ())
                        }
                    };
                    match created {
                        Ok(()) => return Ok((self.initial, 0)),
                        Err(e) if e.kind() == ErrorKind::NodeExists => continue,
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    async fn cas_here(&self, expected_version: i32, value: i64) -> Result<bool> {
        let inner = self.client.inner();
        let data = self.format.encode(value, &self.path)?;
        let r = match &self.fence {
            Some(f) => f
                .current_fence()?
                .multi_here(vec![Op::SetData {
                    path: self.rel.clone(),
                    data,
                    version: Some(expected_version),
                }])
                .await
                .map(|_| ()),
            None => {
                let s = inner.session().await?;
                inner
                    .run(&s, &self.path, async |zk| {
                        zk.set_data(&self.path, &data, Some(expected_version)).await
                    })
                    .await
                    .map(|_| ())
            }
        };
        match r {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::BadVersion => Ok(false),
            Err(e) if e.kind() == ErrorKind::NoNode => Ok(false),
            Err(e) => Err(e.context(format!("counter {}", path::name(&self.path)))),
        }
    }
}
