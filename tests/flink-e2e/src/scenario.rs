//! The building blocks the tests, the demo and the benchmark share: a ZooKeeper ensemble and a
//! Flink cluster running the checkpointing test job, and a JobManager failover measured from
//! the fault to a new leader (as ZooKeeper names it) and to the job running again.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zkha_testkit::{Ensemble, Options};

use crate::cluster::{Cluster, ClusterOptions, Ha};
use crate::dist::{Artifacts, Progress};
use crate::error::{Error, Result};
use crate::timeline::Timeline;

/// The job's arguments: 100 records/s, a checkpoint every 500 ms.
pub const JOB_ARGS: [&str; 4] = ["--rate", "100", "--checkpoint-ms", "500"];

/// One Flink cluster at a time per process: they are heavy on two cores, and timings would
/// suffer. Tests hold this while they run.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|p| p.into_inner())
}

/// Starts a 3-node ensemble.
pub fn ensemble() -> Result<Ensemble> {
    Ok(Ensemble::start(3, Options::default())?)
}

/// The artifacts of Flink 1.20 LTS for the tests that run on it beside the default version
/// (`..._on_flink_1_20`); `None`, said on stderr, when `ZKHA_FLINK_VERSION` chooses the version
/// (`make test-flink-matrix` runs every test on every version). Panics if they cannot be had.
pub fn lts_artifacts() -> Option<Artifacts> {
    if !crate::dist::lts_beside_default() {
        eprintln!("skipped: ZKHA_FLINK_VERSION chooses the version");
        return None;
    }
    Some(
        Artifacts::prepare_version(crate::dist::LTS_FLINK_VERSION, &crate::dist::stderr)
            .expect("Flink 1.20 artifacts"),
    )
}

/// Starts a cluster of the Flink version `ZKHA_FLINK_VERSION` (see [`start_with_job_on`]).
pub fn start_with_job(
    zk: &Ensemble,
    ha: Ha,
    checkpoints: u64,
    configure: impl FnOnce(&mut ClusterOptions),
    progress: Progress<'_>,
) -> Result<(Cluster, String)> {
    let artifacts = Artifacts::prepare(progress)?;
    start_with_job_on(&artifacts, zk, ha, checkpoints, configure, progress)
}

/// Starts a cluster of `artifacts` against `zk` (options from `configure`), submits the job and
/// waits until it runs and has completed `checkpoints` checkpoints; returns the cluster and the
/// job id.
pub fn start_with_job_on(
    artifacts: &Artifacts,
    zk: &Ensemble,
    ha: Ha,
    checkpoints: u64,
    configure: impl FnOnce(&mut ClusterOptions),
    progress: Progress<'_>,
) -> Result<(Cluster, String)> {
    let mut options = ClusterOptions::new(ha, zk.connect_string());
    configure(&mut options);
    let t = Instant::now();
    progress(&format!(
        "starting {} JobManager(s) and {} TaskManager(s) of Flink {} (Java {}) on {}",
        options.job_managers,
        options.task_managers,
        artifacts.flink_version,
        artifacts.java_version,
        ha.name()
    ));
    let mut cluster = Cluster::start(artifacts, options)?;
    progress(&format!(
        "cluster ready after {:.1} s; JobManager {} leads",
        t.elapsed().as_secs_f64(),
        cluster.leader()?.map(|l| l.jm + 1).unwrap_or(0)
    ));
    let job = cluster.submit_job(&JOB_ARGS)?;
    cluster.wait_job_running(&job, Duration::from_secs(90))?;
    let mut last = None;
    for _ in 0..checkpoints {
        last = Some(cluster.wait_checkpoint(&job, last, Duration::from_secs(60))?);
    }
    progress(&format!(
        "job {job} running, checkpoint {} completed",
        last.unwrap_or(0)
    ));
    Ok((cluster, job))
}

/// How the leader JobManager is taken down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL: a crash.
    Kill,
    /// SIGTERM: a graceful shutdown.
    Term,
    /// `zkha flink step-down` (core's `ClusterView::step_down`): a planned hand-over, nothing
    /// restarted. zkha only.
    StepDown,
}

impl Fault {
    /// Its short name: `kill`, `term`, `step-down`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::Kill => "kill",
            Fault::Term => "term",
            Fault::StepDown => "step-down",
        }
    }

    /// What the timeline and the benchmark call it.
    pub fn describe(self) -> &'static str {
        match self {
            Fault::Kill => "leader JobManager killed (SIGKILL)",
            Fault::Term => "leader JobManager terminated (SIGTERM)",
            Fault::StepDown => "leader JobManager asked to step down (zkha flink step-down)",
        }
    }
}

