//! `make bench`, Flink section: JobManager crash failover (SIGKILL of the leader) and graceful
//! hand-over (SIGTERM) on a real Flink cluster of each supported version — 2 JobManagers, 1
//! TaskManager, a job checkpointing every 500 ms — on zkha (with and without its liveness link)
//! and on that version's built-in ZooKeeper HA, at the same session timeout, against the same
//! ensemble, in the same run. JSON lines `{metric, value, unit, config, flink, ...}`: the median
//! over the rounds, with min, max and every sample.
//!
//! Measured from the signal to the new leader's address in ZooKeeper
//! (`leader/rest_server/connection_info`), to its grant (its log's `DefaultDispatcherRunner was
//! granted leadership`, the same line on either HA) and to the job RUNNING with all tasks
//! again. Between rounds the old leader is started again as a standby. On zkha (link on) also
//! the planned hand-over, `zkha flink step-down` (built-in HA has none: its line compares with
//! built-in HA's SIGTERM), and per version a line comparing zkha's SIGTERM hand-over with
//! built-in HA's.
//!
//! Then the ZooKeeper load of one Flink 2.3 cluster (2 JobManagers, 1 TaskManager, one running
//! job) on zkha and on built-in HA, idle (no checkpoint in the window) and checkpointing every
//! second: every ZooKeeper request its processes send, counted by kind (pings, reads,
//! transactions, watch bookkeeping) at a proxy they all connect through, over a fixed window;
//! the watches and znodes it holds (the servers' `mntr`). One line per HA and load, and the
//! ratio zkha / built-in.
//!
//! Environment: `ZKHA_BENCH_FLINK_VERSIONS` (comma-separated, default every supported version:
//! 1.20.5, 2.0.2, 2.1.3, 2.2.1, 2.3.0), `ZKHA_BENCH_FLINK_ROUNDS` (rounds per fault and HA,
//! default 3), `ZKHA_BENCH_SESSION_MS` (default 4000), `ZKHA_BENCH_FLINK=0` (skip this section);
//! `ZKHA_BENCH_LOAD_S` (the load window, default 30 s; 0 skips the load lines),
//! `ZKHA_BENCH_FAILOVER=0` (only the load lines); `ZKHA_FLINK_JAVA` (the JVM).

use std::time::{Duration, Instant};

use serde_json::json;
use zkha_flink_e2e::scenario::{self, Failover, Fault};
use zkha_flink_e2e::{dist, Artifacts, Cluster, ClusterOptions, Ha, Result};
use zkha_testkit::{four_letter, Ensemble, FaultProxy, RequestCounts};

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

/// One way of running HA: the type, zkha's settings beyond the defaults, the faults measured.
struct Variant {
    name: &'static str,
    ha: Ha,
    config: &'static [(&'static str, &'static str)],
    faults: &'static [Fault],
}

/// zkha (liveness link on: every fault, step-down too), zkha without the link, zkha leaving
/// the election as the JVM begins to shut down (SIGTERM only: the measurement behind the
/// `release-at-shutdown` default, `after-components`), and Flink's built-in HA.
const VARIANTS: [Variant; 4] = [
    Variant {
        name: "zkha",
        ha: Ha::Zkha,
        config: &[],
        faults: &[Fault::Kill, Fault::Term, Fault::StepDown],
    },
    Variant {
        name: "zkha-no-liveness-link",
        ha: Ha::Zkha,
        config: &[("high-availability.zkha.liveness.enabled", "false")],
        faults: &[Fault::Kill, Fault::Term],
    },
    Variant {
        name: "zkha-release-early",
        ha: Ha::Zkha,
        config: &[("high-availability.zkha.release-at-shutdown", "early")],
        faults: &[Fault::Term],
    },
    Variant {
        name: "flink-builtin-zookeeper",
        ha: Ha::BuiltIn,
        config: &[],
        faults: &[Fault::Kill, Fault::Term],
    },
];

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
    if std::env::var("ZKHA_BENCH_FAILOVER").as_deref() != Ok("0") {
        for version in &versions {
            let artifacts = Artifacts::prepare_version(version, &dist::stderr)?;
            bench_version(&artifacts, &zk, rounds, session)?;
        }
    }
    let window = Duration::from_secs(env_num("ZKHA_BENCH_LOAD_S", 30));
    if !window.is_zero() {
        let version = if versions.iter().any(|v| v == LOAD_FLINK_VERSION) {
            LOAD_FLINK_VERSION
        } else {
            versions
                .last()
                .map(String::as_str)
                .unwrap_or(LOAD_FLINK_VERSION)
        };
        let artifacts = Artifacts::prepare_version(version, &dist::stderr)?;
        bench_load(&artifacts, &zk, session, window)?;
    }
    Ok(())
}

