//! The liveness link against a real ensemble, with contenders in their own processes killed
//! with SIGKILL: sub-second crash failover at a 30 s session timeout, no takeover on a
//! blackholed or unreachable endpoint, a forced false positive that fencing makes harmless,
//! a chain of five, and a Curator contender in the chain.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::*;
use tokio::sync::mpsc;
use zkha::{
    Client, ElectionEvent, ElectionOptions, ErrorKind, LivenessOptions, NodeMode, Op, RevokeReason,
};
use zkha_testkit::peers::CuratorPeer;
use zkha_testkit::FaultProxy;
use zookeeper_client as zk;

/// The session timeout of the acceptance tests: failover must not depend on it.
const T: Duration = Duration::from_secs(30);
const CHILD_ENV: &str = "ZKHA_LIVENESS_CHILD";
const CHILD_SAYS: &str = "@zkha-child ";

// ---------------------------------------------------------------------------------------
// A contender in its own process: this test binary, re-run as the ignored test below.

/// Not a test: the contender process the tests below start (and kill).
#[test]
#[ignore = "the contender process of the liveness tests; they start it themselves"]
fn liveness_child_contender() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let f: Vec<&str> = spec.split('|').collect();
    let (connect, latch, id) = (f[0], f[1], f[2]);
    let t = Duration::from_millis(f[3].parse().expect("session ms"));
    let liveness = match f[4] {
        "on" => LivenessOptions::default(),
        _ => LivenessOptions::disabled(),
    };
    // Optional: once granted, add and lock an entry of the pointer store at this root.
    let store_root = f.get(5).filter(|r| !r.is_empty()).map(|r| r.to_string());
    let client =
        Client::connect_blocking(options(connect, t).liveness(liveness)).expect("child connect");
    let e = client
        .election(latch, ElectionOptions::new(id))
        .expect("child join");
    // Exit when the parent closes our stdin (or dies).
    let parent_gone = Arc::new(AtomicBool::new(false));
    let flag = parent_gone.clone();
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        flag.store(true, Ordering::SeqCst);
    });
    let say = |what: String| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{CHILD_SAYS}{what}");
        let _ = out.flush();
    };
    let (mut node, mut linked, mut token) = (None, false, None);
    while !parent_gone.load(Ordering::SeqCst) {
        if e.node() != node {
            node = e.node();
            say(format!("NODE {}", node.clone().unwrap_or_default()));
        }
        if e.liveness().linked != linked {
            linked = !linked;
            say(format!("LINKED {linked}"));
        }
        let now = e.leadership().map(|l| l.fencing_token);
        if now != token {
            token = now;
            match token {
                Some(t) => say(format!("GRANTED {t}")),
                None => say("NOT_LEADING".into()),
            }
            if let (Some(_), Some(root)) = (token, &store_root) {
                let store = client.pointer_store(root).expect("child store");
                zkha::runtime::block_on(async move {
                    store.add_and_lock("0000000000000000001", b"cp1").await
                })
                .expect("child add_and_lock");
                say("LOCKED".into());
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A running child contender.
struct Child {
    proc: std::process::Child,
    lines: mpsc::UnboundedReceiver<(Instant, String)>,
    /// Its latch node (from its first `NODE` line).
    node: String,
}

impl Child {
    /// Starts a contender process and waits until its node exists.
    async fn start(connect: &str, latch: &str, id: &str, t: Duration, link: bool) -> Child {
        let exe = std::env::current_exe().expect("test binary");
        Child::start_with(&exe, connect, latch, id, t, link, "").await
    }

    /// [`Child::start`] with this test binary as built by another commit (`exe`).
    async fn start_with(
        exe: &std::path::Path,
        connect: &str,
        latch: &str,
        id: &str,
        t: Duration,
        link: bool,
        store_root: &str,
    ) -> Child {
        let mut cmd = Command::new(exe);
        cmd.args([
            "liveness_child_contender",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!(
                "{connect}|{latch}|{id}|{}|{}|{store_root}",
                t.as_millis(),
                if link { "on" } else { "off" }
            ),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
        let mut proc = zkha_testkit::spawn::spawn_tied(cmd).expect("start a child contender");
        let stdout = proc.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.find(CHILD_SAYS) {
                    let said = line[i + CHILD_SAYS.len()..].to_string();
                    if tx.send((Instant::now(), said)).is_err() {
                        break;
                    }
                }
            }
        });
        let mut child = Child {
            proc,
            lines: rx,
            node: String::new(),
        };
        let (_, node) = child.expect("NODE ", Duration::from_secs(20)).await;
        child.node = node;
        child
    }

    /// Waits for a line starting with `prefix`; returns when it arrived and the rest.
    async fn expect(&mut self, prefix: &str, within: Duration) -> (Instant, String) {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.lines.recv()).await {
                Ok(Some((at, line))) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return (at, rest.to_string());
                    }
                }
                Ok(None) => panic!("child contender exited before saying {prefix:?}"),
                Err(_) => panic!("child contender did not say {prefix:?} within {within:?}"),
            }
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix); returns the instant just before it.
    fn kill(&mut self) -> Instant {
        let at = Instant::now();
        self.proc.kill().expect("SIGKILL");
        at
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.proc.kill();
        let _ = self.proc.wait();
    }
}

