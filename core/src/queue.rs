//! The queue of `EPHEMERAL_SEQUENTIAL` nodes that elections, locks and semaphores stand in,
//! named as Curator names them: `<parent>/_c_<uuid>-<lock name><sequence>`.
//!
//! Joining is pipelined: the `create` and the `getChildren` of the parent are sent back to
//! back (ZooKeeper answers one session's requests in order), so the caller learns its place in
//! the queue after one write round trip. A lock holding an exact local view of the children
//! ([`crate::child_view`]) sends the create alone. Joining is protected: after a connection
//! loss during the create, the node is looked up by its uuid and adopted only if this session
//! owns it (CURATOR-498).
//!
//! A create whose answer was lost can still be applied after that lookup (a paused server
//! forwards it once it runs again), leaving a second node of ours with the same uuid: a
//! "stray". The lookup first `sync`s, so every create the ensemble had accepted by then is
//! seen; waiters delete any stray of theirs they find in a listing ([`drop_strays`]); and a
//! node whose join was unsure sweeps its uuid once more when it leaves ([`leave_node`]). A
//! stray would otherwise sit in the queue, blocking every contender until the session ends.

use std::sync::Arc;
use std::time::Instant;

use uuid::Uuid;
use zookeeper_client as zk;

use crate::error::{Error, ErrorKind, Result};
use crate::session::{Inner, Session};
use crate::{path, runtime};

/// Our node in a queue.
#[derive(Debug, Clone)]
pub(crate) struct QueueNode {
    /// Full path.
    pub path: String,
    /// Child name.
    pub name: String,
    /// czxid (the fencing token).
    pub czxid: i64,
    /// Data version (for fence checks).
    pub version: i32,
    /// A create of this join had an unknown outcome: a stray may still appear.
    pub unsure: bool,
}

/// The `_c_<uuid>-` prefix of a protected queue node's name.
pub(crate) fn protection(name: &str) -> Option<&str> {
    // `_c_` + a 36-character uuid + `-`.
    let tag = name.get(..40)?;
    (tag.starts_with("_c_") && tag.ends_with('-')).then_some(tag)
}

/// The children carrying `own`'s uuid that are not `own`: strays of our own join.
pub(crate) fn strays<'a>(children: &'a [String], own: &str) -> Vec<&'a String> {
    let Some(tag) = protection(own) else {
        return Vec::new();
    };
    children
        .iter()
        .filter(|c| c.as_str() != own && c.starts_with(tag))
        .collect()
}

/// Deletes the strays of `own` (see the module doc) found in `children` under `parent` and
/// returns `children` without them. A stray carries our join's uuid, so it is ours.
pub(crate) async fn drop_strays(
    inner: &Inner,
    s: &Session,
    parent: &str,
    own: &str,
    mut children: Vec<String>,
) -> Result<Vec<String>> {
    let found: Vec<String> = strays(&children, own).into_iter().cloned().collect();
    for stray in &found {
        let p = path::join(parent, stray);
        tracing::warn!(target: "zkha::queue", node = %p, "deleting a stray node of our own join (a create applied after its answer was lost)");
        crate::metrics::Metrics::inc(&inner.metrics.queue_strays);
        leave(inner, s, &p).await?;
    }
    children.retain(|c| !found.contains(c));
    Ok(children)
}

/// The sequence number of a queue child carrying one of `lock_names` (`...lock-0000000042`).
pub(crate) fn sequence(name: &str, lock_names: &[&str]) -> Option<i64> {
    lock_names.iter().find_map(|ln| {
        let i = name.rfind(ln)?;
        name[i + ln.len()..].parse().ok()
    })
}

/// The queue children (carrying one of `lock_names`) sorted by sequence.
pub(crate) fn sorted(children: &[String], lock_names: &[&str]) -> Vec<(i64, String)> {
    let mut v: Vec<(i64, String)> = children
        .iter()
        .filter_map(|c| sequence(c, lock_names).map(|n| (n, c.clone())))
        .collect();
    v.sort();
    v
}

/// Joins the queue under `parent` with a node named for `lock_name`; returns the node and,
/// with `list`, the children of `parent` as listed right after the create (without `list`
/// only the create is sent, and the children come back only if a connection loss made a
/// listing necessary anyway).
pub(crate) async fn join(
    inner: &Arc<Inner>,
    s: &Arc<Session>,
    parent: &str,
    lock_name: &str,
    data: &[u8],
    list: bool,
) -> Result<(QueueNode, Option<Vec<String>>)> {
    let uuid = Uuid::new_v4().to_string();
    join_as(inner, s, parent, &uuid, lock_name, data, list).await
}

