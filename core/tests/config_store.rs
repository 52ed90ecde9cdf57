//! The central configuration store (`zkha::flink::config_store`) on a real ensemble:
//! compare-and-set pushes, history and byte-for-byte rollback, overlays and references in a
//! pull, drift, and bad input refused before anything is written.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use zkha::flink::config_store::{ConfigStore, Format, Part, PushOptions, Running, VERSION_KEY};
use zkha::ErrorKind;
use zkha_testkit::{Fault, FaultProxy, ZkRequest};

const T: Duration = Duration::from_secs(4);

const BASE: &str = "\
jobmanager.rpc.address: jm
taskmanager.numberOfTaskSlots: 2
high-availability.type: io.zkha.flink.ZkhaHaServicesFactory
high-availability.zookeeper.quorum: zk1:2181
high-availability.zookeeper.client.session-timeout: 60 s
";

fn opts(note: &str) -> PushOptions {
    PushOptions::new("test", note)
}

/// The kept version numbers, newest first.
async fn kept_versions(s: &ConfigStore) -> Vec<u64> {
    let h = s.history().await.unwrap();
    h.iter().map(|v| v.version).collect()
}

async fn store(keep: usize) -> (zkha::Client, ConfigStore) {
    let c = client(&shared().connect_string(), T).await;
    let s = ConfigStore::new(c.clone(), unique("zkha-config"), keep);
    (c, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_pushes_one_wins_the_other_names_the_version() {
    let (c, s) = store(20).await;
    s.push(&Part::Base, BASE, Format::ConfigYaml, &opts("first"))
        .await
        .unwrap();
    // Another operator's store on another session.
    let other = ConfigStore::new(
        client(&shared().connect_string(), T).await,
        s.path().to_string(),
        20,
    );
    let a_text = format!("{BASE}parallelism.default: 2\n");
    let b_text = format!("{BASE}parallelism.default: 3\n");
    // Both pushed on the version they were shown (as the CLI does after its diff).
    let (mut oa, mut ob) = (opts("a"), opts("b"));
    oa.expected_version = Some(1);
    ob.expected_version = Some(1);
    let (a, b) = tokio::join!(
        s.push(&Part::Base, &a_text, Format::ConfigYaml, &oa),
        other.push(&Part::Base, &b_text, Format::ConfigYaml, &ob),
    );
    let (won, lost) = match (a, b) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        (a, b) => panic!("exactly one push must win: {a:?} / {b:?}"),
    };
    assert_eq!(won.version, 2);
    assert_eq!(lost.kind(), ErrorKind::BadVersion, "{lost}");
    let msg = lost.to_string();
    assert!(
        msg.contains("since version 1") && msg.contains("version 2 by test"),
        "{msg}"
    );
    let now = s.current().await.unwrap().unwrap();
    assert_eq!(now, won, "the winner's document is current");
    assert_eq!(s.history().await.unwrap().len(), 2);
    drop(c);
}

/// The compare-and-set is ZooKeeper's, not the pusher's own check: a push held by a proxy
/// between its read of `current` and its write (the multi) loses to a push made meanwhile,
/// though neither named an expected version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_held_between_its_read_and_its_write_loses_to_one_made_meanwhile() {
    let (c, s) = store(20).await;
    s.push(&Part::Base, BASE, Format::ConfigYaml, &opts("first"))
        .await
        .unwrap();
    let proxy = FaultProxy::start(&shared().addrs()).unwrap();
    let slow = ConfigStore::new(
        client(&proxy.connect_string(), T).await,
        s.path().to_string(),
        20,
    );
    proxy.blackhole_before(ZkRequest::Multi, &c.resolve(s.path()).unwrap());
    let held = tokio::spawn(async move {
        let text = format!("{BASE}parallelism.default: 2\n");
        slow.push(&Part::Base, &text, Format::ConfigYaml, &opts("held"))
            .await
    });
    eventually(
        Duration::from_secs(5),
        "the held push sent its write",
        || proxy.fault() == Fault::Blackhole,
    )
    .await;
    let text = format!("{BASE}parallelism.default: 3\n");
    let won = s
        .push(&Part::Base, &text, Format::ConfigYaml, &opts("meanwhile"))
        .await
        .unwrap();
    assert_eq!(won.version, 2);
    proxy.heal();
    let lost = held.await.unwrap().unwrap_err();
    assert_eq!(lost.kind(), ErrorKind::BadVersion, "{lost}");
    let msg = lost.to_string();
    assert!(
        msg.contains("since version 1") && msg.contains("version 2 by test (base: meanwhile)"),
        "{msg}"
    );
    assert_eq!(s.current().await.unwrap().unwrap(), won);
    assert_eq!(
        s.history().await.unwrap().len(),
        2,
        "the loser wrote nothing"
    );
}

