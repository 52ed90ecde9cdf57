//! Planned hand-overs of a real Flink cluster's JobManagers on zkha (`ZKHA_FLINK_VERSION`,
//! default 2.3; 2 JobManagers, 1 TaskManager, a 3-node ensemble, session timeout 4 s) under a
//! running, checkpointing job: a rolling restart (each JobManager in turn stopped with SIGTERM
//! and started again) and `zkha flink step-down` (leadership moved without a restart, there
//! and back). What an operator checks after either: the job resumed from its latest
//! checkpoint once per hand-over, no JobManager died of a fatal error, no checkpoint id was
//! completed twice or went backwards, and ZooKeeper's own transaction log shows no write a
//! JobManager made after its latch node was gone.
//!
//! Both also on Flink 1.20 LTS (`..._on_flink_1_20`) in `make test`.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test handover -- --test-threads 1`.

use std::time::{Duration, Instant};

use zkha::StepDownOptions;
use zkha_flink_e2e::cluster::Leader;
use zkha_flink_e2e::scenario;
use zkha_flink_e2e::{dist, logs, txnlog, Artifacts, Cluster, Ha, Timeline};

/// How many times JobManager `jm` restored `job` from a checkpoint at or after `since_ms`
/// (Flink's CheckpointCoordinator logs `Restoring job <id> from Checkpoint <n> ...`).
fn restores(cluster: &Cluster, jm: usize, job: &str, since_ms: u64) -> Vec<String> {
    logs::grep(&cluster.jm_log(jm), &format!("Restoring job {job} from"))
        .into_iter()
        .filter(|l| l.epoch_ms >= since_ms)
        .map(|l| l.text)
        .collect()
}

/// One hand-over as a test sees it.
struct HandOver {
    old: Leader,
    new: Leader,
    /// The latest checkpoint completed before the signal or request, and the one restored.
    before: u64,
    restored: u64,
}

/// Asserts what every hand-over must show once the job runs again on the new leader: it was
/// restored exactly once, from at least the latest checkpoint completed before `since_ms`,
/// and one instance of it runs.
fn assert_resumed_once(cluster: &Cluster, job: &str, h: &HandOver, since_ms: u64) {
    assert!(
        h.restored >= h.before,
        "restored from checkpoint {}, but {} had completed before the hand-over",
        h.restored,
        h.before
    );
    let restored = restores(cluster, h.new.jm, job, since_ms);
    assert_eq!(
        restored.len(),
        1,
        "JobManager {} restored the job {} times: {restored:?}",
        h.new.jm + 1,
        restored.len()
    );
    assert!(
        restores(cluster, h.old.jm, job, since_ms).is_empty(),
        "the old leader restored the job too"
    );
    scenario::assert_single_instance(cluster, job);
}

/// The sequence number of latch node `path` (the digits after its last `latch-`).
fn latch_seq(path: &str) -> Option<u64> {
    path.rsplit("latch-").next()?.parse().ok()
}

