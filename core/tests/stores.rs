//! Pointer store, counter and config watch against real ZooKeeper.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use zkha::{CounterFormat, ErrorKind, FenceSource};
use zkha_testkit::{FaultProxy, ZkRequest};

/// Two clients on the shared ensemble (6 s sessions) in one election under `base`: the first
/// leads, the second waits.
async fn leader_and_standby(
    base: &str,
) -> (zkha::Client, zkha::Election, zkha::Client, zkha::Election) {
    let zk = shared();
    let t = Duration::from_secs(6);
    let (c1, c2) = (
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    );
    let latch = format!("{base}/leader/latch");
    let e1 = elect(&c1, &latch, "jm-1");
    e1.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let e2 = elect(&c2, &latch, "jm-2");
    (c1, e1, c2, e2)
}

/// `c` leads the election under `base`; its store `<base>/checkpoints`, fenced by that
/// election, holds entry `0000000000000000001` (`cp1`). The election stays alive with the
/// returned handle.
async fn leading_store_with_an_entry(
    c: &zkha::Client,
    base: &str,
) -> (zkha::Election, String, zkha::PointerStore) {
    let e = elect(c, &format!("{base}/leader/latch"), "jm-1");
    e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let root = format!("{base}/checkpoints");
    let store = c
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(e.clone()));
    store
        .add_and_lock("0000000000000000001", b"cp1")
        .await
        .unwrap();
    (e, root, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_owners_lock_one_entry() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let (c1, c2) = (
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    );
    let root = unique("ptr");
    let s1 = c1.pointer_store(&root).unwrap();
    let s2 = c2.pointer_store(&root).unwrap();
    s1.add_and_lock("0000000000000000001", b"checkpoint-1")
        .await
        .unwrap();
    let e = s2.get_and_lock("0000000000000000001").await.unwrap();
    assert_eq!(e.data, b"checkpoint-1");
    // Flink's layout: entry/locks/<owner> ephemeral, one per owner.
    c1.sync(&root).await.unwrap(); // see s2's lock, written through another session
    let locks = c1
        .get_children(&format!("{root}/0000000000000000001/locks"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        locks.iter().cloned().collect::<BTreeSet<_>>(),
        [s1.owner_id().to_string(), s2.owner_id().to_string()].into()
    );
    let (_, stat) = c1
        .get_data(&format!(
            "{root}/0000000000000000001/locks/{}",
            s1.owner_id()
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stat.ephemeral_owner, c1.session_id());

    assert!(
        !s1.release_and_try_remove("0000000000000000001")
            .await
            .unwrap(),
        "s2 still holds it"
    );
    assert_eq!(
        s2.exists("0000000000000000001").await.unwrap(),
        Some(0),
        "entry stays"
    );
    assert!(
        s2.release_and_try_remove("0000000000000000001")
            .await
            .unwrap(),
        "last owner removes it"
    );
    c1.sync(&root).await.unwrap(); // see s2's removal, made through another session
    assert_eq!(s1.exists("0000000000000000001").await.unwrap(), None);
    assert!(c1
        .get_data(&format!("{root}/0000000000000000001"))
        .await
        .unwrap()
        .is_none());
    // Removing what is gone is fine.
    assert!(s1
        .release_and_try_remove("0000000000000000001")
        .await
        .unwrap());
}

/// The leader subsuming an entry it alone holds (Flink does it with every checkpoint) removes
/// it without syncing or listing the entry's locks: a `getData` and three transactions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_removes_an_entry_it_alone_holds_without_listing_its_locks() {
    let zk = shared();
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), Duration::from_secs(6)).await;
    let (_e, root, store) = leading_store_with_an_entry(&c, &unique("subsume")).await;
    // A sync of anything in the store would have its reply cut (and be counted).
    proxy.cut_before_reply(ZkRequest::Sync, &root);
    assert!(store
        .release_and_try_remove("0000000000000000001")
        .await
        .unwrap());
    assert_eq!(proxy.replies_cut(), 0, "the release synced the store");
    assert_eq!(store.exists("0000000000000000001").await.unwrap(), None);
}