// ---------------------------------------------------------------------------------------
// Helpers.

/// Captures zkha's election log lines (and prints them too when `RUST_LOG` is set).
fn captured_logs() -> String {
    String::from_utf8_lossy(&log_buffer().lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

fn log_buffer() -> &'static Mutex<Vec<u8>> {
    static BUF: OnceLock<Mutex<Vec<u8>>> = OnceLock::new();
    BUF.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl Write for Capture {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        log_buffer()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(b);
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = std::io::stderr().write_all(b);
        }
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Installs the capturing log subscriber (before `common::client` would install its own).
fn capture_logs() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        // zkha::election at info at least; RUST_LOG's own directives come later and win.
        let user = std::env::var("RUST_LOG").unwrap_or_default();
        let filter = tracing_subscriber::EnvFilter::new(format!("warn,zkha::election=info,{user}"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_writer(|| Capture)
            .try_init();
    });
}

/// A port free right now on 127.0.0.1.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// A client whose liveness endpoint listens on a free port and advertises a fault proxy in
/// front of it, so its successors link through the proxy. Both talk to ZooKeeper directly.
async fn client_behind_proxy(connect: &str) -> (Client, FaultProxy) {
    let port = free_port();
    let proxy = FaultProxy::start(&[format!("127.0.0.1:{port}").parse().unwrap()]).unwrap();
    let c = Client::connect(options(connect, T).liveness(LivenessOptions {
        listen_host: Some("127.0.0.1".into()),
        listen_port: port,
        advertise: Some(proxy.connect_string()),
        ..LivenessOptions::default()
    }))
    .await
    .expect("connect");
    (c, proxy)
}

/// Joins `latch` as `id` on a new client and waits until its link to its predecessor is up.
async fn linked_contender(connect: &str, latch: &str, id: &str) -> (Client, zkha::Election) {
    let c = client(connect, T).await;
    let e = elect(&c, latch, id);
    eventually(Duration::from_secs(5), &format!("{id} linked"), || {
        e.liveness().linked
    })
    .await;
    (c, e)
}

async fn next_grant(events: &mut zkha::EventStream<ElectionEvent>, within: Duration) -> Instant {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.next_timeout(left).await {
            Some(ElectionEvent::Granted(_)) => return Instant::now(),
            Some(_) => {}
            None => panic!("not granted within {within:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_process_is_replaced_within_a_second() {
    capture_logs();
    let zk = shared();
    let latch = unique("kill");
    let mut doomed = Child::start(&zk.connect_string(), &latch, "doomed", T, true).await;
    doomed.expect("GRANTED", Duration::from_secs(10)).await;
    assert!(
        doomed.node.contains("-zkha@127.0.0.1:") && doomed.node.contains("-latch-"),
        "the node names its endpoint: {}",
        doomed.node
    );
    let (c, survivor) = linked_contender(&zk.connect_string(), &latch, "survivor").await;
    let endpoint = doomed.node.split("zkha@").nth(1).unwrap();
    let endpoint = endpoint[..endpoint.rfind("-latch-").unwrap()].to_string();
    assert_eq!(survivor.liveness().peer, Some(endpoint.clone()));
    assert!(!survivor.has_leadership());
    let mut events = survivor.events();

    let killed_at = doomed.kill();
    let granted_at = next_grant(&mut events, Duration::from_secs(5)).await;
    let took = granted_at - killed_at;
    println!("SIGKILL of the leader -> successor granted in {took:?} (session timeout {T:?})");
    assert!(took < Duration::from_secs(1), "failover took {took:?}");
    assert!(
        c.get_data(&doomed.node).await.unwrap().is_none(),
        "the dead leader's node is gone"
    );
    assert_eq!(c.metrics().forced_takeovers, 1);
    let logs = captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains("forced takeover") && l.contains(&doomed.node))
        .unwrap_or_else(|| panic!("no forced-takeover log line for {}:\n{logs}", doomed.node));
    assert!(
        line.contains(&endpoint) && line.contains("refused"),
        "the log line names the evidence: {line}"
    );
}

/// A checkpoint pointer the killed leader had locked does not outlive its subsumption by the
/// successor: the dead process's session (and its ephemeral lock) lives on for the session
/// timeout, but the successor took over on the liveness link's evidence that the process is
/// gone, so its `release_and_try_remove` deletes that lock and removes the entry at once.
/// Before, the entry stayed (and Flink kept its state file for good: nobody released it
/// again once the dead session expired). A lock of a live owner still keeps an entry
/// (`two_owners_lock_one_entry` in stores.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_leaders_pointer_lock_does_not_keep_a_subsumed_entry() {
    let zk = shared();
    let base = unique("dead-owner");
    let (latch, root) = (format!("{base}/latch"), format!("{base}/checkpoints"));
    let exe = std::env::current_exe().expect("test binary");
    let mut doomed =
        Child::start_with(&exe, &zk.connect_string(), &latch, "doomed", T, true, &root).await;
    doomed.expect("LOCKED", Duration::from_secs(10)).await;
    let (c, survivor) = linked_contender(&zk.connect_string(), &latch, "survivor").await;
    let mut events = survivor.events();
    doomed.kill();
    next_grant(&mut events, Duration::from_secs(5)).await;
    let store = c
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(survivor.clone()));
    let entry = store.get_and_lock("0000000000000000001").await.unwrap();
    assert_eq!(entry.data, b"cp1");
    let locks = format!("{root}/0000000000000000001/locks");
    assert_eq!(
        c.get_children(&locks).await.unwrap().map(|l| l.len()),
        Some(2),
        "the dead leader's lock is still there (its session lives until it expires) beside ours"
    );
    assert!(
        store
            .release_and_try_remove("0000000000000000001")
            .await
            .unwrap(),
        "removed at once: the other lock's process is gone"
    );
    assert!(c
        .get_data(&format!("{root}/0000000000000000001"))
        .await
        .unwrap()
        .is_none());
    survivor.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_connection_floods_at_the_leaders_endpoint_change_nothing() {
    let zk = shared();
    let latch = unique("flood");
    let mut leader = Child::start(&zk.connect_string(), &latch, "leader", T, true).await;
    leader.expect("GRANTED", Duration::from_secs(10)).await;
    let (_c, successor) = linked_contender(&zk.connect_string(), &latch, "successor").await;
    let endpoint = successor.liveness().peer.expect("the leader's endpoint");
    let mut events = successor.events();

    // A peer without ZooKeeper access: random bytes, a made-up hello of either protocol,
    // and connections that say nothing, a thousand of them.
    let mut held = Vec::new();
    for i in 0..1000u32 {
        let Ok(mut s) = tokio::net::TcpStream::connect(endpoint.as_str()).await else {
            continue;
        };
        use tokio::io::AsyncWriteExt;
        let junk = match i % 4 {
            0 => (0..300u32).map(|k| (k * 7 + i) as u8).collect::<Vec<u8>>(),
            1 => format!("zkha-liveness 2 {} {}\n", "ab".repeat(16), "cd".repeat(16)).into_bytes(),
            2 => b"zkha-liveness 1 7c9e6679-7425-40de-944b-e07fc1f90ae7\n".to_vec(),
            _ => Vec::new(),
        };
        let _ = s.write_all(&junk).await;
        if i % 4 == 3 {
            held.push(s);
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        events.try_next().is_none() && !successor.has_leadership(),
        "no takeover from a flood"
    );
    assert!(
        successor.liveness().linked,
        "the successor's link is still up"
    );
    drop(held);

    // The leader is unharmed and its link still proves its death at once.
    let killed_at = leader.kill();
    let took = next_grant(&mut events, Duration::from_secs(5)).await - killed_at;
    assert!(took < Duration::from_secs(1), "failover took {took:?}");
}

/// This test binary as built by the commit before liveness protocol 2
/// (`ZKHA_LIVENESS_V1_BIN`, built by `scripts/build-liveness-v1`, which `make test` runs).
fn v1_binary() -> std::path::PathBuf {
    let p = std::env::var_os("ZKHA_LIVENESS_V1_BIN")
        .expect("ZKHA_LIVENESS_V1_BIN: run scripts/build-liveness-v1 (make test does)");
    let p = std::path::PathBuf::from(p);
    assert!(p.is_file(), "{} is not built", p.display());
    p
}

/// Contenders of the previous release and of this one in one latch (run by `make test` with
/// the previous build): a previous-release successor of a new leader keeps its sub-second
/// failover; a new successor of a previous-release leader never takes over while it lives
/// (the old endpoint does not answer protocol 2: no link, no evidence) and follows it after
/// the session timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the previous release's build: make test runs it (scripts/build-liveness-v1)"]
async fn contenders_of_the_previous_protocol_share_a_latch_safely() {
    let zk = shared();
    let old = v1_binary();
    let here = std::env::current_exe().unwrap();

    // A new leader, an old successor: linked (protocol 1 still answered), fast failover.
    let latch = unique("mixed-new-leads");
    let mut leader =
        Child::start_with(&here, &zk.connect_string(), &latch, "new", T, true, "").await;
    leader.expect("GRANTED", Duration::from_secs(10)).await;
    let mut successor =
        Child::start_with(&old, &zk.connect_string(), &latch, "old", T, true, "").await;
    successor
        .expect("LINKED true", Duration::from_secs(5))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = leader.kill();
    let (granted_at, _) = successor.expect("GRANTED", Duration::from_secs(5)).await;
    let took = granted_at - killed_at;
    println!("new leader killed -> previous-release successor granted in {took:?}");
    assert!(took < Duration::from_secs(1), "failover took {took:?}");
    drop(successor);

    // An old leader, a new successor: no link, no takeover while it lives, the session
    // timeout after it dies.
    let t = Duration::from_secs(4);
    let latch = unique("mixed-old-leads");
    let mut leader =
        Child::start_with(&old, &zk.connect_string(), &latch, "old", t, true, "").await;
    leader.expect("GRANTED", Duration::from_secs(10)).await;
    let mut successor =
        Child::start_with(&here, &zk.connect_string(), &latch, "new", t, true, "").await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    while let Ok((_, line)) = successor.lines.try_recv() {
        assert!(
            line != "LINKED true" && !line.starts_with("GRANTED"),
            "{line} while the previous-release leader lives"
        );
    }
    let killed_at = leader.kill();
    let (granted_at, _) = successor.expect("GRANTED", t * 3).await;
    let took = granted_at - killed_at;
    println!("previous-release leader killed -> new successor granted in {took:?} (T = {t:?})");
    assert!(
        took > t / 2,
        "granted {took:?} after the kill: a takeover without evidence"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_or_unreachable_endpoint_is_no_evidence() {
    capture_logs();
    let zk = shared();
    let latch = unique("no-evidence");
    let (ca, proxy) = client_behind_proxy(&zk.connect_string()).await;
    let a = elect(&ca, &latch, "a");
    let granted = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        a.liveness().endpoint.as_deref(),
        Some(proxy.connect_string().as_str())
    );
    let (cb, b) = linked_contender(&zk.connect_string(), &latch, "b").await;
    assert!(proxy.live_connections() >= 1);
    let mut a_events = a.events();
    assert!(matches!(
        a_events.next().await,
        Some(ElectionEvent::Granted(_))
    ));
    let still_leads = |what: &str| {
        assert!(a.has_leadership(), "{what}: the live leader was deposed");
        assert!(!b.has_leadership(), "{what}: the successor took over");
        assert_eq!(cb.metrics().forced_takeovers, 0, "{what}");
        assert_eq!(a.node().as_deref(), Some(granted.latch_node.as_str()));
    };

    // The endpoint is blackholed: the link stays open and silent.
    proxy.blackhole();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    still_leads("blackholed");
    assert!(b.liveness().linked, "a silent link is still a link");

    // The link breaks while blackholed: reconnects reach the proxy but never an answer, as
    // with an unreachable host. Longer than a whole confirmation burst of timeouts (3 x 1 s):
    // no evidence.
    proxy.cut();
    eventually(Duration::from_secs(2), "link down", || !b.liveness().linked).await;
    tokio::time::sleep(Duration::from_millis(4000)).await;
    still_leads("unreachable");

    // Something in between closes every new connection at once (a reset, not a refusal):
    // no evidence either. (Leaving the blackhole delivers a held hello: cut that link too.)
    proxy.refuse();
    proxy.cut();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    still_leads("reset by a middlebox");
    assert!(!b.liveness().linked);

    proxy.heal();
    eventually(Duration::from_secs(5), "link back after heal", || {
        b.liveness().linked
    })
    .await;
    still_leads("healed");
    assert!(a_events.try_next().is_none(), "no election event for a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn false_positive_deposes_a_live_leader_and_fencing_rejects_its_writes() {
    capture_logs();
    let zk = shared();
    let latch = unique("false-positive");
    let (ca, proxy) = client_behind_proxy(&zk.connect_string()).await;
    let a = elect(&ca, &latch, "a");
    let first = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let fence = a.fence().unwrap();
    let (cb, b) = linked_contender(&zk.connect_string(), &latch, "b").await;
    let mut a_events = a.events();
    assert!(matches!(
        a_events.next().await,
        Some(ElectionEvent::Granted(_))
    ));

    // An observer times the deletion (its watch fires with a's) and the round trip.
    let raw = zk::Client::connector()
        .with_session_timeout(T)
        .connect(&zk.connect_string())
        .await
        .unwrap();
    let mut rtts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        raw.check_stat("/").await.unwrap();
        rtts.push(t.elapsed());
    }
    rtts.sort();
    let rtt = rtts[5];
    let (stat, watcher) = raw.check_and_watch_stat(&first.latch_node).await.unwrap();
    assert!(stat.is_some());
    let deleted = tokio::spawn(async move {
        let ev = watcher.changed().await;
        (Instant::now(), ev.event_type)
    });

    // a's endpoint looks closed (listener gone, link cut) while a lives: b's link breaks and
    // its reconnects are refused. Wrong evidence, on purpose.
    tokio::task::spawn_blocking(move || drop(proxy))
        .await
        .unwrap();
    let revoked = a_events.next_timeout(Duration::from_secs(5)).await;
    let revoked_at = Instant::now();
    assert_eq!(
        revoked,
        Some(ElectionEvent::Revoked {
            reason: RevokeReason::NodeDeleted
        })
    );
    let (deleted_at, kind) = deleted.await.unwrap();
    assert_eq!(kind, zk::EventType::NodeDeleted);
    let lag = revoked_at.saturating_duration_since(deleted_at);
    println!("false positive: a revoked {lag:?} after the observer saw the deletion (round trip {rtt:?})");
    assert!(
        lag <= rtt + Duration::from_millis(50),
        "revoked {lag:?} after the deletion was visible (round trip {rtt:?})"
    );
    assert!(!a.has_leadership());

    // Whatever a writes from now on is rejected: by its own state, and by ZooKeeper itself
    // for the fence it took while leading (the check of its node fails).
    let target = format!("{latch}-stale-write");
    let create = || {
        vec![Op::Create {
            path: target.clone(),
            data: b"stale".to_vec(),
            mode: NodeMode::Persistent,
        }]
    };
    let err = a.fenced_multi(create()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader, "{err}");
    let err = fence.multi(create()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader, "{err}");
    assert!(err.to_string().contains("rejected by ZooKeeper"), "{err}");
    assert!(
        cb.get_data(&target).await.unwrap().is_none(),
        "nothing written"
    );

    let l = b.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(l.fencing_token > first.fencing_token);
    assert_eq!(cb.metrics().forced_takeovers, 1);
    assert!(captured_logs()
        .lines()
        .any(|line| line.contains("forced takeover") && line.contains(&first.latch_node)));
    // a joins again, behind b; one leader.
    eventually(Duration::from_secs(5), "a rejoined", || {
        a.node().is_some_and(|n| n != first.latch_node)
    })
    .await;
    assert!(b.has_leadership() && !a.has_leadership());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_of_five_hands_over_within_a_second_per_kill() {
    let zk = shared();
    let latch = unique("chain");
    let observer = client(&zk.connect_string(), T).await;
    let mut chain = Vec::new();
    for i in 0..5 {
        let mut c = Child::start(&zk.connect_string(), &latch, &format!("c{i}"), T, true).await;
        if i == 0 {
            c.expect("GRANTED", Duration::from_secs(10)).await;
        } else {
            c.expect("LINKED true", Duration::from_secs(10)).await;
        }
        chain.push(c);
    }
    let mut took = Vec::new();
    for i in 0..4 {
        let killed_at = chain[i].kill();
        let (granted_at, _) = chain[i + 1].expect("GRANTED", Duration::from_secs(5)).await;
        took.push(granted_at - killed_at);
        observer.sync(&latch).await.unwrap(); // deleted by another process: catch up first
        assert!(
            observer.get_data(&chain[i].node).await.unwrap().is_none(),
            "killed c{i}'s node is gone"
        );
    }
    println!("chain of 5: SIGKILL -> next granted: {took:?} (session timeout {T:?})");
    for (i, d) in took.iter().enumerate() {
        assert!(*d < Duration::from_secs(1), "hand-over {i} took {d:?}");
    }
    observer.sync(&latch).await.unwrap();
    let left = observer.get_children(&latch).await.unwrap().unwrap();
    assert_eq!(
        left.len(),
        1,
        "only the last contender's node is left: {left:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_contender_in_the_chain_works_without_links() {
    capture_logs();
    let zk = shared();
    let latch = unique("curator-chain");
    // doomed (zkha process, leads) -> b (zkha) -> curator -> d (zkha)
    let mut doomed = Child::start(&zk.connect_string(), &latch, "doomed", T, true).await;
    doomed.expect("GRANTED", Duration::from_secs(10)).await;
    let (cb, b) = linked_contender(&zk.connect_string(), &latch, "b").await;
    let mut curator = CuratorPeer::latch(&zk.connect_string(), T, &latch, "curator").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let curator_node = loop {
        let node = curator.ask("node", "NODE", Duration::from_secs(5)).unwrap();
        if node != "NODE none" {
            break node["NODE ".len()..].to_string();
        }
        assert!(Instant::now() < deadline, "Curator created no node");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        !curator_node.contains("zkha@"),
        "Curator's own naming: {curator_node}"
    );
    let cd = client(&zk.connect_string(), T).await;
    let d = elect(&cd, &latch, "d");
    eventually(Duration::from_secs(5), "d waits on Curator", || {
        d.node().is_some() && d.liveness().endpoint.is_some()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        d.liveness().peer,
        None,
        "a Curator predecessor names no endpoint: no link"
    );

    let mut b_events = b.events();
    let killed_at = doomed.kill();
    let took = next_grant(&mut b_events, Duration::from_secs(5)).await - killed_at;
    println!("SIGKILL of the leader, Curator in the chain -> b granted in {took:?}");
    assert!(took < Duration::from_secs(1), "failover took {took:?}");
    assert_eq!(cb.metrics().forced_takeovers, 1);
    // Curator reads b's participant id from b's node, as before.
    assert_eq!(
        curator
            .ask("leader", "LEADER_ID", Duration::from_secs(5))
            .unwrap(),
        "LEADER_ID b"
    );

    // Hand-overs through Curator work as always (graceful: Curator does not link).
    b.close().await;
    curator.expect("GRANTED", Duration::from_secs(5)).unwrap();
    assert!(!d.has_leadership());
    curator
        .ask("close", "CLOSED", Duration::from_secs(5))
        .unwrap();
    d.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert_eq!(cd.metrics().forced_takeovers, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_switched_off_means_plain_names_and_the_session_timeout() {
    let zk = shared();
    let latch = unique("off");
    let t = Duration::from_secs(3);
    let mut doomed = Child::start(&zk.connect_string(), &latch, "doomed", t, false).await;
    doomed.expect("GRANTED", Duration::from_secs(10)).await;
    assert!(
        !doomed.node.contains("zkha@"),
        "plain Curator name: {}",
        doomed.node
    );
    let c = Client::connect(options(&zk.connect_string(), t).liveness(LivenessOptions::disabled()))
        .await
        .unwrap();
    let survivor = elect(&c, &latch, "survivor");
    eventually(Duration::from_secs(5), "survivor joined", || {
        survivor.node().is_some()
    })
    .await;
    assert_eq!(survivor.liveness(), zkha::LivenessStatus::default());
    assert_eq!(c.liveness_address(), None);
    let mut events = survivor.events();
    let killed_at = doomed.kill();
    let took = next_grant(&mut events, t * 3).await - killed_at;
    println!("link off: SIGKILL -> granted in {took:?} (session timeout {t:?})");
    assert!(
        took > t / 2,
        "without the link, only session expiry frees the latch: {took:?}"
    );
    assert_eq!(c.metrics().forced_takeovers, 0);
}
