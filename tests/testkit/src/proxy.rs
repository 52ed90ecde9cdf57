//! A TCP proxy that injects real network faults between one client and ZooKeeper (or any
//! TCP service, such as a liveness endpoint).
//!
//! One local port per upstream address; give the client [`FaultProxy::connect_string`].
//! Faults apply to live and new connections alike:
//! - [`FaultProxy::cut`] closes every live connection (the client sees a disconnect and can
//!   reconnect at once).
//! - [`FaultProxy::blackhole`] keeps every socket open but forwards nothing either way, like a
//!   network partition: the server hears nothing and expires the session for real after its
//!   timeout; the client hears nothing. Bytes sent meanwhile are held, as TCP would retransmit
//!   them, and delivered in order after [`FaultProxy::heal`], so a stream is never corrupted.
//! - [`FaultProxy::delay`] delays every byte by a fixed time in both directions.
//! - [`FaultProxy::refuse`] closes new connections at once (a listener that is gone).
//! - [`FaultProxy::blackhole_before`] blackholes the proxy just before the next matching
//!   ZooKeeper request would reach the server: it is held (with everything after it) until
//!   [`FaultProxy::heal`], so a test can act between a client's read and its write.
//! - [`FaultProxy::cut_before_reply`] lets the next matching ZooKeeper request through and
//!   cuts the connection just before its reply: the server did the work, the client never
//!   hears of it (the "outcome unknown" of a connection loss, made exact).