/// The Flink version whose ZooKeeper load is measured.
const LOAD_FLINK_VERSION: &str = "2.3.0";

/// What one cluster cost the ensemble over a window.
struct Load {
    /// Per process: the leading JobManager, the standby, the TaskManager.
    leader: RequestCounts,
    standby: RequestCounts,
    task_manager: RequestCounts,
    window: Duration,
    /// ZooKeeper connections (sessions) of the cluster's processes.
    sessions: usize,
    /// Watches and znodes held, beyond what the ensemble held before the cluster started.
    watches: i64,
    znodes: i64,
    /// `zk_packets_received` over every server in the window (also the kit's own session).
    server_packets: i64,
}

impl Load {
    /// Every request of the cluster.
    fn requests(&self) -> RequestCounts {
        self.leader + self.standby + self.task_manager
    }
}

/// The servers' `mntr` numbers, summed over the ensemble: (watches, znodes of the leader,
/// packets received).
fn server_stats(zk: &Ensemble) -> (i64, i64, i64) {
    let (mut watches, mut znodes, mut packets) = (0, 0, 0);
    for addr in zk.addrs() {
        let m = four_letter::mntr(addr, Duration::from_secs(2));
        watches += m.get("zk_watch_count").copied().unwrap_or(0);
        znodes = znodes.max(m.get("zk_znode_count").copied().unwrap_or(0));
        packets += m.get("zk_packets_received").copied().unwrap_or(0);
    }
    (watches, znodes, packets)
}

