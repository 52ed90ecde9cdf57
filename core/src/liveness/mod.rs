//! The liveness link: sub-second failover after a contender's process dies on a live host.
//!
//! ZooKeeper cannot tell a crashed process from a network blip, so it removes a dead
//! contender's node only when its session expires. But when a process dies on a live host,
//! its kernel closes its sockets at once. So every contender serves a small TCP endpoint
//! (one listener per client, [`Endpoint`]) and names it in its latch node's *name*:
//!
//! ```text
//! _c_<uuid>-zkha@<host>:<port>-latch-<seq>
//! ```
//!
//! Curator's and Flink's latch code sort by the digits after the last `latch-` and find their
//! own node by `_c_<their uuid>-`, so the extra segment is invisible to them, and the node's
//! data stays exactly the participant id that Curator's `getLeader()` reports.
//!
//! The immediate successor holds one connection to its predecessor's endpoint ([`watch`]).
//! It opens with an authenticated hello (protocol 2, [`auth`]): the successor names the
//! contender by a key id derived from its uuid and both prove, with an HMAC over fresh nonces,
//! that they know the uuid, which only a client allowed to list the latch can read. The
//! endpoint answers `ok` (with its proof) if it serves that contender, `unknown` if it does
//! not, `busy` if its link budget is spent. Then the successor sends a newline every
//! [`KEEPALIVE_EVERY`]; the endpoint never writes again and closes the connection when that
//! contender's node is gone, when the client closes, or after [`IDLE_LIMIT`] of silence.
//!
//! An endpoint still answers protocol 1 (`zkha-liveness 1 <uuid>` -> `ok` / `unknown`, the
//! uuid itself as the credential), so successors of the previous release keep their fast
//! failover during a rolling upgrade; successors of this release speak only protocol 2, so
//! the uuid never crosses the link in clear. A successor of this release at an endpoint of
//! the previous one gets no answer it understands: no link, never evidence (the session
//! timeout decides, as without the link).
//!
//! **Bounds**: an endpoint holds at most [`MAX_LINKS`] links and [`MAX_PENDING`] connections
//! in their hello ([`MAX_PENDING_PER_IP`] per source address), each for at most
//! [`HELLO_TIMEOUT`]; others are closed at once. Garbage, floods or a wrong proof from a peer
//! without ZooKeeper access cost the contender nothing but those slots, and never make a
//! successor take over: a successor only ever acts on its own connections to its
//! predecessor.
//!
//! **Evidence of death** (and nothing else) ends [`watch`]: a link that was up (answered `ok`)
//! broke, and then [`CONFIRM_ATTEMPTS`] reconnects in a row, [`CONFIRM_SPACING`] apart, were
//! each refused (`ECONNREFUSED`: the host answered, and nothing listens on that port) or
//! answered `unknown` (a zkha endpoint that reused the port does not hold that contender).
//! A timeout, an unreachable host or network, a connection accepted and then closed, or any
//! other answer is *no* evidence: that case stays with the session timeout and the lease.
//! A predecessor whose endpoint never answered `ok` is never judged: a refused first connect
//! may be a wrong advertised address (two containers with the same private IP), and acting on
//! it would depose a live leader again and again.

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::error::{Error, ErrorKind, Result};
use crate::options::{self, LivenessOptions};
use crate::runtime;

mod auth;
use auth::HELLO2;

/// First words of every protocol-1 line (name and version).
const HELLO: &str = "zkha-liveness 1";
/// How long an endpoint waits for a hello, and a successor for the answer.
const HELLO_TIMEOUT: Duration = Duration::from_secs(1);
/// Reconnects that must all be refused (or answered `unknown`) after a link broke.
pub(crate) const CONFIRM_ATTEMPTS: u32 = 3;
/// Time between the starts of those reconnects (all of them within about 100 ms).
pub(crate) const CONFIRM_SPACING: Duration = Duration::from_millis(50);
/// Wait before reconnecting after an inconclusive attempt (doubling up to [`RETRY_MAX`]).
const RETRY_MIN: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(2);
/// The successor writes a newline this often, so an endpoint can drop dead successors.
pub(crate) const KEEPALIVE_EVERY: Duration = Duration::from_secs(5);
/// An endpoint closes a link that stayed silent this long.
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(30);
/// Authenticated links an endpoint holds at most (a contender has one successor; a client
/// rarely runs more than a few contenders).
pub(crate) const MAX_LINKS: usize = 64;
/// Connections in their hello an endpoint holds at most (excess ones are closed at once).
pub(crate) const MAX_PENDING: usize = 64;
/// ... of those from one source address.
pub(crate) const MAX_PENDING_PER_IP: usize = 8;
/// Marks the endpoint segment of a latch node name.
const NAME_TAG: &str = "zkha@";

/// Marks a zkha latch node without an endpoint (the link off).
const PLAIN_TAG: &str = "zkha-latch-";