use std::collections::{HashSet, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::zk_frames::{
    self, LoadClass, ReplyScanner, RequestCounts, RequestScanner, SeenRequest, ZkRequest,
};

/// What the proxy currently does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "mode", content = "ms")]
pub enum Fault {
    /// Forward everything.
    None,
    /// Hold everything, forward nothing (a partition).
    Blackhole,
    /// Forward everything after this many milliseconds.
    Delay(u64),
    /// Close new connections at once; live ones pass.
    Refuse,
    /// No listener at all: connections are refused (`ECONNREFUSED`), as when the process
    /// behind the port is gone.
    Closed,
}

/// A one-shot rule on the next matching request ([`FaultProxy::cut_before_reply`],
/// [`FaultProxy::blackhole_before`]).
#[derive(Debug, Clone)]
struct RequestRule {
    kind: ZkRequest,
    path_prefix: String,
}

impl RequestRule {
    fn matches(&self, r: &SeenRequest) -> bool {
        r.kind == Some(self.kind)
            && r.path
                .as_deref()
                .is_some_and(|p| p.starts_with(&self.path_prefix))
    }
}

struct Shared {
    fault: Mutex<Fault>,
    /// Armed [`RequestRule`]s, in the order they were armed; `true` while the first has
    /// matched a request and waits for its reply (the next does not match meanwhile).
    reply_cuts: Mutex<(VecDeque<RequestRule>, bool)>,
    /// How many replies were withheld by a cut.
    replies_cut: AtomicU64,
    /// Armed rules of [`FaultProxy::blackhole_before`], in the order they were armed.
    holds: Mutex<VecDeque<RequestRule>>,
    changed: Condvar,
    conns: Mutex<Vec<(u64, TcpStream, TcpStream)>>,
    next_conn: AtomicU64,
    accepted: AtomicU64,
    /// Requests forwarded, indexed by [`LoadClass`].
    requests: [AtomicU64; 5],
    closed: AtomicBool,
}

impl Shared {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A fault-injecting TCP proxy in front of one or more upstream servers.
pub struct FaultProxy {
    shared: Arc<Shared>,
    listeners: Vec<(SocketAddr, SocketAddr)>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("listeners", &self.listeners)
            .field("fault", &self.fault())
            .finish()
    }
}

impl FaultProxy {
    /// Starts a proxy with one local port (on 127.0.0.1) per upstream address.
    pub fn start(upstreams: &[SocketAddr]) -> Result<FaultProxy> {
        Self::start_with(upstreams, &[])
    }

    /// [`FaultProxy::start`] for a link between two ZooKeeper servers: on the upstreams whose
    /// index is in `election`, the hello a server sends when it opens an election connection
    /// loses the address it announces (the old protocol's hello: just the server id), so the
    /// server that answers by connecting back uses the address in its own configuration,
    /// which leads through the test kit's proxies, instead of the announced one, which would
    /// bypass them.
    pub(crate) fn start_with(upstreams: &[SocketAddr], election: &[usize]) -> Result<FaultProxy> {
        if upstreams.is_empty() {
            return Err(Error::Usage(
                "a proxy needs at least one upstream address".into(),
            ));
        }
        let shared = Arc::new(Shared {
            fault: Mutex::new(Fault::None),
            reply_cuts: Mutex::new((VecDeque::new(), false)),
            replies_cut: AtomicU64::new(0),
            holds: Mutex::new(VecDeque::new()),
            changed: Condvar::new(),
            conns: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            requests: Default::default(),
            closed: AtomicBool::new(false),
        });
        let mut listeners = Vec::new();
        for (i, &upstream) in upstreams.iter().enumerate() {
            let hello = election.contains(&i);
            let listener = TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::Port(format!("proxy cannot bind 127.0.0.1:0: {e}")))?;
            let local = listener.local_addr()?;
            listeners.push((local, upstream));
            let shared = shared.clone();
            thread::Builder::new()
                .name(format!("zkha-proxy-{}", local.port()))
                .spawn(move || accept_loop(listener, upstream, shared, hello))?;
        }
        Ok(FaultProxy { shared, listeners })
    }

    /// `127.0.0.1:p1,...`: the proxy's ports, in upstream order.
    pub fn connect_string(&self) -> String {
        self.listeners
            .iter()
            .map(|(l, _)| l.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The local addresses, in upstream order.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(l, _)| *l).collect()
    }

    /// The upstream addresses.
    pub fn upstreams(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|(_, u)| *u).collect()
    }

    /// Closes every live connection (both sides). New connections are accepted as before.
    pub fn cut(&self) {
        let conns =
            std::mem::take(&mut *self.shared.conns.lock().unwrap_or_else(|p| p.into_inner()));
        for (_, a, b) in conns {
            let _ = a.shutdown(Shutdown::Both);
            let _ = b.shutdown(Shutdown::Both);
        }
    }

    /// Forwards nothing either way until [`FaultProxy::heal`]; sockets stay open.
    pub fn blackhole(&self) {
        self.set(Fault::Blackhole);
    }

    /// Delays all traffic by `ms` milliseconds in each direction.
    pub fn delay(&self, ms: u64) {
        self.set(Fault::Delay(ms));
    }

    /// Closes new connections at once; live connections pass.
    pub fn refuse(&self) {
        self.set(Fault::Refuse);
    }

    /// Closes the listeners (connections are refused, `ECONNREFUSED`) and cuts live
    /// connections, as when the process behind the port is gone, until [`FaultProxy::heal`]
    /// listens again on the same ports.
    pub fn close(&self) {
        self.set(Fault::Closed);
        self.cut();
        for (local, _) in &self.listeners {
            // Wake each blocking accept so it sees the fault and drops its listener.
            let _ = TcpStream::connect_timeout(local, Duration::from_millis(200));
        }
    }

    /// Back to forwarding everything; held bytes are delivered.
    pub fn heal(&self) {
        self.set(Fault::None);
    }

    /// Arms a one-shot cut: the next request of `kind` whose path starts with `path_prefix`
    /// (a multi: its first operation's path) reaches the server, and the connection that
    /// carried it is cut just before the reply would reach the client, so the server has
    /// done the work and the client sees a connection loss. Rules armed together fire one
    /// after another: a rule starts to look at requests only once the rule before it has
    /// cut its connection (so a second rule catches the request that follows the first
    /// loss, not one pipelined behind the first request). Paths are the server's (with any
    /// chroot or namespace prefix).
    pub fn cut_before_reply(&self, kind: ZkRequest, path_prefix: &str) {
        self.shared
            .reply_cuts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .push_back(RequestRule {
                kind,
                path_prefix: path_prefix.to_string(),
            });
    }

    /// Arms a one-shot hold: when the next request of `kind` whose path starts with
    /// `path_prefix` (a multi: its first operation's path) is read from a client, the proxy
    /// turns to [`Fault::Blackhole`] (whatever fault was in force) before forwarding the bytes
    /// read with it, so the server has not seen it; requests that came in the same read are
    /// held too. All of it goes through, in order, at [`FaultProxy::heal`].
    /// [`FaultProxy::fault`] tells when the hold has fired.
    pub fn blackhole_before(&self, kind: ZkRequest, path_prefix: &str) {
        self.shared
            .holds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(RequestRule {
                kind,
                path_prefix: path_prefix.to_string(),
            });
    }

    /// Replies withheld by [`FaultProxy::cut_before_reply`] so far.
    pub fn replies_cut(&self) -> u64 {
        self.shared.replies_cut.load(Ordering::SeqCst)
    }

    /// Rules of [`FaultProxy::cut_before_reply`] that have not fired yet.
    pub fn armed_reply_cuts(&self) -> usize {
        self.shared
            .reply_cuts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .len()
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::Relaxed)
    }

    /// The requests forwarded to the servers so far (every connection, since the start), per
    /// kind of load: what the clients behind the proxy cost the ensemble.
    pub fn request_counts(&self) -> RequestCounts {
        let n = |c: LoadClass| self.shared.requests[c as usize].load(Ordering::Relaxed);
        RequestCounts {
            pings: n(LoadClass::Ping),
            reads: n(LoadClass::Read),
            writes: n(LoadClass::Write),
            watches: n(LoadClass::Watch),
            other: n(LoadClass::Other),
        }
    }

    /// Connections currently open.
    pub fn live_connections(&self) -> usize {
        self.shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    fn set(&self, fault: Fault) {
        *self.shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        self.shared.changed.notify_all();
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.heal();
        self.cut();
        for (local, _) in &self.listeners {
            // Wake the blocking accept so its thread sees `closed`.
            let _ = TcpStream::connect_timeout(local, Duration::from_millis(200));
        }
    }
}

fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>, hello: bool) {
    let local = listener.local_addr().ok();
    let mut listener = Some(listener);
    loop {
        let Some(l) = listener.as_ref() else { return };
        let client = l.accept().map(|(c, _)| c);
        if shared.closed.load(Ordering::SeqCst) {
            return;
        }
        if shared.fault() == Fault::Closed {
            // Gone: drop the listener until the fault changes, then listen again on the same
            // address.
            drop(client);
            drop(listener.take());
            let Some(addr) = local else { return };
            loop {
                {
                    let guard = shared.fault.lock().unwrap_or_else(|p| p.into_inner());
                    let _ = shared
                        .changed
                        .wait_timeout(guard, Duration::from_millis(50))
                        .unwrap_or_else(|p| p.into_inner());
                }
                if shared.closed.load(Ordering::SeqCst) {
                    return;
                }
                if shared.fault() != Fault::Closed {
                    if let Ok(l) = TcpListener::bind(addr) {
                        listener = Some(l);
                        break;
                    }
                }
            }
            continue;
        }
        let Ok(client) = client else { continue };
        if shared.fault() == Fault::Refuse {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(server) = TcpStream::connect_timeout(&upstream, Duration::from_secs(2)) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        shared.accepted.fetch_add(1, Ordering::Relaxed);
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        shared
            .conns
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, c2, s2));
        let doomed = Arc::new(Mutex::new(HashSet::new()));
        pipe(
            id,
            &client,
            &server,
            &shared,
            Direction::Requests(doomed.clone()),
            hello,
        );
        pipe(
            id,
            &server,
            &client,
            &shared,
            Direction::Replies(doomed),
            false,
        );
    }
}

/// What a pump hands from its reader to its writer.
enum Chunk {
    Data(Instant, Vec<u8>),
    Eof(Instant),
    /// Close the connection (a withheld reply) once the bytes before it are delivered.
    Cut(Instant),
}

/// Which way a pump forwards, with the xids of requests whose replies must not arrive
/// (shared by the two pumps of a connection).
enum Direction {
    Requests(Arc<Mutex<HashSet<i32>>>),
    Replies(Arc<Mutex<HashSet<i32>>>),
}

impl Direction {
    /// Splits a chunk read from the stream into what to hand the writer.
    fn inspect(&self, data: Vec<u8>, at: Instant, shared: &Shared, scan: &mut Scan) -> Vec<Chunk> {
        match (self, scan) {
            (Direction::Requests(doomed), Scan::Requests(s)) => {
                for r in s.feed(&data) {
                    shared.requests[LoadClass::of_op(r.op) as usize]
                        .fetch_add(1, Ordering::Relaxed);
                    let mut holds = shared.holds.lock().unwrap_or_else(|p| p.into_inner());
                    if holds.front().is_some_and(|h| h.matches(&r)) {
                        holds.pop_front();
                        // Before the chunk is queued: its writer finds the proxy blackholed.
                        *shared.fault.lock().unwrap_or_else(|p| p.into_inner()) = Fault::Blackhole;
                        shared.changed.notify_all();
                    }
                    drop(holds);
                    let mut rules = shared.reply_cuts.lock().unwrap_or_else(|p| p.into_inner());
                    let (queue, waiting) = &mut *rules;
                    if !*waiting && queue.front().is_some_and(|c| c.matches(&r)) {
                        *waiting = true;
                        doomed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(r.xid);
                    }
                }
                vec![Chunk::Data(at, data)]
            }
            (Direction::Replies(doomed), Scan::Replies(s)) => {
                let mut doomed = doomed.lock().unwrap_or_else(|p| p.into_inner());
                match s.feed(&data, &mut doomed) {
                    Some(k) => {
                        shared.replies_cut.fetch_add(1, Ordering::SeqCst);
                        let mut rules = shared.reply_cuts.lock().unwrap_or_else(|p| p.into_inner());
                        rules.0.pop_front();
                        rules.1 = false;
                        vec![Chunk::Data(at, data[..k].to_vec()), Chunk::Cut(at)]
                    }
                    None => vec![Chunk::Data(at, data)],
                }
            }
            _ => vec![Chunk::Data(at, data)],
        }
    }
}

