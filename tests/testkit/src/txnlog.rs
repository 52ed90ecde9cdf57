//! ZooKeeper's transaction log, read directly: every committed change with the session that
//! made it, its zxid and the leader's time. This is how the tests tell who wrote what, and
//! when — independent of zkha and of Flink.
//!
//! Format (`FileTxnLog`): a header (`ZKLG` magic, version, dbid), then per transaction the
//! Adler-32 checksum (8 bytes), the length-prefixed entry and an end-of-record byte `B`; the
//! file is pre-allocated with zeros, so a zero length ends it. An entry is a `TxnHeader`
//! (session, cxid, zxid, time, type) and the type's record (jute encoding: big-endian
//! integers, length-prefixed strings and buffers). A failed request is logged as an error
//! transaction (type -1); a multi holds its operations, each an error if the multi failed.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::Ensemble;

/// ZooKeeper op codes (`ZooDefs.OpCode`) that appear in the transaction log.
pub mod op {
    /// create
    pub const CREATE: i32 = 1;
    /// delete
    pub const DELETE: i32 = 2;
    /// setData
    pub const SET_DATA: i32 = 5;
    /// setACL
    pub const SET_ACL: i32 = 7;
    /// check (in a multi)
    pub const CHECK: i32 = 13;
    /// multi
    pub const MULTI: i32 = 14;
    /// create2
    pub const CREATE2: i32 = 15;
    /// reconfig
    pub const RECONFIG: i32 = 16;
    /// createContainer
    pub const CREATE_CONTAINER: i32 = 19;
    /// deleteContainer
    pub const DELETE_CONTAINER: i32 = 20;
    /// createTTL
    pub const CREATE_TTL: i32 = 21;
    /// error (a failed request or a failed multi's operation)
    pub const ERROR: i32 = -1;
    /// createSession
    pub const CREATE_SESSION: i32 = -10;
    /// closeSession (also an expiry)
    pub const CLOSE_SESSION: i32 = -11;
}

/// One operation: a transaction's own, or one of a multi's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOp {
    /// The op code ([`op`]).
    pub op: i32,
    /// The path written, for creates, deletes, setData, setACL and checks.
    pub path: Option<String>,
    /// The data of a create or setData.
    pub data: Option<Vec<u8>>,
    /// The error code of an error operation.
    pub err: Option<i32>,
    /// The ACL of a create, as the server stored it (an `auth` id replaced by the creator's
    /// authenticated ids): `<perms> <scheme>:<id>` each, e.g. `31 sasl:flink`.
    pub acl: Option<Vec<String>>,
}

impl TxnOp {
    /// Whether this operation changed the tree (a successful create, delete, setData, setACL).
    pub fn is_write(&self) -> bool {
        matches!(
            self.op,
            op::CREATE
                | op::CREATE2
                | op::CREATE_CONTAINER
                | op::CREATE_TTL
                | op::DELETE
                | op::DELETE_CONTAINER
                | op::SET_DATA
                | op::SET_ACL
        )
    }

    /// A short name of the op code.
    pub fn name(&self) -> String {
        match self.op {
            op::CREATE | op::CREATE2 => "create".into(),
            op::CREATE_CONTAINER => "createContainer".into(),
            op::CREATE_TTL => "createTTL".into(),
            op::DELETE => "delete".into(),
            op::DELETE_CONTAINER => "deleteContainer".into(),
            op::SET_DATA => "setData".into(),
            op::SET_ACL => "setACL".into(),
            op::CHECK => "check".into(),
            op::MULTI => "multi".into(),
            op::ERROR => format!("error({})", self.err.unwrap_or(0)),
            op::CREATE_SESSION => "createSession".into(),
            op::CLOSE_SESSION => "closeSession".into(),
            other => format!("op{other}"),
        }
    }
}

/// One committed transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The session that sent the request (for an expiry: the expired session).
    pub session: i64,
    /// The request's cxid.
    pub cxid: i32,
    /// The transaction id.
    pub zxid: i64,
    /// The leader's clock when it proposed the transaction, epoch ms.
    pub time_ms: i64,
    /// The op code of the transaction.
    pub op: i32,
    /// The operations: one, or a multi's list.
    pub ops: Vec<TxnOp>,
}