/// Adding an entry to a store whose root exists (Flink does it with every checkpoint) is one
/// multi: no read of the root or the entry first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_add_is_one_multi_without_reads() {
    let zk = shared();
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), Duration::from_secs(6)).await;
    let root = unique("add-one-multi");
    let store = c.pointer_store(&root).unwrap();
    // The first add creates the root too.
    store
        .add_and_lock("0000000000000000001", b"cp1")
        .await
        .unwrap();
    // An exists of anything in the store would have its reply cut (and be counted).
    proxy.cut_before_reply(ZkRequest::Exists, &root);
    store
        .add_and_lock("0000000000000000002", b"cp2")
        .await
        .unwrap();
    assert_eq!(proxy.replies_cut(), 0, "the add read before writing");
    // Checked past the proxy (whose armed cut would take any read in the store).
    let direct = client(&zk.connect_string(), Duration::from_secs(6)).await;
    direct.sync(&root).await.unwrap();
    let handles = direct
        .pointer_store(&root)
        .unwrap()
        .get_all_handles()
        .await
        .unwrap();
    assert_eq!(handles.len(), 2, "{handles:?}");
}

/// A process that does not lead releases its own lock on an entry the leader still holds: no
/// fenced write is needed (none is tried, none counted as refused), `false`, and the entry
/// stays until the leader lets it go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standby_releases_its_lock_on_an_entry_the_leader_still_holds() {
    let base = unique("standby-release");
    let (c1, e1, c2, e2) = leader_and_standby(&base).await;
    let root = format!("{base}/checkpoints");
    let leader = c1
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(e1.clone()));
    let standby = c2
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(e2.clone()));
    leader
        .add_and_lock("0000000000000000001", b"cp1")
        .await
        .unwrap();
    standby.get_and_lock("0000000000000000001").await.unwrap();
    let refused = c2.metrics().fenced_rejections;
    assert!(!standby
        .release_and_try_remove("0000000000000000001")
        .await
        .unwrap());
    assert_eq!(
        c2.metrics().fenced_rejections,
        refused,
        "a fenced write was tried and refused"
    );
    c1.sync(&root).await.unwrap(); // see c2's release
    let locks = c1
        .get_children(&format!("{root}/0000000000000000001/locks"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(locks, vec![leader.owner_id().to_string()]);
    assert!(leader
        .release_and_try_remove("0000000000000000001")
        .await
        .unwrap());
    assert_eq!(leader.exists("0000000000000000001").await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replace_exists_and_marked_for_deletion() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let root = unique("ptr-replace");
    let s = c.pointer_store(&root).unwrap();
    let other = c.pointer_store(&root).unwrap();
    s.add_and_lock("plan", b"v1").await.unwrap();
    let e = s.add_and_lock("plan", b"again").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NodeExists);
    assert!(e.to_string().contains("plan"), "{e}");
    let v = s.exists("plan").await.unwrap().unwrap();
    let v2 = s.replace("plan", v, b"v2").await.unwrap();
    assert_eq!(v2, v + 1);
    assert_eq!(
        s.replace("plan", v, b"stale").await.unwrap_err().kind(),
        ErrorKind::BadVersion
    );
    let e = other
        .replace("plan", v2, b"not locked by other")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoNode, "{e}");
    assert_eq!(s.get_and_lock("plan").await.unwrap().data, b"v2");

    // Marked for deletion (its `locks` node gone): invisible, and a new add replaces it.
    c.delete_recursive(&format!("{root}/plan/locks"))
        .await
        .unwrap();
    assert_eq!(s.exists("plan").await.unwrap(), None);
    assert_eq!(
        s.get_and_lock("plan").await.unwrap_err().kind(),
        ErrorKind::NoNode
    );
    assert!(s.get_all_and_lock().await.unwrap().is_empty());
    assert_eq!(
        s.get_all_handles().await.unwrap(),
        vec!["plan".to_string()],
        "handles include marked entries"
    );
    s.add_and_lock("plan", b"v3").await.unwrap();
    assert_eq!(s.get_and_lock("plan").await.unwrap().data, b"v3");

    s.release_all().await.unwrap();
    assert!(c
        .get_children(&format!("{root}/plan/locks"))
        .await
        .unwrap()
        .unwrap()
        .is_empty());
    s.clear_entries().await.unwrap();
    assert!(
        c.get_data(&root).await.unwrap().is_none(),
        "clear_entries removes the store root"
    );
    for bad in ["", "a/b"] {
        assert_eq!(
            s.add_and_lock(bad, b"x").await.unwrap_err().kind(),
            ErrorKind::InvalidArgument
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversize_payload_is_refused_with_size_and_limit() {
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(6)).await;
    let root = unique("ptr-big");
    let s = c.pointer_store(&root).unwrap();
    let big = vec![7u8; 2 * 1024 * 1024];
    let e = s.add_and_lock("big", &big).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    assert!(
        e.to_string().contains("2097152")
            && e.to_string().contains("1047552")
            && e.to_string().contains("big"),
        "{e}"
    );
    assert!(
        s.get_all_handles().await.unwrap().is_empty(),
        "nothing written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_all_and_lock_is_consistent_during_concurrent_adds() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let (c1, c2) = (
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    );
    let root = unique("ptr-consistent");
    let writer = c1.pointer_store(&root).unwrap();
    let reader = c2.pointer_store(&root).unwrap();
    writer.add_and_lock("e-00000", b"0").await.unwrap();
    let adder = tokio::spawn(async move {
        // Adds in bursts with short pauses (as checkpoints come): a read retries while the
        // set changes under it and returns in a pause.
        for i in 1..150 {
            writer
                .add_and_lock(&format!("e-{i:05}"), i.to_string().as_bytes())
                .await
                .unwrap();
            if i % 5 == 0 {
                tokio::time::sleep(Duration::from_millis(30)).await;
            }
        }
    });
    let mut reads = 0;
    while !adder.is_finished() {
        let entries = reader.get_all_and_lock().await.unwrap();
        let names: Vec<String> = entries.iter().map(|e| e.name.clone()).collect();
        let expect: Vec<String> = (0..names.len()).map(|i| format!("e-{i:05}")).collect();
        assert_eq!(names, expect, "a consistent prefix of the adds");
        for e in &entries {
            assert_eq!(
                e.data,
                e.name[2..]
                    .trim_start_matches('0')
                    .parse::<u32>()
                    .unwrap_or(0)
                    .to_string()
                    .as_bytes()
            );
        }
        reads += 1;
    }
    adder.await.unwrap();
    assert!(reads > 1);
    c2.sync(&root).await.unwrap(); // the adds came through another session
    assert_eq!(reader.get_all_and_lock().await.unwrap().len(), 150);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_leaders_store_and_counter_writes_are_rejected() {
    let base = unique("fenced-store");
    let (c1, e1, _c2, e2) = leader_and_standby(&base).await;
    let source: Arc<dyn FenceSource> = Arc::new(e1.clone());
    let store = c1
        .pointer_store(&format!("{base}/checkpoints"))
        .unwrap()
        .fenced_by(source.clone());
    let counter = c1
        .counter(
            &format!("{base}/checkpoint_id_counter"),
            CounterFormat::Int32,
            1,
        )
        .unwrap()
        .fenced_by(source);
    store
        .add_and_lock("0000000000000000001", b"cp1")
        .await
        .unwrap();
    assert_eq!(counter.get_and_increment().await.unwrap(), 1);

    e1.close().await; // jm-1 steps down; its session lives on
    e2.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let e = store
        .add_and_lock("0000000000000000002", b"cp2")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotLeader);
    let e = counter.get_and_increment().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotLeader);
    assert_eq!(
        store.exists("0000000000000000002").await.unwrap(),
        None,
        "nothing written"
    );
    assert_eq!(counter.get().await.unwrap().0, 2, "counter unchanged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposed_leader_cannot_clear_the_store() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let (c1, c2) = (
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    );
    let base = unique("clear-fenced");
    let latch = format!("{base}/leader/latch");
    let e1 = elect(&c1, &latch, "jm-1");
    let l1 = e1
        .wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let root = format!("{base}/checkpoints");
    // One store fenced by the grant it was given (a fixed fence), one by the election.
    let fixed: Arc<dyn FenceSource> = Arc::new(e1.fence().unwrap());
    let by_fence = c1.pointer_store(&root).unwrap().fenced_by(fixed);
    let by_election = c1
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(e1.clone()));
    for i in 1..=5 {
        by_fence
            .add_and_lock(&format!("{i:019}"), b"cp")
            .await
            .unwrap();
    }
    // jm-2 waits behind jm-1; someone deletes jm-1's latch node: jm-2 leads, jm-1 joins
    // again behind it, whatever it still holds.
    let e2 = elect(&c2, &latch, "jm-2");
    eventually(Duration::from_secs(5), "jm-2 queued", || {
        e2.node().is_some()
    })
    .await;
    c2.delete(&l1.latch_node, None).await.unwrap();
    e2.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    for store in [&by_fence, &by_election] {
        let e = store.clear_entries().await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotLeader, "{e}");
    }
    c2.sync(&root).await.unwrap();
    let left = c2.get_children(&root).await.unwrap().unwrap_or_default();
    assert_eq!(left.len(), 5, "every entry is still there: {left:?}");
    for name in &left {
        let locks = format!("{root}/{name}/locks");
        assert!(
            c2.get_data(&locks).await.unwrap().is_some(),
            "{locks} deleted"
        );
    }

    // The current leader clears it all, locks of other owners included.
    let store2 = c2
        .pointer_store(&root)
        .unwrap()
        .fenced_by(Arc::new(e2.clone()));
    store2.clear_entries().await.unwrap();
    assert_eq!(c2.get_children(&root).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_cas_increment_and_flink_format() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let path = unique("counter");
    let counter = c.counter(&path, CounterFormat::Int32, 1).unwrap();
    assert_eq!(counter.get().await.unwrap(), (1, 0));
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let c = client(&zk.connect_string(), t).await;
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let counter = c.counter(&path, CounterFormat::Int32, 1).unwrap();
            let mut got = Vec::new();
            for _ in 0..25 {
                got.push(counter.get_and_increment().await.unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    assert_eq!(
        all,
        (1..=100).collect::<Vec<i64>>(),
        "every value handed out once"
    );
    c.sync(&path).await.unwrap(); // the last increments came through other sessions
    let (v, version) = counter.get().await.unwrap();
    assert_eq!(v, 101);
    assert!(
        !counter.compare_and_set(version - 1, 7).await.unwrap(),
        "stale version"
    );
    assert!(counter.compare_and_set(version, 4).await.unwrap());
    // Byte for byte what Flink wrote for a counter at 4.
    let fixture = std::fs::read(format!(
        "{}/tests/fixtures/flink-2.3.0/flink_e2e_jobs_689f4a2104595f78f8552e76fa3f059d_checkpoint_id_counter.bin",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(c.get_data(&path).await.unwrap().unwrap().0, fixture);
    counter.set(i32::MAX as i64).await.unwrap();
    let e = counter.get_and_increment().await.unwrap_err();
    assert!(e.to_string().contains("4-byte"), "{e}");
    let wide = c.counter(&path, CounterFormat::Int64, 0).unwrap();
    let e = wide.get().await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains("4 bytes"), "{e}");
    counter.remove().await.unwrap();
    assert!(c.get_data(&path).await.unwrap().is_none());
    let big = c
        .counter(&unique("counter64"), CounterFormat::Int64, 1 << 40)
        .unwrap();
    assert_eq!(big.get_and_increment().await.unwrap(), 1 << 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_watch_snapshot_and_changes() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let root = unique("config");
    c.put(&format!("{root}/a"), b"1").await.unwrap();
    c.put(&format!("{root}/b/c"), b"2").await.unwrap();
    let w = c.config_watch(&root).unwrap();
    let snap = w.ready(Duration::from_secs(5)).await.unwrap();
    assert_eq!(snap.get("a").map(Vec::as_slice), Some(&b"1"[..]));
    assert_eq!(snap.get("b/c").map(Vec::as_slice), Some(&b"2"[..]));
    let mut events = w.events();
    c.put(&format!("{root}/a"), b"10").await.unwrap();
    let ev = events.next_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.value.as_deref()),
        ("a", Some(&b"10"[..]))
    );
    c.put(&format!("{root}/b/d"), b"3").await.unwrap();
    let ev = events.next_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        (ev.path.as_str(), ev.value.as_deref()),
        ("b/d", Some(&b"3"[..]))
    );
    c.delete_recursive(&format!("{root}/a")).await.unwrap();
    let ev = events.next_timeout(Duration::from_secs(5)).await.unwrap();
    assert_eq!((ev.path.as_str(), ev.value), ("a", None));
    assert_eq!(w.get("b/d"), Some(b"3".to_vec()));
    assert_eq!(w.get("a"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_change_during_server_restart_is_reported() {
    let zk = fresh(3);
    let t = Duration::from_secs(10);
    let root = unique("config-restart");
    let writer = client(&zk.connect_string(), t).await;
    writer.put(&format!("{root}/flag"), b"off").await.unwrap();
    // The watcher knows only one server.
    let only = zk.node(1).addr().to_string();
    let watcher_client = client(&only, t).await;
    let w = watcher_client.config_watch(&root).unwrap();
    w.wait_for(Duration::from_secs(5), |s| {
        s.get("flag").is_some_and(|v| v == b"off")
    })
    .await
    .unwrap();
    let mut events = w.events();

    zk.node(1).stop().unwrap();
    writer.put(&format!("{root}/flag"), b"on").await.unwrap();
    writer.put(&format!("{root}/new"), b"x").await.unwrap();
    zk.node(1).restart().unwrap();
    zk.wait_quorum(Duration::from_secs(30)).unwrap();

    w.wait_for(Duration::from_secs(15), |s| {
        s.get("flag").is_some_and(|v| v == b"on") && s.get("new").is_some_and(|v| v == b"x")
    })
    .await
    .expect("changes made while the watcher's server was down are reported");
    let mut seen = Vec::new();
    while let Some(ev) = events.try_next() {
        seen.push((ev.path, ev.value));
    }
    assert!(
        seen.contains(&("flag".to_string(), Some(b"on".to_vec()))),
        "{seen:?}"
    );
    assert!(
        seen.contains(&("new".to_string(), Some(b"x".to_vec()))),
        "{seen:?}"
    );
}

/// A checkpoint pointer whose write was applied but whose reply was lost (the connection cut
/// just before it) is no error: the add is repeated, finds its own entry (same data) and
/// locks it, as a fenced leader's add must not fail the checkpoint over a lost reply. Before,
/// the connection loss reached Flink, which failed the checkpoint and restarted the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_to_a_fenced_add_is_no_error_and_leaves_one_locked_entry() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let (e, root, store) = leading_store_with_an_entry(&c, &unique("lost-add")).await;
    let node = e.node().expect("the latch node");
    // A fenced multi starts with the check of the latch node.
    proxy.cut_before_reply(ZkRequest::Multi, &node);
    let v = store
        .add_and_lock("0000000000000000002", b"cp2")
        .await
        .expect("the applied add is found, not reported as a connection loss");
    assert_eq!(proxy.replies_cut(), 1, "the reply was withheld");
    assert_eq!(v, 0);
    let entry = format!("{root}/0000000000000000002");
    let (data, _) = c.get_data(&entry).await.unwrap().expect("the entry");
    assert_eq!(data, b"cp2");
    let locks = c
        .get_children(&format!("{entry}/locks"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        locks,
        vec![store.owner_id().to_string()],
        "locked once, by us"
    );
    // Adding an existing entry is still refused, with a lost reply or without.
    let err = store
        .add_and_lock("0000000000000000002", b"cp2")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NodeExists, "{err}");
    e.close().await;
}

/// The Flink view on the bytes a real Flink 2.3.0 run wrote (core/tests/fixtures), stored
/// where Flink put them: leaders, jobs, checkpoints, counter and the status document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flink_view_reads_what_flink_wrote() {
    use zkha::flink::{ClusterView, FlinkLayout};
    const JOB: &str = "689f4a2104595f78f8552e76fa3f059d";
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let fixture = |name: &str| {
        [fixtures.join(name), fixtures.join("flink-2.3.0").join(name)]
            .into_iter()
            .find_map(|p| std::fs::read(p).ok())
            .unwrap_or_else(|| panic!("fixture {name}"))
    };
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(6)).await;
    let root = format!("/{}/flink/e2e", unique("view").trim_start_matches('/'));
    for comp in ["dispatcher", "resource_manager", "rest_server"]
        .into_iter()
        .map(String::from)
        .chain([format!("job-{JOB}")])
    {
        let data = fixture(&format!("flink_e2e_leader_{comp}_connection_info.bin"));
        c.put(&format!("{root}/leader/{comp}/connection_info"), &data)
            .await
            .unwrap();
    }
    let plan = fixture(&format!("flink_e2e_execution-plans_{JOB}.bin"));
    c.put(&format!("{root}/execution-plans/{JOB}"), &plan)
        .await
        .unwrap();
    let cp = fixture(&format!(
        "flink_e2e_jobs_{JOB}_checkpoints_0000000000000000003.bin"
    ));
    let cps = format!("{root}/jobs/{JOB}/checkpoints");
    c.put(&format!("{cps}/0000000000000000003"), &cp)
        .await
        .unwrap();
    let counter = fixture(&format!("flink_e2e_jobs_{JOB}_checkpoint_id_counter.bin"));
    c.put(
        &format!("{root}/jobs/{JOB}/checkpoint_id_counter"),
        &counter,
    )
    .await
    .unwrap();

    let view = ClusterView::new(c.clone(), FlinkLayout::new(&root));
    let leaders = view.leaders().await.unwrap();
    let names: Vec<&str> = leaders.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["dispatcher", "resource_manager", "rest_server"]);
    let rest = leaders[2].1.as_ref().unwrap();
    assert_eq!(rest.address, "http://127.0.0.1:28081");
    assert_eq!(rest.leader_session_id.len(), 36);
    assert_eq!(view.jobs().await.unwrap(), [JOB]);
    assert!(view.job_leader(JOB).await.unwrap().is_some());
    let latest = view.latest_checkpoint(JOB).await.unwrap().unwrap();
    assert_eq!(latest.id, 3);
    assert_eq!(
        latest.location.as_deref(),
        Some("file:/opt/flink-demo/ha/e2e/completedCheckpoint76442a50ab4b")
    );
    assert_eq!(latest.state_size, Some(5913));
    assert_eq!(view.checkpoint_counter(JOB).await.unwrap(), Some(4));
    let plan = view.execution_plan(JOB).await.unwrap().unwrap();
    assert!(plan.contains("submittedExecutionPlan"), "{plan}");
    let status: serde_json::Value =
        serde_json::from_str(&view.status().await.unwrap().to_json()).unwrap();
    assert_eq!(status["jobs"][JOB]["latest_checkpoint"]["id"], 3);
    assert_eq!(status["jobs"][JOB]["checkpoint_counter"], 4);
    assert_eq!(
        status["leaders"]["rest_server"]["address"],
        "http://127.0.0.1:28081"
    );

    // A corrupt pointer fails the checkpoint list naming its znode, and only that job's part
    // of the status.
    c.put(&format!("{cps}/0000000000000000004"), b"garbage")
        .await
        .unwrap();
    let e = view.checkpoints(JOB).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt);
    assert!(e.to_string().contains("0000000000000000004"), "{e}");
    let status = view.status().await.unwrap();
    assert!(status.jobs[JOB].error.is_some() && status.jobs[JOB].latest_checkpoint.is_none());
    // A Flink 1.20 cluster keeps its jobs in `jobgraphs` unless configured otherwise; a layout
    // from a configuration that names no directory finds them there too.
    let legacy = format!("{root}-120");
    c.put(
        &format!("{legacy}/jobgraphs/{JOB}"),
        &fixture(&format!("flink_e2e_execution-plans_{JOB}.bin")),
    )
    .await
    .unwrap();
    let v120 = ClusterView::new(c.clone(), FlinkLayout::new(&legacy));
    assert_eq!(v120.jobs().await.unwrap(), [JOB]);
    assert_eq!(
        v120.execution_plan_at(JOB)
            .await
            .unwrap()
            .map(|(node, _)| node),
        Some(format!("{legacy}/jobgraphs/{JOB}"))
    );
    assert!(v120.execution_plan(JOB).await.unwrap().is_some());
    let named = ClusterView::new(
        c.clone(),
        FlinkLayout::new(&legacy).with_plans("execution-plans"),
    );
    assert!(
        named.jobs().await.unwrap().is_empty(),
        "a named directory is the only one read"
    );
    c.delete_recursive(&legacy).await.unwrap();
    // An empty cluster has nothing.
    let empty = ClusterView::new(c.clone(), FlinkLayout::new(format!("{root}-none")));
    assert!(empty.jobs().await.unwrap().is_empty());
    assert!(empty
        .leaders()
        .await
        .unwrap()
        .iter()
        .all(|(_, l)| l.is_none()));
    c.delete_recursive(&root).await.unwrap();
    c.close().await;
}