/// A pump's parser state.
enum Scan {
    Requests(RequestScanner),
    Replies(ReplyScanner),
}

/// Forwards `from` -> `to` with two threads: a reader that timestamps chunks and a writer that
/// delivers them when the fault in force allows.
fn pipe(
    id: u64,
    from: &TcpStream,
    to: &TcpStream,
    shared: &Arc<Shared>,
    dir: Direction,
    hello: bool,
) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    let queue = Arc::new((Mutex::new(VecDeque::<Chunk>::new()), Condvar::new()));
    let reader_queue = queue.clone();
    let reader_shared = shared.clone();
    let _ = thread::Builder::new()
        .name(format!("zkha-proxy-r{id}"))
        .spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut scan = match dir {
                Direction::Requests(_) => Scan::Requests(RequestScanner::default()),
                Direction::Replies(_) => Scan::Replies(ReplyScanner::default()),
            };
            let mut hello = hello.then(Vec::new);
            loop {
                let chunks = match from.read(&mut buf) {
                    Ok(0) | Err(_) => vec![Chunk::Eof(Instant::now())],
                    Ok(n) => {
                        let mut data = buf[..n].to_vec();
                        if let Some(held) = hello.as_mut() {
                            held.extend_from_slice(&data);
                            match zk_frames::old_election_hello(held) {
                                Some(rewritten) => {
                                    data = rewritten;
                                    hello = None;
                                }
                                None => continue,
                            }
                        }
                        dir.inspect(data, Instant::now(), &reader_shared, &mut scan)
                    }
                };
                let eof = chunks
                    .iter()
                    .any(|c| matches!(c, Chunk::Eof(_) | Chunk::Cut(_)));
                let (lock, cv) = &*reader_queue;
                lock.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend(chunks);
                cv.notify_all();
                // Wake a writer that waits for the fault to change.
                reader_shared.changed.notify_all();
                if eof {
                    return;
                }
            }
        });
    let shared = shared.clone();
    let _ = thread::Builder::new()
        .name(format!("zkha-proxy-w{id}"))
        .spawn(move || {
            let (lock, cv) = &*queue;
            loop {
                let chunk = {
                    let mut q = lock.lock().unwrap_or_else(|p| p.into_inner());
                    while q.is_empty() {
                        q = cv.wait(q).unwrap_or_else(|p| p.into_inner());
                    }
                    q.pop_front().expect("non-empty")
                };
                let read_at = match &chunk {
                    Chunk::Data(at, _) | Chunk::Eof(at) | Chunk::Cut(at) => *at,
                };
                // Wait while blackholed; honour the delay.
                loop {
                    let fault = shared.fault();
                    match fault {
                        Fault::Blackhole => {
                            let guard = shared.fault.lock().unwrap_or_else(|p| p.into_inner());
                            let _ = shared
                                .changed
                                .wait_timeout(guard, Duration::from_millis(50))
                                .unwrap_or_else(|p| p.into_inner());
                        }
                        Fault::Delay(ms) => {
                            let due = read_at + Duration::from_millis(ms);
                            let now = Instant::now();
                            if now >= due {
                                break;
                            }
                            thread::sleep((due - now).min(Duration::from_millis(50)));
                        }
                        Fault::None | Fault::Refuse | Fault::Closed => break,
                    }
                }
                let ok = match chunk {
                    Chunk::Data(_, bytes) => to.write_all(&bytes).is_ok(),
                    Chunk::Eof(_) | Chunk::Cut(_) => false,
                };
                if !ok {
                    let _ = to.shutdown(Shutdown::Both);
                    close_conn(&shared, id);
                    return;
                }
            }
        });
}

/// Closes both sockets of connection `id` and forgets it.
fn close_conn(shared: &Shared, id: u64) {
    let mut conns = shared.conns.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(pos) = conns.iter().position(|(cid, _, _)| *cid == id) {
        let (_, a, b) = conns.remove(pos);
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    }
}
