//! Leader election against real ZooKeeper ensembles under real faults.

mod common;

use std::time::{Duration, Instant};

use common::*;
use zkha::{ConnectionState, ElectionEvent, ErrorKind, NodeMode, Op, RevokeReason};
use zkha_testkit::peers::CuratorPeer;
use zkha_testkit::{FaultProxy, ZkRequest};

/// Contenders in queue order, the leader first, for an election and a lock alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contenders_in_queue_order_leader_first() {
    let zk = shared();
    let latch = unique("contenders");
    let t = Duration::from_secs(4);
    let c = client(&zk.connect_string(), t).await;
    assert!(c.contenders(&latch).await.unwrap().is_empty(), "none yet");
    let mut es = Vec::new();
    for id in ["first", "second", "third"] {
        let e = elect(&c, &latch, id);
        // one at a time, so the queue order is the join order
        eventually(Duration::from_secs(5), "joined", || e.node().is_some()).await;
        es.push(e);
    }
    eventually(Duration::from_secs(5), "a leader", || leaders(&es) == 1).await;
    c.sync(&latch).await.unwrap();
    let all = c.contenders(&latch).await.unwrap();
    let ids: Vec<&[u8]> = all.iter().map(|x| x.data.as_slice()).collect();
    assert_eq!(ids, [&b"first"[..], b"second", b"third"]);
    assert!(es[0].has_leadership());
    assert!(es[0].node().unwrap().ends_with(&all[0].node));
    assert!(all.iter().all(|x| x.stat.ephemeral_owner == c.session_id()));
    es[0].close().await;
    eventually(Duration::from_secs(5), "next", || es[1].has_leadership()).await;
    let ids: Vec<Vec<u8>> = c
        .contenders(&latch)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.data)
        .collect();
    assert_eq!(ids, [b"second".to_vec(), b"third".to_vec()]);

    let lock = unique("contended-lock");
    let held = c.mutex(&lock).unwrap().acquire(None).await.unwrap();
    let other = client(&zk.connect_string(), t).await;
    let waiting = tokio::spawn({
        let m = other.mutex(&lock).unwrap();
        async move { m.acquire(None).await }
    });
    let start = Instant::now();
    while c.contenders(&lock).await.unwrap().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(5), "no waiter queued");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let queue = c.contenders(&lock).await.unwrap();
    assert!(held.node().ends_with(&queue[0].node), "the holder is first");
    assert_eq!(queue[1].stat.ephemeral_owner, other.session_id());
    held.release().await.unwrap();
    waiting.await.unwrap().unwrap().release().await.unwrap();
    other.close().await;
    for e in &es {
        e.close().await;
    }
    c.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_contenders_one_leader_and_close_hands_over() {
    let zk = shared();
    let latch = unique("three");
    let t = Duration::from_secs(4);
    let clients = [
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    ];
    let es: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| elect(c, &latch, &format!("c{i}")))
        .collect();
    eventually(Duration::from_secs(5), "one leader", || leaders(&es) == 1).await;
    // Stays exactly one for a while.
    for _ in 0..30 {
        assert_eq!(leaders(&es), 1);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let first = es.iter().position(|e| e.has_leadership()).unwrap();
    let first_token = es[first].leadership().unwrap().fencing_token;
    let first_node = es[first].node().unwrap();

    let t0 = Instant::now();
    es[first].close().await;
    let handover = eventually(Duration::from_secs(2), "next leader", || {
        leaders(&es) == 1 && !es[first].has_leadership()
    })
    .await;
    let next = es.iter().position(|e| e.has_leadership()).unwrap();
    assert_ne!(next, first);
    let next_token = es[next].leadership().unwrap().fencing_token;
    assert!(
        next_token > first_token,
        "tokens grow: {first_token} then {next_token}"
    );
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "graceful hand-over took {:?} ({handover:?} after close)",
        t0.elapsed()
    );
    clients[0].sync(&first_node).await.unwrap();
    assert!(
        clients[0].get_data(&first_node).await.unwrap().is_none(),
        "closed contender's node is gone"
    );
    assert_eq!(leaders(&es), 1);
}