/// ZooKeeper's transaction log (on the ensemble's leader), replayed in zxid order with the
/// latch queue as it stood at each transaction: (1) every accepted write of a JobManager's
/// session was made while that session's latch node led the queue, except joining or leaving
/// the election (its own latch node) and releasing its own locks (deletes of `.../locks/<id>`
/// nodes, which Flink does when it gives up a job); so no JobManager wrote after its latch
/// node was gone; (2) every checkpoint id of `job` was added once, in increasing order (none
/// completed twice, none went back). Returns the number of checkpoint entries.
fn assert_transaction_log(
    zk: &zkha_testkit::Ensemble,
    cluster: &Cluster,
    job: &str,
    tl: &mut Timeline,
) -> usize {
    let node = zk.leader().expect("a ZooKeeper leader");
    let txns = txnlog::read_dir(&txnlog::ensemble_data_dir(zk, node)).expect("transaction log");
    let root = cluster.options().cluster_root();
    let latch = format!("{root}/leader/latch/");
    let mut sessions: Vec<i64> = (0..cluster.job_managers())
        .flat_map(|jm| logs::zkha_sessions(&cluster.jm_log(jm)))
        .collect();
    sessions.sort();
    sessions.dedup();
    assert!(
        !sessions.is_empty(),
        "the JobManagers logged their sessions"
    );
    // The election's own writes: latch nodes, and the latch's parents made on joining.
    let is_latch = |o: &txnlog::TxnOp| {
        o.path.as_deref().is_some_and(|p| {
            p.starts_with(&latch)
                || (latch.starts_with(&format!("{p}/")) && o.op != txnlog::op::DELETE)
        })
    };
    // The live latch nodes: sequence -> owning session; and those asked to step down (a
    // setData of the node: from then on its owner's writes are fenced out).
    let mut queue: std::collections::BTreeMap<u64, i64> = Default::default();
    let mut asked: std::collections::BTreeSet<u64> = Default::default();
    let (mut violations, mut releases, mut checked) = (Vec::new(), 0usize, 0usize);
    for t in &txns {
        let writes: Vec<&txnlog::TxnOp> = t.writes().collect();
        if sessions.contains(&t.session)
            && !writes.is_empty()
            && !writes.iter().all(|o| is_latch(o))
        {
            checked += 1;
            let leads = queue
                .iter()
                .next()
                .is_some_and(|(seq, owner)| *owner == t.session && !asked.contains(seq));
            let release = writes.iter().all(|o| {
                o.op == txnlog::op::DELETE
                    && o.path.as_deref().is_some_and(|p| p.contains("/locks/"))
            });
            if release && !leads {
                releases += 1;
            } else if !leads {
                violations.push(t.describe());
            }
        }
        for o in writes.iter().filter(|o| is_latch(o)) {
            let Some(seq) = o.path.as_deref().and_then(latch_seq) else {
                continue;
            };
            match o.op {
                txnlog::op::CREATE | txnlog::op::CREATE2 => {
                    queue.insert(seq, t.session);
                }
                txnlog::op::DELETE => {
                    queue.remove(&seq);
                }
                txnlog::op::SET_DATA => {
                    asked.insert(seq);
                }
                _ => {}
            }
        }
        if t.op == txnlog::op::CLOSE_SESSION {
            queue.retain(|_, owner| *owner != t.session);
        }
    }
    let prefix = format!("{root}/jobs/{job}/checkpoints/");
    let ids: Vec<u64> = txns
        .iter()
        .flat_map(|t| t.writes().cloned().collect::<Vec<_>>())
        .filter(|o| matches!(o.op, txnlog::op::CREATE | txnlog::op::CREATE2))
        .filter_map(|o| o.path?.strip_prefix(&prefix)?.parse().ok())
        .collect();
    tl.note(format!(
        "transaction log: {} JobManager session(s), {checked} HA writes checked ({releases} \
         lock releases after leading), {} checkpoint entries added ({:?}..{:?})",
        sessions.len(),
        ids.len(),
        ids.first(),
        ids.last()
    ));
    assert!(
        violations.is_empty(),
        "accepted writes of a JobManager whose latch node did not lead:\n{}",
        violations.join("\n")
    );
    assert!(
        checked > 0,
        "no JobManager write found in the transaction log"
    );
    assert!(
        !ids.is_empty(),
        "no checkpoint entry of job {job} found under {prefix}"
    );
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "checkpoint ids added twice or out of order: {ids:?}"
    );
    ids.len()
}

