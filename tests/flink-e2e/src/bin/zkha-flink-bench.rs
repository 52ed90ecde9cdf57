//! `make bench`, Flink section: JobManager crash failover (SIGKILL of the leader) and graceful
//! hand-over (SIGTERM) on a real Flink cluster of each supported version — 2 JobManagers, 1
//! TaskManager, a job checkpointing every 500 ms — on zkha (with and without its liveness link)
//! and on that version's built-in ZooKeeper HA, at the same session timeout, against the same
//! ensemble, in the same run. JSON lines `{metric, value, unit, config, flink, ...}`: the median
//! over the rounds, with min, max and every sample.
//!
//! Measured from the signal to the new leader's address in ZooKeeper
//! (`leader/rest_server/connection_info`), and to the job RUNNING with all tasks again.
//! Between rounds the old leader is started again as a standby.
//!
//! Environment: `ZKHA_BENCH_FLINK_VERSIONS` (comma-separated, default every supported version:
//! 1.20.5, 2.0.2, 2.1.3, 2.2.1, 2.3.0), `ZKHA_BENCH_FLINK_ROUNDS` (rounds per fault and HA,
//! default 3), `ZKHA_BENCH_SESSION_MS` (default 4000), `ZKHA_BENCH_FLINK=0` (skip this section);
//! `ZKHA_FLINK_JAVA` (the JVM).

use std::time::Duration;

use serde_json::json;
use zkha_flink_e2e::scenario::{self, Failover, Fault};
use zkha_flink_e2e::{dist, Artifacts, Cluster, Ha, Result};

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

fn median(samples: &[f64]) -> f64 {
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One way of running HA: the type and whether zkha's liveness link is on.
struct Variant {
    ha: Ha,
    link: bool,
}

impl Variant {
    fn name(&self) -> String {
        match (self.ha, self.link) {
            (Ha::Zkha, true) => "zkha".into(),
            (Ha::Zkha, false) => "zkha-no-liveness-link".into(),
            (Ha::BuiltIn, _) => "flink-builtin-zookeeper".into(),
        }
    }
}

fn main() {
    if std::env::var("ZKHA_BENCH_FLINK").as_deref() == Ok("0") {
        eprintln!("zkha-flink-bench: skipped (ZKHA_BENCH_FLINK=0)");
        return;
    }
    if let Err(e) = run() {
        eprintln!("zkha-flink-bench failed: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let rounds = env_num("ZKHA_BENCH_FLINK_ROUNDS", 3).max(1) as usize;
    let session = Duration::from_millis(env_num("ZKHA_BENCH_SESSION_MS", 4000));
    let versions: Vec<String> = match std::env::var("ZKHA_BENCH_FLINK_VERSIONS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        _ => dist::SUPPORTED_FLINK_VERSIONS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    let zk = scenario::ensemble()?;
    for version in &versions {
        let artifacts = Artifacts::prepare_version(version, &dist::stderr)?;
        bench_version(&artifacts, &zk, rounds, session)?;
    }
    Ok(())
}

/// zkha (liveness link on and off) and built-in HA on one Flink version.
fn bench_version(
    artifacts: &Artifacts,
    zk: &zkha_testkit::Ensemble,
    rounds: usize,
    session: Duration,
) -> Result<()> {
    let variants = [
        Variant {
            ha: Ha::Zkha,
            link: true,
        },
        Variant {
            ha: Ha::Zkha,
            link: false,
        },
        Variant {
            ha: Ha::BuiltIn,
            link: false,
        },
    ];
    for v in &variants {
        let (mut cluster, job) = scenario::start_with_job_on(
            artifacts,
            zk,
            v.ha,
            2,
            |o| {
                o.session_timeout = session;
                if v.ha == Ha::Zkha && !v.link {
                    o.extra_config.push((
                        "high-availability.zkha.liveness.enabled".into(),
                        "false".into(),
                    ));
                }
            },
            &dist::stderr,
        )?;
        let config = format!(
            "{} ha={} jobmanagers=2 taskmanagers=1 session_timeout={}ms checkpoint_interval=500ms zk: {}",
            artifacts.describe(),
            v.name(),
            session.as_millis(),
            zk.options().describe(zk.len())
        );
        for fault in [Fault::Kill, Fault::Term] {
            let mut runs: Vec<Failover> = Vec::new();
            for _ in 0..rounds {
                let f = scenario::fail_leader(&mut cluster, &job, fault)?;
                eprintln!("{}: {}", v.name(), f.timeline);
                bring_back(&mut cluster, &job, &f)?;
                runs.push(f);
            }
            emit(&config, &artifacts.flink_version, v, fault, session, &runs);
        }
    }
    Ok(())
}

/// Starts the old leader again as a standby and waits for a checkpoint under the new leader.
fn bring_back(cluster: &mut Cluster, job: &str, f: &Failover) -> Result<()> {
    cluster.wait_jm_exit(f.old_leader, Duration::from_secs(30))?;
    cluster.restart_jm(f.old_leader)?;
    cluster.wait_standby(f.old_leader, Duration::from_secs(120))?;
    cluster.wait_checkpoint(job, f.restored, Duration::from_secs(60))?;
    Ok(())
}

fn emit(
    config: &str,
    flink: &str,
    v: &Variant,
    fault: Fault,
    session: Duration,
    runs: &[Failover],
) {
    let leader: Vec<f64> = runs.iter().map(|f| ms(f.leader_after)).collect();
    let running: Vec<f64> = runs.iter().map(|f| ms(f.running_after)).collect();
    let (metric, what) = match fault {
        Fault::Kill => (
            "flink_jm_crash_failover_p50",
            "SIGKILL of the leader JobManager",
        ),
        Fault::Term => (
            "flink_jm_sigterm_handover_p50",
            "SIGTERM of the leader JobManager",
        ),
    };
    let p50 = median(&leader);
    let line = json!({
        "metric": metric,
        "value": p50,
        "unit": "ms",
        "config": config,
        "flink": flink,
        "ha": v.name(),
        "fault": what,
        "measured": "signal -> new leader's address in ZooKeeper (leader/rest_server/connection_info)",
        "rounds": runs.len(),
        "min_ms": leader.iter().copied().fold(f64::INFINITY, f64::min),
        "max_ms": leader.iter().copied().fold(0.0, f64::max),
        "samples_ms": leader,
        "session_timeout_ms": session.as_millis() as u64,
        "ratio_to_session_timeout": p50 / session.as_millis() as f64,
        "job_running_again_p50_ms": median(&running),
        "job_running_again_samples_ms": running,
        "restored_from_latest_checkpoint": runs.iter().all(|f| f.restored.is_some_and(|r| r >= f.checkpoint_before)),
    });
    println!("{line}");
}
