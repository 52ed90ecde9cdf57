//! Central configuration on a real Flink cluster (`ZKHA_FLINK_VERSION`, default 2.3): a
//! JobManager started from a `config.yaml` pulled out of ZooKeeper (`zkha flink config pull`,
//! core's `ConfigStore::pull`) runs, publishes the version it started with, shows as stale
//! after a push, and as current after a restart that pulls again.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test central_config -- --test-threads 1`.

use std::time::{Duration, Instant};

use zkha::flink::config_store::{ConfigStore, Format, Part, ProcessStatus, PushOptions};
use zkha::flink::FlinkConfig;
use zkha_flink_e2e::scenario;
use zkha_flink_e2e::{dist, logs, Cluster, Ha};

/// Pulls JobManager `jm`'s configuration (role jobmanager, host `jm<n>`) into its
/// configuration directory and starts it again from it (SIGTERM first); waits until it runs
/// as a contender.
fn restart_from_pulled(cluster: &mut Cluster, store: &ConfigStore, jm: usize) -> u64 {
    let host = format!("jm{}", jm + 1);
    let s = store.clone();
    let (doc, text) =
        zkha::runtime::block_on(async move { s.pull(Some("jobmanager"), Some(&host)).await })
            .expect("pull");
    cluster.term_jm(jm).expect("SIGTERM");
    cluster
        .wait_jm_exit(jm, Duration::from_secs(60))
        .expect("exit");
    std::fs::write(cluster.jm_config_dir(jm).join("config.yaml"), text).expect("write");
    cluster.restart_jm(jm).expect("start from the pulled file");
    cluster
        .wait_standby(jm, Duration::from_secs(120))
        .expect("the JobManager started from the pulled file runs and contends");
    doc.version
}

/// The store's status once JobManager `jm` (its current pid) shows with `version`.
fn status_of(cluster: &Cluster, store: &ConfigStore, jm: usize, version: u64) -> ProcessStatus {
    let pid = cluster.jm_pid(jm).expect("pid");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = store.clone();
        let all = zkha::runtime::block_on(async move { s.status().await }).expect("status");
        if let Some(p) = all
            .into_iter()
            .find(|p| p.running.pid == pid && p.running.version == version)
        {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "JobManager {} (pid {pid}) did not publish version {version}",
            jm + 1
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_jobmanager_runs_from_a_pulled_configuration_and_shows_stale_then_current() {
    let _serial = scenario::serial();
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) = scenario::start_with_job(&zk, Ha::Zkha, 2, |_| {}, &dist::stderr)
        .expect("cluster with job");
    let jm = 0;
    // The kit's own configuration of JobManager 1 becomes the stored base.
    let file = cluster.jm_config_dir(jm).join("config.yaml");
    let base = std::fs::read_to_string(&file).expect("the kit's config.yaml");
    let config = FlinkConfig::parse_yaml(&base, "jm1 config.yaml").expect("parse");
    let store = ConfigStore::of_cluster(cluster.zk().clone(), &config).expect("store");
    let s = store.clone();
    let pushed = zkha::runtime::block_on(async move {
        s.push(
            &Part::Base,
            &base,
            Format::ConfigYaml,
            &PushOptions::new("e2e", "the kit's configuration"),
        )
        .await
    })
    .expect("push the base");
    assert_eq!(pushed.version, 1);

    let v = restart_from_pulled(&mut cluster, &store, jm);
    let p = status_of(&cluster, &store, jm, v);
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
    let s = store.clone();
    zkha::runtime::block_on(async move {
        s.push(
            &Part::Role("jobmanager".into()),
            "web.refresh-interval: 2 s\n",
            Format::ConfigYaml,
            &PushOptions::new("e2e", "slower web refresh"),
        )
        .await
    })
    .expect("push an overlay");
    let p = status_of(&cluster, &store, jm, 1);
    assert!(p.stale && p.known, "stale after the push: {p:?}");
    let keys: Vec<&str> = p.differs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["web.refresh-interval"]);

    // Restarted with a fresh pull: current again, and the cluster still runs the job.
    let v = restart_from_pulled(&mut cluster, &store, jm);
    assert_eq!(v, 2);
    let p = status_of(&cluster, &store, jm, 2);
    assert!(!p.stale && p.differs.is_empty(), "{p:?}");
    let next = cluster
        .wait_checkpoint(&job, None, Duration::from_secs(60))
        .expect("checkpoints go on");
    eprintln!("central configuration: JobManager 1 ran version 1, stale after version 2, current after a restart; checkpoint {next}");
}