/// SIGTERM of the leader, measured until the job runs again on the standby; then checks the
/// old leader's exit and log, and starts it again as a standby.
fn terminate_and_restart(cluster: &mut Cluster, job: &str, tl: &mut Timeline) -> HandOver {
    let old = cluster.leader().expect("leader").expect("a leader");
    let before = cluster.latest_checkpoint(job).expect("a checkpoint");
    let since = logs::epoch_ms(std::time::SystemTime::now());
    let sent = Instant::now();
    cluster.term_jm(old.jm).expect("SIGTERM");
    tl.mark(
        format!(
            "JobManager {} (leader) sent SIGTERM; checkpoint {before} completed before",
            old.jm + 1
        ),
        sent,
    );
    let (new, _, restored) =
        scenario::wait_taken_over(cluster, job, old.jm, Duration::from_secs(60), tl)
            .expect("the standby takes over");
    let status = cluster
        .wait_jm_exit(old.jm, Duration::from_secs(60))
        .expect("wait for the exit")
        .expect("the old leader exited within 60 s");
    tl.mark(
        format!("JobManager {} exited: {status}", old.jm + 1),
        Instant::now(),
    );
    // The JVM runs its shutdown hooks (Flink's graceful shutdown) on SIGTERM and then exits
    // as the signal's default action would: 143 = 128 + 15. Anything else is a crash or a
    // fatal exit (Flink's fatal errors exit with -17 = 239).
    assert_eq!(
        status.code(),
        Some(143),
        "JobManager {} did not exit as a clean SIGTERM shutdown does: {status}",
        old.jm + 1
    );
    let fatal = logs::fatal_errors(&cluster.jm_log(old.jm), since);
    assert!(
        fatal.is_empty(),
        "fatal errors in the old leader's log: {fatal:?}"
    );
    scenario::mark_hand_over_logs(tl, cluster, old.jm, new.jm);
    let h = HandOver {
        old,
        new,
        before,
        restored,
    };
    assert_resumed_once(cluster, job, &h, since);
    cluster.restart_jm(h.old.jm).expect("start again");
    cluster
        .wait_standby(h.old.jm, Duration::from_secs(120))
        .expect("the restarted JobManager joins as a standby");
    tl.mark(
        format!("JobManager {} started again, a standby", h.old.jm + 1),
        Instant::now(),
    );
    cluster
        .wait_checkpoint(job, Some(restored), Duration::from_secs(60))
        .expect("checkpoints go on");
    h
}

#[test]
fn rolling_restart_of_both_jobmanagers_resumes_the_job_once_per_hand_over() {
    let _serial = scenario::serial();
    rolling_restart(&Artifacts::prepare(&dist::stderr).expect("artifacts"));
}

/// The same on Flink 1.20 LTS, beside the default version in `make test`.
#[test]
fn rolling_restart_of_both_jobmanagers_resumes_the_job_once_per_hand_over_on_flink_1_20() {
    let _serial = scenario::serial();
    if let Some(a) = scenario::lts_artifacts() {
        rolling_restart(&a);
    }
}

fn rolling_restart(artifacts: &Artifacts) {
    eprintln!("rolling restart on {}", artifacts.describe());
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) =
        scenario::start_with_job_on(artifacts, &zk, Ha::Zkha, 3, |_| {}, &dist::stderr)
            .expect("cluster with job");
    let mut tl =
        Timeline::start("rolling restart: each JobManager stopped (SIGTERM) and started again");
    let first = terminate_and_restart(&mut cluster, &job, &mut tl);
    let second = terminate_and_restart(&mut cluster, &job, &mut tl);
    assert_eq!(
        second.old.jm, first.new.jm,
        "the second restart stops the other one"
    );
    assert_eq!(second.new.jm, first.old.jm);
    let entries = assert_transaction_log(&zk, &cluster, &job, &mut tl);
    assert!(entries >= 6, "checkpoints went on: {entries} entries");
    eprintln!("{tl}");
}

/// The step-down of a Flink cluster's leader through core, as `zkha flink step-down` does.
fn step_down(cluster: &Cluster) -> zkha::StepDown {
    let view = scenario::cluster_view(cluster);
    zkha::runtime::block_on(async move { view.step_down(&StepDownOptions::default()).await })
        .expect("step down")
}