/// The queue-name prefix of a latch node: `zkha@<advertised>-latch-`, or `zkha-latch-`
/// without an endpoint. Either way the name tells a zkha contender (which steps down when
/// asked) from a Curator or Flink built-in one (`latch-`); Curator and Flink order the queue
/// by the digits after the last `latch-`, so they read these names as their own.
pub(crate) fn latch_lock_name(advertised: Option<&str>) -> String {
    match advertised {
        Some(a) => format!("{NAME_TAG}{a}-latch-"),
        None => PLAIN_TAG.to_string(),
    }
}

/// True if latch node `name` is a zkha contender's (`_c_<uuid>-zkha@...` or
/// `_c_<uuid>-zkha-latch-...`), which watches its own node and steps down when asked.
pub(crate) fn is_zkha_latch(name: &str) -> bool {
    let Some(tagged) = name
        .strip_prefix("_c_")
        .and_then(|rest| rest.get(36..))
        .and_then(|rest| rest.strip_prefix('-'))
    else {
        return false;
    };
    tagged.starts_with(NAME_TAG) || tagged.starts_with(PLAIN_TAG)
}

/// A predecessor's endpoint, read from its latch node name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Peer {
    /// The uuid of the node (`_c_<uuid>-...`), which its endpoint confirms it serves.
    pub uuid: String,
    /// `host:port` to connect to.
    pub addr: String,
}

/// The endpoint named in a latch node name, if it has one (Curator's nodes do not).
pub(crate) fn peer_of(name: &str) -> Option<Peer> {
    let rest = name.strip_prefix("_c_")?;
    let uuid = rest.get(..36)?;
    uuid::Uuid::parse_str(uuid).ok()?;
    let tagged = rest.get(36..)?.strip_prefix('-')?.strip_prefix(NAME_TAG)?;
    let end = tagged.rfind("-latch-")?;
    let addr = &tagged[..end];
    match options::parse_advertise(addr) {
        Ok((_, Some(_))) => Some(Peer {
            uuid: uuid.to_string(),
            addr: addr.to_string(),
        }),
        _ => None,
    }
}

/// The local address of this host's route to the first resolvable ZooKeeper server (no packet
/// is sent): an address other hosts on that network can likely reach.
pub(crate) async fn route_to(connect_string: &str) -> Option<IpAddr> {
    let cs = options::parse_connect_string(connect_string).ok()?;
    for (host, port) in cs.hosts {
        let Ok(addrs) = tokio::net::lookup_host((host.as_str(), port)).await else {
            continue;
        };
        for a in addrs {
            let any: IpAddr = if a.is_ipv4() {
                Ipv4Addr::UNSPECIFIED.into()
            } else {
                Ipv6Addr::UNSPECIFIED.into()
            };
            let Ok(sock) = std::net::UdpSocket::bind((any, 0)) else {
                continue;
            };
            if sock.connect(a).is_ok() {
                if let Ok(local) = sock.local_addr() {
                    if !local.ip().is_unspecified() {
                        return Some(local.ip());
                    }
                }
            }
        }
    }
    None
}

/// A client's liveness endpoint: a listener that confirms which contenders it serves and
/// holds its successors' connections open.
pub(crate) struct Endpoint {
    local: SocketAddr,
    advertised: Option<String>,
    /// uuid -> (its key id, a sender whose drop closes that contender's links).
    served: Mutex<HashMap<String, (String, watch::Sender<()>)>>,
    /// Connections in their hello, by source address.
    pending: Mutex<HashMap<IpAddr, usize>>,
    /// Authenticated links held.
    links: AtomicUsize,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("advertised", &self.advertised)
            .finish()
    }
}

impl Endpoint {
    /// Binds the listener (synchronously, so a taken port is an error of the caller) and
    /// serves it on the shared runtime until `stop` turns true.
    pub(crate) fn bind(
        opts: &LivenessOptions,
        route: Option<IpAddr>,
        stop: watch::Receiver<bool>,
    ) -> Result<Arc<Endpoint>> {
        let ip = match &opts.listen_host {
            Some(h) => options::parse_listen_host(h)
                .map_err(|why| Error::invalid(format!("liveness listen host {h:?} {why}")))?,
            None => match route {
                Some(IpAddr::V6(_)) => Ipv6Addr::UNSPECIFIED.into(),
                _ => Ipv4Addr::UNSPECIFIED.into(),
            },
        };
        let want = SocketAddr::new(ip, opts.listen_port);
        let bind_err = |e: io::Error| {
            Error::new(
                ErrorKind::Io,
                format!(
                    "cannot listen for the liveness link on {want}: {e} (liveness listen host/port, \
                     high-availability.zkha.liveness.host/.port; or switch the link off)"
                ),
            )
        };
        let std_listener = std::net::TcpListener::bind(want).map_err(bind_err)?;
        std_listener.set_nonblocking(true).map_err(bind_err)?;
        let local = std_listener.local_addr().map_err(bind_err)?;
        let listener = {
            let _in_runtime = runtime::handle().enter();
            TcpListener::from_std(std_listener).map_err(bind_err)?
        };
        let advertised = advertised_address(opts, ip, route, local.port());
        if advertised.is_none() {
            tracing::warn!(target: "zkha::election", listen = %local,
                "no address to advertise for the liveness link (set the liveness advertise address); \
                 contenders of this client join without one, so their crash is noticed only after the session timeout");
        }
        let ep = Arc::new(Endpoint {
            local,
            advertised,
            served: Mutex::new(HashMap::new()),
            pending: Mutex::new(HashMap::new()),
            links: AtomicUsize::new(0),
        });
        runtime::spawn(accept_loop(ep.clone(), listener, stop));
        Ok(ep)
    }

