//! Switching a running cluster between Flink's built-in ZooKeeper HA and zkha, both ways: the
//! cluster is stopped (SIGTERM, as `stop-cluster.sh` does) and started on the other HA
//! services with the same ZooKeeper, root, cluster id and storage directory; the job comes
//! back by itself (not resubmitted) from its latest checkpoint.
//!
//! On the Flink version of `ZKHA_FLINK_VERSION` (default 2.3) and on 1.20. Run alone: `cargo
//! test -p zkha-flink-e2e --test switch`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use zkha_flink_e2e::cluster::unique;
use zkha_flink_e2e::scenario::{self, JOB_ARGS};
use zkha_flink_e2e::{dist, Artifacts, Cluster, ClusterOptions, Ha};

/// Removes the shared storage directory unless the test fails.
struct Storage(PathBuf);

impl Drop for Storage {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the storage directory {}", self.0.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

#[test]
fn switch_from_builtin_ha_to_zkha_and_back_resumes_from_checkpoints() {
    let _serial = scenario::serial();
    switch(&Artifacts::prepare(&dist::stderr).expect("artifacts"));
}

/// The same on Flink 1.20 LTS, beside the default version in `make test` (skipped when
/// `ZKHA_FLINK_VERSION` is set: `make test-flink-matrix` runs the test above on every version).
#[test]
fn switch_from_builtin_ha_to_zkha_and_back_resumes_from_checkpoints_on_flink_1_20() {
    let _serial = scenario::serial();
    if let Some(a) = scenario::lts_artifacts() {
        switch(&a);
    }
}

fn switch(artifacts: &Artifacts) {
    eprintln!("switch on {}", artifacts.describe());
    let zk = scenario::ensemble().expect("ensemble");
    let storage = Storage(std::env::temp_dir().join(format!("zkha-e2e-switch-{}", unique())));
    let cluster_id = format!("/switch-{}", unique());
    let options = |ha: Ha| {
        let mut o = ClusterOptions::new(ha, zk.connect_string());
        o.cluster_id = cluster_id.clone();
        o.storage_dir = Some(storage.0.clone());
        o
    };

    // 1. Built-in HA: submit the job, let it checkpoint, stop the cluster.
    let t = Instant::now();
    let mut c = Cluster::start(artifacts, options(Ha::BuiltIn)).expect("built-in HA cluster");
    let job = c.submit_job(&JOB_ARGS).expect("submit");
    c.wait_job_running(&job, Duration::from_secs(90))
        .expect("running on built-in HA");
    let mut last = c
        .wait_checkpoint(&job, None, Duration::from_secs(60))
        .expect("checkpoint");
    last = c
        .wait_checkpoint(&job, Some(last), Duration::from_secs(60))
        .expect("checkpoint");
    eprintln!(
        "built-in HA: job {job} running, checkpoint {last} completed ({:.1} s)",
        t.elapsed().as_secs_f64()
    );
    c.stop();
    drop(c);

    // 2. zkha, then 3. built-in HA again: the job comes back from the latest checkpoint.
    for ha in [Ha::Zkha, Ha::BuiltIn] {
        let t = Instant::now();
        let mut c = Cluster::start(artifacts, options(ha)).expect("cluster");
        let plan = c.read(&format!("{}/{job}", c.job_store())).expect("read");
        assert!(
            plan.is_some(),
            "the submitted job {job} is in ZooKeeper ({})",
            c.job_store()
        );
        c.wait_job_running(&job, Duration::from_secs(120))
            .unwrap_or_else(|e| panic!("job {job} did not resume on {}: {e}", ha.name()));
        let jobs = c.jobs().expect("jobs");
        assert_eq!(jobs.len(), 1, "one job, the recovered one: {jobs:?}");
        let restored = c
            .checkpoints(&job)
            .expect("checkpoints")
            .latest_restored
            .unwrap_or_else(|| {
                panic!(
                    "job {job} on {} was not restored from a checkpoint",
                    ha.name()
                )
            });
        assert!(
            restored >= last,
            "on {} the job restored checkpoint {restored}, but {last} had completed before the switch",
            ha.name()
        );
        let next = c
            .wait_checkpoint(&job, Some(restored), Duration::from_secs(60))
            .expect("checkpoints go on after the switch");
        eprintln!(
            "{}: job {job} resumed from checkpoint {restored} (>= {last}), checkpoint {next} completed ({:.1} s)",
            ha.name(),
            t.elapsed().as_secs_f64()
        );
        last = next;
        c.stop();
    }
}
