//! Fenced writes (`zkha_fence`) and znode operations with versions: the C side of core's
//! `Fence` and `Client` node calls.

use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};

use zkha::{Coded, NodeMode, NodeStat, Op};

use crate::{
    block, bytes_in, bytes_out, free_box, guard, null, obj, out, out_new, path_and_data, text,
    zkha_bytes, zkha_client, zkha_election, zkha_error, zkha_lock, zkha_status, Fail, R,
};

/// How a znode lives (`zkha_create`, `zkha_op.mode`): core's node mode codes.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_node_mode {
    /// Persistent.
    Persistent = 0,
    /// Persistent with a sequence suffix.
    PersistentSequential = 1,
    /// Deleted when the creating session ends.
    Ephemeral = 2,
    /// Ephemeral with a sequence suffix.
    EphemeralSequential = 3,
    /// Deleted by the server once its last child is gone.
    Container = 4,
}

/// What a `zkha_op` does.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum zkha_op_kind {
    /// Create `path` with `data` (`mode`); its parent must exist.
    Create = 0,
    /// Set `path`'s data if its version is `version` (-1: any).
    SetData = 1,
    /// Delete `path` if its version is `version` (-1: any).
    Delete = 2,
    /// Require `path` to exist at `version` (-1: any).
    Check = 3,
}

/// Every `zkha_op_kind`, at the index of its value.
const OP_KINDS: [zkha_op_kind; 4] = [
    zkha_op_kind::Create,
    zkha_op_kind::SetData,
    zkha_op_kind::Delete,
    zkha_op_kind::Check,
];

/// One operation of `zkha_fence_multi`. `kind` is a `zkha_op_kind` and `mode` a
/// `zkha_node_mode` (create only), both as int32_t; `data`/`len` for create and set.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zkha_op {
    /// A `zkha_op_kind`.
    pub kind: i32,
    /// The znode's path (NUL-terminated).
    pub path: *const c_char,
    /// The data of a create or set (may be NULL when `len` is 0).
    pub data: *const u8,
    /// Its length.
    pub len: usize,
    /// A `zkha_node_mode` (create only).
    pub mode: i32,
    /// The expected data version, -1 for any (set, delete, check).
    pub version: i32,
}

/// What ZooKeeper tells about a znode.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct zkha_stat {
    /// zxid of the creating transaction.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// Data version (what `version` arguments compare with).
    pub version: i32,
    /// Children version.
    pub cversion: i32,
    /// Owning session of an ephemeral node (0 for persistent ones).
    pub ephemeral_owner: i64,
    /// Number of children.
    pub num_children: i32,
    /// Data length.
    pub data_length: i32,
}

impl From<NodeStat> for zkha_stat {
    fn from(s: NodeStat) -> Self {
        zkha_stat {
            czxid: s.czxid,
            mzxid: s.mzxid,
            version: s.version,
            cversion: s.cversion,
            ephemeral_owner: s.ephemeral_owner,
            num_children: s.num_children,
            data_length: s.data_length,
        }
    }
}

/// Proof of a grant (an election's or a lock's): a write through it is one ZooKeeper multi
/// headed by a check of the holder's own node, so it lands only while the grant holds, and
/// fails with ZKHA_STATUS_NOT_LEADER (nothing written) once it is gone, even for a holder
/// that does not know yet. Free with `zkha_fence_free`; it may outlive its election or lock.
pub struct zkha_fence {
    fence: zkha::Fence,
}

/// An optional `version` argument: -1 (or any negative value) is "any".
fn version_of(v: i32) -> Option<i32> {
    (v >= 0).then_some(v)
}

/// Writes `stat` to `out_stat` unless it is NULL.
unsafe fn stat_out(out_stat: *mut zkha_stat, stat: NodeStat) {
    if !out_stat.is_null() {
        // SAFETY: the caller's pointer to a zkha_stat (checked for NULL).
        unsafe { out_stat.write(stat.into()) };
    }
}

/// The fence of the election's current grant; ZKHA_STATUS_NOT_LEADER without one.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_election_fence(
    election: *const zkha_election,
    out_fence: *mut *mut zkha_fence,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let e = unsafe { obj(election, "election") }?;
        unsafe {
            out_new(out_fence, "out_fence", || {
                Ok(zkha_fence {
                    fence: e.election.fence()?,
                })
            })
        }
    })
}

/// The fence of a held lock; ZKHA_STATUS_CLOSED once released.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_lock_fence(
    lock: *const zkha_lock,
    out_fence: *mut *mut zkha_fence,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let l = unsafe { obj(lock, "lock") }?;
        let g = l
            .guard
            .as_ref()
            .ok_or_else(|| Fail(zkha_status::Closed, "the lock was released".into()))?;
        unsafe {
            out_new(out_fence, "out_fence", || {
                Ok(zkha_fence { fence: g.fence()? })
            })
        }
    })
}