/// The line every Flink version's Dispatcher runner logs when its JobManager is granted
/// leadership, on zkha and on built-in HA alike.
pub const GRANT_LINE: &str = "DefaultDispatcherRunner was granted leadership";

/// A measured failover.
#[derive(Debug, Clone)]
pub struct Failover {
    /// The events, relative to the fault.
    pub timeline: Timeline,
    /// The JobManager taken down.
    pub old_leader: usize,
    /// The JobManager that leads afterwards.
    pub new_leader: usize,
    /// Fault to the new leader's address in ZooKeeper.
    pub leader_after: Duration,
    /// Fault to the new leader's grant, as its log tells ([`GRANT_LINE`]).
    pub granted_after: Option<Duration>,
    /// Fault to the job RUNNING with all tasks on the new leader.
    pub running_after: Duration,
    /// The latest completed checkpoint the kit saw before the fault.
    pub checkpoint_before: u64,
    /// The checkpoint the new leader restored the job from.
    pub restored: Option<u64>,
    /// Per subtask, how long the old JobMaster's attempt still ran after the new JobMaster's
    /// attempt was deployed on the TaskManager (ms; negative: it had ended before; `None`: it
    /// never ended in the log) ([`crate::tasks::overlaps`]).
    pub task_overlaps: Vec<(String, Option<i64>)>,
    /// SIGTERM: the old leader's exit code (143 after a clean shutdown: the JVM's exit on
    /// SIGTERM once its shutdown hooks ran) and the fatal errors in its log since the signal.
    pub exit: Option<(Option<i32>, Vec<String>)>,
    /// SIGTERM and step-down: the ERROR-level lines the old leader logged since then.
    pub old_leader_errors: Vec<String>,
}

impl Failover {
    /// The longest time an old attempt ran beside the new one (ms; `None` if one never
    /// ended, or if the TaskManager's log told of no attempt before and after: no data).
    pub fn max_task_overlap_ms(&self) -> Option<i64> {
        if self.task_overlaps.is_empty() {
            return None;
        }
        self.task_overlaps
            .iter()
            .try_fold(i64::MIN, |m, (_, o)| o.map(|o| m.max(o)))
    }

    /// SIGTERM: exited 143 with no fatal error in the log; `None` for other faults.
    pub fn clean_shutdown(&self) -> Option<bool> {
        self.exit
            .as_ref()
            .map(|(code, fatal)| *code == Some(143) && fatal.is_empty())
    }
}

