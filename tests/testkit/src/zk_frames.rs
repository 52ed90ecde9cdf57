//! Just enough of ZooKeeper's client wire format for the fault proxy to recognise a request
//! and the reply to it: every packet is a 4-byte big-endian length and a body; after the
//! connect handshake (the first packet each way), a request body starts with its xid and op
//! code, a reply body with the xid it answers.

use std::collections::HashSet;

/// A kind of ZooKeeper request, as the proxy recognises it by op code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkRequest {
    /// `create`, `create2`, `createContainer`, `createTTL`.
    Create,
    /// `delete`.
    Delete,
    /// `exists`.
    Exists,
    /// `getData`.
    GetData,
    /// `setData`.
    SetData,
    /// `getChildren`, `getChildren2`.
    GetChildren,
    /// `sync`.
    Sync,
    /// `multi` (its path is the path of its first operation).
    Multi,
    /// `check` (outside a multi).
    Check,
}

impl ZkRequest {
    /// Parses a name as the CLI takes it (`create`, `get_children`, ...).
    pub fn parse(s: &str) -> Option<ZkRequest> {
        serde_json::from_value(serde_json::Value::String(s.replace('-', "_"))).ok()
    }

    fn of_op(op: i32) -> Option<ZkRequest> {
        Some(match op {
            1 | 15 | 19 | 21 => ZkRequest::Create,
            2 => ZkRequest::Delete,
            3 => ZkRequest::Exists,
            4 => ZkRequest::GetData,
            5 => ZkRequest::SetData,
            8 | 12 => ZkRequest::GetChildren,
            9 => ZkRequest::Sync,
            13 => ZkRequest::Check,
            14 => ZkRequest::Multi,
            _ => return None,
        })
    }
}

/// What a request costs the ensemble, by op code: how [`crate::FaultProxy::request_counts`]
/// groups the requests it forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoadClass {
    /// `ping`.
    Ping = 0,
    /// Reads: `exists`, `getData`, `getChildren(2)`, `getACL`, `getEphemerals`,
    /// `getAllChildrenNumber`, `multiRead`, `whoAmI`.
    Read,
    /// Transactions: `create*`, `delete(Container)`, `setData`, `setACL`, `check`, `multi`,
    /// `reconfig`, and `closeSession`.
    Write,
    /// Watch bookkeeping: `setWatches(2)` (re-registering after a reconnect), `addWatch`,
    /// `checkWatches`, `removeWatches`.
    Watch,
    /// `sync`, `auth`, `sasl` and anything else.
    Other,
}

impl LoadClass {
    pub(crate) fn of_op(op: i32) -> LoadClass {
        match op {
            11 => LoadClass::Ping,
            3 | 4 | 6 | 8 | 12 | 22 | 103 | 104 | 107 => LoadClass::Read,
            1 | 2 | 5 | 7 | 13 | 14 | 15 | 16 | 19 | 20 | 21 | -11 => LoadClass::Write,
            17 | 18 | 101 | 105 | 106 => LoadClass::Watch,
            _ => LoadClass::Other,
        }
    }
}

/// Requests a proxy forwarded, per [`LoadClass`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RequestCounts {
    /// `ping`s.
    pub pings: u64,
    /// Reads.
    pub reads: u64,
    /// Transactions.
    pub writes: u64,
    /// Watch bookkeeping.
    pub watches: u64,
    /// Everything else.
    pub other: u64,
}

impl RequestCounts {
    /// Every request.
    pub fn total(&self) -> u64 {
        self.pings + self.reads + self.writes + self.watches + self.other
    }

    /// What was forwarded since `earlier`.
    pub fn since(&self, earlier: &RequestCounts) -> RequestCounts {
        RequestCounts {
            pings: self.pings.saturating_sub(earlier.pings),
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
            watches: self.watches.saturating_sub(earlier.watches),
            other: self.other.saturating_sub(earlier.other),
        }
    }
}

impl std::ops::Add for RequestCounts {
    type Output = RequestCounts;

    fn add(self, o: RequestCounts) -> RequestCounts {
        RequestCounts {
            pings: self.pings + o.pings,
            reads: self.reads + o.reads,
            writes: self.writes + o.writes,
            watches: self.watches + o.watches,
            other: self.other + o.other,
        }
    }
}

/// One client request seen on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenRequest {
    /// The request's xid (the reply carries it).
    pub xid: i32,
    /// Its op code.
    pub op: i32,
    /// What it is, if recognised.
    pub kind: Option<ZkRequest>,
    /// Its path (a multi: its first operation's), if it has one.
    pub path: Option<String>,
}

