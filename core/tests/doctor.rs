//! `zkha doctor` against real ensembles: it passes on a healthy setup (ZooKeeper's default
//! four-letter-word whitelist, `srvr` alone) and names the problem for a server down, a
//! 2-node ensemble, a session timeout above the servers' cap, a missing storageDir, a
//! checkpoint file deleted under its pointer and an ACL that lets anyone delete; a TLS-only
//! ensemble is read through its AdminServer.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use zkha::doctor::{self, DoctorOptions, Report, Status};
use zkha::flink::config_store::VERSION_KEY;
use zkha::flink::{FlinkConfig, FlinkLayout};
use zkha::{AclMode, Client, Credential, Pem, TlsConfig};
use zkha_testkit::{Ensemble, Options};

const T: Duration = Duration::from_secs(4);

/// A Flink `config.yaml` for cluster `id` on `connect`, storage at `storage`.
fn flink(connect: &str, id: &str, storage: &str, session_ms: u64) -> FlinkConfig {
    FlinkConfig::parse_yaml(
        &format!(
            "high-availability.type: zookeeper\n\
             high-availability.zookeeper.quorum: {connect}\n\
             high-availability.cluster-id: {id}\n\
             high-availability.storageDir: {storage}\n\
             high-availability.zookeeper.client.session-timeout: {session_ms} ms\n\
             heartbeat.timeout: 20 s\n"
        ),
        "config.yaml",
    )
    .unwrap()
}

async fn doctor_of(config: FlinkConfig, tweak: impl FnOnce(&mut DoctorOptions)) -> Report {
    let mut o = DoctorOptions::from_flink_config(config).unwrap();
    o.timeout = Duration::from_secs(2);
    tweak(&mut o);
    let report = doctor::run(&o).await;
    eprintln!("{}", report.to_text());
    report
}

fn check<'a>(r: &'a Report, name: &str) -> &'a doctor::Check {
    r.check(name)
        .unwrap_or_else(|| panic!("no {name} check in {r:?}"))
}

/// A fresh directory under the system's temp dir (removed by the caller's guard).
struct TempDir(PathBuf);
impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("{tag}-{:08x}", rand_u32()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// Flink's pointer bytes (a fixture) pointing at `file` instead: the URI is rewritten in place
/// (same length, so the Java serialization stays valid).
fn repoint(fixture: &str, old: &str, dir: &Path, stem: &str) -> (Vec<u8>, PathBuf) {
    let bytes = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(fixture),
    )
    .unwrap();
    let prefix = format!("file:{}/{stem}", dir.display());
    assert!(prefix.len() < old.len(), "{prefix} is too long for {old}");
    let pad: String = "0123456789abcdef"
        .chars()
        .cycle()
        .take(old.len() - prefix.len())
        .collect();
    let uri = format!("{prefix}{pad}");
    let at = bytes
        .windows(old.len())
        .position(|w| w == old.as_bytes())
        .expect("the fixture's URI");
    let mut out = bytes.clone();
    out[at..at + old.len()].copy_from_slice(uri.as_bytes());
    (out, PathBuf::from(uri.trim_start_matches("file:")))
}