/// Takes the leading JobManager down with `fault` and measures until the job runs again
/// under the new leader.
pub fn fail_leader(cluster: &mut Cluster, job: &str, fault: Fault) -> Result<Failover> {
    let old = cluster
        .leader()?
        .ok_or_else(|| Error::new("no JobManager leads"))?;
    let checkpoint_before = cluster
        .checkpoints(job)?
        .latest_completed
        .ok_or_else(|| Error::new("no checkpoint completed before the fault"))?;
    let mut tl = Timeline::start(fault.describe());
    let origin_ms = tl.origin_epoch_ms();
    // A step-down runs beside the kit's polling, as an operator's command would.
    let mut step_down = None;
    match fault {
        Fault::Kill => cluster.kill_jm(old.jm)?,
        Fault::Term => cluster.term_jm(old.jm)?,
        Fault::StepDown => {
            let view = cluster_view(cluster);
            step_down = Some(std::thread::spawn(move || {
                let options = zkha::StepDownOptions::default();
                zkha::runtime::block_on(async move { view.step_down(&options).await })
            }));
        }
    }
    tl.mark(
        format!(
            "JobManager {} {} (latest completed checkpoint {checkpoint_before})",
            old.jm + 1,
            match fault {
                Fault::Kill => "killed",
                Fault::Term => "sent SIGTERM",
                Fault::StepDown => "asked to step down",
            }
        ),
        tl.origin(),
    );
    let (new, at) = cluster.wait_leader(Duration::from_secs(120), |l| l.jm != old.jm)?;
    let leader_after = tl.mark(
        format!("JobManager {} is leader in ZooKeeper", new.jm + 1),
        at,
    );
    let running_at = cluster.wait_job_running(job, Duration::from_secs(120))?;
    let running_after = tl.mark("job RUNNING again, all tasks running", running_at);
    let restored = cluster.checkpoints(job)?.latest_restored;
    if let Some(t) = step_down {
        let report = t
            .join()
            .map_err(|_| Error::new("the step-down thread panicked"))??;
        for s in &report.timeline {
            tl.note(format!("step-down +{:.1} ms: {}", s.at_ms, s.what));
        }
    }
    let granted_after = crate::logs::grep(&cluster.jm_log(new.jm), GRANT_LINE)
        .iter()
        .find(|l| l.epoch_ms >= origin_ms)
        .map(|l| Duration::from_millis(l.epoch_ms - origin_ms));
    let mut exit = None;
    if fault == Fault::Term {
        let status = cluster.wait_jm_exit(old.jm, Duration::from_secs(30))?;
        if let Some(status) = status {
            tl.note(format!("JobManager {} exited: {status}", old.jm + 1));
        }
        let fatal = crate::logs::fatal_errors(&cluster.jm_log(old.jm), origin_ms);
        exit = Some((status.and_then(|s| s.code()), fatal));
    }
    let old_leader_errors = match fault {
        Fault::Kill => Vec::new(),
        _ => crate::logs::errors(&cluster.jm_log(old.jm), origin_ms),
    };
    for e in &old_leader_errors {
        tl.note(format!(
            "JobManager {} logged: {}",
            old.jm + 1,
            e.chars().take(200).collect::<String>()
        ));
    }
    let task_overlaps =
        crate::tasks::overlaps(&crate::tasks::attempts(&cluster.tm_log(0)), origin_ms);
    for (task, o) in &task_overlaps {
        tl.note(match o {
            Some(ms) if *ms > 0 => {
                format!("{task}: the old attempt ran {ms} ms beside the new one")
            }
            Some(ms) => format!(
                "{task}: the old attempt had ended {} ms before the new one was deployed",
                -ms
            ),
            None => format!("{task}: the old attempt never ended"),
        });
    }
    mark_hand_over_logs(&mut tl, cluster, old.jm, new.jm);
    tl.note(format!(
        "restored from checkpoint {}",
        restored.map_or("none".to_string(), |r| r.to_string())
    ));
    Ok(Failover {
        timeline: tl,
        old_leader: old.jm,
        new_leader: new.jm,
        leader_after,
        granted_after,
        running_after,
        checkpoint_before,
        restored,
        task_overlaps,
        exit,
        old_leader_errors,
    })
}

/// Core's view of `cluster`'s HA data, through the kit's client (what `zkha flink ...` reads).
pub fn cluster_view(cluster: &Cluster) -> zkha::flink::ClusterView {
    zkha::flink::ClusterView::new(
        cluster.zk().clone(),
        zkha::flink::FlinkLayout::new(cluster.options().cluster_root()),
    )
}

/// Marks on `tl` the revocation JobManager `old` and the grant JobManager `new` logged.
pub fn mark_hand_over_logs(tl: &mut Timeline, cluster: &Cluster, old: usize, new: usize) {
    tl.mark_log(
        &format!("JobManager {}", old + 1),
        &cluster.jm_log(old),
        "zkha: leadership revoked",
    );
    tl.mark_log(
        &format!("JobManager {}", new + 1),
        &cluster.jm_log(new),
        "zkha: leadership granted",
    );
}

/// Waits until a JobManager other than `old` leads in ZooKeeper (within `timeout`) and the job
/// runs again on it (within 120 s), marking both on `tl`; returns the new leader, when it led
/// (after `tl`'s origin) and the checkpoint the job was restored from.
pub fn wait_taken_over(
    cluster: &mut Cluster,
    job: &str,
    old: usize,
    timeout: Duration,
    tl: &mut Timeline,
) -> Result<(crate::Leader, Duration, u64)> {
    let (new, at) = cluster.wait_leader(timeout, |l| l.jm != old)?;
    let led = tl.mark(
        format!("JobManager {} is leader in ZooKeeper", new.jm + 1),
        at,
    );
    let running = cluster.wait_job_running(job, Duration::from_secs(120))?;
    tl.mark("job RUNNING again", running);
    let restored = cluster
        .checkpoints(job)?
        .latest_restored
        .ok_or_else(|| Error::new(format!("job {job} was not restored from a checkpoint")))?;
    Ok((new, led, restored))
}