/// Reads whole request packets from the client's byte stream (the first, the connect
/// request, is skipped).
#[derive(Default)]
pub(crate) struct RequestScanner {
    buf: Vec<u8>,
    handshake_done: bool,
    /// Set once a packet length made no sense: not ZooKeeper, stop parsing.
    lost: bool,
}

impl RequestScanner {
    /// Feeds bytes; returns the requests completed by them.
    pub(crate) fn feed(&mut self, data: &[u8]) -> Vec<SeenRequest> {
        let mut out = Vec::new();
        if self.lost {
            return out;
        }
        self.buf.extend_from_slice(data);
        let mut at = 0;
        while self.buf.len() - at >= 4 {
            let len = i32::from_be_bytes(self.buf[at..at + 4].try_into().expect("4 bytes"));
            if !(0..=64 << 20).contains(&len) {
                self.lost = true;
                self.buf.clear();
                return out;
            }
            let end = at + 4 + len as usize;
            if self.buf.len() < end {
                break;
            }
            if self.handshake_done {
                if let Some(r) = parse_request(&self.buf[at + 4..end]) {
                    out.push(r);
                }
            } else {
                self.handshake_done = true;
            }
            at = end;
        }
        self.buf.drain(..at);
        out
    }
}

fn be_i32(b: &[u8], at: usize) -> Option<i32> {
    Some(i32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn string_at(b: &[u8], at: usize) -> Option<String> {
    let len = be_i32(b, at)?;
    let bytes = b.get(at + 4..at + 4 + usize::try_from(len).ok()?)?;
    String::from_utf8(bytes.to_vec()).ok()
}

fn parse_request(body: &[u8]) -> Option<SeenRequest> {
    let xid = be_i32(body, 0)?;
    let op = be_i32(body, 4)?;
    let kind = ZkRequest::of_op(op);
    let path = match kind {
        // MultiHeader (type int, done bool, err int), then the first operation's record.
        Some(ZkRequest::Multi) => string_at(body, 8 + 9),
        Some(_) => string_at(body, 8),
        None => None,
    };
    Some(SeenRequest {
        xid,
        op,
        kind,
        path,
    })
}

/// Follows reply packets in the server's byte stream without holding any bytes back, and
/// finds where a reply to a marked xid begins.
#[derive(Default)]
pub(crate) struct ReplyScanner {
    handshake_done: bool,
    /// Body bytes of the current packet still to pass.
    left: usize,
    /// The first bytes (length, xid) of the packet being started.
    head: Vec<u8>,
    /// Set once a packet length made no sense: not ZooKeeper, stop following.
    lost: bool,
}

impl ReplyScanner {
    /// Feeds bytes; returns the offset in `data` from which nothing may be delivered because a
    /// reply whose xid `doomed` claims starts there (or started in an earlier feed: 0).
    pub(crate) fn feed(&mut self, data: &[u8], doomed: &mut HashSet<i32>) -> Option<usize> {
        if self.lost {
            return None;
        }
        let mut i = 0;
        let mut head_start = 0;
        while i < data.len() {
            if self.left > 0 {
                let n = self.left.min(data.len() - i);
                i += n;
                self.left -= n;
                continue;
            }
            if self.head.is_empty() {
                head_start = i;
            }
            // The handshake reply has no xid: its length is all we need.
            let want = if self.handshake_done { 8 } else { 4 };
            let n = (want - self.head.len()).min(data.len() - i);
            self.head.extend_from_slice(&data[i..i + n]);
            i += n;
            if self.head.len() < want {
                break;
            }
            let len = i32::from_be_bytes(self.head[..4].try_into().expect("4 bytes"));
            if !(0..=64 << 20).contains(&len) || (self.handshake_done && len < 4) {
                self.lost = true;
                return None;
            }
            if !self.handshake_done {
                self.handshake_done = true;
                self.left = len as usize;
            } else {
                let xid = i32::from_be_bytes(self.head[4..8].try_into().expect("4 bytes"));
                self.left = len as usize - 4;
                if doomed.remove(&xid) {
                    self.head.clear();
                    return Some(head_start);
                }
            }
            self.head.clear();
        }
        None
    }
}

/// The protocol versions of ZooKeeper's election hello that carry the sender's address
/// (`QuorumCnxManager.PROTOCOL_VERSION_V1`, `_V2`).
const ELECTION_HELLO_WITH_ADDRESS: [i64; 2] = [-65536, -65535];

/// Rewrites the start of an election connection: once `held` holds the whole hello
/// (`[version i64][sid i64][len i32][address]`), returns the old protocol's hello (`[sid i64]`)
/// followed by whatever came after it; `None` while the hello is incomplete. Bytes that do not
/// start with such a hello pass unchanged.
pub(crate) fn old_election_hello(held: &[u8]) -> Option<Vec<u8>> {
    if held.len() < 8 {
        return None;
    }
    let version = i64::from_be_bytes(held[..8].try_into().expect("8 bytes"));
    if !ELECTION_HELLO_WITH_ADDRESS.contains(&version) {
        return Some(held.to_vec());
    }
    if held.len() < 20 {
        return None;
    }
    let len = i32::from_be_bytes(held[16..20].try_into().expect("4 bytes"));
    let end = 20 + usize::try_from(len).unwrap_or(0);
    if held.len() < end {
        return None;
    }
    let mut out = held[8..16].to_vec();
    out.extend_from_slice(&held[end..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(body: &[u8]) -> Vec<u8> {
        let mut p = (body.len() as i32).to_be_bytes().to_vec();
        p.extend_from_slice(body);
        p
    }

    fn request(xid: i32, op: i32, path: &str) -> Vec<u8> {
        let mut b = xid.to_be_bytes().to_vec();
        b.extend_from_slice(&op.to_be_bytes());
        b.extend_from_slice(&(path.len() as i32).to_be_bytes());
        b.extend_from_slice(path.as_bytes());
        packet(&b)
    }

    fn reply(xid: i32) -> Vec<u8> {
        let mut b = xid.to_be_bytes().to_vec();
        b.extend_from_slice(&7i64.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        packet(&b)
    }

    #[test]
    fn requests_are_found_across_split_reads_after_the_handshake() {
        let mut stream = packet(&[0u8; 44]); // connect request
        stream.extend(request(1, 15, "/a/b"));
        stream.extend(request(2, 12, "/a"));
        let mut s = RequestScanner::default();
        let mut seen = Vec::new();
        for chunk in stream.chunks(3) {
            seen.extend(s.feed(chunk));
        }
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].kind, Some(ZkRequest::Create));
        assert_eq!(seen[0].path.as_deref(), Some("/a/b"));
        assert_eq!(seen[1].xid, 2);
        assert_eq!(seen[1].kind, Some(ZkRequest::GetChildren));
    }

    #[test]
    fn the_cut_lands_where_the_doomed_reply_begins() {
        let mut stream = packet(&[0u8; 36]); // connect response
        let first = stream.len();
        stream.extend(reply(-2));
        let doomed_at = stream.len();
        stream.extend(reply(5));
        stream.extend(reply(6));
        let mut doomed = HashSet::from([5]);
        let mut s = ReplyScanner::default();
        assert_eq!(s.feed(&stream, &mut doomed), Some(doomed_at));
        assert!(doomed.is_empty());
        // Split reads: the reply's head straddles two feeds.
        let mut s = ReplyScanner::default();
        let mut doomed = HashSet::from([5]);
        assert_eq!(s.feed(&stream[..doomed_at + 2], &mut doomed), None);
        assert_eq!(s.feed(&stream[doomed_at + 2..], &mut doomed), Some(0));
        assert!(first < doomed_at);
    }

    #[test]
    fn the_election_hello_loses_its_address() {
        let mut hello = (-65536i64).to_be_bytes().to_vec();
        hello.extend_from_slice(&3i64.to_be_bytes());
        let addr = b"127.0.0.1:4567";
        hello.extend_from_slice(&(addr.len() as i32).to_be_bytes());
        hello.extend_from_slice(addr);
        hello.extend_from_slice(b"rest");
        assert_eq!(old_election_hello(&hello[..10]), None);
        let mut want = 3i64.to_be_bytes().to_vec();
        want.extend_from_slice(b"rest");
        assert_eq!(old_election_hello(&hello), Some(want));
        // An old hello (the id itself) passes as it is.
        let old = 2i64.to_be_bytes().to_vec();
        assert_eq!(old_election_hello(&old), Some(old.clone()));
    }

    #[test]
    fn names_parse_as_the_cli_spells_them() {
        assert_eq!(
            ZkRequest::parse("get-children"),
            Some(ZkRequest::GetChildren)
        );
        assert_eq!(ZkRequest::parse("create"), Some(ZkRequest::Create));
        assert_eq!(ZkRequest::parse("nope"), None);
    }
}