    /// The address the listener is bound to.
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The `host:port` written into latch node names.
    pub(crate) fn advertised(&self) -> Option<&str> {
        self.advertised.as_deref()
    }

    /// Serves the contender `uuid` until the returned registration is dropped. Register
    /// before creating the node, so nobody can find the node before its endpoint knows it.
    pub(crate) fn register(self: &Arc<Self>, uuid: &str) -> Registration {
        self.lock()
            .insert(uuid.to_string(), (auth::key_id(uuid), watch::channel(()).0));
        Registration {
            endpoint: self.clone(),
            uuid: uuid.to_string(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, watch::Sender<()>)>> {
        self.served.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A pending slot for a connection from `ip`, if the budgets allow.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<PendingSlot> {
        let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let total: usize = p.values().sum();
        let from_ip = p.get(&ip).copied().unwrap_or(0);
        if total >= MAX_PENDING || from_ip >= MAX_PENDING_PER_IP {
            return None;
        }
        p.insert(ip, from_ip + 1);
        Some(PendingSlot {
            endpoint: self.clone(),
            ip,
        })
    }

    /// A link slot, if the budget allows.
    fn take_link(self: &Arc<Self>) -> Option<LinkSlot> {
        let n = self.links.fetch_add(1, Ordering::SeqCst);
        if n >= MAX_LINKS {
            self.links.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(LinkSlot(self.clone()))
    }

    /// The uuid and link-closing receiver of the contender with key id `id`.
    fn by_id(&self, id: &str) -> Option<(String, watch::Receiver<()>)> {
        self.lock()
            .iter()
            .find(|(_, (k, _))| auth::same(k, id))
            .map(|(u, (_, tx))| (u.clone(), tx.subscribe()))
    }
}

/// A connection counted against the hello budgets until dropped.
struct PendingSlot {
    endpoint: Arc<Endpoint>,
    ip: IpAddr,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        let mut p = self
            .endpoint
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = p.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                p.remove(&self.ip);
            }
        }
    }
}

/// A held link counted against [`MAX_LINKS`] until dropped.
struct LinkSlot(Arc<Endpoint>);

impl Drop for LinkSlot {
    fn drop(&mut self) {
        self.0.links.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A contender served by an [`Endpoint`]; dropping it closes that contender's links.
pub(crate) struct Registration {
    endpoint: Arc<Endpoint>,
    uuid: String,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.endpoint.lock().remove(&self.uuid);
    }
}

/// `advertise` as given (with the bound port if it has none), else the listen host if it is a
/// specific address, else the route to ZooKeeper; with the bound port.
fn advertised_address(
    opts: &LivenessOptions,
    listen: IpAddr,
    route: Option<IpAddr>,
    port: u16,
) -> Option<String> {
    let with_port = |host: &str| {
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    };
    if let Some(a) = &opts.advertise {
        return match options::parse_advertise(a) {
            Ok((_, Some(_))) => Some(a.trim().to_string()),
            Ok((host, None)) => Some(with_port(&host)),
            Err(_) => None,
        };
    }
    let ip = if listen.is_unspecified() {
        // A v4 listener cannot serve a v6 route (a v6 one may not serve v4 either).
        route.filter(|r| r.is_ipv4() == listen.is_ipv4())?
    } else {
        listen
    };
    Some(with_port(&ip.to_string()))
}

async fn accept_loop(ep: Arc<Endpoint>, listener: TcpListener, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, from)) => {
                    // Over budget: dropped, so closed at once.
                    let Some(slot) = ep.admit(from.ip()) else { continue };
                    let ep = ep.clone();
                    tokio::spawn(async move { serve(&ep, stream, slot).await });
                }
                // Out of descriptors and the like: never give up the listener (a closed
                // listener refuses, which successors would take for death).
                Err(e) => {
                    tracing::warn!(target: "zkha::election", error = %e, "liveness endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = crate::events::until_true(&mut stop) => break,
        }
    }
    // Closing: drop the listener and every held link.
    ep.lock().clear();
}

