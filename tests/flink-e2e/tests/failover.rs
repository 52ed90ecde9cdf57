//! JobManager failover of a real Flink cluster (`ZKHA_FLINK_VERSION`, default 2.3; the SIGKILL
//! test also on 1.20) on zkha (2 JobManagers, 1 TaskManager,
//! a 3-node ZooKeeper ensemble, session timeout 4 s), running a checkpointing job.
//!
//! Run alone: `cargo test -p zkha-flink-e2e` (or `make test-flink`).

use std::time::Duration;

use zkha_flink_e2e::scenario::{self, Fault};
use zkha_flink_e2e::{dist, logs, txnlog, Artifacts, Ha, Timeline};
use zkha_testkit::FaultProxy;

const T: Duration = Duration::from_secs(4);

/// The job's `numRestarts` metric (Flink's metric fetcher may need a moment to have it).
fn num_restarts(rest: &zkha_flink_e2e::rest::Rest, job: &str) -> f64 {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(Some(v)) = rest.job_metric(job, "numRestarts") {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no numRestarts metric for 20 s"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// ZooKeeper's transaction log (read on `log_node`, a server of the majority): nothing was
/// written by the old leader's sessions after the cut (`tl`'s origin) but its election node
/// (joining again as a standby); and its log shows that it tried HA writes that were refused.
fn assert_old_leader_wrote_nothing_after_the_cut(
    zk: &zkha_testkit::Ensemble,
    log_node: usize,
    cluster: &zkha_flink_e2e::Cluster,
    old: &zkha_flink_e2e::cluster::Leader,
    old_pid: u32,
    tl: &mut Timeline,
) {
    let origin_ms = tl.origin_epoch_ms();
    let txns = txnlog::read_dir(&txnlog::ensemble_data_dir(zk, log_node)).expect("transaction log");
    let latch = format!("{}/leader/latch/", cluster.options().cluster_root());
    let tag = format!("{old_pid}@");
    let mut sessions: Vec<i64> = txns
        .iter()
        .filter(|t| {
            t.ops.iter().any(|o| {
                o.path.as_deref().is_some_and(|p| p.starts_with(&latch))
                    && o.data
                        .as_deref()
                        .is_some_and(|d| d.starts_with(tag.as_bytes()))
            })
        })
        .map(|t| t.session)
        .collect();
    sessions.extend(logs::zkha_sessions(&cluster.jm_log(old.jm)));
    sessions.sort();
    sessions.dedup();
    assert!(!sessions.is_empty(), "found the old leader's sessions");
    let mut violations = Vec::new();
    let mut rejected = Vec::new();
    let mut election = Vec::new();
    for t in txns
        .iter()
        .filter(|t| sessions.contains(&t.session) && t.time_ms >= origin_ms as i64)
    {
        let writes: Vec<_> = t.writes().collect();
        if writes.is_empty() {
            if t.ops.iter().any(|o| o.op == txnlog::op::ERROR) {
                rejected.push(t.describe());
            }
            continue;
        }
        if writes
            .iter()
            .all(|o| o.path.as_deref().is_some_and(|p| p.starts_with(&latch)))
        {
            election.push(t.describe());
        } else {
            violations.push(t.describe());
        }
    }
    tl.note(format!(
        "old leader's sessions {:x?}: {} election write(s), {} rejected request(s) in ZooKeeper after the cut",
        sessions,
        election.len(),
        rejected.len()
    ));
    // What the old leader tried and ZooKeeper or zkha refused, as its log shows: writes that
    // failed with zkha's exceptions (connection loss while cut off, then an expired session or
    // NotLeader once its lease was over).
    let mut refused: Vec<(u64, String)> = Vec::new();
    for l in logs::grep_all(&cluster.jm_log(old.jm), "io.zkha.jni.") {
        let Some(at) = l.text.find("io.zkha.jni.") else {
            continue;
        };
        let msg = &l.text[at + "io.zkha.jni.".len()..];
        if l.epoch_ms >= origin_ms
            && msg.contains("Exception:")
            && !refused.iter().any(|(_, m)| m == msg)
        {
            refused.push((l.epoch_ms, msg.to_string()));
        }
    }
    for (at, msg) in &refused {
        tl.mark_epoch_ms(
            format!(
                "(JobManager {} log) refused: {}",
                old.jm + 1,
                msg.chars().take(160).collect::<String>()
            ),
            *at,
        );
    }
    eprintln!("{tl}");
    for e in &election {
        eprintln!("  election: {e}");
    }
    for r in &rejected {
        eprintln!("  rejected: {r}");
    }
    assert!(
        violations.is_empty(),
        "the old leader wrote after the cut:\n{}",
        violations.join("\n")
    );
    assert!(
        !refused.is_empty(),
        "the old leader's log shows none of its HA writes refused after the cut"
    );
}

#[test]
fn leader_jobmanager_killed_standby_takes_over_from_latest_checkpoint() {
    let _serial = scenario::serial();
    killed_leader(&Artifacts::prepare(&dist::stderr).expect("artifacts"));
}

/// The same on Flink 1.20 LTS, beside the default version in `make test` (skipped when
/// `ZKHA_FLINK_VERSION` is set: `make test-flink-matrix` runs the test above on every version).
#[test]
fn leader_jobmanager_killed_standby_takes_over_from_latest_checkpoint_on_flink_1_20() {
    let _serial = scenario::serial();
    if let Some(a) = scenario::lts_artifacts() {
        killed_leader(&a);
    }
}

fn killed_leader(artifacts: &Artifacts) {
    eprintln!("leader killed on {}", artifacts.describe());
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) =
        scenario::start_with_job_on(artifacts, &zk, Ha::Zkha, 3, |_| {}, &dist::stderr)
            .expect("cluster with job");
    let f = scenario::fail_leader(&mut cluster, &job, Fault::Kill).expect("failover");
    let restored =
        scenario::assert_killed_leader_replaced(&cluster, &job, &f, T + Duration::from_secs(1));
    // It makes progress: a checkpoint after the restored one completes.
    let next = cluster
        .wait_checkpoint(&job, Some(restored), Duration::from_secs(30))
        .expect("a new checkpoint after the failover");
    eprintln!("  checkpoint {next} completed after the failover");
}

/// The liveness link at Flink's kind of session timeout: a crashed leader JobManager is replaced
/// in well under a second although ZooKeeper would wait 30 s to expire its session.
#[test]
fn leader_jobmanager_killed_with_30s_session_standby_leads_within_a_second() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) = scenario::start_with_job(
        &zk,
        Ha::Zkha,
        2,
        |o| o.session_timeout = Duration::from_secs(30),
        &dist::stderr,
    )
    .expect("cluster with job");
    let f = scenario::fail_leader(&mut cluster, &job, Fault::Kill).expect("failover");
    eprintln!("{}", f.timeline);
    assert_ne!(f.new_leader, f.old_leader);
    assert!(
        f.leader_after < Duration::from_secs(1),
        "standby leads {:?} after the kill at a 30 s session timeout; expected within 1 s",
        f.leader_after
    );
    scenario::assert_single_instance(&cluster, &job);
}