#[test]
fn step_down_moves_leadership_without_a_restart_and_back() {
    let _serial = scenario::serial();
    step_down_there_and_back(&Artifacts::prepare(&dist::stderr).expect("artifacts"));
}

/// The same on Flink 1.20 LTS, beside the default version in `make test`.
#[test]
fn step_down_moves_leadership_without_a_restart_and_back_on_flink_1_20() {
    let _serial = scenario::serial();
    if let Some(a) = scenario::lts_artifacts() {
        step_down_there_and_back(&a);
    }
}

fn step_down_there_and_back(artifacts: &Artifacts) {
    eprintln!("step-down on {}", artifacts.describe());
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) =
        scenario::start_with_job_on(artifacts, &zk, Ha::Zkha, 3, |_| {}, &dist::stderr)
            .expect("cluster with job");
    let mut tl = Timeline::start("step-down there and back, no process restarted");
    let pids: Vec<Option<u32>> = (0..2).map(|jm| cluster.jm_pid(jm)).collect();
    for round in 0..2 {
        let old = cluster.leader().expect("leader").expect("a leader");
        let before = cluster.latest_checkpoint(&job).expect("a checkpoint");
        let since = logs::epoch_ms(std::time::SystemTime::now());
        let report = step_down(&cluster);
        eprintln!("step-down {}:\n{}", round + 1, report.timeline_text());
        assert_eq!(report.how, "asked");
        assert!(!report.forced);
        let old_pid = pids[old.jm].expect("pid");
        assert!(
            report
                .leader
                .participant_id
                .starts_with(&format!("{old_pid}@")),
            "the leader asked is JobManager {}: {:?}",
            old.jm + 1,
            report.leader
        );
        assert!(
            report
                .timeline
                .iter()
                .any(|s| s.what.contains("published its REST address")),
            "the new leader published its address"
        );
        assert!(
            report
                .timeline
                .iter()
                .any(|s| s.what.contains("joined again as a standby")),
            "the old leader joined again"
        );
        let (new, _, restored) =
            scenario::wait_taken_over(&mut cluster, &job, old.jm, Duration::from_secs(30), &mut tl)
                .expect("the standby takes over");
        tl.note(format!(
            "step-down {}: request to the successor first in the queue {:.1} ms",
            round + 1,
            report.new_leader_ms.unwrap_or(f64::NAN)
        ));
        let h = HandOver {
            old,
            new,
            before,
            restored,
        };
        assert_resumed_once(&cluster, &job, &h, since);
        // Nothing was restarted: both JobManagers are the same processes, the old leader a
        // standby now, revoked for the step-down and without a fatal error.
        for (jm, pid) in pids.iter().enumerate() {
            assert!(cluster.jm_running(jm), "JobManager {} exited", jm + 1);
            assert_eq!(cluster.jm_pid(jm), *pid, "JobManager {} restarted", jm + 1);
        }
        cluster
            .wait_standby(h.old.jm, Duration::from_secs(30))
            .expect("the old leader is a standby");
        let revoked = logs::grep(&cluster.jm_log(h.old.jm), "zkha: leadership revoked")
            .into_iter()
            .filter(|l| l.epoch_ms >= since)
            .map(|l| l.text)
            .collect::<Vec<_>>();
        assert!(
            revoked.iter().any(|l| l.contains("step_down")),
            "the old leader logged its step-down: {revoked:?}"
        );
        let fatal = logs::fatal_errors(&cluster.jm_log(h.old.jm), since);
        assert!(
            fatal.is_empty(),
            "fatal errors in the old leader's log: {fatal:?}"
        );
        cluster
            .wait_checkpoint(&job, Some(restored), Duration::from_secs(60))
            .expect("checkpoints go on");
    }
    assert_transaction_log(&zk, &cluster, &job, &mut tl);
    eprintln!("{tl}");
}