/// [`join`] with the caller's `uuid` (`<parent>/_c_<uuid>-<lock_name><seq>`).
///
/// Never leaves a node of its own behind when it fails: when a node was created but cannot be
/// handed to the caller (the listing after it failed), or a create's outcome is unknown when
/// it gives up, a background task finds and deletes every node carrying `uuid` that this
/// session owns (Curator's `FindAndDeleteProtectedNodeInBackground`). Such a node, the lowest
/// in the queue, would otherwise block every other contender until the session ends.
pub(crate) async fn join_as(
    inner: &Arc<Inner>,
    s: &Arc<Session>,
    parent: &str,
    uuid: &str,
    lock_name: &str,
    data: &[u8],
    list: bool,
) -> Result<(QueueNode, Option<Vec<String>>)> {
    let prefix = path::join(parent, &format!("_c_{uuid}-{lock_name}"));
    let opts = zk::CreateMode::EphemeralSequential.with_acls(inner.acls());
    let retries = inner.options.retry.max_retries;
    let mut attempt = 0;
    loop {
        let zk = s.zk()?;
        let sent = Instant::now();
        // Both requests leave before either answer arrives.
        let create = zk.create(&prefix, data, &opts);
        let listing = list.then(|| zk.get_children(parent));
        let created = inner.run_at(s, &prefix, sent, create).await;
        let listed = match listing {
            Some(l) => Some(inner.run_at(s, parent, sent, l).await),
            None => None,
        };
        match created {
            Ok((stat, seq)) => {
                let full = format!("{prefix}{seq}");
                let node = QueueNode {
                    name: path::name(&full).to_string(),
                    path: full,
                    czxid: stat.czxid,
                    version: stat.version,
                    unsure: attempt > 0,
                };
                let children = match listed {
                    None => None,
                    Some(Ok((c, _))) => Some(c),
                    // The listing's reply was lost: ask again (a read).
                    Some(Err(_)) => match list_children(inner, s, parent).await {
                        Ok(c) => Some(c),
                        Err(e) => {
                            forget_in_background(inner, s, parent, uuid);
                            return Err(e.context(format!("joining the queue at {parent}")));
                        }
                    },
                };
                return Ok((node, children));
            }
            Err(e) if e.kind() == ErrorKind::NoNode => {
                // The parent is missing (first use, or deleted: CURATOR-724). Made of
                // containers, it goes again once the last contender has left.
                inner.ensure_containers(s, parent).await?;
            }
            Err(e) if e.is_retryable() => {
                // The create may have been applied: look for it (a read, repeated through
                // connection loss).
                let found = inner.retrying(|| find_own(inner, s, parent, uuid)).await;
                match found {
                    Ok(Some(node)) => match list_children(inner, s, parent).await {
                        Ok(c) => return Ok((node, Some(c))),
                        Err(e) => {
                            forget_in_background(inner, s, parent, uuid);
                            return Err(e.context(format!("joining the queue at {parent}")));
                        }
                    },
                    Ok(None) if attempt < retries => attempt += 1,
                    Ok(None) => {
                        forget_in_background(inner, s, parent, uuid);
                        return Err(e.context(format!("joining the queue at {parent}")));
                    }
                    Err(e) => {
                        forget_in_background(inner, s, parent, uuid);
                        return Err(e.context(format!("joining the queue at {parent}")));
                    }
                }
                tokio::time::sleep(inner.options.retry.wait(attempt - 1)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Lists `parent`, repeating through connection loss.
async fn list_children(inner: &Inner, s: &Session, parent: &str) -> Result<Vec<String>> {
    inner
        .retrying(|| async {
            let (c, _) = inner
                .run(s, parent, async |zk| zk.get_children(parent).await)
                .await?;
            Ok(c)
        })
        .await
}

/// How long after an unsure join a create of it may still be applied and is swept: a server
/// that held the request (paused, or cut off from its leader) processes it once it runs
/// again, which takes at least a session timeout to be noticed and a sync limit to heal.
fn late_horizon(session_timeout: std::time::Duration) -> std::time::Duration {
    (session_timeout * 3).max(std::time::Duration::from_secs(30))
}

/// Finds and deletes, in the background, every child of `parent` carrying `uuid` that session
/// `s` owns: the node of a create whose outcome was unknown when the join gave up or left.
/// Then it watches `parent` until [`late_horizon`], for a create of that join applied late
/// (a stray ahead of every later contender, ourselves included, until the session ends).
/// Ends early when the session or the client does (the session's end removes the nodes).
fn forget_in_background(inner: &Arc<Inner>, s: &Arc<Session>, parent: &str, uuid: &str) {
    let (inner, s) = (inner.clone(), s.clone());
    let (parent, uuid) = (parent.to_string(), uuid.to_string());
    runtime::spawn(async move {
        let until = tokio::time::Instant::now() + late_horizon(s.timeout);
        let mut closing = inner.closing_watch();
        let mut attempt = 0u32;
        let mut look = true;
        while inner.is_current(&s) && !inner.is_closing() {
            if look {
                match find_own(&inner, &s, &parent, &uuid).await {
                    Ok(None) => look = false,
                    Ok(Some(node)) => {
                        tracing::warn!(target: "zkha::queue", node = %node.path, "deleting a node of a join that ended (a create applied after its answer was lost)");
                        crate::metrics::Metrics::inc(&inner.metrics.queue_strays);
                        if leave(&inner, &s, &node.path).await.is_err() {
                            attempt = attempt.saturating_add(1);
                        }
                        continue;
                    }
                    Err(e) if e.kind() == ErrorKind::NoNode => return,
                    Err(_) => {
                        tokio::time::sleep(inner.options.retry.wait(attempt.min(5))).await;
                        attempt = attempt.saturating_add(1);
                        continue;
                    }
                }
            }
            if tokio::time::Instant::now() >= until {
                return;
            }
            // Our names in a listing are the cue to look closely (owner checked there).
            let listed = inner
                .run(&s, &parent, async |zk| {
                    zk.list_and_watch_children(&parent).await
                })
                .await;
            match listed {
                Ok((children, watcher)) => {
                    if children.iter().any(|c| c.contains(uuid.as_str())) {
                        look = true;
                        continue;
                    }
                    tokio::select! {
                        _ = watcher.changed() => {}
                        _ = tokio::time::sleep_until(until) => return,
                        _ = crate::events::until_true(&mut closing) => return,
                    }
                }
                Err(e) if e.kind() == ErrorKind::NoNode => return,
                Err(_) => {
                    tokio::time::sleep(inner.options.retry.wait(attempt.min(5))).await;
                    attempt = attempt.saturating_add(1);
                }
            }
        }
    });
}

/// Finds a child of `parent` carrying `uuid` that session `s` owns. It `sync`s first: the
/// server this session now talks to may not have applied yet a create that another server
/// forwarded before the session moved here.
async fn find_own(
    inner: &Inner,
    s: &Session,
    parent: &str,
    uuid: &str,
) -> Result<Option<QueueNode>> {
    match inner.run(s, parent, async |zk| zk.sync(parent).await).await {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NoNode => return Ok(None),
        Err(e) => return Err(e),
    }
    let children = match inner
        .run(s, parent, async |zk| zk.get_children(parent).await)
        .await
    {
        Ok((c, _)) => c,
        Err(e) if e.kind() == ErrorKind::NoNode => return Ok(None),
        Err(e) => return Err(e),
    };
    for c in children.iter().filter(|c| c.contains(uuid)) {
        let p = path::join(parent, c);
        if let Some(st) = inner.run(s, &p, async |zk| zk.check_stat(&p).await).await? {
            if st.ephemeral_owner == s.id {
                return Ok(Some(QueueNode {
                    name: c.clone(),
                    path: p,
                    czxid: st.czxid,
                    version: st.version,
                    unsure: true,
                }));
            }
            tracing::warn!(target: "zkha::queue", node = %p, owner = st.ephemeral_owner, "not adopting a node of another session");
        }
    }
    Ok(None)
}

/// Deletes our `node` like [`leave`]; if its join was unsure, then also any stray of it that
/// appeared since (in the background: releasing does not wait for the listing).
pub(crate) async fn leave_node(
    inner: &Arc<Inner>,
    s: &Arc<Session>,
    node: &QueueNode,
) -> Result<()> {
    let r = leave(inner, s, &node.path).await;
    if node.unsure {
        if let Some(tag) = protection(&node.name) {
            let uuid = &tag[3..tag.len() - 1];
            forget_in_background(inner, s, path::parent(&node.path), uuid);
        }
    }
    r
}

/// Deletes `node` (if it still exists), retrying through connection loss until it is gone or
/// the session is (which removes it anyway).
pub(crate) async fn leave(inner: &Inner, s: &Session, node: &str) -> Result<()> {
    let mut attempt = 0u32;
    loop {
        match inner
            .run(s, node, async |zk| zk.delete(node, None).await)
            .await
        {
            Ok(()) => return Ok(()),
            // Gone already, or gone with the session.
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::NoNode | ErrorKind::SessionExpired | ErrorKind::Closed
                ) =>
            {
                return Ok(())
            }
            Err(e) if e.is_retryable() => {
                if !inner.is_current(s) {
                    // The session is gone: its ephemeral nodes went with it.
                    return Ok(());
                }
                tokio::time::sleep(inner.options.retry.wait(attempt.min(5))).await;
                attempt = attempt.saturating_add(1);
            }
            Err(e) => return Err(Error::new(e.kind(), format!("releasing {node}: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strays_carry_our_uuid_and_are_not_our_node() {
        let a = "_c_0b6c2a7e-4f1c-4e0e-9a51-5d1c0b8f2e11-lock-0000000003".to_string();
        let b = "_c_0b6c2a7e-4f1c-4e0e-9a51-5d1c0b8f2e11-lock-0000000007".to_string();
        let other = "_c_9f0e1d2c-3b4a-4596-8776-a5b4c3d2e1f0-lock-0000000005".to_string();
        let plain = "lock-0000000001".to_string();
        let children = vec![a.clone(), b.clone(), other.clone(), plain.clone()];
        assert_eq!(strays(&children, &b), vec![&a]);
        assert_eq!(strays(&children, &other), Vec::<&String>::new());
        assert_eq!(strays(&children, &plain), Vec::<&String>::new());
        assert_eq!(
            protection(&a),
            Some("_c_0b6c2a7e-4f1c-4e0e-9a51-5d1c0b8f2e11-")
        );
        assert_eq!(protection("_c_short-lock-1"), None);
    }
}