/// One successor's connection: the hello (within [`HELLO_TIMEOUT`], holding a pending
/// slot), then, authenticated, the held link.
async fn serve(ep: &Arc<Endpoint>, mut stream: TcpStream, slot: PendingSlot) {
    let _ = stream.set_nodelay(true);
    let hello = tokio::time::timeout(HELLO_TIMEOUT, handshake(ep, &mut stream)).await;
    drop(slot);
    let Ok(Some((gone, link))) = hello else {
        return;
    };
    hold_served(stream, gone, link).await;
}

/// Answers a hello; returns the contender's link-closing receiver and the link slot once the
/// successor is authenticated.
async fn handshake(
    ep: &Arc<Endpoint>,
    stream: &mut TcpStream,
) -> Option<(watch::Receiver<()>, LinkSlot)> {
    let line = read_line(stream).await?;
    if let Some(rest) = line.strip_prefix(HELLO2).and_then(|r| r.strip_prefix(' ')) {
        let mut words = rest.split(' ');
        let (Some(id), Some(their_nonce), None) = (words.next(), words.next(), words.next()) else {
            return None;
        };
        if !auth::is_token(id) || !auth::is_token(their_nonce) {
            return None;
        }
        let Some((uuid, gone)) = ep.by_id(id) else {
            let _ = stream
                .write_all(format!("{HELLO2} unknown\n").as_bytes())
                .await;
            return None;
        };
        let Some(link) = ep.take_link() else {
            let _ = stream
                .write_all(format!("{HELLO2} busy\n").as_bytes())
                .await;
            return None;
        };
        let ours = auth::nonce();
        let answer = format!(
            "{HELLO2} ok {ours} {}\n",
            auth::proof(&uuid, b"endpoint", their_nonce, &ours)
        );
        stream.write_all(answer.as_bytes()).await.ok()?;
        let reply = read_line(stream).await?;
        let theirs = reply.strip_prefix(HELLO2)?.strip_prefix(" proof ")?;
        let expected = auth::proof(&uuid, b"successor", their_nonce, &ours);
        return auth::same(&expected, theirs).then_some((gone, link));
    }
    // Protocol 1 (successors of the previous release): the uuid itself is the credential.
    let uuid = line
        .strip_prefix(HELLO)
        .and_then(|r| r.strip_prefix(' '))
        .map(str::trim)?;
    let gone = ep.lock().get(uuid).map(|(_, tx)| tx.subscribe());
    let Some(gone) = gone else {
        let _ = stream
            .write_all(format!("{HELLO} unknown\n").as_bytes())
            .await;
        return None;
    };
    // Protocol 1 has no "busy": a full budget just closes (inconclusive for its successor).
    let link = ep.take_link()?;
    stream
        .write_all(format!("{HELLO} ok\n").as_bytes())
        .await
        .ok()?;
    Some((gone, link))
}

/// Holds a served link until the contender is gone, the successor closes, or it is silent
/// for [`IDLE_LIMIT`].
async fn hold_served(mut stream: TcpStream, mut gone: watch::Receiver<()>, _link: LinkSlot) {
    let mut buf = [0u8; 64];
    loop {
        tokio::select! {
            r = tokio::time::timeout(IDLE_LIMIT, stream.read(&mut buf)) => match r {
                Ok(Ok(n)) if n > 0 => {}
                _ => return, // EOF, error or silence
            },
            r = gone.changed() => if r.is_err() { return },
        }
    }
}

/// Reads one `\n`-terminated line of at most 128 bytes (`None` on EOF, error or overflow).
async fn read_line(stream: &mut TcpStream) -> Option<String> {
    let mut line = Vec::with_capacity(64);
    let mut buf = [0u8; 128];
    loop {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        line.extend_from_slice(&buf[..n]);
        if let Some(i) = line.iter().position(|b| *b == b'\n') {
            line.truncate(i);
            return String::from_utf8(line).ok();
        }
        if line.len() > 128 {
            return None;
        }
    }
}

/// What one connection attempt to a predecessor's endpoint showed.
#[derive(Debug)]
pub(crate) enum Probe {
    /// The endpoint confirmed it serves the predecessor; the link is up.
    Alive(TcpStream),
    /// Connection refused: the host answered, nothing listens on that port.
    Refused,
    /// A zkha endpoint answered that it does not serve the predecessor (the port was reused).
    Unknown,
    /// Anything else (timeout, unreachable, closed during the hello, a foreign answer).
    Inconclusive(String),
}

/// True for the one connect error that proves nothing listens there.
pub(crate) fn is_refusal(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ConnectionRefused
}