/// The fence's token (the grant's fencing token); -1 for NULL.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_fence_token(fence: *const zkha_fence) -> i64 {
    catch_unwind(AssertUnwindSafe(|| {
        unsafe { fence.as_ref() }.map_or(-1, |f| f.fence.token())
    }))
    .unwrap_or(-1)
}

/// Creates or overwrites the persistent znode `path` with `len` bytes at `data`, fenced (a
/// set, or a create with missing parents made first, unfenced). `*out_stat` (may be NULL)
/// receives the node's stat.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_fence_put(
    fence: *const zkha_fence,
    path: *const c_char,
    data: *const u8,
    len: usize,
    out_stat: *mut zkha_stat,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let f = unsafe { obj(fence, "fence") }?.fence.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        let stat = block(async move { f.put(&p, &d).await })?;
        unsafe { stat_out(out_stat, stat) };
        Ok(())
    })
}

/// Deletes `path` if its data version is `version` (-1: any), fenced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_fence_delete(
    fence: *const zkha_fence,
    path: *const c_char,
    version: i32,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let f = unsafe { obj(fence, "fence") }?.fence.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        block(async move { f.delete(&p, version_of(version)).await })
    })
}

/// Runs the `n` operations at `ops` atomically behind the fence check: all or none. An
/// operation that fails gives its status (ZKHA_STATUS_BAD_VERSION, _NO_NODE, ...) naming its
/// path; a bad `kind` or `mode` is ZKHA_STATUS_INVALID_ARGUMENT naming the operation.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_fence_multi(
    fence: *const zkha_fence,
    ops: *const zkha_op,
    n: usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let f = unsafe { obj(fence, "fence") }?.fence.clone();
        if ops.is_null() && n > 0 {
            return Err(null("ops"));
        }
        let raw: &[zkha_op] = if n == 0 {
            &[]
        } else {
            // SAFETY: the caller's array of `n` operations (checked for NULL).
            unsafe { std::slice::from_raw_parts(ops, n) }
        };
        let ops = raw
            .iter()
            .enumerate()
            .map(|(i, op)| {
                unsafe { op_of(op) }.map_err(|Fail(s, m)| Fail(s, format!("ops[{i}]: {m}")))
            })
            .collect::<R<Vec<Op>>>()?;
        block(async move { f.multi(ops).await.map(|_| ()) })
    })
}

/// A core operation from a C one.
unsafe fn op_of(op: &zkha_op) -> R<Op> {
    let kind = crate::variant(op.kind, &OP_KINDS, "operation kind")?;
    let path = unsafe { text(op.path, "path") }?.to_string();
    let data = || -> R<Vec<u8>> { Ok(unsafe { bytes_in(op.data, op.len, "data") }?.to_vec()) };
    let version = version_of(op.version);
    Ok(match kind {
        zkha_op_kind::Create => Op::Create {
            path,
            data: data()?,
            mode: NodeMode::parse_code(op.mode)?,
        },
        zkha_op_kind::SetData => Op::SetData {
            path,
            data: data()?,
            version,
        },
        zkha_op_kind::Delete => Op::Delete { path, version },
        zkha_op_kind::Check => Op::Check { path, version },
    })
}

/// Frees a fence (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_fence_free(fence: *mut zkha_fence) {
    unsafe { free_box(fence) }
}

/// Creates one znode with `len` bytes at `data` (`mode`: a `zkha_node_mode`; the parent must
/// exist); unfenced and sent once. `*out_path` (may be NULL; free with zkha_bytes_free; not
/// NUL-terminated) receives the created path (sequential modes add the suffix), `*out_stat`
/// (may be NULL) its stat. ZKHA_STATUS_NODE_EXISTS, _NO_NODE (no parent).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_create(
    client: *const zkha_client,
    path: *const c_char,
    data: *const u8,
    len: usize,
    mode: i32,
    out_path: *mut zkha_bytes,
    out_stat: *mut zkha_stat,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        let mode = NodeMode::parse_code(mode)?;
        let (created, stat) = block(async move { c.create(&p, &d, mode).await })?;
        if !out_path.is_null() {
            unsafe { out(out_path, "out_path", bytes_out(created.into_bytes())) }?;
        }
        unsafe { stat_out(out_stat, stat) };
        Ok(())
    })
}

