//! Leader information: publish, watch, hand-over, Flink's connection_info bytes.

mod common;

use std::time::Duration;

use common::*;
use zkha::flink::connection_info;
use zkha::{ErrorKind, LeaderInfo};

fn fixture(name: &str) -> Vec<u8> {
    let p = format!(
        "{}/tests/fixtures/flink-2.3.0/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn connection_info_matches_flink_byte_for_byte() {
    let cases = [
        (
            "flink_e2e_leader_dispatcher_connection_info.bin",
            "pekko.tcp://flink@127.0.0.1:26121/user/rpc/dispatcher_1",
        ),
        (
            "flink_e2e_leader_resource_manager_connection_info.bin",
            "pekko.tcp://flink@127.0.0.1:26121/user/rpc/resourcemanager_0",
        ),
        (
            "flink_e2e_leader_rest_server_connection_info.bin",
            "http://127.0.0.1:28081",
        ),
        (
            "flink_e2e_leader_job-689f4a2104595f78f8552e76fa3f059d_connection_info.bin",
            "pekko.tcp://flink@127.0.0.1:26121/user/rpc/jobmanager_2",
        ),
    ];
    let mut ids = Vec::new();
    for (file, address) in cases {
        let bytes = fixture(file);
        let (decoded, id) = connection_info::decode(&bytes).unwrap();
        assert_eq!(decoded, address, "{file}");
        assert_eq!(
            connection_info::encode(&decoded, id).unwrap(),
            bytes,
            "{file}: re-encoded bytes differ"
        );
        ids.push(id);
    }
    // One leader session id for every component of that JobManager.
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    // mostSigBits 6e0214e856c64048, leastSigBits 8c619e8443dc13ea, read off the fixture bytes.
    assert_eq!(ids[0].to_string(), "6e0214e8-56c6-4048-8c61-9e8443dc13ea");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_sees_publish_change_and_delete_without_duplicates() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let leader_client = client(&zk.connect_string(), t).await;
    let watcher_client = client(&zk.connect_string(), t).await;
    let base = unique("info");
    let info_path = format!("{base}/leader/dispatcher/connection_info");
    let watch = watcher_client.watch_leader_info(&info_path).unwrap();
    watch
        .wait_for(Duration::from_secs(5), |i| *i == LeaderInfo::Empty)
        .await
        .unwrap();
    let mut events = watch.events();
    assert_eq!(events.next().await, Some(LeaderInfo::Empty));

    let e = elect(&leader_client, &format!("{base}/leader/latch"), "jm-1");
    e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let id = e.leadership().unwrap().leader_session_id;
    let a =
        connection_info::encode("pekko.tcp://flink@127.0.0.1:1/user/rpc/dispatcher_1", id).unwrap();
    e.publish_leader_info(&info_path, &a).await.unwrap();
    assert_eq!(
        events.next_timeout(Duration::from_secs(5)).await,
        Some(LeaderInfo::Present(a.clone()))
    );
    let b =
        connection_info::encode("pekko.tcp://flink@127.0.0.1:2/user/rpc/dispatcher_1", id).unwrap();
    e.publish_leader_info(&info_path, &b).await.unwrap();
    assert_eq!(
        events.next_timeout(Duration::from_secs(5)).await,
        Some(LeaderInfo::Present(b.clone()))
    );
    // Same bytes again: the znode changes version, the information does not: no event.
    e.publish_leader_info(&info_path, &b).await.unwrap();
    e.delete_leader_info(&info_path).await.unwrap();
    assert_eq!(
        events.next_timeout(Duration::from_secs(5)).await,
        Some(LeaderInfo::Empty)
    );
    assert_eq!(
        events.next_timeout(Duration::from_millis(300)).await,
        None,
        "no duplicate events"
    );
    let (address, decoded_id) = connection_info::decode(&b).unwrap();
    assert_eq!(
        (address.as_str(), decoded_id),
        ("pekko.tcp://flink@127.0.0.1:2/user/rpc/dispatcher_1", id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_leader_replaces_the_old_leaders_node() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let c1 = client(&zk.connect_string(), t).await;
    let c2 = client(&zk.connect_string(), t).await;
    let base = unique("replace");
    let latch = format!("{base}/leader/latch");
    let info = format!("{base}/leader/rest_server/connection_info");
    let e1 = elect(&c1, &latch, "jm-1");
    e1.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let e2 = elect(&c2, &latch, "jm-2");
    e1.publish_leader_info(&info, b"http://one").await.unwrap();
    // jm-1 steps down but its session (and ephemeral node) lives on.
    e1.close().await;
    e2.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let err = e1
        .publish_leader_info(&info, b"http://stale")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader);
    e2.publish_leader_info(&info, b"http://two").await.unwrap();
    c1.sync(&info).await.unwrap();
    let (data, stat) = c1.get_data(&info).await.unwrap().unwrap();
    assert_eq!(data, b"http://two");
    assert_eq!(
        stat.ephemeral_owner,
        c2.session_id(),
        "the new leader owns the node"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_follows_across_its_own_session_expiry() {
    let zk = shared();
    let t = Duration::from_secs(2);
    let proxy = zkha_testkit::FaultProxy::start(&zk.addrs()).unwrap();
    let watcher_client = client(&proxy.connect_string(), t).await;
    let writer = client(&zk.connect_string(), t).await;
    let path = unique("expiry-info");
    let watch = watcher_client.watch_leader_info(&path).unwrap();
    watch
        .wait_for(Duration::from_secs(5), |i| *i == LeaderInfo::Empty)
        .await
        .unwrap();
    let old = watcher_client.session_id();
    proxy.blackhole();
    // Written while the watcher's session is dying: it must still be reported.
    writer
        .put(&path, b"written during the outage")
        .await
        .unwrap();
    tokio::time::sleep(t * 2).await;
    proxy.heal();
    let got = watch
        .wait_for(Duration::from_secs(10), |i| {
            *i == LeaderInfo::Present(b"written during the outage".to_vec())
        })
        .await;
    assert!(
        got.is_ok(),
        "change made during the outage not seen: {:?}",
        watch.current()
    );
    assert_ne!(
        watcher_client.session_id(),
        old,
        "the watcher's session expired and was replaced"
    );
}

/// A watch on any node's children and data: creation, changes and deletion, in order and
/// without duplicates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_on_any_nodes_children_and_data() {
    use zkha::{NodeChildren, NodeData};
    let zk = shared();
    let c = client(&zk.connect_string(), Duration::from_secs(6)).await;
    let dir = unique("watched");
    let kids = c.watch_children(&dir).unwrap();
    let data = c.watch_data(&format!("{dir}/a")).unwrap();
    let mut kid_events = kids.events();
    let mut data_events = data.events();
    let t = Duration::from_secs(5);
    let present =
        |names: &[&str]| NodeChildren::Present(names.iter().map(|n| n.to_string()).collect());
    // One step at a time, each seen before the next: a watch reports the state it reads, so
    // two changes close together may be seen as one (the parent and `a` at once).
    kids.wait_for(t, |k| *k == NodeChildren::Empty)
        .await
        .unwrap();
    data.wait_for(t, |d| *d == NodeData::Empty).await.unwrap();
    c.put(&dir, b"").await.unwrap();
    kids.wait_for(t, |k| *k == present(&[])).await.unwrap();
    c.put(&format!("{dir}/a"), b"1").await.unwrap();
    kids.wait_for(t, |k| *k == present(&["a"])).await.unwrap();
    c.put(&format!("{dir}/b"), b"").await.unwrap();
    kids.wait_for(t, |k| *k == present(&["a", "b"]))
        .await
        .unwrap();
    let mut order = Vec::new();
    while let Some(k) = kid_events.next_timeout(Duration::from_millis(200)).await {
        order.push(k);
    }
    assert_eq!(
        order,
        [
            NodeChildren::Empty,
            present(&[]),
            present(&["a"]),
            present(&["a", "b"])
        ]
    );
    let seen: Vec<NodeData> = [
        data_events.next_timeout(t).await,
        data_events.next_timeout(t).await,
    ]
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(seen, [NodeData::Empty, NodeData::Present(b"1".to_vec())]);
    c.put(&format!("{dir}/a"), b"2").await.unwrap();
    let got = data.wait_for(Duration::from_secs(5), |d| {
        *d == NodeData::Present(b"2".to_vec())
    });
    got.await.unwrap();
    c.delete_recursive(&dir).await.unwrap();
    kids.wait_for(Duration::from_secs(5), |k| *k == NodeChildren::Empty)
        .await
        .unwrap();
    // The data watch is a task of its own: it reports the deletion of its node (told first on
    // the session) on its own schedule, not before the children watch's wait above returns.
    data.wait_for(Duration::from_secs(5), |d| *d == NodeData::Empty)
        .await
        .unwrap();
    assert_eq!(data.current(), Some(NodeData::Empty));
    c.close().await;
}

/// A finished Flink cluster's leader deletes the cluster's root (the latch nodes of every
/// contender go with it) while a contender, granted in that moment, publishes its leader
/// information. The publish must neither fail with NoNode (Flink treats that as fatal and the
/// JobManager exits with an error) nor recreate the deleted root: it writes only while its
/// latch node stands (fenced), else answers NotLeader.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_while_the_root_is_cleaned_up_recreates_nothing() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let (c, cleaner) = (
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    );
    let mut refused = 0;
    for round in 0..20 {
        let root = unique("cleaned-up");
        let e = elect(&c, &format!("{root}/leader/latch"), "a");
        e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
        let info = format!("{root}/leader/resource_manager/connection_info");
        // The cleanup and a publish at the same moment (a few rounds with the publish a little
        // later, when the latch node is surely gone but the revocation may not be in).
        let delay = Duration::from_micros(100 * (round % 5));
        let publish = async {
            tokio::time::sleep(delay).await;
            e.publish_leader_info(&info, b"pekko://flink/user/rpc/rm")
                .await
        };
        let cleanup = async {
            // Flink's cleanup retries a subtree that gained a node meanwhile.
            for _ in 0..50 {
                match cleaner.delete_recursive(&root).await {
                    Ok(()) => return,
                    Err(err) if err.kind() == ErrorKind::NotEmpty => continue,
                    Err(err) => panic!("cleanup of {root}: {err}"),
                }
            }
            panic!("cleanup of {root} never finished");
        };
        let (published, ()) = tokio::join!(publish, cleanup);
        match published {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::NotLeader => refused += 1,
            Err(err) => panic!("round {round}: publish failed with {:?}: {err}", err.kind()),
        }
        // Closing leaves the election (a contender whose node went re-joins, which makes its
        // latch path again: that is the election's, not the publish's).
        e.close().await;
        cleaner.sync(&root).await.unwrap();
        let left = cleaner.get_children(&format!("{root}/leader")).await;
        assert!(
            !matches!(&left, Ok(Some(names)) if names.iter().any(|n| n == "resource_manager")),
            "round {round}: the publish made {root}/leader/resource_manager again after the \
             cleanup: {left:?}"
        );
    }
    eprintln!("{refused} of 20 publishes refused as NotLeader");
}

/// A watcher is not a holder: what it last read stays its answer while the session may still
/// be alive, even after the lease ran out (a ZooKeeper leader election can take longer than an
/// idle client's lease, and a TaskManager that drops its JobManager for it restarts the job).
/// Only once the connection has been gone for the whole session timeout, when the server has
/// surely expired the session, is the node reported `Empty`; the value comes back after the
/// new session reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watcher_keeps_the_leader_through_a_lapsed_lease_until_the_session_is_gone() {
    use std::time::Instant;
    use zkha::ConnectionState;
    let zk = shared();
    let t = Duration::from_secs(4);
    let proxy = zkha_testkit::FaultProxy::start(&zk.addrs()).unwrap();
    // A wide lease margin: a heal right after `Lost` finds the session alive.
    let watcher_client = zkha::Client::connect(
        options(&proxy.connect_string(), t).lease_margin(Duration::from_millis(1500)),
    )
    .await
    .unwrap();
    let writer = client(&zk.connect_string(), t).await;
    let path = unique("lapsed-info");
    writer.put(&path, b"leader-1").await.unwrap();
    let watch = watcher_client.watch_leader_info(&path).unwrap();
    let leader = LeaderInfo::Present(b"leader-1".to_vec());
    watch
        .wait_for(Duration::from_secs(5), |i| *i == leader)
        .await
        .unwrap();
    let mut events = watch.events();
    assert_eq!(events.next().await, Some(leader.clone()));
    let session = watcher_client.session_id();
    let mut states = watcher_client.state_events();
    let wait_state = async |states: &mut zkha::StateEvents, want: fn(&ConnectionState) -> bool| {
        let deadline = Instant::now() + t * 3;
        let mut saw = Vec::new();
        while !saw.iter().any(want) {
            assert!(Instant::now() < deadline, "not seen: {saw:?}");
            if let Some(s) = states.next_timeout(Duration::from_millis(50)).await {
                saw.push(s);
            }
        }
    };

    // The lease runs out, the session lives: no event.
    proxy.blackhole();
    wait_state(&mut states, |s| *s == ConnectionState::Lost).await;
    proxy.heal();
    wait_state(&mut states, |s| {
        matches!(s, ConnectionState::Reconnected { .. })
    })
    .await;
    assert_eq!(watcher_client.session_id(), session, "the same session");
    assert_eq!(
        events.next_timeout(Duration::from_millis(500)).await,
        None,
        "a lapsed lease is no reason to forget the leader"
    );
    assert_eq!(watch.current(), Some(leader.clone()));

    // Gone for longer than the session timeout: `Empty` while still cut off, then the value.
    proxy.blackhole();
    let cut = Instant::now();
    assert_eq!(
        events.next_timeout(t * 3).await,
        Some(LeaderInfo::Empty),
        "the session is surely gone after T"
    );
    let after = cut.elapsed();
    assert!(
        after >= t,
        "Empty after {after:?}, before the session timeout"
    );
    proxy.heal();
    assert_eq!(events.next_timeout(t * 3).await, Some(leader));
    assert_ne!(watcher_client.session_id(), session, "a new session");
}