/// One attempt: connect and hello, within [`HELLO_TIMEOUT`] each.
pub(crate) async fn probe(peer: &Peer) -> Probe {
    let mut stream =
        match tokio::time::timeout(HELLO_TIMEOUT, TcpStream::connect(peer.addr.as_str())).await {
            Err(_) => {
                return Probe::Inconclusive(format!("connect timed out after {HELLO_TIMEOUT:?}"))
            }
            Ok(Err(e)) if is_refusal(&e) => return Probe::Refused,
            Ok(Err(e)) => return Probe::Inconclusive(format!("connect failed: {e}")),
            Ok(Ok(s)) => s,
        };
    let _ = stream.set_nodelay(true);
    let ours = auth::nonce();
    let exchange = async {
        let hello = format!("{HELLO2} {} {ours}\n", auth::key_id(&peer.uuid));
        stream.write_all(hello.as_bytes()).await.ok()?;
        read_line(&mut stream).await
    };
    let answer = match tokio::time::timeout(HELLO_TIMEOUT, exchange).await {
        Ok(Some(answer)) => answer,
        Ok(None) => return Probe::Inconclusive("connection closed during the hello".into()),
        Err(_) => return Probe::Inconclusive(format!("no answer within {HELLO_TIMEOUT:?}")),
    };
    let words: Vec<&str> = match answer.strip_prefix(HELLO2) {
        Some(rest) => rest.split_whitespace().collect(),
        None => return Probe::Inconclusive(format!("unexpected answer {answer:?}")),
    };
    match words.as_slice() {
        ["unknown"] => Probe::Unknown,
        ["ok", theirs, proof] if auth::is_token(theirs) => {
            // Only an endpoint that knows the uuid can prove it; anything else is no link.
            let expected = auth::proof(&peer.uuid, b"endpoint", &ours, theirs);
            if !auth::same(&expected, proof) {
                return Probe::Inconclusive("the endpoint's proof is wrong".into());
            }
            let mine = auth::proof(&peer.uuid, b"successor", &ours, theirs);
            match stream
                .write_all(format!("{HELLO2} proof {mine}\n").as_bytes())
                .await
            {
                Ok(()) => Probe::Alive(stream),
                Err(e) => Probe::Inconclusive(format!("sending the proof failed: {e}")),
            }
        }
        _ => Probe::Inconclusive(format!("unexpected answer {answer:?}")),
    }
}

/// Proof that a predecessor's process is gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Evidence {
    /// The endpoint.
    pub addr: String,
    /// How the link that was up ended.
    pub link_lost: String,
    /// Reconnects refused.
    pub refused: u32,
    /// Reconnects answered by a zkha endpoint that does not serve the predecessor.
    pub unknown: u32,
    /// From the first to the last of those reconnects.
    pub within: Duration,
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "link to {} lost ({}); then {} reconnects within {:?}: {} refused, {} answered by an endpoint that does not serve it",
            self.addr,
            self.link_lost,
            self.refused + self.unknown,
            self.within,
            self.refused,
            self.unknown
        )
    }
}

