//! The leadership lease under partitions between ZooKeeper servers: a holder whose server is
//! cut off from the quorum must stop believing it holds before anyone else is granted.
//!
//! Every instant is read on this process's clock: the holder's last moment of belief (polled
//! every few milliseconds, and its revocation event) against the other contender's grant.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use zkha::{ElectionEvent, LostReason};
use zkha_testkit::{Ensemble, Mode, Options};

/// A 3-node ensemble whose servers can be partitioned (and, with `observer`, a fourth node
/// that observes), `sync_limit` ticks of 100 ms.
fn ensemble(sync_limit: u32, observer: bool) -> Ensemble {
    let nodes = if observer { 4 } else { 3 };
    let o = Options::default()
        .partitionable(true)
        .sync_limit(sync_limit)
        .observers(usize::from(observer));
    Ensemble::start(nodes, o).expect("start a partitionable ensemble")
}

/// A follower (or the observer) and another voting node.
fn holder_and_other_server(zk: &Ensemble, on_observer: bool) -> (usize, usize) {
    let status = zk.status();
    let leader = zk.leader().expect("a leader");
    let holder = if on_observer {
        status
            .iter()
            .find(|n| n.mode == Some(Mode::Observer))
            .expect("an observer")
            .id
    } else {
        status
            .iter()
            .find(|n| n.mode == Some(Mode::Follower))
            .expect("a follower")
            .id
    };
    (holder, leader)
}