#[test]
fn leader_jobmanager_terminated_hands_over_within_a_second() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) = scenario::start_with_job(&zk, Ha::Zkha, 3, |_| {}, &dist::stderr)
        .expect("cluster with job");
    let f = scenario::fail_leader(&mut cluster, &job, Fault::Term).expect("failover");
    eprintln!("{}", f.timeline);
    assert!(
        f.leader_after < Duration::from_secs(1),
        "hand-over took {:?}; expected under 1 s",
        f.leader_after
    );
    let restored = f.restored.expect("the job was restored from a checkpoint");
    assert!(restored >= f.checkpoint_before);
    scenario::assert_single_instance(&cluster, &job);
}

#[test]
fn zookeeper_server_of_the_leader_killed_no_leader_change_no_restart() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let (cluster, job) = scenario::start_with_job(&zk, Ha::Zkha, 3, |_| {}, &dist::stderr)
        .expect("cluster with job");
    let leader = cluster.leader().expect("read leader").expect("a leader");
    let session = *logs::zkha_sessions(&cluster.jm_log(leader.jm))
        .last()
        .expect("the leader logged its zkha session");
    let node = zk
        .node_of_session(session)
        .expect("the ZooKeeper server the leader is connected to");
    let rest = cluster.rest(leader.jm);
    let restarts_before = num_restarts(&rest, &job);
    assert_eq!(restarts_before, 0.0, "a fresh job has not restarted");
    let before = cluster.checkpoints(&job).expect("checkpoints");
    assert_eq!(
        before.latest_restored, None,
        "a fresh job was never restored"
    );
    let mut tl = Timeline::start(format!(
        "ZooKeeper server {node} (JobManager {}'s) killed",
        leader.jm + 1
    ));
    zk.node(node).kill().expect("kill the server");
    tl.mark(format!("server {node} killed"), tl.origin());
    // Watch for longer than a session timeout: the lease must carry the leader across.
    let mut moved = None;
    let mut polls = 0;
    while tl.origin().elapsed() < T + Duration::from_secs(2) {
        let now = cluster.leader().expect("read leader");
        assert_eq!(
            now.as_ref(),
            Some(&leader),
            "leadership changed {:?} after the server kill",
            tl.origin().elapsed()
        );
        if let Ok(jobs) = rest.jobs() {
            let j = jobs.iter().find(|j| j.id == job).expect("job listed");
            assert_eq!(
                j.state,
                "RUNNING",
                "job state {:?} after the kill",
                tl.origin().elapsed()
            );
            polls += 1;
        }
        if moved.is_none() {
            if let Some(n) = zk.node_of_session(session) {
                moved = Some(n);
                tl.mark(
                    format!(
                        "JobManager {} reconnected to server {n}, same session",
                        leader.jm + 1
                    ),
                    std::time::Instant::now(),
                );
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        polls > 10,
        "the leader's REST endpoint answered only {polls} times"
    );
    let moved = moved.expect("the leader's session moved to another server");
    assert_ne!(moved, node);
    let next = cluster
        .wait_checkpoint(&job, before.latest_completed, Duration::from_secs(30))
        .expect("checkpoints go on");
    tl.mark(
        format!("checkpoint {next} completed"),
        std::time::Instant::now(),
    );
    let after = cluster.checkpoints(&job).expect("checkpoints");
    assert_eq!(
        after.latest_restored, None,
        "the job was restored: it restarted"
    );
    assert_eq!(
        num_restarts(&rest, &job),
        restarts_before,
        "numRestarts changed"
    );
    assert_eq!(
        rest.exception_count(&job).expect("exceptions"),
        0,
        "the job's exception history is not empty"
    );
    let revoked = logs::grep(&cluster.jm_log(leader.jm), "zkha: leadership revoked");
    assert!(
        revoked.is_empty(),
        "the leader logged a revocation: {revoked:?}"
    );
    tl.note("same leader, same leader session id, job never left RUNNING, numRestarts unchanged");
    eprintln!("{tl}");
}

/// How the leader JobManager loses ZooKeeper in [`cut_off_leader`].
trait Cut {
    /// What the timeline calls it.
    fn describe(&self, jm: usize) -> String;
    /// Cuts JobManager `jm` off.
    fn cut(&self, jm: usize);
    /// Heals the cut.
    fn heal(&self, jm: usize);
}

/// Each JobManager behind its own proxy: the leader's traffic is blackholed.
struct Blackholed(Vec<FaultProxy>);

impl Cut for Blackholed {
    fn describe(&self, jm: usize) -> String {
        format!("JobManager {}'s ZooKeeper traffic blackholed", jm + 1)
    }
    fn cut(&self, jm: usize) {
        self.0[jm].blackhole();
    }
    fn heal(&self, jm: usize) {
        self.0[jm].heal();
    }
}

/// Each JobManager on one ZooKeeper follower: the leader's follower is cut off from the other
/// servers and goes on answering it.
struct FollowerIsolated<'a> {
    zk: &'a zkha_testkit::Ensemble,
    followers: Vec<usize>,
}