impl Txn {
    /// The operations that changed the tree.
    pub fn writes(&self) -> impl Iterator<Item = &TxnOp> {
        self.ops.iter().filter(|o| o.is_write())
    }

    /// A one-line description.
    pub fn describe(&self) -> String {
        let ops: Vec<String> = self
            .ops
            .iter()
            .map(|o| match &o.path {
                Some(p) => format!("{} {p}", o.name()),
                None => o.name(),
            })
            .collect();
        format!(
            "zxid 0x{:x} session 0x{:x} t={} {}",
            self.zxid,
            self.session,
            self.time_ms,
            ops.join("; ")
        )
    }
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let s = self.b.get(self.pos..self.pos.checked_add(n)?)?;
        self.pos += n;
        Some(s)
    }
    fn i32(&mut self) -> Option<i32> {
        Some(i32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// A jute buffer or string: length, then bytes (-1: null).
    fn buffer(&mut self) -> Option<Vec<u8>> {
        let n = self.i32()?;
        if n < 0 {
            return Some(Vec::new());
        }
        Some(self.take(n as usize)?.to_vec())
    }
    fn string(&mut self) -> Option<String> {
        self.buffer()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// Decodes the record of `op` (its first fields: enough to name the path and the data).
fn decode_op(op: i32, body: &[u8]) -> TxnOp {
    let mut r = Reader { b: body, pos: 0 };
    let mut t = TxnOp {
        op,
        path: None,
        data: None,
        err: None,
        acl: None,
    };
    match op {
        op::CREATE | op::CREATE2 | op::CREATE_CONTAINER | op::CREATE_TTL | op::SET_DATA => {
            t.path = r.string();
            t.data = r.buffer();
            if op != op::SET_DATA {
                t.acl = acl(&mut r);
            }
        }
        op::DELETE | op::DELETE_CONTAINER | op::SET_ACL | op::CHECK => t.path = r.string(),
        op::ERROR => t.err = r.i32(),
        _ => {}
    }
    t
}

/// A jute `vector<ACL>`: a count, then each ACL's perms and id (scheme, id).
fn acl(r: &mut Reader<'_>) -> Option<Vec<String>> {
    let n = r.i32()?;
    let mut out = Vec::with_capacity(n.clamp(0, 64) as usize);
    for _ in 0..n.max(0) {
        let perms = r.i32()?;
        let scheme = r.string()?;
        let id = r.string()?;
        out.push(format!("{perms} {scheme}:{id}"));
    }
    Some(out)
}

fn decode_entry(entry: &[u8]) -> Option<Txn> {
    let mut r = Reader { b: entry, pos: 0 };
    let session = r.i64()?;
    let cxid = r.i32()?;
    let zxid = r.i64()?;
    let time_ms = r.i64()?;
    let op = r.i32()?;
    let body = &entry[r.pos..];
    let ops = if op == op::MULTI {
        let mut m = Reader { b: body, pos: 0 };
        let n = m.i32()?;
        let mut ops = Vec::with_capacity(n.max(0) as usize);
        for _ in 0..n.max(0) {
            let sub = m.i32()?;
            let data = m.buffer()?;
            ops.push(decode_op(sub, &data));
        }
        ops
    } else {
        vec![decode_op(op, body)]
    };
    Some(Txn {
        session,
        cxid,
        zxid,
        time_ms,
        op,
        ops,
    })
}

/// Every transaction in one log file, in order.
pub fn read_file(path: &Path) -> Result<Vec<Txn>> {
    let bytes = fs::read(path)?;
    let mut r = Reader { b: &bytes, pos: 0 };
    match r.take(4) {
        Some(b"ZKLG") => {}
        _ => {
            return Err(Error::Usage(format!(
                "{} is not a ZooKeeper transaction log",
                path.display()
            )))
        }
    }
    r.take(12); // version, dbid
    let mut out = Vec::new();
    while let Some(_crc) = r.i64() {
        let Some(len) = r.i32() else { break };
        if len <= 0 {
            break; // the zero padding after the last transaction
        }
        let Some(entry) = r.take(len as usize) else {
            break; // a transaction still being written
        };
        if r.u8() != Some(b'B') {
            break;
        }
        if let Some(t) = decode_entry(entry) {
            out.push(t);
        }
    }
    Ok(out)
}

/// The transaction log files (`log.<zxid>`) in a ZooKeeper data directory, oldest first.
pub fn log_files(data_dir: &Path) -> Vec<PathBuf> {
    let dir = data_dir.join("version-2");
    let mut files: Vec<(i64, PathBuf)> = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let zxid = i64::from_str_radix(name.strip_prefix("log.")?, 16).ok()?;
                    Some((zxid, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

/// Every transaction in a ZooKeeper data directory, in zxid order.
pub fn read_dir(data_dir: &Path) -> Result<Vec<Txn>> {
    let mut all = Vec::new();
    for f in log_files(data_dir) {
        all.extend(read_file(&f)?);
    }
    all.sort_by_key(|t| t.zxid);
    all.dedup_by_key(|t| t.zxid);
    Ok(all)
}

/// The data directory of node `id` of a test-kit ensemble.
pub fn ensemble_data_dir(zk: &Ensemble, id: usize) -> PathBuf {
    zk.log_path(id)
        .parent()
        .map(|p| p.join("data"))
        .unwrap_or_default()
}

/// Every committed transaction of an ensemble, in zxid order: each transaction that a
/// majority of the voting nodes logged, or any observer (observers log only what was
/// committed). Read it once the ensemble has healed.
///
/// Not simply the union of the logs: a leader cut off from its quorum logs its own proposals,
/// which never commit; when it rejoins and is synced by a snapshot, its old log file keeps
/// them (torture seed 9117 saw a counter write "applied twice" that way). A proposal commits
/// only once a quorum has logged it, and a server that missed it later gets it by a snapshot
/// rather than a log, so a majority of voters' logs holds every committed transaction and no
/// uncommitted one.
pub fn read_ensemble(zk: &Ensemble) -> Result<Vec<Txn>> {
    let nodes = zk.len();
    let voters = nodes - zk.options().observers.min(nodes);
    let logs = (1..=nodes)
        .map(|id| read_dir(&ensemble_data_dir(zk, id)))
        .collect::<Result<Vec<_>>>()?;
    Ok(committed(&logs, voters))
}

/// The transactions of `logs` (one per node, voters first, each in zxid order without
/// duplicates) that a majority of the `voters` logged or an observer logged.
pub fn committed(logs: &[Vec<Txn>], voters: usize) -> Vec<Txn> {
    use std::collections::BTreeMap;
    let mut seen: BTreeMap<i64, (usize, bool, &Txn)> = BTreeMap::new();
    for (i, log) in logs.iter().enumerate() {
        let observer = i >= voters;
        for t in log {
            let e = seen.entry(t.zxid).or_insert((0, false, t));
            if observer {
                e.1 = true;
            } else {
                e.0 += 1;
            }
        }
    }
    seen.into_values()
        .filter(|(count, by_observer, _)| *by_observer || *count > voters / 2)
        .map(|(_, _, t)| t.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(zxid: i64) -> Txn {
        Txn {
            session: 1,
            cxid: 0,
            zxid,
            time_ms: 0,
            op: op::SET_DATA,
            ops: Vec::new(),
        }
    }

    fn zxids(t: &[Txn]) -> Vec<i64> {
        t.iter().map(|t| t.zxid).collect()
    }

    /// The old leader alone logged 0x3_0002 (it never committed); 0x3_0001 reached a
    /// follower too; node 3 was synced by a snapshot and logged only epoch 4.
    #[test]
    fn a_proposal_only_a_minority_logged_was_not_committed() {
        let e3 = 3i64 << 32;
        let e4 = 4i64 << 32;
        let logs = vec![
            vec![txn(e3 | 1), txn(e3 | 2), txn(e4 | 1)],
            vec![txn(e3 | 1), txn(e4 | 1)],
            vec![txn(e4 | 1)],
        ];
        assert_eq!(zxids(&committed(&logs, 3)), vec![e3 | 1, e4 | 1]);
        // An observer logs only what was committed.
        let with_observer = vec![vec![txn(e3 | 1)], vec![], vec![], vec![txn(e3 | 2)]];
        assert_eq!(zxids(&committed(&with_observer, 3)), vec![e3 | 2]);
    }
}
