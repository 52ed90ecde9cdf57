//! The test kit against real ZooKeeper: quorum, leader kill, pause, and the fault proxy.

use std::time::{Duration, Instant};

use zkha_testkit::{Ensemble, FaultProxy, Options, ZkRequest};
use zookeeper_client::{Acls, Client, CreateMode, SessionState};

fn ensemble(nodes: usize) -> Ensemble {
    Ensemble::start(nodes, Options::default()).expect("start ensemble")
}

async fn connect(servers: &str, session_timeout: Duration) -> Client {
    Client::connector()
        .with_session_timeout(session_timeout)
        .connect(servers)
        .await
        .expect("connect")
}

async fn wait_state(client: &Client, want: SessionState, within: Duration) -> Duration {
    let start = Instant::now();
    let mut watcher = client.state_watcher();
    loop {
        if watcher.state() == want {
            return start.elapsed();
        }
        tokio::time::timeout(within.saturating_sub(start.elapsed()), watcher.changed())
            .await
            .unwrap_or_else(|_| panic!("client did not reach {want:?} within {within:?}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_reach_quorum_and_survive_leader_kill() {
    let zk = ensemble(3);
    let status = zk.status();
    assert_eq!(status.len(), 3);
    assert!(
        status.iter().all(|n| n.mode.is_some()),
        "every node serves: {status:?}"
    );
    let leader = zk.leader().expect("a leader");

    // A client connected to the leader keeps working after the leader is killed.
    let leader_addr = zk.node(leader).addr();
    let others: Vec<String> = zk
        .addrs()
        .into_iter()
        .filter(|a| *a != leader_addr)
        .map(|a| a.to_string())
        .collect();
    let servers = format!("{leader_addr},{}", others.join(","));
    let client = connect(&servers, Duration::from_secs(6)).await;
    client
        .create(
            "/kill-leader",
            b"before",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    let session = client.session_id();

    zk.node(leader).kill().unwrap();
    zk.wait_quorum(Duration::from_secs(30)).unwrap();
    let new_leader = zk.leader().expect("a new leader");
    assert_ne!(
        new_leader, leader,
        "another node leads after the leader was killed"
    );

    // Retry through the reconnect: the client moves to a live server with its session.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match client.set_data("/kill-leader", b"after", None).await {
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                eprintln!("retrying after {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("client did not recover: {e}; {}", zk.log_hint()),
        }
    }
    assert_eq!(client.session_id(), session, "same session after failover");
    let (data, _) = client.get_data("/kill-leader").await.unwrap();
    assert_eq!(data, b"after");

    // The killed node comes back and rejoins as a follower.
    zk.node(leader).restart().unwrap();
    zk.wait_quorum(Duration::from_secs(30)).unwrap();
    assert_eq!(zk.status().iter().filter(|n| n.mode.is_some()).count(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_client_loses_its_session_on_the_server() {
    let zk = ensemble(1);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let victim = connect(&proxy.connect_string(), Duration::from_secs(2)).await;
    let observer = connect(&zk.connect_string(), Duration::from_secs(10)).await;
    victim
        .create(
            "/victim",
            b"",
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    assert!(observer.check_stat("/victim").await.unwrap().is_some());

    proxy.blackhole();
    let start = Instant::now();
    // The server expires the session after its timeout: the ephemeral node vanishes.
    loop {
        if observer.check_stat("/victim").await.unwrap().is_none() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "ephemeral node still there after 15 s of blackhole; {}",
            zk.log_hint()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let gone_after = start.elapsed();
    assert!(
        gone_after >= Duration::from_millis(1500),
        "node vanished after {gone_after:?}, before the 2 s session timeout could pass"
    );
    // Once healed, the client learns that its session is gone.
    proxy.heal();
    wait_state(&victim, SessionState::Expired, Duration::from_secs(15)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_gives_a_disconnect_and_the_same_session_reconnects() {
    let zk = ensemble(1);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let client = connect(&proxy.connect_string(), Duration::from_secs(6)).await;
    let session = client.session_id();
    let mut states = client.state_watcher();
    assert_eq!(proxy.live_connections(), 1);

    proxy.cut();
    let first = tokio::time::timeout(Duration::from_secs(5), states.changed())
        .await
        .unwrap();
    assert_eq!(first, SessionState::Disconnected);
    wait_state(
        &client,
        SessionState::SyncConnected,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(client.session_id(), session);
    assert!(
        proxy.accepted() >= 2,
        "the client reconnected through the proxy"
    );
    client
        .create(
            "/after-cut",
            b"",
            &CreateMode::Ephemeral.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_slows_requests_and_heal_restores_them() {
    let zk = ensemble(1);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let client = connect(&proxy.connect_string(), Duration::from_secs(6)).await;
    client.check_stat("/").await.unwrap();
    proxy.delay(150);
    let t = Instant::now();
    client.check_stat("/").await.unwrap();
    let delayed = t.elapsed();
    assert!(
        delayed >= Duration::from_millis(300),
        "round trip {delayed:?} with 150 ms each way"
    );
    proxy.heal();
    let t = Instant::now();
    client.check_stat("/").await.unwrap();
    assert!(
        t.elapsed() < Duration::from_millis(250),
        "healed round trip {:?}",
        t.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_counts_requests_by_kind_of_load() {
    let zk = ensemble(1);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    // A 2 s session pings about every 2/3 s when idle.
    let client = connect(&proxy.connect_string(), Duration::from_secs(2)).await;
    let before = proxy.request_counts();
    for _ in 0..5 {
        client.check_stat("/").await.unwrap();
    }
    let (_, _, _watch) = client.get_and_watch_children("/").await.unwrap();
    client
        .create(
            "/counted",
            b"x",
            &CreateMode::Persistent.with_acls(Acls::anyone_all()),
        )
        .await
        .unwrap();
    client.set_data("/counted", b"y", None).await.unwrap();
    client.delete("/counted", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let seen = proxy.request_counts().since(&before);
    assert_eq!(
        (seen.reads, seen.writes, seen.watches, seen.other),
        (6, 3, 0, 0),
        "{seen:?}"
    );
    assert!(
        (2..=6).contains(&seen.pings),
        "pings while idle for 2.5 s: {seen:?}"
    );
    assert_eq!(seen.total(), seen.reads + seen.writes + seen.pings);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paused_node_stops_serving_and_resumes() {
    let zk = ensemble(3);
    let follower = zk
        .status()
        .into_iter()
        .find(|n| n.mode == Some(zkha_testkit::Mode::Follower))
        .expect("a follower")
        .id;
    let addr = zk.node(follower).addr();
    let client = connect(&addr.to_string(), Duration::from_secs(4)).await;
    client.check_stat("/").await.unwrap();

    zk.node(follower).pause().unwrap();
    assert!(zk.status()[follower - 1].paused);
    // A paused server answers nothing: the only server this client knows goes silent.
    let r = tokio::time::timeout(Duration::from_secs(8), client.check_stat("/")).await;
    assert!(!matches!(r, Ok(Ok(_))), "a paused server must not answer");
    wait_state(&client, SessionState::Disconnected, Duration::from_secs(8)).await;

    zk.node(follower).resume().unwrap();
    zk.wait_quorum(Duration::from_secs(30)).unwrap();
    wait_state(
        &client,
        SessionState::SyncConnected,
        Duration::from_secs(10),
    )
    .await;
    client.check_stat("/").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_before_reply_applies_the_request_and_loses_its_reply() {
    let zk = ensemble(1);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let client = connect(&proxy.connect_string(), Duration::from_secs(6)).await;
    let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create("/cbr", b"", &opts).await.unwrap();

    // Two rules in turn: the create's reply, then the next listing's.
    proxy.cut_before_reply(ZkRequest::Create, "/cbr/");
    proxy.cut_before_reply(ZkRequest::GetChildren, "/cbr");
    // A read that matches no rule passes.
    client.check_stat("/cbr").await.unwrap();
    assert_eq!(proxy.armed_reply_cuts(), 2);
    let created = client.create("/cbr/a", b"x", &opts).await;
    assert!(
        matches!(created, Err(zookeeper_client::Error::ConnectionLoss)),
        "{created:?}"
    );
    wait_state(
        &client,
        SessionState::SyncConnected,
        Duration::from_secs(10),
    )
    .await;
    let listed = client.list_children("/cbr").await;
    assert!(
        matches!(listed, Err(zookeeper_client::Error::ConnectionLoss)),
        "{listed:?}"
    );
    assert_eq!(proxy.replies_cut(), 2);
    assert_eq!(proxy.armed_reply_cuts(), 0);

    // The server did the work: the node is there; the same session carries on.
    let session = client.session_id();
    let children = client.list_children("/cbr").await.unwrap();
    assert_eq!(children, vec!["a".to_string()]);
    assert_eq!(client.session_id(), session);
}

/// Waits until node `id` reports `want` (None: not serving).
fn wait_mode(zk: &Ensemble, id: usize, want: Option<zkha_testkit::Mode>, within: Duration) {
    let start = Instant::now();
    loop {
        let mode = zk.status()[id - 1].mode;
        if mode == want {
            return;
        }
        assert!(
            start.elapsed() < within,
            "node {id} is {mode:?}, not {want:?}, after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_follower_serves_its_clients_until_sync_limit_then_drops_them() {
    use zkha_testkit::Mode;
    // syncLimit 10 x tickTime 100 ms: a cut-off follower gives up after about 1 s.
    let zk = Ensemble::start(3, Options::default().partitionable(true).sync_limit(10)).unwrap();
    let leader = zk.leader().unwrap();
    let f = (1..=3).find(|&n| n != leader).unwrap();
    let client = connect(&zk.node(f).addr().to_string(), Duration::from_secs(20)).await;
    let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create("/before", b"", &opts).await.unwrap();

    zk.isolate(f).unwrap();
    let cut = Instant::now();
    // Still answering reads from its own state, for a while.
    client.check_stat("/before").await.unwrap();
    // Writes cannot reach the leader.
    let write = tokio::time::timeout(
        Duration::from_millis(500),
        client.create("/during", b"", &opts),
    )
    .await;
    assert!(
        !matches!(write, Ok(Ok(_))),
        "a write went through an isolated follower"
    );
    // Then it stops serving and drops its clients.
    wait_state(&client, SessionState::Disconnected, Duration::from_secs(10)).await;
    let dropped = cut.elapsed();
    assert!(
        dropped >= Duration::from_millis(700),
        "dropped after {dropped:?}"
    );
    // The others keep a quorum.
    assert!(zk.leader().is_some_and(|l| l != f));

    zk.heal_partition();
    wait_mode(&zk, f, Some(Mode::Follower), Duration::from_secs(20));
    wait_state(
        &client,
        SessionState::SyncConnected,
        Duration::from_secs(20),
    )
    .await;
    client.check_stat("/before").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_in_the_minority_loses_its_quorum() {
    use zkha_testkit::Mode;
    let zk = Ensemble::start(3, Options::default().partitionable(true).sync_limit(10)).unwrap();
    let old = zk.leader().unwrap();
    let rest: Vec<usize> = (1..=3).filter(|&n| n != old).collect();
    zk.partition(&[&[old], &rest]).unwrap();
    // The majority elects a new leader; the old one stops leading.
    let start = Instant::now();
    loop {
        let status = zk.status();
        let new_leader = rest
            .iter()
            .any(|&n| status[n - 1].mode == Some(Mode::Leader));
        if new_leader && status[old - 1].mode != Some(Mode::Leader) {
            break;
        }
        // ZooKeeper may need two election rounds, each up to initLimit (5 s) when the
        // survivors left the old leader at different times.
        assert!(start.elapsed() < Duration::from_secs(30), "{status:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    zk.heal_partition();
    zk.wait_quorum(Duration::from_secs(30)).unwrap();
    assert!(zk.partition(&[&[4]]).is_err(), "node ids are checked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observers_serve_and_can_be_cut_off() {
    use zkha_testkit::Mode;
    let zk = Ensemble::start(
        4,
        Options::default()
            .observers(1)
            .partitionable(true)
            .sync_limit(10),
    )
    .unwrap();
    assert_eq!(zk.status()[3].mode, Some(Mode::Observer));
    assert!(zk.options().describe(4).contains("observers=1"));
    let client = connect(&zk.node(4).addr().to_string(), Duration::from_secs(20)).await;
    let opts = CreateMode::Persistent.with_acls(Acls::anyone_all());
    client.create("/via-observer", b"", &opts).await.unwrap();
    zk.isolate(4).unwrap();
    wait_state(&client, SessionState::Disconnected, Duration::from_secs(10)).await;
    zk.heal_partition();
    wait_mode(&zk, 4, Some(Mode::Observer), Duration::from_secs(20));
}

#[test]
fn partition_needs_link_proxies() {
    let zk = Ensemble::start(1, Options::default()).unwrap();
    assert!(zk.partition(&[&[1]]).is_ok(), "one node: nothing to cut");
    let err = Options::default().observers(3);
    assert!(Ensemble::start(3, err).is_err(), "observers only");
}

#[test]
fn a_closed_proxy_refuses_connections_until_healed() {
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy = FaultProxy::start(&[target.local_addr().unwrap()]).unwrap();
    let local = proxy.local_addrs()[0];
    assert!(std::net::TcpStream::connect(local).is_ok());
    proxy.close();
    std::thread::sleep(Duration::from_millis(100));
    let refused = std::net::TcpStream::connect(local).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
    proxy.heal();
    let start = Instant::now();
    while std::net::TcpStream::connect(local).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "not listening again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