impl Cut for FollowerIsolated<'_> {
    fn describe(&self, jm: usize) -> String {
        format!(
            "ZooKeeper server {} (JobManager {}'s only server, a follower) cut off from the quorum",
            self.followers[jm],
            jm + 1
        )
    }
    fn cut(&self, jm: usize) {
        self.zk.isolate(self.followers[jm]).expect("isolate");
    }
    fn heal(&self, _jm: usize) {
        self.zk.heal_partition();
    }
}

/// The leader JobManager is cut off from ZooKeeper (by `cut`) under a running job: it steps
/// down within T and before the standby is granted, the job resumes from its checkpoint on
/// the standby, and ZooKeeper's transaction log (read on `log_node`) shows no write by the
/// old leader after the cut.
fn cut_off_leader(
    zk: &zkha_testkit::Ensemble,
    log_node: usize,
    mut cluster: zkha_flink_e2e::Cluster,
    job: &str,
    cut: &dyn Cut,
) {
    let old = cluster.leader().expect("read leader").expect("a leader");
    let standby = 1 - old.jm;
    let old_pid = cluster.jm_pid(old.jm).expect("leader pid");
    let before = cluster
        .checkpoints(job)
        .expect("checkpoints")
        .latest_completed
        .expect("a checkpoint");
    let mut tl = Timeline::start(format!(
        "JobManager {} (leader) cut off from ZooKeeper",
        old.jm + 1
    ));
    cut.cut(old.jm);
    tl.mark(
        format!(
            "{} (checkpoint {before} completed before)",
            cut.describe(old.jm)
        ),
        tl.origin(),
    );
    let (new, took, restored) =
        scenario::wait_taken_over(&mut cluster, job, old.jm, 3 * T, &mut tl)
            .expect("the standby takes over");
    assert_eq!(new.jm, standby);
    assert!(restored >= before, "restored {restored} < {before}");

    // The old leader stepped down by itself, within T, before anyone else was granted.
    let revoked_at = tl
        .mark_log(
            &format!("JobManager {}", old.jm + 1),
            &cluster.jm_log(old.jm),
            "zkha: leadership revoked",
        )
        .expect("the old leader logged that it stepped down");
    let granted_at = tl
        .mark_log(
            &format!("JobManager {}", new.jm + 1),
            &cluster.jm_log(new.jm),
            "zkha: leadership granted",
        )
        .expect("the new leader logged its grant");
    assert!(
        revoked_at <= T.as_millis() as i64,
        "the old leader stepped down {revoked_at} ms after the cut; its lease is T = {T:?}"
    );
    assert!(
        granted_at >= revoked_at,
        "two leaders: JobManager {} was granted at +{granted_at} ms, the old one stepped down at +{revoked_at} ms",
        new.jm + 1
    );
    assert!(took >= Duration::from_millis(revoked_at.max(0) as u64));

    // Heal: the old leader comes back with a new session, as a standby.
    std::thread::sleep(Duration::from_secs(1));
    cut.heal(old.jm);
    tl.mark("cut healed", std::time::Instant::now());
    std::thread::sleep(T);
    assert_eq!(
        cluster.leader().expect("leader").map(|l| l.jm),
        Some(new.jm),
        "leadership stayed"
    );
    scenario::assert_single_instance(&cluster, job);

    assert_old_leader_wrote_nothing_after_the_cut(zk, log_node, &cluster, &old, old_pid, &mut tl);
}

