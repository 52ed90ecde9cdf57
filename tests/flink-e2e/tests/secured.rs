//! A Flink cluster (`ZKHA_FLINK_VERSION`, default 2.3) on a secured ZooKeeper ensemble — TLS-only
//! client ports with client certificates, SASL DIGEST-MD5 required of every session,
//! `high-availability.zookeeper.client.acl: creator` — set up once, the way an operator sets up
//! Flink's built-in HA ([`zkha_flink_e2e::secured`]), and served by both HA services in turn:
//! built-in HA submits the job; zkha takes the cluster over (the job resumes from its latest
//! checkpoint), survives a SIGKILL of the leader JobManager; built-in HA takes it back. Every
//! znode either wrote carries the creator's ACL, as ZooKeeper's transaction log shows.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test secured -- --nocapture`.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use zkha_flink_e2e::cluster::unique;
use zkha_flink_e2e::scenario::{self, Fault, SharedStorage};
use zkha_flink_e2e::{dist, logs, secured, txnlog, Artifacts, ClusterOptions, Ha};

const T: Duration = Duration::from_secs(4);

fn now_ms() -> i64 {
    logs::epoch_ms(SystemTime::now()) as i64
}

#[test]
fn secured_ensemble_builtin_to_zkha_leader_killed_and_back_keeps_the_job() {
    let _serial = scenario::serial();
    let artifacts = Artifacts::prepare(&dist::stderr).expect("artifacts");
    eprintln!("secured ensemble on {}", artifacts.describe());
    let t = Instant::now();
    let (zk, security) = secured::ensemble().expect("a TLS + DIGEST-MD5 ensemble");
    eprintln!(
        "TLS + SASL DIGEST-MD5 ensemble of 3 ready after {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let storage = SharedStorage::new("secured");
    let cluster_id = format!("/secured-{}", unique());
    let options = |ha: Ha| {
        let mut o = ClusterOptions::new(ha, zk.connect_string());
        o.cluster_id = cluster_id.clone();
        o.storage_dir = Some(storage.0.clone());
        o.security = Some(security.clone());
        o.start_timeout = secured::START_TIMEOUT;
        o
    };

    // 1. Built-in HA: submit the job, let it checkpoint, stop the cluster.
    let (mut c, job) = scenario::start_with_job_on(
        &artifacts,
        &zk,
        Ha::BuiltIn,
        2,
        |o| *o = options(Ha::BuiltIn),
        &dist::stderr,
    )
    .expect("built-in HA cluster with the job");
    let root = c.options().cluster_root();
    let mut last = c.latest_checkpoint(&job).expect("a completed checkpoint");
    c.stop();
    drop(c);

    // 2. zkha takes the cluster over; its leader JobManager is killed.
    let zkha_from = now_ms();
    let (mut c, restored) = scenario::resume(&artifacts, options(Ha::Zkha), &job, last)
        .expect("zkha takes the cluster over");
    last = c
        .wait_checkpoint(&job, Some(restored), Duration::from_secs(60))
        .expect("checkpoints go on on zkha");
    let f = scenario::fail_leader(&mut c, &job, Fault::Kill).expect("failover");
    let restored =
        scenario::assert_killed_leader_replaced(&c, &job, &f, T + Duration::from_secs(1));
    last = c
        .wait_checkpoint(&job, Some(restored.max(last)), Duration::from_secs(60))
        .expect("a checkpoint after the failover");
    eprintln!("zkha: checkpoint {last} completed after the failover");
    c.stop();
    drop(c);
    let zkha_until = now_ms();

    // 3. Built-in HA takes the cluster back.
    let (mut c, restored) = scenario::resume(&artifacts, options(Ha::BuiltIn), &job, last)
        .expect("built-in HA takes the cluster back");
    let next = c
        .wait_checkpoint(&job, Some(restored), Duration::from_secs(60))
        .expect("checkpoints go on on built-in HA");
    eprintln!("built-in HA: checkpoint {next} completed after taking the cluster back");
    c.stop();
    drop(c);

    // 4. Every znode created in the cluster's tree carries the creator's ACL: all permissions
    //    for its SASL user and its certificate's subject, nothing for anyone else.
    let txns = txnlog::read_dir(&txnlog::ensemble_data_dir(&zk, 1)).expect("transaction log");
    let expected: BTreeSet<String> = security
        .creator_ids
        .iter()
        .map(|id| format!("31 {id}"))
        .collect();
    let mut by_zkha = 0;
    let mut wrong = Vec::new();
    for (t, o) in txns
        .iter()
        .flat_map(|t| t.writes().map(move |o| (t, o)))
        .filter(|(_, o)| o.acl.is_some())
    {
        let Some(path) = o.path.as_deref() else {
            continue;
        };
        if path != root && !path.starts_with(&format!("{root}/")) {
            continue;
        }
        let acl: BTreeSet<String> = o.acl.iter().flatten().cloned().collect();
        if acl != expected {
            wrong.push(format!("{path}: {acl:?} (zxid {:#x})", t.zxid));
        }
        if (zkha_from..zkha_until).contains(&t.time_ms) {
            by_zkha += 1;
        }
    }
    assert!(
        wrong.is_empty(),
        "nodes without the creator ACL {expected:?}:\n{}",
        wrong.join("\n")
    );
    assert!(
        by_zkha >= 3,
        "zkha created nodes while it served the cluster (found {by_zkha})"
    );
    eprintln!("{by_zkha} znodes created while zkha served the cluster, each with ACL {expected:?}");
}
