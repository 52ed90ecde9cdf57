//! Central configuration on a real Flink cluster (`ZKHA_FLINK_VERSION`, default 2.3): a
//! JobManager started from a `config.yaml` pulled out of ZooKeeper (`zkha flink config pull`,
//! core's `ConfigStore::pull`) runs, publishes the version it started with, shows as stale
//! after a push, and as current after a restart that pulls again.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test central_config -- --test-threads 1`.

use std::time::Duration;

use zkha::flink::config_store::Part;
use zkha_flink_e2e::central_config::{push, push_kit_config, restart_from_pulled, status_of};
use zkha_flink_e2e::scenario;
use zkha_flink_e2e::{dist, logs, Ha};

#[test]
fn a_jobmanager_runs_from_a_pulled_configuration_and_shows_stale_then_current() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) = scenario::start_with_job(&zk, Ha::Zkha, 2, |_| {}, &dist::stderr)
        .expect("cluster with job");
    let jm = 0;
    // The kit's own configuration of JobManager 1 becomes the stored base.
    let (store, pushed) =
        push_kit_config(&cluster, jm, "e2e", "the kit's configuration").expect("push the base");
    assert_eq!(pushed.version, 1);

    let v = restart_from_pulled(&mut cluster, &store, jm).expect("restart from a pull");
    let p = status_of(&cluster, &store, jm, v).expect("published");
    assert_eq!(
        (p.running.role.as_str(), p.running.host.as_str()),
        ("jobmanager", "jm1")
    );
    assert!(!p.stale, "current right after the start: {p:?}");
    let published = logs::grep(
        &cluster.jm_log(jm),
        "running with central configuration version 1",
    );
    assert!(
        !published.is_empty(),
        "the plugin logged the version it publishes"
    );

    // A push: the running JobManager is stale, with the key that changed.
    push(
        &store,
        Part::Role("jobmanager".into()),
        "web.refresh-interval: 2 s\n",
        "e2e",
        "slower web refresh",
    )
    .expect("push an overlay");
    let p = status_of(&cluster, &store, jm, 1).expect("published");
    assert!(p.stale && p.known, "stale after the push: {p:?}");
    let keys: Vec<&str> = p.differs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["web.refresh-interval"]);

    // Restarted with a fresh pull: current again, and the cluster still runs the job.
    let v = restart_from_pulled(&mut cluster, &store, jm).expect("restart from a pull");
    assert_eq!(v, 2);
    let p = status_of(&cluster, &store, jm, 2).expect("published");
    assert!(!p.stale && p.differs.is_empty(), "{p:?}");
    let next = cluster
        .wait_checkpoint(&job, None, Duration::from_secs(60))
        .expect("checkpoints go on");
    eprintln!("central configuration: JobManager 1 ran version 1, stale after version 2, current after a restart; checkpoint {next}");
}
