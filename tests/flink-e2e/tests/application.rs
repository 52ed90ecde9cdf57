//! An application cluster on zkha (Flink's `StandaloneApplicationClusterEntryPoint`, the job
//! under a fixed job id, three JobManagers): the leader is killed, a standby takes over and
//! resumes the job from its checkpoint, the job finishes while the third JobManager still holds
//! its latch node, and the cluster shuts itself down as Flink does — the JobResultStore entry
//! clean, no HA data left in ZooKeeper or in `high-availability.storageDir` (but the state
//! handle file of a checkpoint the killed leader was completing when it died, which the crash
//! orphans with any HA services).
//!
//! On the Flink version of `ZKHA_FLINK_VERSION` (default 2.3) and on 1.20. Run alone: `cargo
//! test -p zkha-flink-e2e --test application -- --test-threads 1`.
//!
//! This test found a standby that joined again while the leader deleted the cluster root get
//! "no such znode", which zkha reported to Flink as an election error, fatal (exit code 239):
//! fixed in core (82223d4), and failed on here. It also found a checkpoint the new leader
//! recovered and subsumed while the killed leader's session still held its lock (before T,
//! which zkha's fast failover is well within) keep its `completedCheckpoint*` file in
//! `high-availability.storageDir`: fixed in core (a lock of a session whose process the
//! liveness link proved gone no longer keeps an entry), and failed on here. One case is still
//! checked precisely and reported, not failed on (it leaves the job's outcome intact; see
//! docs/flink-e2e.md, "Known defects"): a standby granted in the moment between the leader's
//! latch node and the root going, revoked when its node goes with the root: Flink makes the
//! interrupted application start fatal, and the election's znodes it had made again
//! (`leader`, `leader/latch`) stay. `ZKHA_E2E_STRICT=1` fails on it too.

use std::fs;
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use zkha_flink_e2e::cluster::unique;
use zkha_flink_e2e::scenario::{self, Fault, JOB_ARGS};
use zkha_flink_e2e::{dist, logs, Application, Artifacts, Cluster, ClusterOptions, Ha};

/// Records the bounded job emits: 15 s of running at 100 records/s, enough for the failover
/// (the job runs again within seconds) and short enough to finish soon after.
const COUNT: &str = "1500";

/// The exit code of a Flink entrypoint after a fatal error.
const FATAL_EXIT: i32 = 239;

fn strict() -> bool {
    std::env::var("ZKHA_E2E_STRICT").is_ok_and(|v| v == "1")
}

#[test]
fn application_cluster_fails_over_and_finishes_with_a_clean_job_result_and_no_ha_data() {
    let _serial = scenario::serial();
    application_cluster(
        &Artifacts::prepare(&dist::stderr).expect("artifacts"),
        Ha::Zkha,
    );
}

/// The same on Flink 1.20 LTS, beside the default version in `make test` (skipped when
/// `ZKHA_FLINK_VERSION` is set: `make test-flink-matrix` runs the test above on every version).
#[test]
fn application_cluster_fails_over_and_finishes_on_flink_1_20() {
    let _serial = scenario::serial();
    if let Some(a) = scenario::lts_artifacts() {
        application_cluster(&a, Ha::Zkha);
    }
}

/// The same on Flink's built-in ZooKeeper HA: what Flink itself does, the reference for the
/// test above (`cargo test -p zkha-flink-e2e --test application -- --ignored`).
#[test]
#[ignore = "a reference run on Flink's built-in HA, not a test of zkha"]
fn application_cluster_on_builtin_ha_reference() {
    let _serial = scenario::serial();
    application_cluster(
        &Artifacts::prepare(&dist::stderr).expect("artifacts"),
        Ha::BuiltIn,
    );
}

/// A JobManager's exit after the job is done: success, or (zkha, not strict) the known fatal
/// error of a re-join that raced the cleanup, recognised by its log line.
/// Returns whether it was that defect.
fn check_exit(cluster: &Cluster, jm: usize, status: ExitStatus, ha: Ha) -> bool {
    if status.success() {
        return false;
    }
    // Granted in the moment between the leader's own latch node and the root going, and
    // revoked when its node went with the root (reason 4, node deleted): the application it
    // had begun to run is interrupted, which Flink treats as fatal. zkha must revoke there (a
    // leader without a latch node could lead beside a newcomer); docs/flink-e2e.md says why
    // this is tolerated.
    let raced = logs::grep(&cluster.jm_log(jm), "leadership revoked (reason code 4)");
    if ha == Ha::Zkha && !strict() && status.code() == Some(FATAL_EXIT) && !raced.is_empty() {
        eprintln!(
            "TOLERATED: JobManager {} exited with {status}: it was granted while the leader \
             cleaned up the cluster root, and revoked when its node went with the root: {}",
            jm + 1,
            raced[0].text
        );
        return true;
    }
    panic!(
        "JobManager {} exited by itself, successfully, once the job was done: {status}\n{}",
        jm + 1,
        cluster.report()
    );
}