#[test]
fn leader_cut_off_from_zookeeper_steps_down_and_writes_nothing_after_its_lease() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let proxies: Vec<FaultProxy> = (0..2)
        .map(|_| FaultProxy::start(&zk.addrs()).expect("proxy"))
        .collect();
    let quorums: Vec<Option<String>> = proxies.iter().map(|p| Some(p.connect_string())).collect();
    let (cluster, job) =
        scenario::start_with_job(&zk, Ha::Zkha, 3, |o| o.jm_quorums = quorums, &dist::stderr)
            .expect("cluster with job");
    cut_off_leader(&zk, 1, cluster, &job, &Blackholed(proxies));
}

/// The partition that a lease renewed by any answer cannot see: the leader JobManager's only
/// ZooKeeper server, a follower, is cut off from the other servers and goes on answering it
/// for syncLimit x tickTime = 5 s > T.
#[test]
fn leader_on_a_follower_cut_off_from_the_quorum_steps_down_before_the_standby_is_granted() {
    let _serial = scenario::serial();
    let zk = zkha_testkit::Ensemble::start(
        3,
        zkha_testkit::Options::default()
            .partitionable(true)
            .sync_limit(50),
    )
    .expect("ensemble");
    let leader = zk.leader().expect("a ZooKeeper leader");
    let followers: Vec<usize> = (1..=3).filter(|&n| n != leader).collect();
    let quorums: Vec<Option<String>> = followers
        .iter()
        .map(|&f| Some(zk.node(f).addr().to_string()))
        .collect();
    let (cluster, job) =
        scenario::start_with_job(&zk, Ha::Zkha, 3, |o| o.jm_quorums = quorums, &dist::stderr)
            .expect("cluster with job");
    let cut = FollowerIsolated { zk: &zk, followers };
    // The ZooKeeper leader's log has every committed transaction.
    cut_off_leader(&zk, leader, cluster, &job, &cut);
}
