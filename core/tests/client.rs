//! The client: connection states, the lease, bad input, metrics, Flink configuration files.

mod common;

use std::time::{Duration, Instant};

use common::*;
use zkha::flink::FlinkConfig;
use zkha::{Client, ClientOptions, ConnectionState, ElectionOptions, ErrorKind};
use zkha_testkit::FaultProxy;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn states_connected_suspended_reconnected_with_the_lease() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    assert_eq!(
        c.session_timeout(),
        Some(t),
        "negotiated timeout is visible"
    );
    let mut states = c.state_events();
    assert!(
        matches!(states.next().await, Some(ConnectionState::Connected { session_timeout, .. }) if session_timeout == t)
    );
    let session = c.session_id();
    let safe = c.safe_until().unwrap();
    assert!(
        safe > Instant::now() && safe <= Instant::now() + t,
        "lease within T"
    );

    proxy.cut();
    let cut_at = Instant::now();
    let s = states.next_timeout(Duration::from_secs(3)).await.unwrap();
    let ConnectionState::Suspended { safe_until } = s else {
        panic!("expected Suspended, got {s:?}")
    };
    assert!(
        safe_until > cut_at && safe_until < cut_at + t,
        "safe_until within T of the cut"
    );
    assert_eq!(
        states.next_timeout(Duration::from_secs(3)).await,
        Some(ConnectionState::Reconnected {
            session_id: session
        })
    );
    assert!(
        c.safe_until().unwrap() > safe_until,
        "the lease was renewed"
    );
    c.close().await;
    assert_eq!(
        states.next_timeout(Duration::from_secs(3)).await,
        Some(ConnectionState::Closed)
    );
    assert_eq!(states.next().await, None, "the stream ends after Closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_the_client_removes_its_ephemeral_nodes_at_once() {
    let zk = shared();
    let t = Duration::from_secs(10);
    let c = client(&zk.connect_string(), t).await;
    let other = client(&zk.connect_string(), t).await;
    let latch = unique("close-client");
    let e = elect(&c, &latch, "a");
    let l = e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let start = Instant::now();
    drop(e);
    c.close().await;
    other.sync(&l.latch_node).await.unwrap();
    assert!(other.get_data(&l.latch_node).await.unwrap().is_none());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "not waiting for the session timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_the_session_while_guards_and_fences_are_alive() {
    let zk = shared();
    let t = Duration::from_secs(10);
    let c = client(&zk.connect_string(), t).await;
    let other = client(&zk.connect_string(), t).await;
    let lock = unique("close-guard");
    let guard = c.mutex(&lock).unwrap().acquire(None).await.unwrap();
    let lock_fence = guard.fence().unwrap();
    let latch = unique("close-fence");
    let e = elect(&c, &latch, "a");
    let l = e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let leader_fence = e.fence().unwrap();
    // Another client waits for the lock the guard holds.
    let waiter = other.mutex(&lock).unwrap();
    let waiting = tokio::spawn(async move { waiter.acquire(Some(Duration::from_secs(9))).await });
    tokio::time::sleep(Duration::from_millis(200)).await;

    let start = Instant::now();
    c.close().await;
    let closed_in = start.elapsed();
    let granted = waiting.await.unwrap();
    let granted_in = start.elapsed();
    assert!(granted.is_ok(), "the waiter got the lock: {granted:?}");
    assert!(
        closed_in < Duration::from_secs(1) && granted_in < Duration::from_secs(1),
        "close took {closed_in:?}, the waiter was granted after {granted_in:?} \
         (one round trip, not the session timeout of {t:?})"
    );
    other.sync(&l.latch_node).await.unwrap();
    assert!(other.get_data(&l.latch_node).await.unwrap().is_none());
    assert!(!guard.is_held());
    // The handles still alive write nothing.
    let probe = format!("{lock}-probe");
    for fence in [&lock_fence, &leader_fence] {
        let r = fence
            .multi(vec![zkha::Op::Create {
                path: probe.clone(),
                data: vec![],
                mode: zkha::NodeMode::Persistent,
            }])
            .await;
        assert!(r.is_err(), "a fence of a closed client wrote: {r:?}");
    }
    assert!(other.get_data(&probe).await.unwrap().is_none());
    drop((guard, e));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gives_typed_errors_naming_the_input() {
    for bad in ["", "host:99999", "a:1,,b:2", "h:1/chroot/"] {
        let e = Client::connect(ClientOptions::new(bad)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad:?}: {e}");
        assert!(e.to_string().contains(&format!("{bad:?}")), "{bad:?}: {e}");
    }
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(4)).await;
    for (path, frag) in [
        ("relative/latch", "absolute"),
        ("/a//b", "empty segment"),
        ("/a/", "end with"),
        ("", "empty"),
    ] {
        let e = c
            .election(path, ElectionOptions::new("x"))
            .err()
            .expect("an error");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(
            e.to_string().contains("latch path") && e.to_string().contains(frag),
            "{path:?}: {e}"
        );
    }
    let e = c
        .election("/ok", ElectionOptions::new(""))
        .err()
        .expect("an error");
    assert!(e.to_string().contains("participant id"), "{e}");
    let e = c.watch_leader_info("nope").err().expect("an error");
    assert!(e.to_string().contains("\"nope\""), "{e}");
    // Unreachable servers: a clear error after the retries, not a hang.
    let start = Instant::now();
    let opts = ClientOptions::new("127.0.0.1:1")
        .session_timeout(Duration::from_millis(500))
        .connection_timeout(Duration::from_millis(200))
        .retry(zkha::RetryPolicy {
            max_retries: 1,
            base_wait: Duration::from_millis(50),
            max_wait: Duration::from_millis(50),
        });
    let e = Client::connect(opts).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConnectionLoss);
    assert!(
        e.to_string().contains("127.0.0.1:1") && e.to_string().contains("2 attempts"),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
    // A zero retry wait would let retry loops spin.
    let e = Client::connect(
        ClientOptions::new(zk.connect_string()).retry(zkha::RetryPolicy {
            max_retries: 3,
            base_wait: Duration::ZERO,
            max_wait: Duration::from_secs(1),
        }),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    assert!(e.to_string().contains("retry-wait"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_config_file_drives_the_client() {
    let zk = shared();
    let dir = std::env::temp_dir().join(format!("zkha-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.yaml"),
        format!(
            "high-availability:\n  type: zookeeper\n  storageDir: file:///tmp/ha\n  cluster-id: /conf-test\n  zookeeper:\n    quorum: {}\n    client:\n      session-timeout: 3 s\n",
            zk.connect_string()
        ),
    )
    .unwrap();
    let conf = FlinkConfig::load(&dir).unwrap();
    let opts = conf.client_options().unwrap();
    assert_eq!(opts.session_timeout, Duration::from_secs(3));
    let c = Client::connect(opts).await.unwrap();
    assert_eq!(c.session_timeout(), Some(Duration::from_secs(3)));
    let layout = conf.layout().unwrap();
    assert_eq!(layout.latch(), "/flink/conf-test/leader/latch");
    assert_eq!(conf.storage_dir().unwrap(), "file:///tmp/ha");
    let e = c
        .election(&layout.latch(), ElectionOptions::new("jm"))
        .unwrap();
    e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();

    std::fs::write(
        dir.join("config.yaml"),
        "high-availability.zkha.strickt: true\nhigh-availability.zookeeper.quorum: a:1\n",
    )
    .unwrap();
    let e = FlinkConfig::load(&dir)
        .unwrap()
        .client_options()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    assert!(
        e.to_string().contains("high-availability.zkha.strickt"),
        "{e}"
    );
    let e = FlinkConfig::load(dir.join("missing.yaml")).unwrap_err();
    assert!(e.to_string().contains("missing.yaml"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_in_flight_when_the_connection_drops_are_retried() {
    let zk = shared();
    let t = Duration::from_secs(10);
    let writer = client(&zk.connect_string(), t).await;
    let root = unique("retried-reads");
    writer.put(&format!("{root}/value"), b"v1").await.unwrap();
    let store = writer.pointer_store(&format!("{root}/store")).unwrap();
    store.add_and_lock("entry", b"pointer").await.unwrap();
    writer
        .counter(&format!("{root}/counter"), zkha::CounterFormat::Int64, 7)
        .unwrap()
        .get()
        .await
        .unwrap();

    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let session = c.session_id();
    c.sync(&root).await.unwrap();
    let reader_store = c.pointer_store(&format!("{root}/store")).unwrap();
    let counter = c
        .counter(&format!("{root}/counter"), zkha::CounterFormat::Int64, 0)
        .unwrap();
    // The requests leave but get no answer; then the connection is cut under them.
    proxy.blackhole();
    let value = tokio::spawn({
        let c = c.clone();
        let p = format!("{root}/value");
        async move { c.get_data(&p).await }
    });
    let children = tokio::spawn({
        let c = c.clone();
        let r = root.clone();
        async move { c.get_children(&r).await }
    });
    let entries = tokio::spawn(async move { reader_store.get_all_and_lock().await });
    let count = tokio::spawn(async move { counter.get().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.cut();
    proxy.heal();
    let (data, _) = value.await.unwrap().expect("get_data retried").unwrap();
    assert_eq!(data, b"v1");
    let names = children
        .await
        .unwrap()
        .expect("get_children retried")
        .unwrap();
    assert_eq!(names, ["counter", "store", "value"]);
    let entries = entries.await.unwrap().expect("get_all_and_lock retried");
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].data, b"pointer");
    assert_eq!(count.await.unwrap().expect("counter get retried").0, 7);
    assert_eq!(c.session_id(), session, "the same session carried on");
    c.close().await;
    writer.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_create_and_delete_under_a_namespace() {
    let zk = shared();
    let ns = unique("raw-ns");
    let c = Client::connect(options(&zk.connect_string(), Duration::from_secs(10)).namespace(&ns))
        .await
        .unwrap();
    c.put("/q/base", b"").await.unwrap();
    let (p1, st1) = c
        .create("/q/item-", b"one", zkha::NodeMode::EphemeralSequential)
        .await
        .unwrap();
    let (p2, _) = c
        .create("/q/item-", b"two", zkha::NodeMode::EphemeralSequential)
        .await
        .unwrap();
    assert!(
        p1.starts_with("/q/item-") && p2.starts_with("/q/item-"),
        "{p1} {p2}"
    );
    assert!(p2 > p1, "sequence suffixes grow: {p1} {p2}");
    assert_eq!(st1.ephemeral_owner, c.session_id());
    let (data, _) = c.get_data(&p1).await.unwrap().unwrap();
    assert_eq!(data, b"one");
    let dup = c.create("/q/base", b"", zkha::NodeMode::Persistent).await;
    assert_eq!(dup.unwrap_err().kind(), ErrorKind::NodeExists);
    let missing_parent = c.create("/nope/x", b"", zkha::NodeMode::Persistent).await;
    assert_eq!(missing_parent.unwrap_err().kind(), ErrorKind::NoNode);

    let wrong = c.delete(&p1, Some(st1.version + 1)).await;
    assert_eq!(wrong.unwrap_err().kind(), ErrorKind::BadVersion);
    c.delete(&p1, Some(st1.version)).await.unwrap();
    assert!(c.get_data(&p1).await.unwrap().is_none());
    assert_eq!(
        c.delete(&p1, None).await.unwrap_err().kind(),
        ErrorKind::NoNode
    );
    let not_empty = c.delete("/q", None).await;
    assert_eq!(not_empty.unwrap_err().kind(), ErrorKind::NotEmpty);

    // The nodes live under the namespace.
    let plain = client(&zk.connect_string(), Duration::from_secs(10)).await;
    plain.sync(&ns).await.unwrap();
    let under = plain
        .get_children(&format!("{ns}/q"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(under.len(), 2, "{under:?}");
    c.close().await;
    plain.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versioned_node_operations_and_fenced_put_and_delete() {
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(10)).await;
    let base = unique("nodes");
    let p = format!("{base}/n");
    assert_eq!(c.exists(&p).await.unwrap(), None);
    c.put(&p, b"a").await.unwrap();
    let st = c.exists(&p).await.unwrap().expect("exists");
    assert_eq!((st.version, st.data_length), (0, 1));
    let st = c.set_data(&p, b"bb", Some(0)).await.unwrap();
    assert_eq!((st.version, st.data_length), (1, 2));
    let stale = c.set_data(&p, b"c", Some(0)).await;
    assert_eq!(stale.unwrap_err().kind(), ErrorKind::BadVersion);
    let gone = c.set_data(&format!("{base}/none"), b"c", None).await;
    assert_eq!(gone.unwrap_err().kind(), ErrorKind::NoNode);

    // Fenced put creates (with parents), then overwrites; a fenced delete checks the version.
    let g = c
        .mutex(&format!("{base}/lock"))
        .unwrap()
        .acquire(None)
        .await
        .unwrap();
    let fence = g.fence().unwrap();
    let deep = format!("{base}/a/b/value");
    assert_eq!(fence.put(&deep, b"1").await.unwrap().version, 0);
    assert_eq!(fence.put(&deep, b"2").await.unwrap().version, 1);
    let wrong = fence.delete(&deep, Some(0)).await;
    assert_eq!(wrong.unwrap_err().kind(), ErrorKind::BadVersion);
    assert_eq!(
        fence
            .delete(&format!("{base}/none"), None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NoNode
    );
    // Once the grant is gone, neither writes.
    g.release().await.unwrap();
    let refused = fence.put(&deep, b"stale").await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotLeader, "{refused}");
    let refused = fence
        .put(&format!("{base}/fresh"), b"stale")
        .await
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotLeader, "{refused}");
    let refused = fence.delete(&deep, None).await.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::NotLeader, "{refused}");
    let (data, st) = c.get_data(&deep).await.unwrap().unwrap();
    assert_eq!((data.as_slice(), st.version), (&b"2"[..], 1));
    assert_eq!(c.exists(&format!("{base}/fresh")).await.unwrap(), None);
    c.delete_recursive(&base).await.unwrap();
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_fails_a_read_within_about_one_operation_timeout() {
    let zk = shared();
    let t = Duration::from_secs(2);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let path = unique("partitioned-read");
    c.put(&path, b"x").await.unwrap();
    proxy.blackhole();
    let start = Instant::now();
    let r = c.get_data(&path).await;
    let took = start.elapsed();
    println!("read through a blackhole failed after {took:?}: {r:?}");
    assert!(
        r.is_err(),
        "a read through a blackhole cannot succeed: {r:?}"
    );
    // Connection loss is noticed within T, the one repeat waits at most T: no multiplying.
    assert!(took < t * 5 / 2, "the read took {took:?} (T = {t:?})");
    proxy.heal();
    c.close().await;
}