/// The checkpoint id a `completedCheckpoint*` state handle file names (`.../chk-<id>/...`).
fn checkpoint_of(file: &Path) -> Option<u64> {
    let bytes = std::fs::read(file).ok()?;
    let text = String::from_utf8_lossy(&bytes);
    let at = text.find("/chk-")? + "/chk-".len();
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn application_cluster(artifacts: &Artifacts, ha: Ha) {
    eprintln!(
        "application mode on {} with {}",
        artifacts.describe(),
        ha.name()
    );
    let zk = scenario::ensemble().expect("ensemble");
    let job = format!("{:032x}", unique());
    let mut options = ClusterOptions::new(ha, zk.connect_string());
    options.job_managers = 3;
    // Flink's defaults delete a job's (and, on 2.3, an application's) result once it is clean:
    // a standby that leads after the cluster's HA data is gone would then run the finished job
    // again from the start (built-in HA does so too). Kept, it finds the job done.
    for key in [
        "job-result-store.delete-on-commit",
        "application-result-store.delete-on-commit",
    ] {
        options
            .extra_config
            .push((key.to_string(), "false".to_string()));
    }
    let mut args: Vec<String> = JOB_ARGS.iter().map(|s| s.to_string()).collect();
    args.extend(["--count".to_string(), COUNT.to_string()]);
    options.application = Some(Application {
        job_id: job.clone(),
        args,
    });
    let t = Instant::now();
    let mut cluster = Cluster::start(artifacts, options).expect("application cluster");
    cluster
        .wait_job_running(&job, Duration::from_secs(120))
        .expect("the application's job runs under its fixed id");
    let first = cluster
        .wait_checkpoint(&job, None, Duration::from_secs(60))
        .expect("checkpoint");
    cluster
        .wait_checkpoint(&job, Some(first), Duration::from_secs(60))
        .expect("checkpoint");
    eprintln!(
        "job {job} running, checkpoints completed ({:.1} s)",
        t.elapsed().as_secs_f64()
    );

    // The leader is killed; a standby resumes the job from its latest checkpoint.
    let f = scenario::fail_leader(&mut cluster, &job, Fault::Kill).expect("failover");
    eprintln!("{}", f.timeline);
    let restored = f.restored.expect("the job was restored from a checkpoint");
    assert!(
        restored >= f.checkpoint_before,
        "restored from checkpoint {restored}, but {} had completed before the kill",
        f.checkpoint_before
    );
    let jobs = cluster.jobs().expect("jobs");
    assert_eq!(
        jobs.iter().map(|j| j.id.as_str()).collect::<Vec<_>>(),
        vec![job.as_str()],
        "the new leader runs the one job under its fixed id"
    );
    let standby = (0..3)
        .find(|&jm| jm != f.old_leader && jm != f.new_leader)
        .expect("the third JobManager");
    assert!(cluster.jm_running(standby), "the third JobManager runs");
    assert_eq!(
        cluster.contenders().expect("contenders"),
        2,
        "the new leader and the standby hold latch nodes"
    );
    let (dirty, clean) = cluster.job_result_entries(&job).expect("job results");
    assert!(
        dirty.is_none() && clean.is_none(),
        "no job result while the job runs: dirty {dirty:?}, clean {clean:?}"
    );

    // The job finishes; Flink cleans up its data and shuts the cluster down: the new leader
    // first, while the standby still holds its latch node, then the standby, which finds the
    // job done in the JobResultStore and does not run it again.
    let deadline = Instant::now() + Duration::from_secs(240);
    let mut raced = false;
    for jm in [f.new_leader, standby] {
        let left = deadline.saturating_duration_since(Instant::now());
        let status = cluster
            .wait_jm_exit(jm, left)
            .expect("wait")
            .expect("the JobManager was running");
        raced |= check_exit(&cluster, jm, status, ha);
    }
    eprintln!(
        "both JobManagers exited after the job finished ({:.1} s)",
        t.elapsed().as_secs_f64()
    );

    let (dirty, clean) = cluster.job_result_entries(&job).expect("job results");
    assert!(dirty.is_none(), "the dirty entry was cleaned up: {dirty:?}");
    let clean = clean.expect("a clean JobResultStore entry for the job");
    assert!(
        clean.contains(&job) && clean.contains("SUCCEEDED"),
        "the clean entry records the job as succeeded: {clean}"
    );
    let mut znodes = cluster.znodes().expect("znodes");
    if raced {
        // The dead standby had made the election's path again: its latch node lives until its
        // session expires (T); the parents it made are containers, which the servers remove
        // once empty (each second in the test kit, one level at a time).
        let deadline = Instant::now() + cluster.options().session_timeout + Duration::from_secs(6);
        while znodes.iter().any(|z| z.starts_with("leader")) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            znodes = cluster.znodes().expect("znodes");
        }
    }
    assert!(
        znodes.is_empty(),
        "no HA data left in ZooKeeper below {}: {znodes:?}",
        cluster.options().cluster_root()
    );
    let mut files = cluster.ha_files().expect("files");
    // The state handle file of a checkpoint the killed leader was completing (written before
    // its znode, as Flink's store does) is orphaned by the crash, with any HA services: written
    // before the kill, of a checkpoint newer than the one restored.
    let killed_ms = f.timeline.origin_epoch_ms() + 500;
    let ha_dir = cluster.storage_dir().join("ha");
    files.retain(|name| {
        let path = ha_dir.join(name);
        let base = name.rsplit('/').next().unwrap_or(name);
        let chk = checkpoint_of(&path);
        if !base.starts_with("completedCheckpoint") {
            return true;
        }
        let written_ms = fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(logs::epoch_ms)
            .unwrap_or(u64::MAX);
        if chk.is_some_and(|c| c > restored) && written_ms <= killed_ms {
            eprintln!(
                "{name} (checkpoint {}, written by the killed leader before its znode) was \
                 orphaned by the crash, as with any HA services",
                chk.unwrap_or(0)
            );
            return false;
        }
        true
    });
    assert!(
        files.is_empty(),
        "no HA data left in high-availability.storageDir {}: {files:?}",
        cluster.storage_dir().join("ha").display()
    );
    eprintln!(
        "job result clean, no znode below {}, no file in the HA storage ({:.1} s)",
        cluster.options().cluster_root(),
        t.elapsed().as_secs_f64()
    );
}
