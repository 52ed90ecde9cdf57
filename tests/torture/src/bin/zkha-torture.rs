//! `make torture`: rounds of random real faults against zkha's recipes, each checked; one
//! JSON line per round and a summary line. Also the worker processes (`zkha-torture worker`).
//!
//! Environment: `ZKHA_TORTURE_ROUNDS` (default 1), `ZKHA_TORTURE_SEED` (the first round's seed;
//! later rounds take the next ones), `ZKHA_TORTURE_FAULTS` (per round, default 4),
//! `ZKHA_TORTURE_WINDOW_S` (the fault phase, default 20), `ZKHA_TORTURE_KINDS` (a comma list
//! of fault kinds), `ZKHA_TORTURE_SABOTAGE` (a deliberate defect: lease-overstated,
//! skip-fence-check, lock-does-not-wait, lease-from-any-answer), `ZKHA_TORTURE_DIR` (default
//! `target/torture`), `ZKHA_TORTURE_KEEP` (keep every round's histories, not only a failing
//! one's), `ZKHA_TORTURE_LOG` (an env-filter such as `zkha=debug`: workers log their client
//! to their stderr file). Exits 1 if any round found a violation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use zkha_torture::faults::Kind;
use zkha_torture::round::{self, RoundConfig};
use zkha_torture::worker::{self, WorkerArgs};

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("worker") {
        match WorkerArgs::parse(&args[2..]) {
            Some(w) => worker::run(w),
            None => {
                eprintln!("zkha-torture worker: bad arguments {:?}", &args[2..]);
                return ExitCode::from(2);
            }
        }
    }
    let rounds: u64 = env("ZKHA_TORTURE_ROUNDS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let first_seed: u64 = env("ZKHA_TORTURE_SEED")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(zkha_torture::rng::fresh_seed);
    let faults: usize = env("ZKHA_TORTURE_FAULTS")
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let window = Duration::from_secs(
        env("ZKHA_TORTURE_WINDOW_S")
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let kinds: Vec<Kind> = match env("ZKHA_TORTURE_KINDS") {
        Some(list) => match list.split(',').map(|k| Kind::parse(k.trim())).collect() {
            Some(k) => k,
            None => {
                eprintln!(
                    "zkha-torture: ZKHA_TORTURE_KINDS={list:?}: unknown kind; kinds are {:?}",
                    Kind::ALL.iter().map(|k| k.name()).collect::<Vec<_>>()
                );
                return ExitCode::from(2);
            }
        },
        None => Vec::new(),
    };
    let sabotage = match worker::parse_sabotage(
        &env("ZKHA_TORTURE_SABOTAGE").unwrap_or("none".into()),
    ) {
        Some(s) => s,
        None => {
            eprintln!("zkha-torture: ZKHA_TORTURE_SABOTAGE: unknown (lease-overstated, skip-fence-check, lock-does-not-wait, lease-from-any-answer)");
            return ExitCode::from(2);
        }
    };
    let base = PathBuf::from(env("ZKHA_TORTURE_DIR").unwrap_or("target/torture".into()));
    let mut by_kind: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut ops: BTreeMap<String, u64> = BTreeMap::new();
    let mut violations = 0usize;
    let mut failed = Vec::new();
    for i in 0..rounds {
        let seed = first_seed.wrapping_add(i);
        let dir = base.join(format!("round-{seed}"));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = RoundConfig {
            seed,
            t: Duration::from_secs(2),
            faults,
            window,
            kinds: kinds.clone(),
            sabotage,
            schedule: None,
            aim_at_leader: false,
            exe: std::env::current_exe().unwrap_or_else(|_| "zkha-torture".into()),
            contenders: (0.3, None),
            dir: dir.clone(),
        };
        let report = match round::run(&cfg) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("zkha-torture: round {seed} could not run: {e}");
                return ExitCode::from(2);
            }
        };
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
        for f in &report.faults {
            let e = by_kind.entry(f.fault.kind.name()).or_insert((0, 0));
            e.0 += 1;
            e.1 += u64::from(f.effective);
        }
        for (k, v) in &report.operations {
            *ops.entry(k.clone()).or_insert(0) += v;
        }
        violations += report.violations.len();
        if report.violations.is_empty() && env("ZKHA_TORTURE_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            eprintln!(
                "zkha-torture: round {seed}: {} violation(s); histories and ZooKeeper logs in {}; replay: {}",
                report.violations.len(),
                dir.display(),
                report.replay
            );
            failed.push(seed);
        }
    }
    let summary = serde_json::json!({
        "summary": true,
        "rounds": rounds,
        "first_seed": first_seed,
        "faults_by_kind": by_kind.iter().map(|(k, (n, e))| (k.clone(), serde_json::json!({"injected": n, "effective": e}))).collect::<BTreeMap<_, _>>(),
        "operations": ops,
        "violations": violations,
        "failed_rounds": failed,
        "sabotage": worker::sabotage_name(sabotage),
    });
    println!("{summary}");
    if violations > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
