//! Switching a running cluster between Flink's built-in ZooKeeper HA and zkha, both ways: the
//! cluster is stopped (SIGTERM, as `stop-cluster.sh` does) and started on the other HA
//! services with the same ZooKeeper, root, cluster id and storage directory; the job comes
//! back by itself (not resubmitted) from its latest checkpoint.
//!
//! On the Flink version of `ZKHA_FLINK_VERSION` (default 2.3) and on 1.20. Run alone: `cargo
//! test -p zkha-flink-e2e --test switch`.

use std::time::Duration;

use zkha_flink_e2e::cluster::unique;
use zkha_flink_e2e::scenario::{self, SharedStorage};
use zkha_flink_e2e::{dist, Artifacts, ClusterOptions, Ha};

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
    let storage = SharedStorage::new("switch");
    let cluster_id = format!("/switch-{}", unique());
    let options = |ha: Ha| {
        let mut o = ClusterOptions::new(ha, zk.connect_string());
        o.cluster_id = cluster_id.clone();
        o.storage_dir = Some(storage.0.clone());
        o
    };

    // 1. Built-in HA: submit the job, let it checkpoint, stop the cluster.
    let (mut c, job) = scenario::start_with_job_on(
        artifacts,
        &zk,
        Ha::BuiltIn,
        2,
        |o| *o = options(Ha::BuiltIn),
        &dist::stderr,
    )
    .expect("built-in HA cluster with the job");
    let mut last = c.latest_checkpoint(&job).expect("a completed checkpoint");
    c.stop();
    drop(c);

    // 2. zkha, then 3. built-in HA again: the job comes back from the latest checkpoint.
    for ha in [Ha::Zkha, Ha::BuiltIn] {
        let (mut c, restored) = scenario::resume(artifacts, options(ha), &job, last)
            .unwrap_or_else(|e| panic!("{} takes the cluster over: {e}", ha.name()));
        let next = c
            .wait_checkpoint(&job, Some(restored), Duration::from_secs(60))
            .expect("checkpoints go on after the switch");
        eprintln!(
            "{}: checkpoint {next} completed after the switch",
            ha.name()
        );
        last = next;
        c.stop();
    }
}