/// A waiting contender leads as soon as the one contender ahead of it leaves (without listing
/// the queue again), but not when its predecessor was not the leader: with a leader still
/// ahead, the queue is listed again and the leader watched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_last_one_ahead_leaving_grants() {
    let zk = shared();
    let latch = unique("middle");
    let t = Duration::from_secs(4);
    let clients = [
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
        client(&zk.connect_string(), t).await,
    ];
    let first = elect(&clients[0], &latch, "first");
    first
        .wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let middle = elect(&clients[1], &latch, "middle");
    eventually(Duration::from_secs(5), "middle queued", || {
        middle.node().is_some()
    })
    .await;
    let last = elect(&clients[2], &latch, "last");
    eventually(Duration::from_secs(5), "last queued", || {
        last.node().is_some()
    })
    .await;
    // Both watches are in place once each contender has settled behind its predecessor.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut last_events = last.events();
    middle.close().await;
    // The last one now watches the leader: no grant while it leads.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(first.has_leadership());
    assert!(
        !last.has_leadership(),
        "granted while the leader still leads"
    );
    assert!(
        last_events.try_next().is_none(),
        "an event while the leader still leads"
    );
    let token = first.leadership().unwrap().fencing_token;
    let t0 = Instant::now();
    first.close().await;
    let granted = last
        .wait_for_leadership(Duration::from_secs(2))
        .await
        .unwrap();
    assert!(granted.fencing_token > token);
    assert_eq!(granted.latch_node, last.node().unwrap());
    assert!(
        t0.elapsed() < Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    for c in &clients {
        c.close().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_keeps_leadership_when_its_server_is_killed() {
    let zk = fresh(3);
    let t = Duration::from_secs(4);
    let c = client(&zk.connect_string(), t).await;
    let other = client(&zk.connect_string(), t).await;
    let latch = unique("server-kill");
    let a = elect(&c, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let b = elect(&other, &latch, "b");
    let session = c.session_id();
    let mut events = a.events();
    assert!(matches!(
        events.next().await,
        Some(ElectionEvent::Granted(_))
    ));
    let mut states = c.state_events();
    let node = zk.node_of_session(session).expect("the leader's server");

    zk.node(node).kill().unwrap();
    // Within the lease the client moves to another server: no revocation, same session.
    let mut saw = Vec::new();
    let deadline = Instant::now() + t * 2;
    while Instant::now() < deadline {
        if let Some(s) = states.next_timeout(Duration::from_millis(100)).await {
            saw.push(s);
        }
        assert!(
            a.has_leadership(),
            "revoked after a server kill; states {saw:?}; {}",
            zk.log_hint()
        );
        assert!(!b.has_leadership());
    }
    assert!(events.try_next().is_none(), "no election event expected");
    assert_eq!(c.session_id(), session);
    assert!(
        saw.iter()
            .any(|s| matches!(s, ConnectionState::Suspended { .. })),
        "{saw:?}"
    );
    assert!(
        saw.iter()
            .any(|s| matches!(s, ConnectionState::Reconnected { .. })),
        "{saw:?}"
    );
    // Fenced writes still work.
    a.fenced_multi(vec![Op::Create {
        path: format!("{latch}-data"),
        data: b"x".to_vec(),
        mode: NodeMode::Persistent,
    }])
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blackholed_leader_is_revoked_by_safe_until_before_the_new_grant() {
    let zk = shared();
    let t = Duration::from_secs(2);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let ca = client(&proxy.connect_string(), t).await;
    let cb = client(&zk.connect_string(), t).await;
    let latch = unique("blackhole");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let b = elect(&cb, &latch, "b");
    let mut a_states = ca.state_events();
    let mut a_events = a.events();
    let mut b_events = b.events();
    assert!(matches!(
        a_events.next().await,
        Some(ElectionEvent::Granted(_))
    ));

    proxy.blackhole();
    let blackholed_at = Instant::now();
    let safe_until = loop {
        match a_states.next_timeout(t * 2).await {
            Some(ConnectionState::Suspended { safe_until }) => break safe_until,
            Some(_) => continue,
            None => panic!("no Suspended within 2T"),
        }
    };
    assert!(
        safe_until > blackholed_at,
        "lease ends after the partition began"
    );
    let revoked = a_events.next_timeout(t * 2).await;
    let revoked_at = Instant::now();
    assert_eq!(
        revoked,
        Some(ElectionEvent::Revoked {
            reason: RevokeReason::LeaseExpired
        })
    );
    assert!(!a.has_leadership());
    // The grant is void from safe_until on (has_leadership reads the lease); the event is a
    // timer at that instant, so allow for scheduling on a busy 2-core machine.
    assert!(
        revoked_at <= safe_until + Duration::from_millis(100),
        "revoked {:?} after safe_until",
        revoked_at - safe_until
    );
    let granted = b_events.next_timeout(t * 4).await;
    let granted_at = Instant::now();
    assert!(
        matches!(granted, Some(ElectionEvent::Granted(_))),
        "{granted:?}"
    );
    assert!(
        granted_at > revoked_at,
        "new grant came {:?} before the revocation",
        revoked_at - granted_at
    );
    println!(
        "blackhole: safe_until {:?} after partition, revoke at +{:?}, new grant {:?} after revoke",
        safe_until - blackholed_at,
        revoked_at - blackholed_at,
        granted_at - revoked_at
    );
    let m = ca.metrics();
    assert!(
        m.suspensions >= 1 && m.leases_lost >= 1 && m.revokes >= 1 && m.grants >= 1,
        "{m:?}"
    );
    assert!(m.op_latency.count > 0);
    proxy.heal();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_leader_after_expiry_writes_nothing_and_rejoins() {
    let zk = shared();
    let t = Duration::from_secs(2);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let ca = client(&proxy.connect_string(), t).await;
    let cb = client(&zk.connect_string(), t).await;
    let latch = unique("stale");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let b = elect(&cb, &latch, "b");
    let fence = a.fence().unwrap();
    let old_session = ca.session_id();
    let mut a_states = ca.state_events();
    assert!(matches!(
        a_states.next().await,
        Some(ConnectionState::Connected { .. })
    ));

    proxy.blackhole();
    b.wait_for_leadership(t * 4)
        .await
        .expect("b leads once a's session expired");
    proxy.heal();

    let target = format!("{latch}-stale-write");
    let err = fence
        .multi(vec![Op::Create {
            path: target.clone(),
            data: b"stale".to_vec(),
            mode: NodeMode::Persistent,
        }])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader, "{err}");
    let err = a
        .publish_leader_info(&format!("{latch}-info"), b"stale")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader, "{err}");
    assert!(
        cb.get_data(&target).await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        cb.get_data(&format!("{latch}-info"))
            .await
            .unwrap()
            .is_none(),
        "nothing published"
    );

    // The client reports the expiry, opens a new session and a rejoins as a contender.
    let mut saw = Vec::new();
    let deadline = Instant::now() + t * 5;
    while !saw
        .iter()
        .any(|s| matches!(s, ConnectionState::Connected { .. }))
    {
        assert!(Instant::now() < deadline, "no new session: {saw:?}");
        if let Some(s) = a_states.next_timeout(Duration::from_millis(200)).await {
            saw.push(s);
        }
    }
    assert!(
        saw.iter().any(
            |s| matches!(s, ConnectionState::Expired { session_id } if *session_id == old_session)
        ),
        "{saw:?}"
    );
    assert_ne!(ca.session_id(), old_session);
    eventually(Duration::from_secs(5), "a rejoined", || {
        a.node().is_some_and(|n| n.contains("latch-"))
    })
    .await;
    assert!(b.has_leadership() && !a.has_leadership());
    // A later grant to a carries a larger token.
    let b_token = b.leadership().unwrap().fencing_token;
    b.close().await;
    let l = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(l.fencing_token > b_token);
    assert!(ca.metrics().expiries >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_latch_node_fences_writes_and_revokes() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let ca = client(&zk.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let latch = unique("deleted");
    let a = elect(&ca, &latch, "a");
    let first = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let fence = a.fence().unwrap();
    let mut events = a.events();
    assert!(matches!(
        events.next().await,
        Some(ElectionEvent::Granted(_))
    ));

    admin.delete_recursive(&first.latch_node).await.unwrap();
    // The fence is checked by ZooKeeper itself: rejected even before `a` notices.
    let target = format!("{latch}-after-delete");
    let err = fence
        .multi(vec![Op::Create {
            path: target.clone(),
            data: vec![],
            mode: NodeMode::Persistent,
        }])
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotLeader, "{err}");
    assert!(admin.get_data(&target).await.unwrap().is_none());
    let revoked = events.next_timeout(Duration::from_secs(2)).await;
    assert_eq!(
        revoked,
        Some(ElectionEvent::Revoked {
            reason: RevokeReason::NodeDeleted
        })
    );
    // Sole contender: it rejoins and leads again with a larger token.
    let again = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(again.fencing_token > first.fencing_token);
    assert_ne!(again.leader_session_id, first.leader_session_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_latch_parent_is_recreated() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let ca = client(&zk.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let latch = unique("parent");
    let a = elect(&ca, &latch, "a");
    let first = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    admin.delete_recursive(&latch).await.unwrap();
    eventually(
        Duration::from_secs(5),
        "re-granted after parent deletion",
        || {
            a.leadership()
                .is_some_and(|l| l.fencing_token > first.fencing_token)
        },
    )
    .await;
    // a can lead for a moment on a node the deleting already removed (the watch reports it
    // after the fact): wait until the parent is back with a's one node and a leads on it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        admin.sync(&latch).await.unwrap();
        let children = admin.get_children(&latch).await.unwrap();
        let settled = match (&children, a.leadership()) {
            (Some(c), Some(l)) => c.len() == 1 && l.latch_node.ends_with(&c[0]),
            _ => false,
        };
        if settled {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the parent is not back with a's one node: {children:?}, {:?}",
            a.leadership()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A finished Flink application's leader deletes the cluster's root while the standby joins
/// again (flink-e2e's application test): the standby's joins meet a parent deleted between
/// its recreation and the create. That is no error to report (Flink makes an election error
/// fatal): the contender joins again quietly, and leads once the deleting stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_root_deleted_again_and_again_is_no_election_error() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let ca = client(&zk.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let root = unique("cleanup");
    let latch = format!("{root}/a/b/c/leader/latch");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut events = a.events();
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        let _ = admin.delete_recursive(&root).await;
    }
    let mut errors = Vec::new();
    while let Some(ev) = events.next_timeout(Duration::from_millis(50)).await {
        if let ElectionEvent::Error { kind, message } = ev {
            errors.push(format!("{kind:?}: {message}"));
        }
    }
    assert!(errors.is_empty(), "election errors: {errors:?}");
    a.wait_for_leadership(Duration::from_secs(10))
        .await
        .expect("leads again once the root stays");
}

/// The standby of a finished Flink application joins again after the leader deleted the
/// cluster's root, and so makes the election's path again. Those parents (like Curator's,
/// `creatingParentContainersIfNeeded`) are containers: once the last contender has left,
/// ZooKeeper removes them, and no HA data is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parents_made_by_a_rejoin_go_with_the_last_contender() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let ca = client(&zk.connect_string(), t).await;
    let admin = client(&zk.connect_string(), t).await;
    let root = unique("reaped");
    let latch = format!("{root}/leader/latch");
    let a = elect(&ca, &latch, "a");
    let first = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    admin.delete_recursive(&root).await.unwrap();
    eventually(Duration::from_secs(5), "joined again", || {
        a.leadership()
            .is_some_and(|l| l.fencing_token > first.fencing_token)
    })
    .await;
    admin.sync(&latch).await.unwrap();
    assert!(
        admin.get_data(&latch).await.unwrap().is_some(),
        "made again"
    );
    a.close().await;
    // The test kit's servers look for empty containers each second; one level goes per look.
    let start = Instant::now();
    while admin.get_data(&root).await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "{root} and below are left: {:?}",
            admin.get_children(&root).await
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_ensemble_restart_leaves_exactly_one_leader() {
    let zk = fresh(3);
    let t = Duration::from_secs(2);
    let latch = unique("restart");
    let mut clients = Vec::new();
    for _ in 0..3 {
        clients.push(client(&zk.connect_string(), t).await);
    }
    let es: Vec<_> = clients
        .iter()
        .enumerate()
        .map(|(i, c)| elect(c, &latch, &format!("c{i}")))
        .collect();
    eventually(Duration::from_secs(5), "one leader", || leaders(&es) == 1).await;
    for id in 1..=3 {
        zk.node(id).stop().unwrap();
    }
    let stopped = Instant::now();
    while stopped.elapsed() < Duration::from_secs(3) {
        assert!(leaders(&es) <= 1, "two leaders while the ensemble is down");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        leaders(&es),
        0,
        "the lease ran out while ZooKeeper was down"
    );
    for id in 1..=3 {
        zk.node(id).restart().unwrap();
    }
    zk.wait_quorum(Duration::from_secs(30)).unwrap();
    eventually(Duration::from_secs(15), "one leader after restart", || {
        leaders(&es) == 1
    })
    .await;
    let stable = Instant::now();
    while stable.elapsed() < Duration::from_secs(2) {
        assert_eq!(leaders(&es), 1, "exactly one leader after the restart");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_revokes_on_disconnect() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let c = zkha::Client::connect(options(&proxy.connect_string(), t).strict(true))
        .await
        .unwrap();
    let latch = unique("strict");
    let a = elect(&c, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut events = a.events();
    events.next().await;
    proxy.cut();
    let ev = events.next_timeout(Duration::from_secs(3)).await;
    assert_eq!(
        ev,
        Some(ElectionEvent::Revoked {
            reason: RevokeReason::Suspended
        })
    );
    // Same session comes back and it leads again (sole contender).
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curator_leader_latch_and_zkha_share_a_latch() {
    let zk = shared();
    let t = Duration::from_secs(4);
    let latch = unique("curator");
    let c = client(&zk.connect_string(), t).await;

    // zkha first, Curator second: zkha leads, hands over to Curator on close.
    let a = elect(&c, &latch, "zkha-a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut peer = CuratorPeer::latch(&zk.connect_string(), t, &latch, "curator").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        peer.ask("status", "LEADER", Duration::from_secs(5))
            .unwrap(),
        "LEADER false"
    );
    assert!(a.has_leadership());
    assert_eq!(
        peer.ask("leader", "LEADER_ID", Duration::from_secs(5))
            .unwrap(),
        "LEADER_ID zkha-a",
        "Curator sees zkha's participant id"
    );
    a.close().await;
    peer.expect("GRANTED", Duration::from_secs(5)).unwrap();

    // Curator leads; a new zkha contender waits behind it, then takes over on Curator's close.
    let b = elect(&c, &latch, "zkha-b");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!b.has_leadership(), "never both leaders");
    assert_eq!(
        peer.ask("status", "LEADER", Duration::from_secs(5))
            .unwrap(),
        "LEADER true"
    );
    peer.ask("close", "CLOSED", Duration::from_secs(5)).unwrap();
    b.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(peer.drain().iter().all(|l| l != "GRANTED"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_lost_replies_around_the_latch_create_leave_one_node_and_a_leader() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let ca = client(&proxy.connect_string(), t).await;
    let cb = client(&zk.connect_string(), t).await;
    let latch = unique("protected-latch");
    cb.put(&latch, b"").await.unwrap();
    // The create is applied but its reply is lost; so is the reply to the listing that
    // looks for the node afterwards.
    proxy.cut_before_reply(ZkRequest::Create, &format!("{latch}/"));
    proxy.cut_before_reply(ZkRequest::GetChildren, &latch);
    let a = elect(&ca, &latch, "a");
    let granted = a.wait_for_leadership(Duration::from_secs(10)).await;
    assert_eq!(proxy.replies_cut(), 2, "both replies were withheld");
    granted.expect("a leads: its own node was found, not left behind to block it");
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    let mine = owned_by(&cb, &latch, ca.session_id()).await;
    assert_eq!(mine.len(), 1, "one node of a's session: {mine:?}");
    a.close().await;
    b.wait_for_leadership(Duration::from_secs(2))
        .await
        .expect("b leads once a leaves: nothing of a's is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_reply_to_the_ownership_check_costs_no_failover() {
    let zk = shared();
    let t = Duration::from_secs(6);
    let proxy = FaultProxy::start(&zk.addrs()).unwrap();
    let ca = client(&zk.connect_string(), t).await;
    let cb = client(&proxy.connect_string(), t).await;
    let cc = client(&zk.connect_string(), t).await;
    let latch = unique("ownership-check");
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    // x between a and b: when x leaves, b saw two ahead of it, so it lists the queue again,
    // finds itself first and checks its own node (a contender whose only predecessor leaves
    // leads without that check).
    let x = elect(&ca, &latch, "x");
    eventually(Duration::from_secs(5), "x queued", || x.node().is_some()).await;
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    let c = elect(&cc, &latch, "c");
    eventually(Duration::from_secs(5), "c queued", || c.node().is_some()).await;
    tokio::time::sleep(Duration::from_millis(200)).await; // b watches x
    a.close().await;
    x.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let b_node = b.node().unwrap();
    // The next `exists` on b's own node is its ownership check once x is gone.
    proxy.cut_before_reply(ZkRequest::Exists, &b_node);
    x.close().await;
    b.wait_for_leadership(Duration::from_secs(5))
        .await
        .expect("b, next in line, leads");
    assert_eq!(
        proxy.replies_cut(),
        1,
        "the ownership check's reply was lost"
    );
    assert_eq!(b.node().unwrap(), b_node, "b kept its place: no rejoin");
    assert!(!c.has_leadership());
}

/// A latch parent anyone may read but nobody may create children in; returns the raw client
/// that created it (to fix its ACL later).
async fn unwritable_latch(connect: &str, latch: &str) -> zookeeper_client::Client {
    use zookeeper_client as zkc;
    let raw = zkc::Client::connect(connect).await.unwrap();
    let read_admin = [zkc::Acl::new(
        zkc::Permission::READ | zkc::Permission::ADMIN,
        zkc::AuthId::new("world", "anyone"),
    )];
    raw.create(
        latch,
        b"",
        &zkc::CreateMode::Persistent.with_acls(zkc::Acls::new(&read_admin)),
    )
    .await
    .unwrap();
    raw
}

/// Waiting for leadership fails at once (well before its 10 s) with NoAuth naming the latch.
async fn wait_reports_no_auth_at_once(e: &zkha::Election, latch: &str) {
    let start = Instant::now();
    let err = e
        .wait_for_leadership(Duration::from_secs(10))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NoAuth, "{err}");
    assert!(err.message().contains(latch), "names the path: {err}");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "said at once, not after a timeout"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_persistent_error_is_reported_and_retried_until_fixed() {
    use zookeeper_client as zkc;
    let zk = shared();
    let t = Duration::from_secs(6);
    let c = client(&zk.connect_string(), t).await;
    let latch = unique("no-create-right");
    let raw = unwritable_latch(&zk.connect_string(), &latch).await;
    let e = elect(&c, &latch, "a");
    let mut events = e.events();
    wait_reports_no_auth_at_once(&e, &latch).await;
    match events.next_timeout(Duration::from_secs(2)).await {
        Some(ElectionEvent::Error { kind, message }) => {
            assert_eq!(kind, ErrorKind::NoAuth);
            assert!(message.contains(&latch), "{message}");
        }
        other => panic!("expected an error event, got {other:?}"),
    }
    // Told once, not every retry.
    assert_eq!(events.next_timeout(Duration::from_millis(1500)).await, None);
    // Fixed by the operator: the contender gets in without being restarted.
    raw.set_acl(&latch, &zkc::Acls::anyone_all(), None)
        .await
        .unwrap();
    e.wait_for_leadership(Duration::from_secs(15))
        .await
        .expect("leads once the ACL allows it");
}

/// A caller that begins waiting after the error was told (a busy host, a slow binding) still
/// learns the cause at once instead of waiting out its timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_begun_after_a_persistent_error_reports_it_at_once() {
    use zookeeper_client as zkc;
    let zk = shared();
    // A backoff far longer than the test's waits: only a retry made at once can answer them.
    let backoff = zkha::RetryPolicy {
        max_retries: 3,
        base_wait: Duration::from_secs(20),
        max_wait: Duration::from_secs(60),
    };
    let c =
        zkha::Client::connect(options(&zk.connect_string(), Duration::from_secs(6)).retry(backoff))
            .await
            .unwrap();
    let latch = unique("no-create-right-late");
    let raw = unwritable_latch(&zk.connect_string(), &latch).await;
    let e = elect(&c, &latch, "a");
    let mut events = e.events();
    match events.next_timeout(Duration::from_secs(5)).await {
        Some(ElectionEvent::Error { kind, .. }) => assert_eq!(kind, ErrorKind::NoAuth),
        other => panic!("expected an error event, got {other:?}"),
    }
    wait_reports_no_auth_at_once(&e, &latch).await;
    // Fixed by the operator: the next wait tries again at once instead of waiting out the
    // backoff, and is granted.
    raw.set_acl(&latch, &zkc::Acls::anyone_all(), None)
        .await
        .unwrap();
    let start = Instant::now();
    e.wait_for_leadership(Duration::from_secs(15))
        .await
        .expect("leads once the ACL allows it");
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "tried again at once, not after the backoff: {:?}",
        start.elapsed()
    );
}