/// Polls `believes` every 2 ms until `stop`, and returns the last instant it was true.
fn watch_belief(
    believes: impl Fn() -> bool + Send + 'static,
) -> (
    Arc<Mutex<Option<Instant>>>,
    Arc<std::sync::atomic::AtomicBool>,
) {
    let last = Arc::new(Mutex::new(None));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (l, s) = (last.clone(), stop.clone());
    std::thread::spawn(move || {
        while !s.load(std::sync::atomic::Ordering::SeqCst) {
            if believes() {
                *l.lock().unwrap() = Some(Instant::now());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    (last, stop)
}

/// The holder (on a follower or an observer) keeps an election grant; its server is cut off
/// from every other server; the other contender (on the leader) must be granted only after the
/// holder stopped believing it leads.
async fn election_case(sync_limit: u32, on_observer: bool) {
    let zk = ensemble(sync_limit, on_observer);
    let t = Duration::from_secs(4);
    let (holder_node, other_node) = holder_and_other_server(&zk, on_observer);
    let ca = client(&zk.node(holder_node).addr().to_string(), t).await;
    let cb = client(&zk.node(other_node).addr().to_string(), t).await;
    let latch = unique("partition-latch");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(a.has_leadership());

    let mut a_events = a.events();
    let mut b_events = b.events();
    // a's revocation, timed as it arrives.
    let revoked = tokio::spawn(async move {
        loop {
            match a_events.next().await {
                Some(ElectionEvent::Revoked { .. }) => return Some(Instant::now()),
                Some(_) => {}
                None => return None,
            }
        }
    });
    let a2 = a.clone();
    let (believed, stop) = watch_belief(move || a2.has_leadership());
    let cut = Instant::now();
    zk.isolate(holder_node).unwrap();
    let granted = loop {
        match b_events.next_timeout(t * 4).await {
            Some(ElectionEvent::Granted(_)) => break Instant::now(),
            Some(_) => {}
            None => panic!("b was not granted within {:?}", t * 4),
        }
    };
    let revoked = tokio::time::timeout(t * 2, revoked)
        .await
        .expect("a is revoked")
        .unwrap()
        .expect("a revocation event");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let last_belief = believed.lock().unwrap().expect("a believed it led");
    eprintln!(
        "syncLimit x tick = {} ms, T = {t:?}, holder on {}: a believed until +{:?}, revoked at +{:?}, b granted at +{:?}",
        sync_limit * 100,
        if on_observer { "an observer" } else { "a follower" },
        last_belief - cut,
        revoked - cut,
        granted - cut
    );
    assert!(
        last_belief < granted && revoked < granted,
        "two believed leaders: a believed until +{:?} (revoked at +{:?}), b granted at +{:?}",
        last_belief - cut,
        revoked - cut,
        granted - cut
    );
    zk.heal_partition();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_on_a_cut_off_follower_revokes_before_the_next_grant_sync_limit_below_t() {
    election_case(10, false).await; // 1 s < T
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_on_a_cut_off_follower_revokes_before_the_next_grant_sync_limit_above_t() {
    election_case(50, false).await; // 5 s > T
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_on_a_cut_off_observer_revokes_before_the_next_grant() {
    election_case(50, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_holder_on_a_cut_off_follower_loses_the_lock_before_the_next_holder_gets_it() {
    let zk = ensemble(50, false);
    let t = Duration::from_secs(4);
    let (holder_node, other_node) = holder_and_other_server(&zk, false);
    let ca = client(&zk.node(holder_node).addr().to_string(), t).await;
    let cb = client(&zk.node(other_node).addr().to_string(), t).await;
    let path = unique("partition-lock");
    let guard = Arc::new(ca.mutex(&path).unwrap().acquire(None).await.unwrap());
    let m = cb.mutex(&path).unwrap();
    let waiting = tokio::spawn(async move {
        let g = m.acquire(None).await;
        (Instant::now(), g)
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let g2 = guard.clone();
    let (believed, stop) = watch_belief(move || g2.is_held());
    let lost = {
        let guard = guard.clone();
        tokio::spawn(async move {
            let r = guard.lost().await;
            (Instant::now(), r)
        })
    };
    let cut = Instant::now();
    zk.isolate(holder_node).unwrap();
    let (granted, g) = tokio::time::timeout(t * 4, waiting)
        .await
        .expect("the waiter gets the lock")
        .unwrap();
    g.expect("acquired");
    let (lost_at, reason) = lost.await.unwrap();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let last_belief = believed.lock().unwrap().expect("a held the lock");
    eprintln!(
        "lock: held until +{:?}, lost ({reason:?}) at +{:?}, next holder at +{:?}",
        last_belief - cut,
        lost_at - cut,
        granted - cut
    );
    assert_eq!(reason, LostReason::LeaseExpired);
    assert!(
        last_belief < granted && lost_at < granted,
        "two holders: the first held until +{:?}, the second got it at +{:?}",
        last_belief - cut,
        granted - cut
    );
    zk.heal_partition();
}

/// What the lease must keep: a holder rides out the loss of the ZooKeeper leader (on a
/// follower, or on the leader itself: its own server gone too) and a short disconnect.
async fn keeps_leadership_through(zk: &Ensemble, holder_node: usize, fault: impl FnOnce()) {
    let t = Duration::from_secs(4);
    let ca = client(&zk.node(holder_node).addr().to_string(), t).await;
    // The holder may move to any server after the fault.
    let latch = unique("keep-latch");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    let other = (1..=zk.len()).find(|&n| n != holder_node).unwrap();
    let cb = client(&zk.node(other).addr().to_string(), t).await;
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    let mut events = a.events();
    assert!(matches!(
        events.next().await,
        Some(ElectionEvent::Granted(_))
    ));
    fault();
    let until = Instant::now() + t * 2;
    while Instant::now() < until {
        assert!(a.has_leadership(), "a lost leadership; {}", zk.log_hint());
        assert!(!b.has_leadership());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.try_next(), None, "no revocation");
    // And the lease is being renewed: fenced writes pass.
    a.fenced_multi(vec![zkha::Op::Check {
        path: latch.clone(),
        version: None,
    }])
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_zookeeper_leader_costs_no_revocation() {
    // The holder on a follower: the leader dies, a new one is elected.
    let zk = fresh(3);
    let leader = zk.leader().unwrap();
    let follower = (1..=3).find(|&n| n != leader).unwrap();
    keeps_leadership_through(&zk, follower, || zk.node(leader).kill().unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_holders_own_server_when_it_leads_the_ensemble_costs_no_revocation() {
    let zk = fresh(3);
    let leader = zk.leader().unwrap();
    // The holder may use every server, and starts on the leader's (the client picks one at
    // random: connect until it does).
    let t = Duration::from_secs(4);
    let mut ca = None;
    for _ in 0..30 {
        let c = client(&zk.connect_string(), t).await;
        if zk.node_of_session(c.session_id()) == Some(leader) {
            ca = Some(c);
            break;
        }
        c.close().await;
    }
    let ca = ca.expect("a client on the leader's server");
    let latch = unique("keep-own-server");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    let mut events = a.events();
    assert!(matches!(
        events.next().await,
        Some(ElectionEvent::Granted(_))
    ));
    zk.node(leader).kill().unwrap();
    let until = Instant::now() + t * 2;
    while Instant::now() < until {
        assert!(a.has_leadership(), "a lost leadership; {}", zk.log_hint());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(events.try_next(), None, "no revocation");
}

/// A leader whose client reaches the shared ensemble through a proxy of its own: the proxy,
/// the client and the election (granted), with sessions of timeout `t`.
async fn leader_through_proxy(
    t: Duration,
    latch: &str,
) -> (zkha_testkit::FaultProxy, zkha::Client, zkha::Election) {
    let proxy = zkha_testkit::FaultProxy::start(&shared().addrs()).unwrap();
    let c = client(&proxy.connect_string(), t).await;
    let a = elect(&c, &unique(latch), "a");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    (proxy, c, a)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnect_shorter_than_the_lease_costs_no_revocation() {
    let t = Duration::from_secs(4);
    let (proxy, ca, a) = leader_through_proxy(t, "short-disconnect").await;
    let mut events = a.events();
    assert!(matches!(
        events.next().await,
        Some(ElectionEvent::Granted(_))
    ));
    let mut states = ca.state_events();
    // Disconnected, and no server to be had, for half the session timeout.
    proxy.refuse();
    proxy.cut();
    tokio::time::sleep(t / 2).await;
    assert!(a.has_leadership(), "still within the lease");
    proxy.heal();
    let deadline = Instant::now() + t;
    let mut saw = Vec::new();
    while !saw
        .iter()
        .any(|s| matches!(s, zkha::ConnectionState::Reconnected { .. }))
    {
        assert!(Instant::now() < deadline, "not reconnected: {saw:?}");
        if let Some(s) = states.next_timeout(Duration::from_millis(100)).await {
            saw.push(s);
        }
        assert!(a.has_leadership(), "revoked: {saw:?}");
    }
    assert!(
        saw.iter()
            .any(|s| matches!(s, zkha::ConnectionState::Suspended { .. })),
        "{saw:?}"
    );
    assert_eq!(events.try_next(), None, "no revocation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_is_reported_for_every_lapse() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let proxy = zkha_testkit::FaultProxy::start(&zk.addrs()).unwrap();
    init_logging();
    // A wide margin: the lease ends well before the server would expire the session, so a
    // heal right after `Lost` finds the session alive.
    let c = zkha::Client::connect(
        options(&proxy.connect_string(), t).lease_margin(Duration::from_millis(1500)),
    )
    .await
    .unwrap();
    let session = c.session_id();
    let mut states = c.state_events();
    assert!(matches!(
        states.next().await,
        Some(zkha::ConnectionState::Connected { .. })
    ));
    for round in 0..2 {
        // A heartbeat answered after the one the lease rests on (the client sends one on
        // connecting and one on its first tick): a renewal chain after the heal may take it
        // as its `k` and prove a lease only milliseconds longer than the one that ran out.
        tokio::time::sleep(Duration::from_millis(100)).await;
        proxy.blackhole();
        let mut saw = Vec::new();
        let deadline = Instant::now() + t * 2;
        while !saw.contains(&zkha::ConnectionState::Lost) {
            assert!(Instant::now() < deadline, "round {round}: no Lost: {saw:?}");
            if let Some(s) = states.next_timeout(Duration::from_millis(50)).await {
                saw.push(s);
            }
        }
        proxy.heal();
        let deadline = Instant::now() + t * 2;
        while !saw
            .iter()
            .any(|s| matches!(s, zkha::ConnectionState::Reconnected { .. }))
        {
            assert!(
                Instant::now() < deadline,
                "round {round}: not back: {saw:?}"
            );
            if let Some(s) = states.next_timeout(Duration::from_millis(50)).await {
                saw.push(s);
            }
        }
        // Back for good: a renewal whose `k` was answered before the cut proves a lease
        // that is nearly over; announcing it would grant for milliseconds and revoke again.
        while let Some(s) = states.next_timeout(Duration::from_millis(700)).await {
            saw.push(s);
        }
        assert!(
            matches!(saw[0], zkha::ConnectionState::Suspended { .. }),
            "round {round}: {saw:?}"
        );
        assert_eq!(
            saw.iter()
                .filter(|s| **s == zkha::ConnectionState::Lost)
                .count(),
            1,
            "round {round}: {saw:?}"
        );
        assert_eq!(c.session_id(), session, "the same session");
        assert!(c.safe_until().unwrap() > Instant::now(), "renewed again");
        assert!(
            matches!(saw.last(), Some(zkha::ConnectionState::Reconnected { .. })),
            "round {round}: {saw:?}"
        );
    }
}

/// The lease's heartbeats are the client library's own pings (and the renewal chains'
/// requests): a leader that does nothing else sends no read of its own, and keeps its lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_leader_sends_only_pings_and_renewal_chains() {
    let t = Duration::from_secs(4);
    let (proxy, _ca, a) = leader_through_proxy(t, "idle-leader").await;
    let mut events = a.events();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = proxy.request_counts();
    tokio::time::sleep(t).await;
    let after = proxy.request_counts();
    let (reads, writes, other) = (
        after.reads - before.reads,
        after.writes - before.writes,
        after.other - before.other,
    );
    // (The chains' requests keep the connection busy: the library pings only when it was
    // idle for 3 of its ticks, so a holder sends few pings too.)
    assert_eq!(reads, 0, "no heartbeat reads: {before:?} -> {after:?}");
    // A holder renews every T/5: about 5 chains (a sync and a multi each) in T.
    assert!((3..=7).contains(&writes), "renewal chains: {writes}");
    assert_eq!(other, writes, "a sync before each chain's multi");
    assert!(a.has_leadership(), "the lease held");
    assert!(
        matches!(events.try_next(), None | Some(ElectionEvent::Granted(_))),
        "no revocation"
    );
}

/// A waiting contender keeps half a lease instead of renewing every period; once granted it
/// renews at once and every period, and keeps leadership.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_contender_renews_less_often_than_its_leader() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let (pa, pb) = (
        zkha_testkit::FaultProxy::start(&zk.addrs()).unwrap(),
        zkha_testkit::FaultProxy::start(&zk.addrs()).unwrap(),
    );
    let (ca, cb) = (
        client(&pa.connect_string(), t).await,
        client(&pb.connect_string(), t).await,
    );
    let latch = unique("waiting-renews-less");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (a0, b0) = (pa.request_counts(), pb.request_counts());
    tokio::time::sleep(3 * t).await;
    let (a1, b1) = (pa.request_counts(), pb.request_counts());
    let (leader_chains, waiting_chains) = (a1.writes - a0.writes, b1.writes - b0.writes);
    // Every T/5 for the leader: about 15 in 3T; the waiting one renews when half its lease
    // is left: every second or fourth period, depending on how old the answer its chain
    // rests on is (a Flink standby measured 0.66 times the leader's rate).
    assert!(
        leader_chains >= 12,
        "leader renews every period: {leader_chains}"
    );
    assert!(
        waiting_chains * 4 <= leader_chains * 3,
        "the waiting contender renewed {waiting_chains} times in 3T (the leader {leader_chains})"
    );
    assert!(
        cb.safe_until().is_some_and(|u| u > Instant::now() + t / 4),
        "the waiting contender's lease stays above T/4"
    );
    let mut events = b.events();
    a.close().await;
    let granted = b
        .wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap();
    let g0 = pb.request_counts();
    tokio::time::sleep(2 * t).await;
    let g1 = pb.request_counts();
    assert!(b.has_leadership(), "kept leadership after the grant");
    assert!(
        g1.writes - g0.writes >= 8,
        "a holder renews every period: {}",
        g1.writes - g0.writes
    );
    let revoked = std::iter::from_fn(|| events.try_next())
        .any(|e| matches!(e, ElectionEvent::Revoked { .. }));
    assert!(!revoked, "no revocation after the grant {granted:?}");
}