/// Asserts what a SIGKILL failover `f` of `cluster` must show: another JobManager leads
/// within `within` of the kill, the job was restored from a checkpoint at least as new as the
/// latest one completed before the kill, and one instance of it runs. Prints the timeline;
/// returns the restored checkpoint.
pub fn assert_killed_leader_replaced(
    cluster: &Cluster,
    job: &str,
    f: &Failover,
    within: Duration,
) -> u64 {
    eprintln!("{}", f.timeline);
    assert_ne!(f.new_leader, f.old_leader);
    assert!(
        f.leader_after <= within,
        "standby leads {:?} after the kill; expected within {within:?}",
        f.leader_after
    );
    let restored = f.restored.expect("the job was restored from a checkpoint");
    assert!(
        restored >= f.checkpoint_before,
        "restored from checkpoint {restored}, but {} had completed before the kill",
        f.checkpoint_before
    );
    assert_single_instance(cluster, job);
    restored
}

/// Asserts that exactly one instance of `job` runs: the leader lists it once, RUNNING, and no
/// other job runs; the TaskManager's slots hold one job's tasks (parallelism 1: one slot), so
/// no task of an earlier instance lingers.
pub fn assert_single_instance(cluster: &Cluster, job: &str) {
    let jobs = cluster.jobs().expect("jobs");
    let listed: Vec<_> = jobs.iter().filter(|j| j.id == job).collect();
    assert_eq!(listed.len(), 1, "job listed once: {jobs:?}");
    assert_eq!(listed[0].state, "RUNNING");
    let others: Vec<_> = jobs
        .iter()
        .filter(|j| j.id != job && !["FINISHED", "CANCELED", "FAILED"].contains(&j.state.as_str()))
        .collect();
    assert!(others.is_empty(), "no other job alive: {others:?}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let o = cluster
            .leader_rest()
            .and_then(|r| r.overview())
            .expect("overview");
        if o.jobs_running == 1 && o.slots_total - o.slots_available == 1 {
            eprintln!(
                "  one instance: jobs-running 1, slots used 1 of {}",
                o.slots_total
            );
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still more than one instance after 30 s: {o:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A storage directory two clusters share (one takes over the other's jobs), removed when
/// dropped unless the test fails.
pub struct SharedStorage(pub std::path::PathBuf);

impl SharedStorage {
    /// A fresh directory in the temporary directory, named after `what`.
    pub fn new(what: &str) -> SharedStorage {
        SharedStorage(
            std::env::temp_dir().join(format!("zkha-e2e-{what}-{}", crate::cluster::unique())),
        )
    }
}

impl Drop for SharedStorage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the storage directory {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Starts a cluster with `options` that takes over the jobs of an earlier one (same ZooKeeper
/// root, cluster id and storage) and waits until `job` runs again, restored from a checkpoint
/// at least `last`, as a stopped cluster's job must come back by itself; returns the cluster
/// and the restored checkpoint.
pub fn resume(
    artifacts: &Artifacts,
    options: ClusterOptions,
    job: &str,
    last: u64,
) -> Result<(Cluster, u64)> {
    let ha = options.ha;
    let t = Instant::now();
    let mut c = Cluster::start(artifacts, options)?;
    let store = c.job_store();
    if c.read(&format!("{store}/{job}"))?.is_none() {
        return Err(Error::new(format!(
            "the submitted job {job} is not in ZooKeeper ({store})"
        )));
    }
    c.wait_job_running(job, Duration::from_secs(120))
        .map_err(|e| Error::new(format!("job {job} did not resume on {}: {e}", ha.name())))?;
    let jobs = c.jobs()?;
    if jobs.len() != 1 {
        return Err(Error::new(format!(
            "one job expected, the recovered one: {jobs:?}"
        )));
    }
    let restored = c.checkpoints(job)?.latest_restored.ok_or_else(|| {
        Error::new(format!(
            "job {job} on {} was not restored from a checkpoint",
            ha.name()
        ))
    })?;
    if restored < last {
        return Err(Error::new(format!(
            "on {} the job restored checkpoint {restored}, but {last} had completed before",
            ha.name()
        )));
    }
    eprintln!(
        "{}: job {job} resumed from checkpoint {restored} (>= {last}) after {:.1} s",
        ha.name(),
        t.elapsed().as_secs_f64()
    );
    Ok((c, restored))
}