/// Runs one cluster on `ha` with its ZooKeeper traffic through a counting proxy and measures
/// `window` of it, after the job runs (and, when checkpointing, has completed a checkpoint)
/// and 10 s more.
fn measure_load(
    artifacts: &Artifacts,
    zk: &Ensemble,
    ha: Ha,
    session: Duration,
    checkpoint_ms: u64,
    window: Duration,
) -> Result<Load> {
    // One proxy per process: JobManager 1, JobManager 2, the TaskManager.
    let proxies = (0..3)
        .map(|_| FaultProxy::start(&zk.addrs()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let counts = || {
        proxies
            .iter()
            .map(FaultProxy::request_counts)
            .collect::<Vec<_>>()
    };
    let mut options = ClusterOptions::new(ha, zk.connect_string());
    options.session_timeout = session;
    options.jm_quorums = vec![
        Some(proxies[0].connect_string()),
        Some(proxies[1].connect_string()),
    ];
    options.tm_quorum = Some(proxies[2].connect_string());
    let before = server_stats(zk);
    let mut cluster = Cluster::start(artifacts, options)?;
    let interval = checkpoint_ms.to_string();
    let job = cluster.submit_job(&["--rate", "100", "--checkpoint-ms", &interval])?;
    cluster.wait_job_running(&job, Duration::from_secs(90))?;
    if checkpoint_ms <= 60_000 {
        cluster.wait_checkpoint(&job, None, Duration::from_secs(60))?;
    }
    std::thread::sleep(Duration::from_secs(10));
    let (c0, s0) = (counts(), server_stats(zk));
    let t0 = Instant::now();
    std::thread::sleep(window);
    let (c1, s1) = (counts(), server_stats(zk));
    let leader = cluster.leader()?.map(|l| l.jm).unwrap_or(0);
    let per: Vec<RequestCounts> = c1.iter().zip(&c0).map(|(a, b)| a.since(b)).collect();
    let load = Load {
        leader: per[leader.min(1)],
        standby: per[1 - leader.min(1)],
        task_manager: per[2],
        window: t0.elapsed(),
        sessions: proxies.iter().map(FaultProxy::live_connections).sum(),
        watches: s1.0 - before.0,
        znodes: s1.1 - before.1,
        server_packets: s1.2 - s0.2,
    };
    cluster.stop();
    Ok(load)
}

/// `n` over `window_s` seconds, rounded to hundredths.
fn per_second(n: f64, window_s: f64) -> f64 {
    (n / window_s * 100.0).round() / 100.0
}

/// One process's requests per second, by kind.
fn per_process(c: &RequestCounts, window_s: f64) -> serde_json::Value {
    let rate = |n: u64| per_second(n as f64, window_s);
    json!({
        "total": rate(c.total()),
        "pings": rate(c.pings),
        "reads": rate(c.reads),
        "transactions": rate(c.writes),
        "watch_requests": rate(c.watches),
        "other": rate(c.other),
    })
}

/// The load lines: per load (idle, checkpoint every second) and HA, then zkha / built-in.
fn bench_load(
    artifacts: &Artifacts,
    zk: &Ensemble,
    session: Duration,
    window: Duration,
) -> Result<()> {
    let config = format!(
        "{} jobmanagers=2 taskmanagers=1 session_timeout={}ms window={}s zk: {}",
        artifacts.describe(),
        session.as_millis(),
        window.as_secs(),
        zk.options().describe(zk.len())
    );
    for (load_name, checkpoint_ms) in [("idle", 3_600_000), ("checkpoint every 1 s", 1000)] {
        let mut measured = Vec::new();
        for (ha, name) in [(Ha::Zkha, "zkha"), (Ha::BuiltIn, "flink-builtin-zookeeper")] {
            let l = measure_load(artifacts, zk, ha, session, checkpoint_ms, window)?;
            let s = l.window.as_secs_f64();
            let rate = |n: u64| per_second(n as f64, s);
            let r = l.requests();
            let line = json!({
                "metric": "flink_zk_requests_per_s",
                "value": rate(r.total()),
                "unit": "requests/s",
                "config": config,
                "flink": artifacts.flink_version,
                "ha": name,
                "load": load_name,
                "measured": "every request of the cluster's JobManagers and TaskManager at a proxy in front of the ensemble",
                "pings_per_s": rate(r.pings),
                "reads_per_s": rate(r.reads),
                "transactions_per_s": rate(r.writes),
                "watch_requests_per_s": rate(r.watches),
                "other_per_s": rate(r.other),
                "per_process_per_s": {
                    "leader_jobmanager": per_process(&l.leader, s),
                    "standby_jobmanager": per_process(&l.standby, s),
                    "taskmanager": per_process(&l.task_manager, s),
                },
                "sessions": l.sessions,
                "watches": l.watches,
                "znodes": l.znodes,
                "server_packets_received_per_s": per_second(l.server_packets as f64, s),
                "window_s": (s * 10.0).round() / 10.0,
            });
            println!("{line}");
            measured.push(l);
        }
        let (z, b) = (&measured[0], &measured[1]);
        let (zr, br) = (z.requests(), b.requests());
        let per_s = |l: &Load, n: u64| n as f64 / l.window.as_secs_f64();
        let ratio = |a: f64, b: f64| {
            if b > 0.0 {
                (a / b * 1000.0).round() / 1000.0
            } else {
                f64::NAN
            }
        };
        let line = json!({
            "metric": "flink_zk_requests_ratio_zkha_to_builtin",
            "value": ratio(per_s(z, zr.total()), per_s(b, br.total())),
            "unit": "ratio",
            "config": config,
            "flink": artifacts.flink_version,
            "load": load_name,
            "target": "<= 1",
            "transactions_ratio": ratio(per_s(z, zr.writes), per_s(b, br.writes)),
            "reads_ratio": ratio(per_s(z, zr.reads), per_s(b, br.reads)),
            "pings_ratio": ratio(per_s(z, zr.pings), per_s(b, br.pings)),
            "watches_ratio": ratio(z.watches as f64, b.watches as f64),
            "sessions": { "zkha": z.sessions, "flink-builtin-zookeeper": b.sessions },
        });
        println!("{line}");
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
    // Every variant's rounds per fault, for the comparison lines.
    let mut results: Vec<(&str, Fault, Vec<Failover>)> = Vec::new();
    // ZKHA_BENCH_FLINK_VARIANTS / ZKHA_BENCH_FLINK_FAULTS (comma-separated names) choose.
    let chosen = |key: &str, name: &str| {
        std::env::var(key)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .is_none_or(|v| v.split(',').any(|n| n.trim() == name))
    };
    for v in VARIANTS
        .iter()
        .filter(|v| chosen("ZKHA_BENCH_FLINK_VARIANTS", v.name))
    {
        let (mut cluster, job) = scenario::start_with_job_on(
            artifacts,
            zk,
            v.ha,
            2,
            |o| {
                o.session_timeout = session;
                for (k, val) in v.config {
                    o.extra_config.push((k.to_string(), val.to_string()));
                }
            },
            &dist::stderr,
        )?;
        let config = format!(
            "{} ha={} jobmanagers=2 taskmanagers=1 session_timeout={}ms checkpoint_interval=500ms zk: {}",
            artifacts.describe(),
            v.name,
            session.as_millis(),
            zk.options().describe(zk.len())
        );
        for &fault in v
            .faults
            .iter()
            .filter(|f| chosen("ZKHA_BENCH_FLINK_FAULTS", f.name()))
        {
            let mut runs: Vec<Failover> = Vec::new();
            for _ in 0..rounds {
                let f = scenario::fail_leader(&mut cluster, &job, fault)?;
                eprintln!("{}: {}", v.name, f.timeline);
                bring_back(&mut cluster, &job, &f, fault)?;
                runs.push(f);
            }
            emit(&config, &artifacts.flink_version, v, fault, session, &runs);
            results.push((v.name, fault, runs));
        }
    }
    let runs_of = |name: &str, fault: Fault| {
        results
            .iter()
            .find(|(n, f, _)| *n == name && *f == fault)
            .map(|(_, _, r)| r.clone())
            .unwrap_or_default()
    };
    // The comparison lines' configuration: both variants' (the per-variant lines name theirs).
    let config = format!(
        "{} jobmanagers=2 taskmanagers=1 session_timeout={}ms checkpoint_interval=500ms zk: {}",
        artifacts.describe(),
        session.as_millis(),
        zk.options().describe(zk.len())
    );
    emit_planned_vs_builtin(
        artifacts,
        &config,
        &runs_of("zkha", Fault::Term),
        &runs_of("zkha", Fault::StepDown),
        &runs_of("flink-builtin-zookeeper", Fault::Term),
    );
    emit_release_early(
        artifacts,
        &config,
        &runs_of("zkha", Fault::Term),
        &runs_of("zkha-release-early", Fault::Term),
    );
    Ok(())
}

/// Median of the grant times (fault to the new leader's grant, from its log) of `runs`, ms.
fn grant_p50(runs: &[Failover]) -> f64 {
    median(
        &runs
            .iter()
            .filter_map(|f| f.granted_after.map(ms))
            .collect::<Vec<_>>(),
    )
}

/// Median of the job-running times of `runs`, ms.
fn running_p50(runs: &[Failover]) -> f64 {
    median(&runs.iter().map(|f| ms(f.running_after)).collect::<Vec<_>>())
}

/// The planned hand-overs beside built-in HA's SIGTERM, same version, same run: zkha's SIGTERM
/// (target: no slower) and step-down (target: grant under 50 ms at the median).
fn emit_planned_vs_builtin(
    artifacts: &Artifacts,
    config: &str,
    zkha_term: &[Failover],
    step_down: &[Failover],
    builtin_term: &[Failover],
) {
    if zkha_term.is_empty() || builtin_term.is_empty() {
        return; // a variant or fault left out (ZKHA_BENCH_FLINK_VARIANTS, _FAULTS)
    }
    let ratio = |a: f64, b: f64| (a / b * 1000.0).round() / 1000.0;
    let builtin_grant = grant_p50(builtin_term);
    let builtin_running = running_p50(builtin_term);
    let line = json!({
        "metric": "flink_jm_sigterm_grant_ratio_zkha_to_builtin",
        "value": ratio(grant_p50(zkha_term), builtin_grant),
        "unit": "ratio",
        "config": config,
        "flink": artifacts.flink_version,
        "measured": "SIGTERM of the leader -> the standby's grant (its log), medians: zkha / built-in HA",
        "target": "<= 1",
        "zkha_grant_p50_ms": grant_p50(zkha_term),
        "builtin_grant_p50_ms": builtin_grant,
        "zkha_job_running_again_p50_ms": running_p50(zkha_term),
        "builtin_job_running_again_p50_ms": builtin_running,
        "job_running_ratio": ratio(running_p50(zkha_term), builtin_running),
    });
    println!("{line}");
    if step_down.is_empty() {
        return;
    }
    let line = json!({
        "metric": "flink_jm_step_down_vs_builtin_sigterm",
        "value": ratio(grant_p50(step_down), builtin_grant),
        "unit": "ratio",
        "config": config,
        "flink": artifacts.flink_version,
        "measured": "zkha flink step-down -> the standby's grant, against built-in HA's SIGTERM -> grant (built-in HA has no planned hand-over), medians",
        "step_down_grant_p50_ms": grant_p50(step_down),
        "step_down_target_ms": 50,
        "builtin_sigterm_grant_p50_ms": builtin_grant,
        "step_down_job_running_again_p50_ms": running_p50(step_down),
        "builtin_sigterm_job_running_again_p50_ms": builtin_running,
    });
    println!("{line}");
}

/// The longest any old task attempt ran beside its successor over `runs` (ms; `None` if one
/// never ended).
fn max_overlap(runs: &[Failover]) -> Option<i64> {
    runs.iter()
        .map(Failover::max_task_overlap_ms)
        .try_fold(i64::MIN, |m, o| o.map(|o| m.max(o)))
}

/// The decision behind `high-availability.zkha.release-at-shutdown`: SIGTERM hand-overs with
/// the default (`after-components`) beside `early`, same version, same run: the grant, the job
/// running again, old task attempts running beside new ones, and clean shutdowns.
fn emit_release_early(
    artifacts: &Artifacts,
    config: &str,
    after_components: &[Failover],
    early: &[Failover],
) {
    if after_components.is_empty() || early.is_empty() {
        return;
    }
    // Exit 143, no fatal error and no ERROR line in the old leader's log.
    let clean = |runs: &[Failover]| {
        runs.iter()
            .all(|f| f.clean_shutdown() == Some(true) && f.old_leader_errors.is_empty())
    };
    let (a, e) = (max_overlap(after_components), max_overlap(early));
    let wins = grant_p50(early) < grant_p50(after_components)
        && running_p50(early) < running_p50(after_components)
        && e.is_some_and(|e| e <= 0)
        && clean(early);
    let line = json!({
        "metric": "flink_jm_sigterm_release_early_vs_after_components",
        "value": running_p50(early) - running_p50(after_components),
        "unit": "ms",
        "config": config,
        "flink": artifacts.flink_version,
        "measured": "SIGTERM of the leader with release-at-shutdown early vs after-components (the default): job RUNNING again p50 difference; grants; the longest an old task attempt ran beside the new attempt of the same subtask (TaskManager log; > 0: both ran); exit 143 with no fatal error and no ERROR line in the old leader's log",
        "after_components_grant_p50_ms": grant_p50(after_components),
        "early_grant_p50_ms": grant_p50(early),
        "after_components_job_running_again_p50_ms": running_p50(after_components),
        "early_job_running_again_p50_ms": running_p50(early),
        "after_components_max_task_overlap_ms": a,
        "early_max_task_overlap_ms": e,
        "after_components_clean_shutdown": clean(after_components),
        "early_clean_shutdown": clean(early),
        "early_wins_on_all_three": wins,
    });
    println!("{line}");
}

/// Starts the old leader again as a standby (after a step-down it is one already) and waits
/// for a checkpoint under the new leader.
fn bring_back(cluster: &mut Cluster, job: &str, f: &Failover, fault: Fault) -> Result<()> {
    if fault != Fault::StepDown {
        cluster.wait_jm_exit(f.old_leader, Duration::from_secs(30))?;
        cluster.restart_jm(f.old_leader)?;
    }
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
    let granted: Vec<f64> = runs
        .iter()
        .filter_map(|f| f.granted_after.map(ms))
        .collect();
    let metric = match fault {
        Fault::Kill => "flink_jm_crash_failover_p50",
        Fault::Term => "flink_jm_sigterm_handover_p50",
        Fault::StepDown => "flink_jm_step_down_handover_p50",
    };
    let what = fault.describe();
    let p50 = median(&leader);
    let line = json!({
        "metric": metric,
        "value": p50,
        "unit": "ms",
        "config": config,
        "flink": flink,
        "ha": v.name,
        "fault": what,
        "measured": "signal -> new leader's address in ZooKeeper (leader/rest_server/connection_info)",
        "rounds": runs.len(),
        "min_ms": leader.iter().copied().fold(f64::INFINITY, f64::min),
        "max_ms": leader.iter().copied().fold(0.0, f64::max),
        "samples_ms": leader,
        "session_timeout_ms": session.as_millis() as u64,
        "ratio_to_session_timeout": p50 / session.as_millis() as f64,
        "grant_p50_ms": median(&granted),
        "grant_samples_ms": granted,
        "job_running_again_p50_ms": median(&running),
        "job_running_again_samples_ms": running,
        "max_task_overlap_ms_samples": runs.iter().map(Failover::max_task_overlap_ms).collect::<Vec<_>>(),
        "clean_shutdown": runs.iter().all(|f| f.clean_shutdown() != Some(false)),
        "old_leader_error_lines_samples": runs.iter().map(|f| f.old_leader_errors.len()).collect::<Vec<_>>(),
        "old_leader_error_lines_first": runs.iter().flat_map(|f| f.old_leader_errors.first()).next(),
        "restored_from_latest_checkpoint": runs.iter().all(|f| f.restored.is_some_and(|r| r >= f.checkpoint_before)),
    });
    println!("{line}");
}