const PLAN_URI: &str = "file:/opt/flink-demo/ha/e2e/submittedExecutionPlanc417bffae030";
const CHECKPOINT_URI: &str = "file:/opt/flink-demo/ha/e2e/completedCheckpoint76442a50ab4b";
const JOB: &str = "689f4a2104595f78f8552e76fa3f059d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_setup_passes_and_a_deleted_checkpoint_file_is_named() {
    let zk = Ensemble::start(3, Options::default().four_letter_words("srvr")).unwrap();
    let storage = TempDir::new("zkhadoc");
    let id = unique("doctor-ok").trim_start_matches('/').to_string();
    let config = flink(
        &zk.connect_string(),
        &id,
        &format!("file://{}", storage.0.display()),
        4000,
    );
    let layout: FlinkLayout = config.layout().unwrap();

    // A JobManager's traces: a contender with its liveness endpoint, a job's execution plan
    // and a checkpoint pointer whose files exist.
    let jm = client(&zk.connect_string(), T).await;
    let e = elect(&jm, &layout.latch(), "jm-1");
    e.wait_for_leadership(Duration::from_secs(5)).await.unwrap();
    let (plan, plan_file) = repoint(
        "flink_e2e_execution-plans_689f4a2104595f78f8552e76fa3f059d.bin",
        PLAN_URI,
        &storage.0,
        "submittedExecutionPlan",
    );
    let (pointer, checkpoint_file) = repoint(
        "flink_e2e_jobs_689f4a2104595f78f8552e76fa3f059d_checkpoints_0000000000000000003.bin",
        CHECKPOINT_URI,
        &storage.0,
        "completedCheckpoint",
    );
    std::fs::write(&plan_file, b"plan").unwrap();
    std::fs::write(&checkpoint_file, b"checkpoint").unwrap();
    jm.put(&format!("{}/{JOB}", layout.execution_plans()), &plan)
        .await
        .unwrap();
    let znode = format!(
        "{}/{}",
        layout.checkpoints(JOB),
        FlinkLayout::checkpoint_name(3)
    );
    jm.put(&znode, &pointer).await.unwrap();

    let r = doctor_of(config.clone(), |_| {}).await;
    assert!(r.passed(), "{}", r.to_text());
    assert_eq!(check(&r, "ensemble").status, Status::Ok);
    // Read (a fresh JVM's first requests can average above the latency warning's 10 ms on a
    // loaded machine: a warning, not a failure).
    let stats = check(&r, "server-stats");
    assert!(
        matches!(stats.status, Status::Ok | Status::Warn),
        "{stats:?}"
    );
    assert!(
        r.to_json().contains(r#""stats_from":"srvr""#),
        "srvr is all a production ensemble whitelists: {}",
        r.to_json()
    );
    assert_eq!(check(&r, "session-timeout").status, Status::Ok);
    assert_eq!(check(&r, "storage").status, Status::Ok);
    assert_eq!(
        check(&r, "contenders").status,
        Status::Ok,
        "its endpoint answers"
    );
    let pointers = check(&r, "pointers");
    assert_eq!(pointers.status, Status::Ok, "{pointers:?}");
    assert!(
        pointers.summary.contains("2 pointer file(s) checked"),
        "{}",
        pointers.summary
    );
    assert_eq!(check(&r, "flink-settings").status, Status::Ok);
    let settings = check(&r, "server-settings");
    assert_eq!(settings.status, Status::Skipped, "{settings:?}");
    assert!(
        settings.summary.contains("conf is not whitelisted"),
        "says why: {}",
        settings.summary
    );
    assert_eq!(
        check(&r, "jobs").status,
        Status::Skipped,
        "no REST endpoint leads"
    );
    let central = check(&r, "central-config");
    assert_eq!(central.status, Status::Ok, "{central:?}");
    assert!(central.summary.contains("not used"), "{}", central.summary);

    // The REST endpoint's leader published; its dispatcher lists no job, then the job.
    let rest = FakeRest::start();
    let id = e.leadership().unwrap().leader_session_id;
    let info = zkha::flink::connection_info::encode(&rest.url(), id).unwrap();
    e.publish_leader_info(&layout.connection_info("rest_server"), &info)
        .await
        .unwrap();
    rest.answer(r#"{"jobs":[]}"#);
    let r = doctor_of(config.clone(), |_| {}).await;
    let jobs = check(&r, "jobs");
    assert_eq!(jobs.status, Status::Warn, "{}", r.to_text());
    assert!(
        jobs.summary.contains(JOB),
        "names the job: {}",
        jobs.summary
    );
    assert!(jobs.fix.as_deref().unwrap().contains("cluster-id"));
    rest.answer(&format!(
        r#"{{"jobs":[{{"id":"{JOB}","status":"RUNNING"}}]}}"#
    ));
    let r = doctor_of(config.clone(), |_| {}).await;
    assert_eq!(check(&r, "jobs").status, Status::Ok, "{}", r.to_text());

    // Central configuration: a JobManager started from version 1, later pushes, and a doctor
    // run with the file it was pulled into: both named as behind where a key differs.
    central_config_drift(&zk, &config).await;

    std::fs::remove_file(&checkpoint_file).unwrap();
    let r = doctor_of(config, |_| {}).await;
    assert!(!r.passed());
    let pointers = check(&r, "pointers");
    assert_eq!(pointers.status, Status::Fail);
    let fix = pointers.fix.as_deref().unwrap();
    assert!(
        fix.contains("checkpoint 3") && fix.contains(&checkpoint_file.display().to_string()),
        "names the checkpoint and its file: {fix}"
    );
    e.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_down_is_named() {
    let zk = Ensemble::start(3, Options::default()).unwrap();
    let down = zk.node(2).addr();
    zk.kill(2).unwrap();
    let storage = TempDir::new("zkhadoc");
    let r = doctor_of(
        flink(
            &zk.connect_string(),
            "down",
            &storage.0.display().to_string(),
            4000,
        ),
        |_| {},
    )
    .await;
    assert!(!r.passed());
    let c = check(&r, "ensemble");
    assert_eq!(c.status, Status::Fail);
    assert!(c.summary.contains("2 of 3 servers"), "{}", c.summary);
    assert!(
        c.fix.as_deref().unwrap().contains(&down.to_string()),
        "{c:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_server_ensemble_is_flagged_even_sized() {
    let zk = Ensemble::start(2, Options::default()).unwrap();
    let storage = TempDir::new("zkhadoc");
    let r = doctor_of(
        flink(
            &zk.connect_string(),
            "two",
            &storage.0.display().to_string(),
            4000,
        ),
        |_| {},
    )
    .await;
    let c = check(&r, "ensemble");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    let fix = c.fix.as_deref().unwrap();
    assert!(
        fix.contains("2 voting servers") && fix.contains("odd number"),
        "{fix}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_timeout_above_the_servers_cap_is_named() {
    let zk = Ensemble::start(1, Options::default().session_timeout_bounds(200, 3000)).unwrap();
    let storage = TempDir::new("zkhadoc");
    let r = doctor_of(
        flink(
            &zk.connect_string(),
            "cap",
            &storage.0.display().to_string(),
            10_000,
        ),
        |_| {},
    )
    .await;
    let c = check(&r, "session-timeout");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.summary.contains("10.0 s") && c.summary.contains("3.0 s"),
        "{}",
        c.summary
    );
    assert!(c.fix.as_deref().unwrap().contains("maxSessionTimeout"));
    // A standalone server has no followers to fall behind.
    let s = check(&r, "server-settings");
    assert_eq!(s.status, Status::Ok, "{s:?}");
    assert!(s.summary.contains("standalone"), "{}", s.summary);
}

/// A Flink REST endpoint stand-in: answers every request with the JSON last given.
struct FakeRest {
    addr: std::net::SocketAddr,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

impl FakeRest {
    fn start() -> FakeRest {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let b = body.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut buf = [0u8; 4096];
                let n = conn.read(&mut buf).unwrap_or(0);
                let ok = String::from_utf8_lossy(&buf[..n]).starts_with("GET /jobs ");
                let text = b.lock().unwrap().clone();
                let reply = if ok {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{text}",
                        text.len()
                    )
                } else {
                    "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n".to_string()
                };
                let _ = conn.write_all(reply.as_bytes());
            }
        });
        FakeRest { addr, body }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn answer(&self, json: &str) {
        *self.body.lock().unwrap() = json.to_string();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_storage_dir_is_named() {
    let zk = shared();
    let missing = std::env::temp_dir().join(format!("zkhadoc-missing-{:08x}", rand_u32()));
    let r = doctor_of(
        flink(
            &zk.connect_string(),
            "nostore",
            &format!("file://{}", missing.display()),
            4000,
        ),
        |_| {},
    )
    .await;
    let c = check(&r, "storage");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.summary.contains(&missing.display().to_string()),
        "{}",
        c.summary
    );
    assert!(!r.passed());
    // The kit's syncLimit x tickTime (50 x 100 ms) is above the 4 s session timeout.
    let s = check(&r, "server-settings");
    assert_eq!(s.status, Status::Warn, "{s:?}");
    assert!(
        s.summary.contains("5.0 s") && s.summary.contains("4.0 s"),
        "{}",
        s.summary
    );
    assert!(s.fix.as_deref().unwrap().contains("syncLimit"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acl_that_lets_anyone_delete_fails_for_an_authenticated_setup() {
    let zk = shared();
    let storage = TempDir::new("zkhadoc");
    let auth = Credential::parse("digest:flink:secret").unwrap();
    // A root made with the open ACL (Flink's default), then one made with creator's.
    let open_id = unique("doctor-open").trim_start_matches('/').to_string();
    let closed_id = unique("doctor-closed").trim_start_matches('/').to_string();
    let writer = Client::connect(options(&zk.connect_string(), T).auth(auth.clone()))
        .await
        .unwrap();
    writer
        .put(&format!("/flink/{open_id}/leader"), b"")
        .await
        .unwrap();
    let creator = Client::connect(
        options(&zk.connect_string(), T)
            .auth(auth.clone())
            .acl(AclMode::Creator),
    )
    .await
    .unwrap();
    creator
        .put(&format!("/flink/{closed_id}/leader"), b"")
        .await
        .unwrap();

    let with_auth = |o: &mut DoctorOptions| o.client.auth = vec![auth.clone()];
    let store = storage.0.display().to_string();
    let r = doctor_of(
        flink(&zk.connect_string(), &open_id, &store, 4000),
        with_auth,
    )
    .await;
    let c = check(&r, "acl");
    assert_eq!(c.status, Status::Fail, "{c:?}");
    assert!(
        c.fix
            .as_deref()
            .unwrap()
            .contains("world:anyone may delete"),
        "{c:?}"
    );
    let r = doctor_of(
        flink(&zk.connect_string(), &closed_id, &store, 4000),
        with_auth,
    )
    .await;
    assert_eq!(
        check(&r, "acl").status,
        Status::Ok,
        "{:?}",
        check(&r, "acl")
    );
    // Without any identity an open ACL is all there can be: a warning, not a failure.
    let r = doctor_of(flink(&zk.connect_string(), &open_id, &store, 4000), |_| {}).await;
    assert_eq!(check(&r, "acl").status, Status::Warn);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_only_ensemble_is_read_through_its_admin_server() {
    let zk = Ensemble::start(1, Options::default().tls(Default::default())).unwrap();
    let files = zk.tls().unwrap();
    let tls = TlsConfig::new(Pem::File(files.ca_cert.clone())).identity(
        Pem::File(files.client_cert.clone()),
        Pem::File(files.client_key.clone()),
    );
    let storage = TempDir::new("zkhadoc");
    let config = flink(
        &zk.connect_string(),
        "tls",
        &storage.0.display().to_string(),
        4000,
    );
    let admin = zk.node(1).admin_addr().unwrap().to_string();
    let r = doctor_of(config.clone(), |o| {
        o.client.tls = Some(tls.clone());
        o.admin = vec![admin.clone()];
    })
    .await;
    assert_eq!(
        check(&r, "ensemble").status,
        Status::Ok,
        "a session over TLS"
    );
    assert!(matches!(
        check(&r, "server-stats").status,
        Status::Ok | Status::Warn
    ));
    assert!(
        r.to_json().contains(r#""stats_from":"admin""#),
        "{}",
        r.to_json()
    );
    let r = doctor_of(config, |o| o.client.tls = Some(tls.clone())).await;
    let c = check(&r, "server-stats");
    assert_eq!(c.status, Status::Skipped, "{c:?}");
    assert!(c.fix.as_deref().unwrap().contains("AdminServer"), "{c:?}");
}

/// The `central-config` check: current with a process on it; still fine after another role's
/// overlay; a process and the configuration file behind after a base push (the keys named, a
/// warning); `current` deleted by hand (a failure: entry points that pull cannot start).
async fn central_config_drift(zk: &Ensemble, config: &FlinkConfig) {
    use zkha::flink::config_store::{ConfigStore, Format, Part, PushOptions, Running};
    let admin = client(&zk.connect_string(), T).await;
    let store = ConfigStore::of_cluster(admin.clone(), config).unwrap();
    let base = "taskmanager.numberOfTaskSlots: 2\n";
    store
        .push(
            &Part::Base,
            base,
            Format::ConfigYaml,
            &PushOptions::new("t", "one"),
        )
        .await
        .unwrap();
    let jm = client(&zk.connect_string(), T).await;
    ConfigStore::of_cluster(jm.clone(), config)
        .unwrap()
        .publish_running(&Running {
            role: "jobmanager".into(),
            host: "jm-1".into(),
            pid: 4711,
            version: 1,
            started_ms: 0,
        })
        .await
        .unwrap();
    let pulled = FlinkConfig::from_pairs(
        config
            .entries()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .chain([(VERSION_KEY.to_string(), "1".to_string())]),
    )
    .with_source("conf/config.yaml");
    let r = doctor_of(pulled.clone(), |_| {}).await;
    let c = check(&r, "central-config");
    assert_eq!(c.status, Status::Ok, "{c:?}");
    assert_eq!(
        c.summary,
        "version 1 is current; 1 process(es) published theirs, none behind in a key that applies to it"
    );

    // Another role's overlay: the JobManager is older but nothing differs for it.
    store
        .push(
            &Part::Role("taskmanager".into()),
            "taskmanager.memory.process.size: 2g\n",
            Format::ConfigYaml,
            &PushOptions::new("t", "tm memory"),
        )
        .await
        .unwrap();
    let r = doctor_of(pulled.clone(), |_| {}).await;
    let c = check(&r, "central-config");
    assert_eq!(c.status, Status::Ok, "nothing to restart for: {c:?}");

    store
        .push(
            &Part::Base,
            &base.replace('2', "4"),
            Format::ConfigYaml,
            &PushOptions::new("t", "more slots"),
        )
        .await
        .unwrap();
    let r = doctor_of(pulled.clone(), |_| {}).await;
    assert!(r.passed(), "drift is a warning: {}", r.to_text());
    let c = check(&r, "central-config");
    assert_eq!(c.status, Status::Warn, "{c:?}");
    assert!(
        c.summary.contains(
            "conf/config.yaml is version 1, the current one is 3 (taskmanager.numberOfTaskSlots)"
        ) && c.summary.contains(
            "jobmanager jm-1:4711 on version 1 (differs in taskmanager.numberOfTaskSlots)"
        ),
        "{}",
        c.summary
    );
    let fix = c.fix.as_deref().unwrap();
    assert!(
        fix.contains("pull it again") && fix.contains("restart them"),
        "{fix}"
    );

    admin
        .delete(&format!("{}/current", store.path()), None)
        .await
        .unwrap();
    let r = doctor_of(pulled, |_| {}).await;
    let c = check(&r, "central-config");
    assert_eq!(
        c.status,
        Status::Fail,
        "an entry point that pulls cannot start: {c:?}"
    );
    assert!(c.summary.contains("/current is gone"), "{}", c.summary);
    assert_eq!(
        c.fix.as_deref(),
        Some("make a kept version current again: zkha flink config rollback 3")
    );
    jm.close().await;
    admin.close().await;
}
