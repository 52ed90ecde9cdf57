//! Locks against real ZooKeeper: exclusion, Curator interop, faults, herd-freedom.

mod common;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use zkha::{ErrorKind, LostReason, NodeMode, Op};
use zkha_testkit::peers::CuratorPeer;
use zkha_testkit::{FaultProxy, ZkRequest};

async fn children(c: &zkha::Client, path: &str) -> Vec<String> {
    c.get_children(path).await.unwrap().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_exclusion_with_fenced_register() {
    let zk = shared();
    let t = Duration::from_secs(10);
    let lock_path = unique("mutex");
    let register = format!("{lock_path}-register");
    let admin = client(&zk.connect_string(), t).await;
    admin.put(&register, b"0:0").await.unwrap();
    let holders = Arc::new(AtomicUsize::new(0));
    let max_token = Arc::new(AtomicI64::new(0));
    let stale_rejected = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let c = client(&zk.connect_string(), t).await;
        let (lock_path, register) = (lock_path.clone(), register.clone());
        let (holders, max_token, stale_rejected) =
            (holders.clone(), max_token.clone(), stale_rejected.clone());
        tasks.push(tokio::spawn(async move {
            let m = c.mutex(&lock_path).unwrap();
            for _ in 0..100 {
                let g = m.acquire(Some(Duration::from_secs(60))).await.unwrap();
                assert_eq!(
                    holders.fetch_add(1, Ordering::SeqCst),
                    0,
                    "two holders at once"
                );
                let token = g.fencing_token();
                // The register accepts a write only with a token above every token it saw.
                let prev = max_token.fetch_max(token, Ordering::SeqCst);
                assert!(token > prev, "token {token} not above {prev}");
                let (data, _) = c.get_data(&register).await.unwrap().unwrap();
                let text = String::from_utf8(data).unwrap();
                let (_, value) = text.split_once(':').unwrap();
                let next = value.parse::<u64>().unwrap() + 1;
                let fence = g.fence().unwrap();
                fence
                    .multi(vec![Op::SetData {
                        path: register.clone(),
                        data: format!("{token}:{next}").into_bytes(),
                        version: None,
                    }])
                    .await
                    .unwrap();
                holders.fetch_sub(1, Ordering::SeqCst);
                g.release().await.unwrap();
                // The same fence after release: ZooKeeper rejects it (the node is gone).
                let stale = fence
                    .multi(vec![Op::SetData {
                        path: register.clone(),
                        data: b"stale".to_vec(),
                        version: None,
                    }])
                    .await;
                assert_eq!(stale.unwrap_err().kind(), ErrorKind::NotLeader);
                stale_rejected.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    admin.sync(&register).await.unwrap(); // admin may be on a lagging server
    admin.sync(&lock_path).await.unwrap();
    let (data, _) = admin.get_data(&register).await.unwrap().unwrap();
    let text = String::from_utf8(data).unwrap();
    assert!(text.ends_with(":800"), "final register {text}");
    assert_eq!(stale_rejected.load(Ordering::SeqCst), 800);
    assert!(
        children(&admin, &lock_path).await.is_empty(),
        "no lock node left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_mutex_and_zkha_mutex_exclude_each_other() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let path = unique("curator-mutex");
    let c = client(&zk.connect_string(), t).await;
    let m = c.mutex(&path).unwrap();
    let mut peer = CuratorPeer::mutex(&zk.connect_string(), t, &path).unwrap();

    // Curator holds: zkha waits and times out, then gets it after Curator releases.
    assert_eq!(
        peer.ask("acquire 5000", "ACQUIRED", Duration::from_secs(10))
            .unwrap(),
        "ACQUIRED"
    );
    let e = m
        .acquire(Some(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let waiting = tokio::spawn({
        let m = m.clone();
        async move { m.acquire(Some(Duration::from_secs(10))).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiting.is_finished(),
        "zkha must wait while Curator holds the lock"
    );
    peer.ask("release", "RELEASED", Duration::from_secs(5))
        .unwrap();
    let g = waiting.await.unwrap().unwrap();

    // zkha holds: Curator times out, then gets it after zkha releases.
    assert_eq!(
        peer.ask("acquire 500", "TIMEOUT", Duration::from_secs(5))
            .unwrap(),
        "TIMEOUT"
    );
    g.release().await.unwrap();
    assert_eq!(
        peer.ask("acquire 5000", "ACQUIRED", Duration::from_secs(10))
            .unwrap(),
        "ACQUIRED"
    );
    peer.ask("release", "RELEASED", Duration::from_secs(5))
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cut_after_create_leaves_no_orphan() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    for round in 0..3u64 {
        let path = unique("cut-create");
        let m = c.mutex(&path).unwrap();
        // Create the parent first so the create under test is the first request.
        admin.put(&path, b"").await.unwrap();
        proxy.delay(200);
        let acquire = tokio::spawn({
            let m = m.clone();
            async move { m.acquire(Some(Duration::from_secs(20))).await }
        });
        // The create reaches the server after 200 ms; its answer would come back at ~400 ms.
        tokio::time::sleep(Duration::from_millis(250 + 40 * round)).await;
        proxy.cut();
        proxy.heal();
        let result = acquire.await.unwrap();
        admin.sync(&path).await.unwrap(); // admin may be on another server: catch up first
        let nodes = children(&admin, &path).await;
        match &result {
            Ok(g) => {
                assert_eq!(nodes.len(), 1, "exactly our node: {nodes:?}");
                let (_, stat) = admin.get_data(g.node()).await.unwrap().unwrap();
                assert_eq!(
                    stat.ephemeral_owner,
                    c.session_id(),
                    "the adopted node is our session's"
                );
            }
            Err(e) => assert!(
                nodes.is_empty(),
                "failed acquire ({e}) left nodes: {nodes:?}"
            ),
        }
        if let Ok(g) = result {
            g.release().await.unwrap();
        }
        admin.sync(&path).await.unwrap();
        assert!(
            children(&admin, &path).await.is_empty(),
            "no orphan after release"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_during_connection_loss_completes_after_reconnect() {
    let zk = shared();
    let t = Duration::from_secs(8);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let path = unique("release-loss");
    let g = c.mutex(&path).unwrap().acquire(None).await.unwrap();
    let node = g.node().to_string();
    proxy.refuse();
    proxy.cut();
    let release = tokio::spawn(async move { g.release().await });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    admin.sync(&node).await.unwrap();
    assert!(
        admin.get_data(&node).await.unwrap().is_some(),
        "cannot be deleted while disconnected"
    );
    assert!(!release.is_finished());
    proxy.heal();
    tokio::time::timeout(Duration::from_secs(10), release)
        .await
        .expect("release finished")
        .unwrap()
        .unwrap();
    admin.sync(&node).await.unwrap(); // read what the other session just wrote
    assert!(
        admin.get_data(&node).await.unwrap().is_none(),
        "node gone after reconnect"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_waiters_each_release_wakes_exactly_one() {
    let zk = shared();
    let t = Duration::from_secs(20);
    let path = unique("herd");
    let mut clients = Vec::new();
    for _ in 0..4 {
        clients.push(client(&zk.connect_string(), t).await);
    }
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for i in 0..200usize {
        let m = clients[i % 4].mutex(&path).unwrap();
        let order = order.clone();
        tasks.push(tokio::spawn(async move {
            let g = m.acquire(Some(Duration::from_secs(120))).await.unwrap();
            order.lock().unwrap().push(i);
            g.release().await.unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    assert_eq!(order.lock().unwrap().len(), 200);
    let wakeups: u64 = clients.iter().map(|c| c.metrics().lock_wakeups).sum();
    let waits: u64 = clients.iter().map(|c| c.metrics().lock_waits).sum();
    // Every acquisition but the first waited once and was woken once: no herd.
    assert_eq!(waits, wakeups, "every wait ends with exactly one wake-up");
    assert!(
        wakeups <= 199,
        "{wakeups} wake-ups for 199 releases with a waiter behind them"
    );
    assert!(wakeups >= 150, "most acquisitions had to wait: {wakeups}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_and_cancellation_leave_no_node() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let path = unique("cancel");
    let m = c.mutex(&path).unwrap();
    let g = m.acquire(None).await.unwrap();
    let e = m
        .acquire(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    assert!(e.to_string().contains(&path), "{e}");
    // Dropped while waiting.
    let dropped = tokio::time::timeout(Duration::from_millis(300), m.acquire(None)).await;
    assert!(dropped.is_err());
    wait_children(&c, &path, 1).await;
    let token = g.fencing_token();
    g.release().await.unwrap();
    let g2 = m.acquire(Some(Duration::from_secs(2))).await.unwrap();
    assert!(
        g2.fencing_token() > token,
        "tokens grow across acquisitions"
    );
    drop(g2); // released in the background
    wait_children(&c, &path, 0).await;
}

/// Waits until `path` has `n` children.
async fn wait_children(c: &zkha::Client, path: &str, n: usize) {
    let start = Instant::now();
    loop {
        let now = children(c, path).await;
        if now.len() == n {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{path} has {now:?}, expected {n} nodes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_is_told_when_the_lease_runs_out() {
    let zk = shared();
    let t = Duration::from_secs(2);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let other = client(&zk.connect_string(), t).await;
    let path = unique("lost");
    let g = c.mutex(&path).unwrap().acquire(None).await.unwrap();
    assert!(g.is_held());
    proxy.blackhole();
    let start = Instant::now();
    let reason = tokio::time::timeout(t * 2, g.lost())
        .await
        .expect("told within 2T");
    assert_eq!(reason, LostReason::LeaseExpired);
    assert!(!g.is_held());
    assert!(
        start.elapsed() < t,
        "told before the session could expire: {:?}",
        start.elapsed()
    );
    // Another session gets the lock once the server expired the old one.
    let g2 = other
        .mutex(&path)
        .unwrap()
        .acquire(Some(t * 3))
        .await
        .unwrap();
    assert!(g2.fencing_token() > g.fencing_token());
    proxy.heal();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holder_is_told_when_its_node_is_deleted_or_the_client_closes() {
    let zk = shared();
    let t = Duration::from_secs(8);
    let c = client(&zk.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let path = unique("lost-reasons");
    let m = c.mutex(&path).unwrap();

    // Released first: nothing is reported afterwards, even when the client closes.
    let released = m.acquire(None).await.unwrap();
    let never = released.lost_future();
    released.release().await.unwrap();

    let g = m.acquire(None).await.unwrap();
    let lost = g.lost_future(); // starts watching the node
    admin.sync(g.node()).await.unwrap();
    admin.delete(g.node(), None).await.unwrap();
    let reason = tokio::time::timeout(Duration::from_secs(3), lost)
        .await
        .expect("told of the deletion");
    assert_eq!(reason, LostReason::NodeDeleted);
    assert!(!g.is_held());

    let g2 = m.acquire(None).await.unwrap();
    let lost = g2.lost_future();
    c.close().await;
    let reason = tokio::time::timeout(Duration::from_secs(3), lost)
        .await
        .expect("told of the close");
    assert_eq!(reason, LostReason::Closed);
    assert!(!g2.is_held());
    assert!(
        tokio::time::timeout(Duration::from_millis(200), never)
            .await
            .is_err(),
        "a released lock is never reported lost"
    );
    admin.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_write_lock_and_semaphore() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let path = unique("rw");
    let rw = c.read_write_lock(&path).unwrap();
    let r1 = rw.read(None).await.unwrap();
    let r2 = rw
        .read(Some(Duration::from_secs(2)))
        .await
        .expect("readers share");
    let e = rw
        .write(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "a writer waits for readers");
    let writer = tokio::spawn({
        let rw = rw.clone();
        async move { rw.write(Some(Duration::from_secs(10))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let e = rw.read(Some(Duration::from_millis(300))).await.unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::Timeout,
        "a reader queues behind a waiting writer"
    );
    r1.release().await.unwrap();
    assert!(!writer.is_finished());
    r2.release().await.unwrap();
    let w = writer.await.unwrap().unwrap();
    assert!(w.node().contains("__WRIT__"));
    w.release().await.unwrap();

    let sem_path = unique("sem");
    let sem = c.semaphore(&sem_path, 3).unwrap();
    let mut leases = Vec::new();
    for _ in 0..3 {
        leases.push(sem.acquire(Some(Duration::from_secs(2))).await.unwrap());
    }
    let e = sem
        .acquire(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout);
    let fourth = tokio::spawn({
        let sem = sem.clone();
        async move { sem.acquire(Some(Duration::from_secs(10))).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!fourth.is_finished());
    // Release the last lease, not the one the waiter's predecessor would be: it still wakes.
    leases.pop().unwrap().release().await.unwrap();
    let l4 = fourth.await.unwrap().unwrap();
    assert!(l4.is_held());
    assert!(c.semaphore(&sem_path, 0).is_err());
    // A create mode that fences on a lock works too.
    let f = l4.fence().unwrap();
    f.multi(vec![Op::Create {
        path: format!("{sem_path}-x"),
        data: vec![],
        mode: NodeMode::Persistent,
    }])
    .await
    .unwrap();
}

/// True if the ensemble's servers keep child views exact (3.9 and later send the zxid of
/// each watch event; 3.8 does not, and zkha then never uses a view).
fn views_supported(zk: &zkha_testkit::Ensemble) -> bool {
    !zk.zk_version().starts_with("3.8")
}

/// Acquires and releases `m` until an acquire came from the handle's child view (the view
/// opens in the background after a few uncontended acquires); on a server without views,
/// acquires a few times and checks that none used one.
async fn warm_up(c: &zkha::Client, m: &zkha::Mutex) {
    if !views_supported(shared()) {
        for _ in 0..10 {
            m.acquire(None).await.unwrap().release().await.unwrap();
        }
        assert_eq!(c.metrics().lock_view_acquires, 0, "a view on ZooKeeper 3.8");
        return;
    }
    let start = Instant::now();
    let before = c.metrics().lock_view_acquires;
    while c.metrics().lock_view_acquires == before {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "no acquire used the child view"
        );
        m.acquire(None).await.unwrap().release().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_handle_skips_the_listing_and_still_excludes() {
    let zk = shared();
    let t = Duration::from_secs(8);
    let c1 = client(&zk.connect_string(), t).await;
    let c2 = client(&zk.connect_string(), t).await;
    let path = unique("view");
    let m1 = c1.mutex(&path).unwrap();
    warm_up(&c1, &m1).await;

    // Another session holds the lock: the warm handle must see its node and wait.
    let held = c2.mutex(&path).unwrap().acquire(None).await.unwrap();
    let views = c1.metrics().lock_view_acquires;
    let e = m1
        .acquire(Some(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    let waiter = tokio::spawn({
        let m1 = m1.clone();
        async move { m1.acquire(Some(Duration::from_secs(5))).await }
    });
    wait_children(&c2, &path, 2).await;
    assert!(!waiter.is_finished(), "acquired while another session held");
    let token = held.fencing_token();
    held.release().await.unwrap();
    let g = waiter.await.unwrap().unwrap();
    assert!(g.fencing_token() > token);
    g.release().await.unwrap();
    assert_eq!(
        c1.metrics().lock_view_acquires,
        views + u64::from(views_supported(zk)),
        "the first contended acquire read the view (and saw the holder), then dropped it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_view_is_not_trusted_after_a_disconnect() {
    let zk = shared();
    let t = Duration::from_secs(8);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c1 = client(&proxy.connect_string(), t).await;
    let c2 = client(&zk.connect_string(), t).await;
    let path = unique("view-cut");
    let m1 = c1.mutex(&path).unwrap();
    warm_up(&c1, &m1).await;
    let session = c1.session_id();

    // c1 is cut off while c2 takes the lock; events sent meanwhile may never reach c1.
    proxy.blackhole();
    let held = c2.mutex(&path).unwrap().acquire(None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    proxy.heal();
    let views = c1.metrics().lock_view_acquires;
    let e = m1
        .acquire(Some(Duration::from_millis(500)))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "acquired while c2 held: {e}");
    assert_eq!(c1.session_id(), session, "same session after the cut");
    assert_eq!(c1.metrics().lock_view_acquires, views);
    held.release().await.unwrap();
    m1.acquire(Some(Duration::from_secs(5)))
        .await
        .unwrap()
        .release()
        .await
        .unwrap();
}

/// The paths session `session` watches on server `addr`.
fn watched_paths(addr: std::net::SocketAddr, session: i64) -> Vec<String> {
    zkha_testkit::four_letter::watched_paths(addr, session, Duration::from_secs(2)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_child_view_is_dropped_and_its_watch_removed() {
    let zk = shared();
    let addr = zk.node(1).addr();
    let c = client(&addr.to_string(), Duration::from_secs(8)).await;
    let path = unique("view-idle");
    let m = c.mutex(&path).unwrap();
    if views_supported(zk) {
        warm_up(&c, &m).await;
        assert!(
            watched_paths(addr, c.session_id()).contains(&path),
            "the view watches {path}"
        );
        // Idle for longer than 10 s: the view goes, and its watch with it.
        tokio::time::sleep(Duration::from_secs(12)).await;
        assert!(
            !watched_paths(addr, c.session_id()).contains(&path),
            "the idle view still watches {path}"
        );
        let before = c.metrics().lock_view_acquires;
        warm_up(&c, &m).await;
        assert!(
            c.metrics().lock_view_acquires > before,
            "a new view after use"
        );
    } else {
        // 3.8 sends no zxid with events: the first one disables views for the handle.
        for _ in 0..20 {
            m.acquire(None).await.unwrap().release().await.unwrap();
        }
        assert_eq!(
            c.metrics().lock_view_acquires,
            0,
            "no view on ZooKeeper 3.8"
        );
        assert!(!watched_paths(addr, c.session_id()).contains(&path));
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_that_gives_up_leaves_no_node_behind() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    // No retries: the join gives up after the first lost reply, and its node, created all
    // the same, must not stay at the head of the queue.
    let ca = zkha::Client::connect(
        options(&proxy.connect_string(), t).retry(zkha::RetryPolicy {
            max_retries: 0,
            ..Default::default()
        }),
    )
    .await
    .unwrap();
    let cb = client(&zk.connect_string(), t).await;
    let lock = unique("gives-up");
    cb.put(&lock, b"").await.unwrap();
    proxy.cut_before_reply(ZkRequest::Create, &format!("{lock}/"));
    proxy.cut_before_reply(ZkRequest::GetChildren, &lock);
    let m = ca.mutex(&lock).unwrap();
    let r = m.acquire(Some(Duration::from_secs(10))).await;
    assert_eq!(proxy.replies_cut(), 2);
    if let Ok(g) = r {
        g.release().await.unwrap();
    }
    let start = Instant::now();
    loop {
        let left = owned_by(&cb, &lock, ca.session_id()).await;
        if left.is_empty() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "a's stray node is still there: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let g = cb
        .mutex(&lock)
        .unwrap()
        .acquire(Some(Duration::from_secs(2)))
        .await
        .expect("another client locks: nothing of a's blocks it");
    g.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lost_replies_around_the_lock_create_adopt_the_node() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let ca = client(&proxy.connect_string(), t).await;
    let cb = client(&zk.connect_string(), t).await;
    let lock = unique("protected-lock");
    cb.put(&lock, b"").await.unwrap();
    proxy.cut_before_reply(ZkRequest::Create, &format!("{lock}/"));
    proxy.cut_before_reply(ZkRequest::GetChildren, &lock);
    let g = ca
        .mutex(&lock)
        .unwrap()
        .acquire(None)
        .await
        .expect("a single passing trouble does not fail an acquire without a timeout");
    assert_eq!(proxy.replies_cut(), 2);
    let mine = owned_by(&cb, &lock, ca.session_id()).await;
    assert_eq!(
        mine,
        vec![g.node().rsplit('/').next().unwrap().to_string()],
        "the created node was adopted"
    );
    g.release().await.unwrap();
    let other = cb
        .mutex(&lock)
        .unwrap()
        .acquire(Some(Duration::from_secs(2)))
        .await
        .expect("nothing of a's is left to block b");
    other.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_while_waiting_does_not_fail_the_acquire() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let holder = client(&zk.connect_string(), t).await;
    let waiter = client(&proxy.connect_string(), t).await;
    let lock = unique("wait-loss");
    let held = holder.mutex(&lock).unwrap().acquire(None).await.unwrap();
    // The waiter's watch on the holder's node: its reply is lost, once.
    proxy.cut_before_reply(ZkRequest::Exists, held.node());
    let m = waiter.mutex(&lock).unwrap();
    let acquiring = tokio::spawn(async move { m.acquire(None).await });
    eventually(Duration::from_secs(5), "the watch reply was cut", || {
        proxy.replies_cut() == 1
    })
    .await;
    waits_until_released(held, acquiring).await;
}

/// `acquiring` is still waiting after 300 ms while `held` is held, and is granted (not failed)
/// within 5 s of its release.
async fn waits_until_released(
    held: zkha::LockGuard,
    acquiring: tokio::task::JoinHandle<zkha::Result<zkha::LockGuard>>,
) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!acquiring.is_finished(), "acquired while held");
    held.release().await.unwrap();
    let g = tokio::time::timeout(Duration::from_secs(5), acquiring)
        .await
        .expect("granted after the release")
        .unwrap()
        .expect("granted, not failed");
    g.release().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_gives_up_a_lock_on_any_disconnect() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let strict = zkha::Client::connect(options(&proxy.connect_string(), t).strict(true))
        .await
        .unwrap();
    let other = client(&zk.connect_string(), t).await;
    let path = unique("strict-lock");
    let g = strict.mutex(&path).unwrap().acquire(None).await.unwrap();
    let lost = g.lost_future();
    let cut = Instant::now();
    proxy.cut();
    let reason = tokio::time::timeout(Duration::from_secs(2), lost)
        .await
        .expect("lost at once, not at the lease's end");
    assert_eq!(reason, LostReason::Suspended);
    assert!(
        cut.elapsed() < Duration::from_secs(1),
        "{:?}",
        cut.elapsed()
    );
    assert!(!g.is_held());
    // Its node goes once reconnected: another client gets the lock.
    let g2 = other
        .mutex(&path)
        .unwrap()
        .acquire(Some(Duration::from_secs(5)))
        .await
        .expect("the lock passes on");
    g2.release().await.unwrap();
}

/// `Duration::MAX` (what a binding passes for "no limit") is no limit: the acquire does not
/// panic computing its deadline, and it still waits for a holder.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_past_any_instant_waits_without_limit() {
    let zk = shared();
    let c1 = client(&zk.connect_string(), Duration::from_secs(8)).await;
    let c2 = client(&zk.connect_string(), Duration::from_secs(8)).await;
    let path = unique("max-limit");
    let g = c1
        .mutex(&path)
        .unwrap()
        .acquire(Some(Duration::MAX))
        .await
        .expect("a free lock with Duration::MAX");
    let waiter = tokio::spawn({
        let m = c2.mutex(&path).unwrap();
        async move { m.acquire(Some(Duration::MAX)).await }
    });
    waits_until_released(g, waiter).await;
}

/// A new handle for every acquire (what a binding's `client.lock(path)` per `with` makes)
/// still gets the child view's one-round-trip acquire: the view belongs to the client's path,
/// not to one handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_made_per_acquire_share_the_child_view() {
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(8)).await;
    let path = unique("view-per-acquire");
    let before = c.metrics().lock_view_acquires;
    let start = Instant::now();
    let mut acquires = 0;
    while c.metrics().lock_view_acquires == before && start.elapsed() < Duration::from_secs(5) {
        let g = c.mutex(&path).unwrap().acquire(None).await.unwrap();
        g.release().await.unwrap();
        acquires += 1;
    }
    if views_supported(zk) {
        assert!(
            c.metrics().lock_view_acquires > before,
            "no acquire of {acquires} fresh handles used the child view"
        );
    } else {
        assert_eq!(
            c.metrics().lock_view_acquires,
            before,
            "a view on ZooKeeper 3.8"
        );
    }
}