/// `current` deleted by hand while versions remain: the next push follows the newest kept
/// version instead of colliding with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_after_current_was_deleted_follows_the_kept_versions() {
    let (c, s) = store(20).await;
    for note in ["one", "two"] {
        s.push(&Part::Base, BASE, Format::ConfigYaml, &opts(note))
            .await
            .unwrap();
    }
    c.delete(&format!("{}/current", s.path()), None)
        .await
        .unwrap();
    assert!(s.current().await.unwrap().is_none());
    // As the CLI pushes: on the version it was shown, none (0).
    let mut three = opts("three");
    three.expected_version = Some(0);
    let doc = s
        .push(&Part::Base, BASE, Format::ConfigYaml, &three)
        .await
        .expect("a push into a store without current");
    assert_eq!(doc.version, 3);
    let e = s
        .push(&Part::Base, BASE, Format::ConfigYaml, &three)
        .await
        .unwrap_err();
    assert_eq!(
        e.kind(),
        ErrorKind::BadVersion,
        "version 3 is current now: {e}"
    );
    assert_eq!(s.current().await.unwrap().unwrap(), doc);
    assert_eq!(kept_versions(&s).await, [3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_a_version_byte_for_byte_and_history_keeps_the_last_n() {
    let (_c, s) = store(3).await;
    let v1 = "# version one, with its comment and odd spacing\njobmanager.rpc.address:   jm\n";
    s.push(&Part::Base, v1, Format::ConfigYaml, &opts("one"))
        .await
        .unwrap();
    s.push(
        &Part::Role("taskmanager".into()),
        "taskmanager.numberOfTaskSlots: 4\n",
        Format::ConfigYaml,
        &opts("tm slots"),
    )
    .await
    .unwrap();
    s.push(
        &Part::Base,
        "jobmanager.rpc.address: other\n",
        Format::ConfigYaml,
        &opts("three"),
    )
    .await
    .unwrap();
    let back = s.rollback(2, &opts("back to two")).await.unwrap();
    assert_eq!(back.version, 4);
    assert_eq!(back.changed, "rollback to 2");
    let two = s.version(2).await.unwrap().unwrap();
    assert_eq!(
        back.base.as_bytes(),
        v1.as_bytes(),
        "the base byte for byte"
    );
    assert_eq!(back.roles, two.roles);
    assert_eq!(back.hosts, two.hosts);
    // keep 3: versions 2, 3, 4 are kept, 1 is gone.
    assert_eq!(kept_versions(&s).await, [4, 3, 2]);
    assert!(s.version(1).await.unwrap().is_none());
    let e = s.rollback(1, &opts("too old")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NoNode);
    assert!(e.to_string().contains("version 1 is not kept"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_merges_role_and_host_overlays_and_resolves_references() {
    let (_c, s) = store(20).await;
    let secret_file = std::env::temp_dir().join(format!("zkha-secret-{}", std::process::id()));
    std::fs::write(&secret_file, "from-a-file\n").unwrap();
    let base = format!(
        "{BASE}s3.secret-key: ${{env:ZKHA_TEST_S3_SECRET}}\ns3.access-key: ${{file:{}}}\n",
        secret_file.display()
    );
    s.push(&Part::Base, &base, Format::ConfigYaml, &opts("base"))
        .await
        .unwrap();
    s.push(
        &Part::Role("taskmanager".into()),
        "taskmanager.numberOfTaskSlots: 8\n",
        Format::ConfigYaml,
        &opts("tm"),
    )
    .await
    .unwrap();
    s.push(
        &Part::Host("tm-7".into()),
        "taskmanager.numberOfTaskSlots: 16\ntaskmanager.host: tm-7\n",
        Format::ConfigYaml,
        &opts("big host"),
    )
    .await
    .unwrap();
    // Unset: the pull fails naming the variable and the key.
    std::env::remove_var("ZKHA_TEST_S3_SECRET");
    let e = s.pull(Some("taskmanager"), Some("tm-7")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("ZKHA_TEST_S3_SECRET") && msg.contains("s3.secret-key"),
        "{msg}"
    );
    std::env::set_var("ZKHA_TEST_S3_SECRET", "from-the-env");
    let (doc, text) = s.pull(Some("taskmanager"), Some("tm-7")).await.unwrap();
    assert_eq!(doc.version, 3);
    let read = zkha::flink::FlinkConfig::parse_yaml(&text, "pulled").unwrap();
    let got: BTreeMap<&str, &str> = read.entries().collect();
    assert_eq!(got["taskmanager.numberOfTaskSlots"], "16", "the host wins");
    assert_eq!(got["taskmanager.host"], "tm-7");
    assert_eq!(got["jobmanager.rpc.address"], "jm");
    assert_eq!(got["s3.secret-key"], "from-the-env");
    assert_eq!(got["s3.access-key"], "from-a-file");
    assert_eq!(got[VERSION_KEY], "3");
    let (_, jm) = s.pull(Some("jobmanager"), Some("jm-1")).await.unwrap();
    let jm = zkha::flink::FlinkConfig::parse_yaml(&jm, "pulled").unwrap();
    assert_eq!(
        jm.get("taskmanager.numberOfTaskSlots"),
        Some("2"),
        "no overlay"
    );
    std::fs::remove_file(&secret_file).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_before_anything_is_written() {
    let (c, s) = store(20).await;
    s.push(&Part::Base, BASE, Format::ConfigYaml, &opts("good"))
        .await
        .unwrap();
    let refused = |text: &'static str| {
        let s = s.clone();
        async move {
            s.push(&Part::Base, text, Format::ConfigYaml, &opts("bad"))
                .await
                .unwrap_err()
        }
    };
    let e = refused("a: [unclosed\n").await;
    assert_eq!(e.kind(), ErrorKind::Config, "{e}");
    assert!(e.to_string().contains("not valid YAML"), "{e}");
    let e = refused("high-availability.zookeeper.client.session-timeout: soon\n").await;
    assert!(
        e.to_string().contains("session-timeout") && e.to_string().contains("soon"),
        "{e}"
    );
    let e = refused("high-availability.zkha.strickt: true\n").await;
    assert!(
        e.to_string().contains("high-availability.zkha.strickt"),
        "{e}"
    );
    let e = refused("security.ssl.rest.keystore-password: hunter2\n").await;
    assert!(
        e.to_string()
            .contains("security.ssl.rest.keystore-password")
            && e.to_string().contains("looks secret"),
        "{e}"
    );
    let e = refused("s3.secret-key: pre${env:X}\n").await;
    assert!(e.to_string().contains("not a reference"), "{e}");
    let e = s
        .push(
            &Part::Role("jobmaster".into()),
            "a: b\n",
            Format::ConfigYaml,
            &opts("bad role"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("jobmaster"), "{e}");
    // Over ZooKeeper's limit: the size and the limit named.
    let big = format!("{BASE}big.value: {}\n", "x".repeat(1_100_000));
    let e = s
        .push(&Part::Base, &big, Format::ConfigYaml, &opts("too big"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(
        e.to_string().contains("too large") && e.to_string().contains("limit of 1047552 bytes"),
        "{e}"
    );
    // Under the limit but written twice in one request (current and versions/<n>): refused
    // too, before ZooKeeper would drop the connection.
    let half = format!("{BASE}big.value: {}\n", "x".repeat(600_000));
    let e = s
        .push(
            &Part::Base,
            &half,
            Format::ConfigYaml,
            &opts("written twice"),
        )
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert!(e.to_string().contains("writes it twice"), "{e}");
    // Nothing was written: still version 1.
    assert_eq!(s.current().await.unwrap().unwrap().version, 1);
    assert_eq!(s.history().await.unwrap().len(), 1);
    // A secret in clear, forced.
    let mut forced = opts("forced");
    forced.allow_secrets = true;
    let doc = s
        .push(
            &Part::Base,
            "security.ssl.rest.keystore-password: hunter2\n",
            Format::ConfigYaml,
            &forced,
        )
        .await
        .unwrap();
    assert_eq!(doc.version, 2);
    drop(c);
}

/// A process started from a pulled configuration publishes its version again after its
/// session expired (a real server-side expiry behind a blackholing proxy), so the status
/// does not lose it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_publishes_its_version_again_after_its_session_expired() {
    let root = unique("flink-root");
    let flink = zkha::flink::FlinkConfig::from_pairs([
        ("high-availability.zookeeper.path.root", root.as_str()),
        ("high-availability.cluster-id", "/republish"),
        (VERSION_KEY, "1"),
        ("high-availability.zkha.config.role", "jobmanager"),
        ("high-availability.zkha.config.host", "jm-1"),
    ]);
    let admin = client(&shared().connect_string(), T).await;
    let s = ConfigStore::of_cluster(admin.clone(), &flink).unwrap();
    assert_eq!(s.path(), format!("{root}/zkha-config/republish"));
    s.push(&Part::Base, BASE, Format::ConfigYaml, &opts("one"))
        .await
        .unwrap();
    let t = Duration::from_secs(2);
    let proxy = FaultProxy::start(&shared().addrs()).unwrap();
    let jm = client(&proxy.connect_string(), t).await;
    let running = zkha::flink::config_store::publish_started(&jm, &flink)
        .await
        .unwrap()
        .expect("a pulled configuration publishes");
    let listed = s.status().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].running, running);
    let first = jm.session_id();

    proxy.blackhole();
    let mut gone = false;
    let deadline = std::time::Instant::now() + t * 5;
    while !gone {
        assert!(
            std::time::Instant::now() < deadline,
            "the session never expired"
        );
        gone = s.status().await.unwrap().is_empty();
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    proxy.heal();
    let deadline = std::time::Instant::now() + t * 5;
    loop {
        let listed = s.status().await.unwrap();
        if listed.len() == 1 && jm.session_id() != first {
            assert_eq!(
                listed[0].running, running,
                "the same process, published again"
            );
            assert!(!listed[0].stale);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not published again in a new session: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let names = admin
        .get_children(&format!("{}/running", s.path()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].ends_with(&format!("-{:x}", jm.session_id())),
        "{names:?}"
    );
    // Let go by its users (not closed): the republisher does not keep the client open, so
    // the session ends and the node goes with it.
    drop(jm);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !s.status().await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "a dropped client's node stays: something keeps the client open"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_names_processes_running_an_older_version_and_the_keys_that_differ() {
    let (_c, s) = store(20).await;
    s.push(&Part::Base, BASE, Format::ConfigYaml, &opts("one"))
        .await
        .unwrap();
    // A JobManager started with version 1 (its own session: its node goes with it).
    let jm = client(&shared().connect_string(), T).await;
    let jm_store = ConfigStore::new(jm.clone(), s.path().to_string(), 20);
    let running = Running {
        role: "jobmanager".into(),
        host: "jm-1".into(),
        pid: 4711,
        version: 1,
        started_ms: 0,
    };
    jm_store.publish_running(&running).await.unwrap();
    let st = s.status().await.unwrap();
    assert_eq!(st.len(), 1);
    assert!(!st[0].stale);
    s.push(
        &Part::Base,
        &BASE.replace("60 s", "30 s"),
        Format::ConfigYaml,
        &opts("shorter session"),
    )
    .await
    .unwrap();
    let st = s.status().await.unwrap();
    assert!(st[0].stale && st[0].known, "{st:?}");
    let keys: Vec<&str> = st[0].differs.iter().map(|d| d.key.as_str()).collect();
    assert_eq!(keys, ["high-availability.zookeeper.client.session-timeout"]);
    assert_eq!(st[0].differs[0].before.as_deref(), Some("60 s"));
    assert_eq!(st[0].differs[0].after.as_deref(), Some("30 s"));
    // Restarted with the current version.
    jm_store
        .publish_running(&Running {
            version: 2,
            ..running
        })
        .await
        .unwrap();
    let st = s.status().await.unwrap();
    assert!(!st[0].stale && st[0].differs.is_empty());
    // Gone with its session.
    jm.close().await;
    assert!(s.status().await.unwrap().is_empty());
}