/// A config watch's snapshot and the changes after it, taken together while a writer keeps
/// changing values: replaying the changes on the snapshot gives the final view (none missed),
/// and no change repeats what the snapshot already holds (none twice).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_snapshot_and_changes_miss_nothing_and_repeat_nothing() {
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(6)).await;
    let root = unique("cfg-consistent");
    for k in 0..5 {
        c.put(&format!("{root}/k{k}"), b"0").await.unwrap();
    }
    let w = c.config_watch(&root).unwrap();
    w.ready(Duration::from_secs(5)).await.unwrap();
    let writer = {
        let (c, root) = (c.clone(), root.clone());
        tokio::spawn(async move {
            for i in 1..=150u32 {
                c.put(&format!("{root}/k{}", i % 5), i.to_string().as_bytes())
                    .await
                    .unwrap();
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    let (snapshot, mut changes) = w.snapshot_and_changes();
    writer.await.unwrap();
    let last: std::collections::BTreeMap<String, Vec<u8>> = (146..=150u32)
        .map(|i| (format!("k{}", i % 5), i.to_string().into_bytes()))
        .collect();
    w.wait_for(Duration::from_secs(10), |v| *v == last)
        .await
        .unwrap();
    let mut view = snapshot.clone();
    let mut first = std::collections::BTreeSet::new();
    while let Some(ch) = changes.next_timeout(Duration::from_millis(300)).await {
        if first.insert(ch.path.clone()) {
            assert_ne!(
                snapshot.get(&ch.path),
                ch.value.as_ref(),
                "{} repeats the snapshot",
                ch.path
            );
        }
        match ch.value {
            Some(v) => view.insert(ch.path, v),
            None => view.remove(&ch.path),
        };
    }
    assert_eq!(view, last, "snapshot + changes = the final view");
    c.delete_recursive(&root).await.unwrap();
    c.close().await;
}