/// Whether `path` exists (`*out_exists`) and, if so and `out_stat` is not NULL, its stat.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_exists(
    client: *const zkha_client,
    path: *const c_char,
    out_exists: *mut bool,
    out_stat: *mut zkha_stat,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_exists.is_null() {
            return Err(null("out_exists"));
        }
        let stat = block(async move { c.exists(&p).await })?;
        if let Some(s) = stat {
            unsafe { stat_out(out_stat, s) };
        }
        unsafe { out(out_exists, "out_exists", stat.is_some()) }
    })
}

/// Sets `path`'s data to `len` bytes at `data` if its version is `version` (-1: any);
/// unfenced and sent once. `*out_stat` (may be NULL) receives the new stat.
/// ZKHA_STATUS_BAD_VERSION if another write came first, _NO_NODE.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_set_data(
    client: *const zkha_client,
    path: *const c_char,
    data: *const u8,
    len: usize,
    version: i32,
    out_stat: *mut zkha_stat,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let (p, d) = unsafe { path_and_data(path, data, len) }?;
        let stat = block(async move { c.set_data(&p, &d, version_of(version)).await })?;
        unsafe { stat_out(out_stat, stat) };
        Ok(())
    })
}

/// The children of `path`, sorted: `*out_names` (free with zkha_bytes_free) holds each name
/// followed by a NUL byte, `*out_count` how many. ZKHA_STATUS_NO_NODE if `path` does not
/// exist.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_get_children(
    client: *const zkha_client,
    path: *const c_char,
    out_names: *mut zkha_bytes,
    out_count: *mut usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_names.is_null() || out_count.is_null() {
            return Err(null("out_names and out_count"));
        }
        let shown = p.clone();
        let names = block(async move { c.get_children(&p).await })?
            .ok_or_else(|| Fail(zkha_status::NoNode, format!("no such znode (path {shown})")))?;
        let packed = crate::packed_names(&names)?;
        unsafe {
            out(out_count, "out_count", names.len())?;
            out(out_names, "out_names", bytes_out(packed))
        }
    })
}

/// One contender of an election or a lock (`zkha_contenders`).
#[repr(C)]
#[derive(Debug)]
pub struct zkha_contender {
    /// Its node's name under the latch or lock path (not NUL-terminated).
    pub node: zkha_bytes,
    /// The node's data: an election contender's participant id.
    pub data: zkha_bytes,
    /// The node's stat (`ephemeral_owner`: the contender's session).
    pub stat: zkha_stat,
}

/// The contenders queued under an election's latch path or a lock's path, in queue order
/// (the first leads or holds): `*out_contenders` (free with `zkha_contenders_free`) holds
/// `*out_count` of them; none for a missing path.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_contenders(
    client: *const zkha_client,
    path: *const c_char,
    out_contenders: *mut *mut zkha_contender,
    out_count: *mut usize,
    err: *mut *mut zkha_error,
) -> zkha_status {
    guard(err, || {
        let c = unsafe { obj(client, "client") }?.client.clone();
        let p = unsafe { text(path, "path") }?.to_string();
        if out_contenders.is_null() || out_count.is_null() {
            return Err(null("out_contenders and out_count"));
        }
        let all = block(async move { c.contenders(&p).await })?;
        let list: Box<[zkha_contender]> = all
            .into_iter()
            .map(|x| zkha_contender {
                node: bytes_out(x.node.into_bytes()),
                data: bytes_out(x.data),
                stat: x.stat.into(),
            })
            .collect();
        let n = list.len();
        let raw = if n == 0 {
            std::ptr::null_mut()
        } else {
            Box::into_raw(list).cast::<zkha_contender>()
        };
        unsafe {
            out(out_count, "out_count", n)?;
            out(out_contenders, "out_contenders", raw)
        }
    })
}

/// Frees what `zkha_contenders` returned (NULL is fine).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn zkha_contenders_free(contenders: *mut zkha_contender, count: usize) {
    if contenders.is_null() || count == 0 {
        return;
    }
    let _ = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: made by zkha_contenders from a boxed slice of exactly `count` items.
        let list = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(contenders, count)) };
        for x in list.into_vec() {
            unsafe {
                crate::zkha_bytes_free(x.node);
                crate::zkha_bytes_free(x.data);
            }
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The C enums carry core's codes and names.
    #[test]
    fn node_modes_are_cores() {
        let modes = [
            zkha_node_mode::Persistent,
            zkha_node_mode::PersistentSequential,
            zkha_node_mode::Ephemeral,
            zkha_node_mode::EphemeralSequential,
            zkha_node_mode::Container,
        ];
        assert_eq!(modes.len(), NodeMode::ALL.len());
        for m in modes {
            let core = NodeMode::from_code(m as i32).unwrap();
            assert_eq!(crate::tests::snake(m), core.name());
        }
        for (i, k) in OP_KINDS.iter().enumerate() {
            assert_eq!(*k as usize, i);
        }
    }
}
