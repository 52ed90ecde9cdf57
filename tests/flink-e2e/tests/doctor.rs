//! `zkha doctor` against a real Flink cluster on zkha (`ZKHA_FLINK_VERSION`, default 2.3):
//! two JobManagers and a running job with checkpoints. Every check passes, the storage and
//! every pointer's file are found both directly and through Flink's own file systems (the
//! plugin jar's `StorageDoctor`, from a Flink installation laid out as operators have it:
//! `lib/`, `plugins/zkha/`, `conf/`), and a storageDir on a file system whose plugin is
//! missing fails with Flink's own explanation.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test doctor -- --nocapture`.

use std::fs;
use std::path::{Path, PathBuf};

use zkha::doctor::{self, DoctorOptions, Report, Status};
use zkha::flink::FlinkConfig;
use zkha_flink_e2e::scenario;
use zkha_flink_e2e::{dist, Artifacts, Ha};

/// A Flink installation as an operator has one: Flink's `lib/`, the zkha jar in
/// `plugins/zkha/`, and `conf/config.yaml` (the JobManager's, with `edit` applied).
fn installation(
    artifacts: &Artifacts,
    dir: &Path,
    config: &Path,
    edit: impl Fn(&str) -> String,
) -> PathBuf {
    let home = dir.join(format!("flink-home-{}", zkha_flink_e2e::cluster::unique()));
    fs::create_dir_all(home.join("plugins/zkha")).unwrap();
    fs::create_dir_all(home.join("conf")).unwrap();
    std::os::unix::fs::symlink(&artifacts.flink_lib, home.join("lib")).unwrap();
    fs::copy(
        &artifacts.plugin_jar,
        home.join("plugins/zkha/zkha-flink.jar"),
    )
    .unwrap();
    let text = fs::read_to_string(config).unwrap();
    fs::write(home.join("conf/config.yaml"), edit(&text)).unwrap();
    home
}

fn run(home: &Path, via_flink: bool) -> Report {
    let config = FlinkConfig::load(home.join("conf")).expect("config");
    let mut o = DoctorOptions::from_flink_config(config).expect("options");
    o.flink_home = Some(home.to_path_buf());
    o.via_flink = via_flink;
    let report = zkha::runtime::block_on(async move { Ok(doctor::run(&o).await) }).unwrap();
    eprintln!("{}", report.to_text());
    report
}

fn check<'a>(r: &'a Report, name: &str) -> &'a doctor::Check {
    r.check(name)
        .unwrap_or_else(|| panic!("no {name} check: {}", r.to_text()))
}

#[test]
fn doctor_passes_on_a_running_cluster_and_asks_flinks_file_systems() {
    let _serial = scenario::serial();
    let artifacts = Artifacts::prepare(&dist::stderr).expect("artifacts");
    let zk = scenario::ensemble().expect("ensemble");
    let (mut cluster, job) =
        scenario::start_with_job_on(&artifacts, &zk, Ha::Zkha, 2, |_| {}, &dist::stderr)
            .expect("cluster with job");
    cluster
        .wait_standby(
            1 - cluster.leader().unwrap().unwrap().jm,
            std::time::Duration::from_secs(30),
        )
        .expect("a standby");
    let jm_config = cluster.dir().join("jm1/config.yaml");

    // As the JobManager sees it, from its configuration: every check passes.
    let home = installation(&artifacts, cluster.dir(), &jm_config, str::to_string);
    let direct = run(&home, false);
    assert!(direct.passed(), "{}", direct.to_text());
    for name in [
        "ensemble",
        "session",
        "leaders",
        "contenders",
        "storage",
        "pointers",
    ] {
        if let Some(c) = direct.check(name) {
            assert_eq!(c.status, Status::Ok, "{name}: {}", direct.to_text());
        }
    }
    let leaders = check(&direct, "leaders");
    assert_eq!(leaders.status, Status::Ok, "{}", direct.to_text());
    assert_eq!(check(&direct, "contenders").status, Status::Ok);
    let pointers = check(&direct, "pointers");
    assert!(
        pointers.summary.starts_with("1 job(s)") && !pointers.summary.contains(" 0 pointer"),
        "job {job}'s plan and checkpoints checked: {}",
        pointers.summary
    );
    // The leading dispatcher (asked over its REST endpoint) knows the one stored job.
    let jobs = check(&direct, "jobs");
    assert_eq!(jobs.status, Status::Ok, "{}", direct.to_text());
    assert!(
        jobs.details["known_to_leader"].to_string().contains(&job),
        "{:?}",
        jobs.details
    );

    // The same through Flink's own file systems (the plugin jar's StorageDoctor).
    let through = run(&home, true);
    assert!(through.passed(), "{}", through.to_text());
    let storage = check(&through, "storage");
    assert_eq!(storage.status, Status::Ok, "{}", through.to_text());
    assert!(
        storage.summary.contains("through Flink's file systems"),
        "{}",
        storage.summary
    );
    let pointers = check(&through, "pointers");
    assert_eq!(pointers.status, Status::Ok, "{}", through.to_text());
    assert!(
        !pointers.summary.contains(" 0 pointer"),
        "{}",
        pointers.summary
    );

    // A storageDir on S3 with no S3 plugin installed: Flink's own words say what is missing.
    let s3 = installation(&artifacts, cluster.dir(), &jm_config, |text| {
        text.lines()
            .map(|l| {
                if l.starts_with("high-availability.storageDir:") {
                    "high-availability.storageDir: 's3://zkha-doctor-bucket/ha'".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    });
    let report = run(&s3, false);
    assert!(!report.passed());
    let storage = check(&report, "storage");
    assert_eq!(storage.status, Status::Fail, "{}", report.to_text());
    assert!(
        storage.summary.contains("s3://zkha-doctor-bucket/ha")
            && storage.summary.contains("flink-s3-fs"),
        "names the storageDir and the plugin to install: {}",
        storage.summary
    );
    cluster.stop();
}