/// Keeps a link to `peer` and returns only on evidence of its death (see the module docs);
/// `linked` is told each time the link comes up (true) or goes down (false).
pub(crate) async fn watch(peer: &Peer, linked: &(dyn Fn(bool) + Sync)) -> Evidence {
    let mut link_lost: Option<String> = None;
    let mut wait = RETRY_MIN;
    let mut next = probe(peer).await;
    loop {
        match next {
            Probe::Alive(stream) => {
                linked(true);
                let why = hold(stream).await;
                linked(false);
                tracing::debug!(target: "zkha::election", peer = %peer.addr, why = %why, "liveness link lost; reconnecting");
                link_lost = Some(why);
                // A reconnect right after the break can race the dying process's teardown
                // (accepted into its listener's backlog, then reset): not evidence, so the
                // next attempt comes soon, and only refusals in a row count.
                wait = CONFIRM_SPACING;
                next = probe(peer).await;
                continue;
            }
            Probe::Refused | Probe::Unknown => {
                if let Some(lost) = &link_lost {
                    match confirm(peer, next).await {
                        Ok((refused, unknown, within)) => {
                            return Evidence {
                                addr: peer.addr.clone(),
                                link_lost: lost.clone(),
                                refused,
                                unknown,
                                within,
                            }
                        }
                        Err(Some(stream)) => {
                            next = Probe::Alive(stream);
                            continue;
                        }
                        Err(None) => {}
                    }
                }
            }
            Probe::Inconclusive(why) => {
                tracing::debug!(target: "zkha::election", peer = %peer.addr, why = %why, "liveness probe inconclusive");
            }
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(RETRY_MAX);
        next = probe(peer).await;
    }
}

/// After a first refused (or `unknown`) attempt: the remaining attempts, [`CONFIRM_SPACING`]
/// apart. `Ok((refused, unknown, within))` if every one said "gone"; `Err(Some(link))` if the
/// endpoint answered; `Err(None)` if an attempt was inconclusive.
async fn confirm(
    peer: &Peer,
    first: Probe,
) -> std::result::Result<(u32, u32, Duration), Option<TcpStream>> {
    let started = Instant::now();
    let (mut refused, mut unknown) = (0u32, 0u32);
    let mut tally = |p: Probe| match p {
        Probe::Refused => {
            refused += 1;
            Ok(())
        }
        Probe::Unknown => {
            unknown += 1;
            Ok(())
        }
        Probe::Alive(s) => Err(Some(s)),
        Probe::Inconclusive(_) => Err(None),
    };
    tally(first)?;
    for i in 1..CONFIRM_ATTEMPTS {
        tokio::time::sleep_until((started + CONFIRM_SPACING * i).into()).await;
        tally(probe(peer).await)?;
    }
    Ok((refused, unknown, started.elapsed()))
}

/// Holds an open link until it ends; returns how it ended.
async fn hold(mut stream: TcpStream) -> String {
    let mut buf = [0u8; 64];
    let mut keepalive =
        tokio::time::interval_at((Instant::now() + KEEPALIVE_EVERY).into(), KEEPALIVE_EVERY);
    loop {
        tokio::select! {
            r = stream.read(&mut buf) => match r {
                Ok(0) => return "closed by the peer".into(),
                Ok(_) => {}
                Err(e) => return e.to_string(),
            },
            _ = keepalive.tick() => {
                if let Err(e) = stream.write_all(b"\n").await {
                    return format!("keepalive failed: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UUID: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

    #[test]
    fn names_carry_the_endpoint_and_stay_curator_sortable() {
        let name = format!(
            "_c_{UUID}-{}0000000042",
            latch_lock_name(Some("10.0.0.5:4567"))
        );
        assert_eq!(
            name,
            format!("_c_{UUID}-zkha@10.0.0.5:4567-latch-0000000042")
        );
        assert_eq!(
            peer_of(&name),
            Some(Peer {
                uuid: UUID.into(),
                addr: "10.0.0.5:4567".into()
            })
        );
        // The queue order is Curator's: the digits after the last "latch-".
        assert_eq!(crate::queue::sequence(&name, &["latch-"]), Some(42));
        let v6 = format!("_c_{UUID}-zkha@[fe80::1]:9-latch-0000000001");
        assert_eq!(peer_of(&v6).map(|p| p.addr), Some("[fe80::1]:9".into()));
        let tricky = format!("_c_{UUID}-zkha@my-latch-host:9-latch-0000000001");
        assert_eq!(
            peer_of(&tricky).map(|p| p.addr),
            Some("my-latch-host:9".into())
        );
        for plain in [
            format!("_c_{UUID}-latch-0000000001"), // Curator, or the link off
            "latch-0000000001".to_string(),        // unprotected
            format!("_c_{UUID}-zkha@host-latch-0000000001"), // no port
            "_c_not-a-uuid-zkha@h:1-latch-0000000001".to_string(),
        ] {
            assert_eq!(peer_of(&plain), None, "{plain}");
        }
        assert_eq!(latch_lock_name(None), "zkha-latch-");
        assert!(is_zkha_latch(&format!("_c_{UUID}-zkha-latch-0000000001")));
        assert!(is_zkha_latch(&format!(
            "_c_{UUID}-zkha@10.0.0.5:4567-latch-0000000001"
        )));
        assert!(!is_zkha_latch(&format!("_c_{UUID}-latch-0000000001")));
        assert!(!is_zkha_latch("latch-0000000001"));
        assert!(!is_zkha_latch("zkha-latch-0000000001"));
    }

    #[test]
    fn advertised_defaults() {
        let o = LivenessOptions::default();
        let any4: IpAddr = Ipv4Addr::UNSPECIFIED.into();
        let lan: IpAddr = "10.1.2.3".parse().unwrap();
        assert_eq!(
            advertised_address(&o, any4, Some(lan), 7),
            Some("10.1.2.3:7".into())
        );
        // A v4 listener cannot serve a v6 route.
        let v6: IpAddr = "fd00::1".parse().unwrap();
        assert_eq!(advertised_address(&o, any4, Some(v6), 7), None);
        let any6: IpAddr = Ipv6Addr::UNSPECIFIED.into();
        assert_eq!(
            advertised_address(&o, any6, Some(v6), 7),
            Some("[fd00::1]:7".into())
        );
        assert_eq!(
            advertised_address(&o, "10.9.9.9".parse().unwrap(), Some(lan), 7),
            Some("10.9.9.9:7".into())
        );
        let nat = LivenessOptions {
            advertise: Some("gw.example:4000".into()),
            ..o.clone()
        };
        assert_eq!(
            advertised_address(&nat, any4, Some(lan), 7),
            Some("gw.example:4000".into())
        );
        let host_only = LivenessOptions {
            advertise: Some("jm-1.example".into()),
            ..o
        };
        assert_eq!(
            advertised_address(&host_only, any4, None, 7),
            Some("jm-1.example:7".into())
        );
    }

    #[test]
    fn only_refusal_counts_among_connect_errors() {
        use io::ErrorKind as K;
        assert!(is_refusal(&io::Error::from(K::ConnectionRefused)));
        for k in [
            K::TimedOut,
            K::HostUnreachable,
            K::NetworkUnreachable,
            K::ConnectionReset,
            K::ConnectionAborted,
            K::AddrNotAvailable,
            K::Other,
        ] {
            assert!(!is_refusal(&io::Error::from(k)), "{k:?}");
        }
    }

    fn endpoint() -> (Arc<Endpoint>, watch::Sender<bool>) {
        let stop = watch::channel(false);
        let o = LivenessOptions {
            listen_host: Some("127.0.0.1".into()),
            ..LivenessOptions::default()
        };
        (Endpoint::bind(&o, None, stop.1).unwrap(), stop.0)
    }

    fn peer(ep: &Endpoint, uuid: &str) -> Peer {
        Peer {
            uuid: uuid.into(),
            addr: ep.advertised().unwrap().into(),
        }
    }

    /// An endpoint serving [`UUID`], and a `watch` on it whose link is up.
    async fn linked_watch() -> (
        Arc<Endpoint>,
        watch::Sender<bool>,
        Registration,
        tokio::task::JoinHandle<Evidence>,
    ) {
        let (ep, stop) = endpoint();
        let reg = ep.register(UUID);
        let (task, mut linked) = spawn_watch(peer(&ep, UUID));
        linked.wait_for(|l| *l).await.unwrap();
        (ep, stop, reg, task)
    }

    async fn evidence_within(
        task: tokio::task::JoinHandle<Evidence>,
        within: Duration,
    ) -> Evidence {
        tokio::time::timeout(within, task)
            .await
            .expect("evidence in time")
            .unwrap()
    }

    /// Runs `watch` in the background; returns its result channel and a link-up flag.
    fn spawn_watch(p: Peer) -> (tokio::task::JoinHandle<Evidence>, watch::Receiver<bool>) {
        let (tx, rx) = watch::channel(false);
        let task = tokio::spawn(async move {
            let linked = move |up: bool| {
                tx.send_replace(up);
            };
            watch(&p, &linked).await
        });
        (task, rx)
    }

    #[tokio::test]
    async fn probe_tells_served_unknown_refused_and_silent_apart() {
        let (ep, _stop) = endpoint();
        let _reg = ep.register(UUID);
        assert!(matches!(probe(&peer(&ep, UUID)).await, Probe::Alive(_)));
        let other = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        assert!(matches!(probe(&peer(&ep, other)).await, Probe::Unknown));

        // A port nobody listens on: refused.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap().to_string();
        drop(closed);
        let gone = Peer {
            uuid: UUID.into(),
            addr,
        };
        assert!(matches!(probe(&gone).await, Probe::Refused));

        // A listener that never answers (a frozen process: the kernel still accepts).
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mute = Peer {
            uuid: UUID.into(),
            addr: silent.local_addr().unwrap().to_string(),
        };
        let t = Instant::now();
        assert!(matches!(probe(&mute).await, Probe::Inconclusive(_)));
        assert!(t.elapsed() >= HELLO_TIMEOUT);
    }

    #[tokio::test]
    async fn a_broken_link_with_refused_reconnects_is_evidence() {
        let (_ep, stop, reg, task) = linked_watch().await;
        // The process "dies": listener and links close together.
        let t = Instant::now();
        stop.send_replace(true);
        let ev = evidence_within(task, Duration::from_secs(2)).await;
        let took = t.elapsed();
        assert_eq!(ev.refused, CONFIRM_ATTEMPTS, "{ev}");
        assert!(
            ev.within >= CONFIRM_SPACING * (CONFIRM_ATTEMPTS - 1),
            "{ev}"
        );
        assert!(took < Duration::from_millis(500), "{took:?}: {ev}");
        assert!(ev.to_string().contains("refused"), "{ev}");
        drop(reg);
    }

    #[tokio::test]
    async fn an_endpoint_that_no_longer_serves_the_node_is_evidence() {
        // What a successor sees when another zkha process took the port over, or the
        // contender left its node: the endpoint answers, but not for this uuid.
        let (_ep, _stop, reg, task) = linked_watch().await;
        drop(reg);
        let ev = evidence_within(task, Duration::from_secs(2)).await;
        assert_eq!((ev.refused, ev.unknown), (0, CONFIRM_ATTEMPTS), "{ev}");
        assert!(ev.link_lost.contains("closed"), "{ev}");
    }

    /// A scripted endpoint: answers `ok` to the first connection and closes it after 50 ms;
    /// later connections are held silent (`silent`) or closed at once.
    async fn flaky_endpoint(silent: bool) -> Peer {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let mut held = Vec::new();
            let mut first = true;
            while let Ok((mut s, _)) = l.accept().await {
                if first {
                    first = false;
                    let hello = read_line(&mut s).await.unwrap();
                    let theirs = hello.rsplit(' ').next().unwrap().to_string();
                    let ours = auth::nonce();
                    let p = auth::proof(UUID, b"endpoint", &theirs, &ours);
                    let _ = s
                        .write_all(format!("{HELLO2} ok {ours} {p}\n").as_bytes())
                        .await;
                    let _ = read_line(&mut s).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                } else if silent {
                    held.push(s);
                }
            }
        });
        Peer {
            uuid: UUID.into(),
            addr,
        }
    }

    #[tokio::test]
    async fn silence_or_a_closed_hello_after_a_broken_link_is_no_evidence() {
        for silent in [true, false] {
            let (task, mut linked) = spawn_watch(flaky_endpoint(silent).await);
            linked.wait_for(|l| *l).await.unwrap();
            linked.wait_for(|l| !*l).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2500)).await;
            assert!(!task.is_finished(), "silent={silent}: no evidence expected");
            task.abort();
        }
    }

    /// Sends `hello` on a fresh connection; returns the answer line (`None`: closed).
    async fn exchange(ep: &Endpoint, hello: &str) -> (TcpStream, Option<String>) {
        let mut s = TcpStream::connect(ep.local_addr()).await.unwrap();
        s.write_all(hello.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(Duration::from_secs(3), read_line(&mut s))
            .await
            .unwrap();
        (s, answer)
    }

    #[tokio::test]
    async fn the_hello_is_authenticated_both_ways_and_protocol_1_still_answered() {
        let (ep, _stop) = endpoint();
        let _reg = ep.register(UUID);
        let Probe::Alive(_kept) = probe(&peer(&ep, UUID)).await else {
            panic!("no link")
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(ep.links.load(Ordering::SeqCst), 1);

        // Knowing the key id (it crosses the link) is not enough: a wrong proof ends it.
        let nonce = auth::nonce();
        let (mut s, answer) =
            exchange(&ep, &format!("{HELLO2} {} {nonce}\n", auth::key_id(UUID))).await;
        assert!(answer.unwrap().starts_with(&format!("{HELLO2} ok ")));
        s.write_all(format!("{HELLO2} proof {}\n", "0".repeat(32)).as_bytes())
            .await
            .unwrap();
        let mut buf = [0u8; 8];
        let closed = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
        assert!(
            matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
            "closed after a wrong proof"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(
            ep.links.load(Ordering::SeqCst),
            1,
            "no link for a wrong proof"
        );

        // An id it does not serve: unknown (evidence for a successor whose link broke).
        let other = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        assert!(matches!(probe(&peer(&ep, other)).await, Probe::Unknown));

        // Successors of the previous release still get their answer.
        let (_s1, answer) = exchange(&ep, &format!("{HELLO} {UUID}\n")).await;
        assert_eq!(answer.as_deref(), Some("zkha-liveness 1 ok"));
        let (_s2, answer) = exchange(&ep, &format!("{HELLO} {other}\n")).await;
        assert_eq!(answer.as_deref(), Some("zkha-liveness 1 unknown"));

        // An endpoint that cannot prove the uuid is no link (and never evidence).
        let fake = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = fake.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = fake.accept().await {
                let _ = read_line(&mut s).await;
                let answer = format!("{HELLO2} ok {} {}\n", auth::nonce(), "1".repeat(32));
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let p = probe(&Peer {
            uuid: UUID.into(),
            addr,
        })
        .await;
        assert!(
            matches!(&p, Probe::Inconclusive(why) if why.contains("proof")),
            "{p:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn garbage_and_floods_cost_bounded_slots_and_break_no_link() {
        let (ep, _stop, _reg, task) = linked_watch().await;
        let addr = ep.local_addr();
        // 600 connections of random bytes, and 200 that say nothing and stay open.
        let mut idle = Vec::new();
        for i in 0..800u32 {
            match TcpStream::connect(addr).await {
                Ok(mut s) if i < 600 => {
                    let junk: Vec<u8> = (0..200u32)
                        .map(|k| (k.wrapping_mul(2_654_435_761).wrapping_add(i) >> 7) as u8)
                        .collect();
                    let _ = s.write_all(&junk).await;
                }
                Ok(s) => idle.push(s),
                Err(_) => {}
            }
            if i % 100 == 0 {
                let pending: usize = ep.pending.lock().unwrap().values().sum();
                assert!(pending <= MAX_PENDING, "{pending} pending");
            }
        }
        assert!(ep.links.load(Ordering::SeqCst) <= MAX_LINKS);
        // The successor's link survived, and it saw no evidence.
        tokio::time::sleep(HELLO_TIMEOUT + Duration::from_millis(200)).await;
        assert!(!task.is_finished(), "no evidence from a flood");
        assert_eq!(
            ep.links.load(Ordering::SeqCst),
            1,
            "only the real link is held"
        );
        assert_eq!(ep.pending.lock().unwrap().values().sum::<usize>(), 0);
        drop(idle);
        // And a new successor is served as before.
        assert!(matches!(probe(&peer(&ep, UUID)).await, Probe::Alive(_)));
        task.abort();
    }

    #[tokio::test]
    async fn a_refused_first_connect_is_never_evidence() {
        // No link was ever up: the address may simply be wrong.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap().to_string();
        drop(closed);
        let (task, _linked) = spawn_watch(Peer {
            uuid: UUID.into(),
            addr,
        });
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(!task.is_finished());
        task.abort();
    }
}
