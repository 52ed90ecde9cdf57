//! Planned hand-over (`Client::step_down`) on a real ensemble: the leader steps down when
//! asked, its writes are fenced from the request on, its successor leads, and the refusals
//! (no standby, a Curator contender) write nothing.

mod common;

use std::time::Duration;

use common::*;
use zkha::{ElectionEvent, ErrorKind, LivenessOptions, Op, RevokeReason, StepDownOptions};
use zkha_testkit::peers::CuratorPeer;

const T: Duration = Duration::from_secs(4);

fn set(path: &str, data: &str) -> Op {
    Op::SetData {
        path: path.into(),
        data: data.as_bytes().to_vec(),
        version: None,
    }
}

/// The participant ids queued on `latch`, in queue order (after a sync).
async fn queue_ids(tool: &zkha::Client, latch: &str) -> Vec<Vec<u8>> {
    tool.sync(latch).await.unwrap();
    tool.contenders(latch)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.data)
        .collect()
}

/// The reason of the next revocation `events` tell of (within 5 s).
async fn next_revocation(events: &mut zkha::EventStream<ElectionEvent>) -> RevokeReason {
    loop {
        match events.next_timeout(Duration::from_secs(5)).await {
            Some(ElectionEvent::Revoked { reason }) => return reason,
            Some(_) => continue,
            None => panic!("no revocation within 5 s"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_asked_to_step_down_hands_over_and_queues_behind_its_successor() {
    let zk = shared();
    let latch = unique("step-down");
    let ca = client(&zk.connect_string(), T).await;
    let cb = client(&zk.connect_string(), T).await;
    // The third contender has the liveness link off: its node is still known as zkha's.
    let cc = zkha::Client::connect(
        options(&zk.connect_string(), T).liveness(LivenessOptions::disabled()),
    )
    .await
    .unwrap();
    let tool = client(&zk.connect_string(), T).await;
    let data = unique("step-down-data");
    tool.put(&data, b"0").await.unwrap();

    let a = elect(&ca, &latch, "a");
    let granted = a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut a_events = a.events();
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    let c = elect(&cc, &latch, "c");
    eventually(Duration::from_secs(5), "c queued", || c.node().is_some()).await;
    let fence = a.fence().unwrap();
    fence.multi(vec![set(&data, "a before")]).await.unwrap();

    let report = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .expect("step down");
    eprintln!("{}", report.timeline_text());
    assert_eq!(report.how, "asked");
    assert!(!report.forced);
    assert_eq!(report.leader.participant_id, "a");
    assert!(report.leader.zkha && report.successor.zkha);
    assert_eq!(report.successor.participant_id, "b");
    assert_eq!(
        report
            .new_leader
            .as_ref()
            .map(|p| p.participant_id.as_str()),
        Some("b")
    );
    assert!(report.released_ms.is_some() && report.new_leader_ms.is_some());

    // The old leader was told why, and its grant's fence no longer passes.
    let revoked = next_revocation(&mut a_events).await;
    assert_eq!(revoked, RevokeReason::StepDown);
    let stale = fence.multi(vec![set(&data, "a after")]).await.unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::NotLeader, "{stale}");
    let b_lead = b.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(b_lead.fencing_token > granted.fencing_token);
    b.fence()
        .unwrap()
        .multi(vec![set(&data, "b")])
        .await
        .unwrap();
    // Another client's write: sync first (the tool's server may answer from older state).
    tool.sync(&data).await.unwrap();
    assert_eq!(tool.get_data(&data).await.unwrap().unwrap().0, b"b");

    // a joined again, behind c: the queue is b, c, a.
    eventually(Duration::from_secs(5), "a queued again", || {
        a.node().is_some_and(|n| !n.ends_with(&report.leader.node))
    })
    .await;
    let ids = queue_ids(&tool, &latch).await;
    assert_eq!(ids, [b"b".to_vec(), b"c".to_vec(), b"a".to_vec()]);
    assert!(!a.has_leadership() && !c.has_leadership());

    // Again: b hands over to c, whose link is off.
    let report = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .expect("step down again");
    assert_eq!(report.leader.participant_id, "b");
    assert_eq!(report.successor.participant_id, "c");
    c.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(!b.has_leadership());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_without_a_standby_is_refused_and_writes_nothing() {
    let zk = shared();
    let latch = unique("step-down-alone");
    let ca = client(&zk.connect_string(), T).await;
    let tool = client(&zk.connect_string(), T).await;
    let e = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoNode, "{e}");
    assert!(e.to_string().contains(&latch), "{e}");

    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut events = a.events();
    let e = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    let msg = e.to_string();
    assert!(msg.contains("no standby") && msg.contains(&latch), "{msg}");
    let node = a.node().unwrap();
    tool.sync(&node).await.unwrap();
    let (_, stat) = tool.get_data(&node).await.unwrap().unwrap();
    assert_eq!(stat.version, 0, "the leader's node was not written");
    // Forcing does not help: with no one to hand over to there is nothing to force.
    let forced = StepDownOptions {
        force: true,
        ..StepDownOptions::default()
    };
    assert!(tool.step_down(&latch, &forced).await.is_err());
    assert!(a.has_leadership());
    while let Some(ev) = events.try_next() {
        assert!(
            !matches!(ev, ElectionEvent::Revoked { .. }),
            "revoked: {ev:?}"
        );
    }
}

/// Curator's LeaderLatch (Flink's built-in HA) does not watch its own node: asking it to step
/// down does nothing, and deleting its node would make two leaders. Refused both when it leads
/// and when it is next, unless forced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_down_refuses_a_curator_leader_or_successor_unless_forced() {
    let zk = shared();
    let tool = client(&zk.connect_string(), T).await;
    let forced = StepDownOptions {
        force: true,
        ..StepDownOptions::default()
    };

    // A Curator leader, a zkha successor.
    let latch = unique("step-down-curator-leads");
    let ca = client(&zk.connect_string(), T).await;
    let mut peer = CuratorPeer::latch(&zk.connect_string(), T, &latch, "curator").unwrap();
    peer.expect("GRANTED", Duration::from_secs(10)).unwrap();
    let a = elect(&ca, &latch, "a");
    eventually(Duration::from_secs(5), "a queued", || a.node().is_some()).await;
    let e = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains("the leader") && e.to_string().contains("not a zkha contender"),
        "{e}"
    );
    let first = tool.contenders(&latch).await.unwrap().remove(0);
    assert_eq!(first.stat.version, 0, "the Curator leader's node untouched");
    assert!(!a.has_leadership());
    // Forced: its node is deleted and a leads (Curator, not watching its node, would go on
    // believing it leads: what the refusal warns of).
    let report = tool.step_down(&latch, &forced).await.unwrap();
    assert_eq!(report.how, "deleted");
    assert!(report.forced && !report.leader.zkha);
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert_eq!(
        peer.ask("status", "LEADER", Duration::from_secs(5))
            .unwrap(),
        "LEADER true",
        "Curator does not notice: why it is refused unless forced"
    );
    peer.kill();

    // A zkha leader, a Curator successor.
    let latch = unique("step-down-curator-next");
    let b = elect(&ca, &latch, "b");
    b.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let mut peer = CuratorPeer::latch(&zk.connect_string(), T, &latch, "curator").unwrap();
    let start = std::time::Instant::now();
    while tool.contenders(&latch).await.unwrap().len() < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "Curator not queued"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let e = tool
        .step_down(&latch, &StepDownOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{e}");
    assert!(
        e.to_string().contains("the next contender") && e.to_string().contains("not a zkha"),
        "{e}"
    );
    assert!(b.has_leadership());
    // Forced: the node is deleted, not rewritten (Curator's latch re-lists only on its
    // predecessor's deletion; a data change would use up its watch and strand it); b revokes.
    let mut b_events = b.events();
    let report = tool.step_down(&latch, &forced).await.unwrap();
    assert_eq!(report.how, "deleted");
    assert!(report.forced && !report.successor.zkha);
    peer.expect("GRANTED", Duration::from_secs(5)).unwrap();
    assert!(!b.has_leadership());
    let revoked = next_revocation(&mut b_events).await;
    assert_eq!(revoked, RevokeReason::NodeDeleted);
    peer.kill();
}

/// A request that reaches a contender before it leads (a step-down racing a failover, or
/// repeated): it gives up its place and joins again at the end, rather than leading later
/// with a node whose version no longer matches (a fence that would refuse every write).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_contender_asked_while_waiting_joins_again_at_the_end() {
    let zk = shared();
    let latch = unique("step-down-waiting");
    let ca = client(&zk.connect_string(), T).await;
    let cb = client(&zk.connect_string(), T).await;
    let cc = client(&zk.connect_string(), T).await;
    let tool = client(&zk.connect_string(), T).await;
    let a = elect(&ca, &latch, "a");
    a.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let b = elect(&cb, &latch, "b");
    eventually(Duration::from_secs(5), "b queued", || b.node().is_some()).await;
    let c = elect(&cc, &latch, "c");
    eventually(Duration::from_secs(5), "c queued", || c.node().is_some()).await;
    let asked = b.node().unwrap();
    tool.sync(&asked).await.unwrap();
    let (data, stat) = tool.get_data(&asked).await.unwrap().unwrap();
    tool.set_data(&asked, &data, Some(stat.version))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "b joined again", || {
        b.node().is_some_and(|n| n != asked)
    })
    .await;
    let ids = queue_ids(&tool, &latch).await;
    assert_eq!(ids, [b"a".to_vec(), b"c".to_vec(), b"b".to_vec()]);
    a.close().await;
    c.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    assert!(!b.has_leadership());
    let data_path = unique("step-down-waiting-data");
    tool.put(&data_path, b"0").await.unwrap();
    c.fence()
        .unwrap()
        .multi(vec![set(&data_path, "c")])
        .await
        .expect("the leader's fence passes");
}
