//! `make bench`, part 2: zkha beside its peers, in one run on one ensemble.
//!
//! Six implementations run the same workloads, each in a process of its own (a driver printing
//! one JSON line): zkha from Rust, C (`c-api/bench/peer_driver.c`) and Python
//! (`python/bench/peer_driver.py`), Apache Curator 5.x (`tests/java-peers`, `CuratorBench`),
//! kazoo (the Python driver), and the floor (the bare Rust ZooKeeper client doing the
//! ZooKeeper operations a recipe cannot avoid). Workloads: the uncontended lock cycle, lock
//! acquisitions per second with 4 and 16 contending sessions, the graceful election hand-over,
//! and CPU / wall / peak RSS of a process doing 2000 lock cycles. Each run goes through every
//! workload with the implementations in a random order, so drift hits all alike; every figure
//! is the median of the runs, printed with its spread (min, max) and every run's value. The
//! ensemble is warmed up first. docs/bench.md explains the figures and the targets.
//!
//! Environment: `ZKHA_PEER_C` (the C driver), `ZKHA_PEER_PYTHON` (a Python with zkha and
//! kazoo), `ZKHA_PEER_CURATOR_CP` (CuratorBench's class path), `ZKHA_PEER_JAVA` (default
//! `java`); `ZKHA_PEER_RUNS` (default 5), `ZKHA_PEER_CYCLES` (lock cycles per run, 1000),
//! `ZKHA_PEER_WARMUP` (lock cycles before those, 300), `ZKHA_PEER_PROCESS_CYCLES` (2000),
//! `ZKHA_PEER_HANDOVERS` (hand-overs per run, 40), `ZKHA_PEER_CONTENDED_S` (3),
//! `ZKHA_PEER_WARMUP_S` (ensemble warm-up, 5); for a quick look, `ZKHA_PEER_IMPLS` and
//! `ZKHA_PEER_WORKLOADS` (comma-separated subsets of the names printed).

use std::collections::BTreeMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use zkha::{Client, ClientOptions, ElectionOptions};
use zkha_testkit::{Ensemble, Options};
use zookeeper_client as zk;

#[path = "../coin.rs"]
mod coin;
use coin::Coin;

fn env_num(key: &str, default: u64) -> u64 {
    match std::env::var(key) {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|_| panic!("{key}={v}: expected a whole number")),
        Err(_) => default,
    }
}

/// The implementations, in the order their figures are printed.
const IMPLS: [&str; 6] = ["floor", "rust", "c", "python", "curator", "kazoo"];
/// zkha's bindings and its peers.
const ZKHA: [&str; 3] = ["rust", "c", "python"];
const PEERS: [&str; 2] = ["curator", "kazoo"];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__driver") {
        let code = driver(&args[2..]);
        std::process::exit(code);
    }
    let impls: Vec<&str> = match std::env::var("ZKHA_PEER_IMPLS") {
        Ok(list) => {
            let chosen: Vec<&str> = IMPLS
                .iter()
                .copied()
                .filter(|i| list.split(',').any(|x| x.trim() == *i))
                .collect();
            for x in list.split(',') {
                assert!(
                    IMPLS.contains(&x.trim()),
                    "ZKHA_PEER_IMPLS: {x:?} is not one of {IMPLS:?}"
                );
            }
            chosen
        }
        Err(_) => IMPLS.to_vec(),
    };
    let zk = Ensemble::start(3, Options::default()).expect("start ensemble");
    let connect = zk.node(1).addr().to_string();
    let config = format!(
        "{} zk={} clients->node1({}), one process per run and implementation",
        zk.options().describe(zk.len()),
        zk.zk_version(),
        zk.status()[0]
            .mode
            .map(|m| format!("{m:?}").to_lowercase())
            .unwrap_or_default()
    );
    warm_up(
        &connect,
        Duration::from_secs(env_num("ZKHA_PEER_WARMUP_S", 5)),
    );
    Bench::new(impls, connect, config).run();
}

/// What one workload measures and how its figure reads.
struct Workload {
    name: &'static str,
    /// The driver's arguments after CONNECT PATH.
    args: Vec<String>,
    /// The result field holding the figure, or None for the process figures (from rusage).
    field: Option<&'static str>,
    unit: &'static str,
    higher_is_better: bool,
    /// The floor has no counterpart (contention is a recipe's, not a bare client's).
    floor: bool,
}

/// One measured process: the driver's JSON and the process's own figures.
struct Sample {
    out: Value,
    wall_ms: f64,
    cpu_ms: f64,
    max_rss_mib: f64,
}

struct Bench {
    impls: Vec<&'static str>,
    connect: String,
    config: String,
    runs: usize,
    workloads: Vec<Workload>,
}

impl Bench {
    fn new(impls: Vec<&'static str>, connect: String, config: String) -> Bench {
        let cycles = env_num("ZKHA_PEER_CYCLES", 1000);
        let warm = env_num("ZKHA_PEER_WARMUP", 300);
        let secs = env_num("ZKHA_PEER_CONTENDED_S", 3);
        let mut workloads = vec![Workload {
            name: "lock_cycle",
            args: vec![warm.to_string(), cycles.to_string()],
            field: Some("p50_ms"),
            unit: "ms",
            higher_is_better: false,
            floor: true,
        }];
        for sessions in [4, 16] {
            workloads.push(Workload {
                name: if sessions == 4 {
                    "contended_4_sessions"
                } else {
                    "contended_16_sessions"
                },
                args: vec![sessions.to_string(), secs.to_string()],
                field: Some("per_s"),
                unit: "1/s",
                higher_is_better: true,
                floor: false,
            });
        }
        workloads.push(Workload {
            name: "election_handover",
            args: vec![env_num("ZKHA_PEER_HANDOVERS", 40).to_string()],
            field: Some("p50_ms"),
            unit: "ms",
            higher_is_better: false,
            floor: true,
        });
        workloads.push(Workload {
            name: "process_2000_cycles",
            args: vec![env_num("ZKHA_PEER_PROCESS_CYCLES", 2000).to_string()],
            field: None,
            unit: "",
            higher_is_better: false,
            floor: true,
        });
        if let Ok(list) = std::env::var("ZKHA_PEER_WORKLOADS") {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            for x in &wanted {
                assert!(
                    workloads.iter().any(|w| w.name == *x),
                    "ZKHA_PEER_WORKLOADS: {x:?} is not one of {:?}",
                    workloads.iter().map(|w| w.name).collect::<Vec<_>>()
                );
            }
            workloads.retain(|w| wanted.contains(&w.name));
        }
        Bench {
            impls,
            connect,
            config,
            runs: env_num("ZKHA_PEER_RUNS", 5).max(1) as usize,
            workloads,
        }
    }

    fn command(&self, imp: &str) -> Command {
        let var = |k: &str| {
            std::env::var(k).unwrap_or_else(|_| {
                panic!(
                    "{k} is not set: `make bench` sets it (or leave {imp} out of ZKHA_PEER_IMPLS)"
                )
            })
        };
        match imp {
            "floor" | "rust" => {
                let mut c = Command::new(std::env::current_exe().expect("own executable"));
                c.args(["__driver", if imp == "floor" { "floor" } else { "zkha" }]);
                c
            }
            "c" => Command::new(var("ZKHA_PEER_C")),
            "python" | "kazoo" => {
                let mut c = Command::new(var("ZKHA_PEER_PYTHON"));
                let script = concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../python/bench/peer_driver.py"
                );
                c.args([script, if imp == "python" { "zkha" } else { "kazoo" }]);
                c
            }
            "curator" => {
                let mut c =
                    Command::new(std::env::var("ZKHA_PEER_JAVA").unwrap_or_else(|_| "java".into()));
                c.args([
                    "-cp",
                    &var("ZKHA_PEER_CURATOR_CP"),
                    "io.zkha.peers.CuratorBench",
                ]);
                c
            }
            _ => unreachable!("{imp}"),
        }
    }

    /// Runs one driver process to its end; its JSON line and its rusage.
    // The child is reaped by `wait4` (which gives its rusage), not by `Child::wait`.
    #[allow(clippy::zombie_processes)]
    fn measure(&self, imp: &str, w: &Workload, path: &str) -> Sample {
        let workload = match w.name {
            "lock_cycle" => "lock",
            "election_handover" => "handover",
            "process_2000_cycles" => "cycles",
            _ => "contended",
        };
        let mut cmd = self.command(imp);
        cmd.arg(workload)
            .arg(&self.connect)
            .arg(path)
            .args(&w.args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let t = Instant::now();
        let mut child = zkha_testkit::spawn::spawn_tied(cmd)
            .unwrap_or_else(|e| panic!("{imp}: cannot start its driver: {e}"));
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .expect("piped")
            .read_to_string(&mut stdout)
            .expect("driver output");
        let (status, ru) = wait4(child.id() as libc::pid_t);
        let wall_ms = t.elapsed().as_secs_f64() * 1000.0;
        assert!(
            status == 0,
            "{imp} {workload} failed (wait status {status}); its output: {stdout}"
        );
        let out: Value = stdout
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or_else(|| panic!("{imp} {workload}: no JSON line in {stdout:?}"));
        let tv = |t: libc::timeval| t.tv_sec as f64 * 1000.0 + t.tv_usec as f64 / 1000.0;
        Sample {
            out,
            wall_ms,
            cpu_ms: tv(ru.ru_utime) + tv(ru.ru_stime),
            max_rss_mib: ru.ru_maxrss as f64 / 1024.0,
        }
    }

    fn run(&self) {
        // figures[workload/figure][impl] = one value per run.
        let mut figures: BTreeMap<String, BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
        let mut coin = Coin::seeded();
        let base = format!("/peer-bench-{}", std::process::id());
        for run in 0..self.runs {
            for w in &self.workloads {
                let mut order: Vec<&str> = self
                    .impls
                    .iter()
                    .copied()
                    .filter(|i| w.floor || *i != "floor")
                    .collect();
                coin.shuffle(&mut order);
                for imp in order {
                    let path = format!("{base}/{run}/{imp}/{}", w.name);
                    let s = self.measure(imp, w, &path);
                    let mut put = |k: String, v: f64| {
                        figures
                            .entry(k)
                            .or_default()
                            .entry(imp)
                            .or_default()
                            .push(v)
                    };
                    match w.field {
                        Some(f) => put(
                            w.name.to_string(),
                            s.out[f]
                                .as_f64()
                                .unwrap_or_else(|| panic!("{imp} {}: no {f} in {}", w.name, s.out)),
                        ),
                        None => {
                            put(format!("{}_cpu", w.name), s.cpu_ms);
                            put(format!("{}_wall", w.name), s.wall_ms);
                            put(format!("{}_peak_rss", w.name), s.max_rss_mib);
                        }
                    }
                }
            }
            eprintln!("zkha-peer-bench: run {} of {} done", run + 1, self.runs);
        }
        self.report(&figures);
    }

    fn report(&self, figures: &BTreeMap<String, BTreeMap<&str, Vec<f64>>>) {
        for w in &self.workloads {
            let names: Vec<(String, &str)> = match w.field {
                Some(_) => vec![(w.name.to_string(), w.unit)],
                None => vec![
                    (format!("{}_cpu", w.name), "ms"),
                    (format!("{}_wall", w.name), "ms"),
                    (format!("{}_peak_rss", w.name), "MiB"),
                ],
            };
            for (figure, unit) in names {
                let Some(by_impl) = figures.get(&figure) else {
                    continue;
                };
                let mut medians = BTreeMap::new();
                for imp in IMPLS {
                    let Some(values) = by_impl.get(imp) else {
                        continue;
                    };
                    let mut sorted = values.clone();
                    let m = median(&mut sorted);
                    medians.insert(imp, m);
                    emit(json!({
                        "metric": format!("peer_{figure}_{imp}"),
                        "value": round3(m),
                        "unit": unit,
                        "config": self.config,
                        "runs": values.len(),
                        "spread": [round3(sorted[0]), round3(sorted[sorted.len() - 1])],
                        "per_run": values.iter().map(|v| round3(*v)).collect::<Vec<_>>(),
                    }));
                }
                self.ratios(&figure, unit, w.higher_is_better, &medians);
            }
        }
    }

    /// The goal lines of one figure: zkha's bindings against each other and against the peers.
    fn ratios(&self, figure: &str, unit: &str, higher_is_better: bool, m: &BTreeMap<&str, f64>) {
        // A cost ratio: above 1 means `a` is worse than `b`, whichever way the figure reads.
        let cost = |a: f64, b: f64| if higher_is_better { b / a } else { a / b };
        if figure == "lock_cycle" {
            for (binding, goal) in [("python", 1.15), ("c", 1.05)] {
                if let (Some(x), Some(r)) = (m.get(binding), m.get("rust")) {
                    let ratio = x / r;
                    emit(json!({
                        "metric": format!("peer_lock_cycle_{binding}_over_rust"),
                        "value": round3(ratio), "unit": "ratio", "config": self.config,
                        "goal_ratio": goal, "meets_goal": ratio <= goal,
                    }));
                }
            }
        }
        if let Some(f) = m.get("floor") {
            for z in ZKHA.iter().chain(PEERS.iter()) {
                if let Some(x) = m.get(z) {
                    emit(json!({
                        "metric": format!("peer_{figure}_{z}_over_floor"),
                        "value": round3(x / f), "unit": "ratio", "config": self.config,
                        "floor": "the bare Rust ZooKeeper client doing the operations the recipe cannot avoid",
                    }));
                }
            }
        }
        // zkha ahead of both peers: every binding against every peer; the figure is the worst
        // pair's cost ratio (below 1: every zkha binding ahead of every peer).
        let handover = figure == "election_handover";
        let goal = if handover { 0.7 } else { 1.0 };
        let mut pairs = serde_json::Map::new();
        let mut worst: Option<f64> = None;
        for z in ZKHA {
            for p in PEERS {
                if let (Some(x), Some(y)) = (m.get(z), m.get(p)) {
                    let r = cost(*x, *y);
                    pairs.insert(format!("{z}_vs_{p}"), json!(round3(r)));
                    worst = Some(worst.map_or(r, |w: f64| w.max(r)));
                }
            }
        }
        if let Some(worst) = worst {
            emit(json!({
                "metric": format!("peer_{figure}_zkha_vs_peers"),
                "value": round3(worst),
                "unit": "ratio",
                "config": self.config,
                "what": format!("the worst zkha binding's {} over the best-placed peer's ({unit}{}); below 1: zkha ahead",
                    if higher_is_better { "inverse" } else { "figure" },
                    if higher_is_better { ", higher is better" } else { ", lower is better" }),
                "pairs": pairs,
                "goal_ratio": goal,
                "meets_goal": worst <= goal,
            }));
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn emit(line: Value) {
    println!("{line}");
}

/// Waits for the child and returns its wait status and resource usage.
fn wait4(pid: libc::pid_t) -> (i32, libc::rusage) {
    // SAFETY: wait4 fills the status and the rusage we pass; the pid is our own child's.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let mut status = 0;
    loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            return (status, ru);
        }
        let e = std::io::Error::last_os_error();
        assert!(
            e.kind() == std::io::ErrorKind::Interrupted,
            "wait4({pid}): {e}"
        );
    }
}

/// A fresh ensemble's JVMs need some thousand requests before a round trip settles.
fn warm_up(connect: &str, time: Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let c = raw_client(connect).await;
        let end = Instant::now() + time;
        while Instant::now() < end {
            floor_cycle(&c, "/peer-bench-warm-up").await;
        }
    });
}

// ---- the Rust drivers: zkha and the floor ----------------------------------------------------

async fn raw_client(connect: &str) -> zk::Client {
    zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(connect)
        .await
        .expect("connect")
}

/// What any lock cycle must do: create an ephemeral sequential node of a lock's shape, delete it.
async fn floor_cycle(c: &zk::Client, parent: &str) {
    let seq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    let node = format!("{parent}/_c_0b2e5a6d-94c3-4f1e-8a57-3c1d9e7f2b10-lock-");
    let (_, n) = match c.create(&node, b"", &seq).await {
        Ok(v) => v,
        Err(zk::Error::NoNode) => {
            let parents = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            // Make the parents (concurrent makers are fine: NodeExists).
            let mut at = String::new();
            for part in parent.split('/').filter(|p| !p.is_empty()) {
                at = format!("{at}/{part}");
                match c.create(&at, b"", &parents).await {
                    Ok(_) | Err(zk::Error::NodeExists) => {}
                    Err(e) => panic!("create {at}: {e}"),
                }
            }
            c.create(&node, b"", &seq).await.expect("create")
        }
        Err(e) => panic!("create {node}: {e}"),
    };
    c.delete(&format!("{node}{n}"), None).await.expect("delete");
}

fn stats(mut samples: Vec<f64>) -> Value {
    let n = samples.len();
    let p50 = median(&mut samples);
    let p90 = samples[((n - 1) as f64 * 0.9).round() as usize];
    json!({"n": n, "p50_ms": p50, "p90_ms": p90})
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// `__driver zkha|floor WORKLOAD CONNECT PATH N...`: one JSON line on stdout.
fn driver(args: &[String]) -> i32 {
    let [imp, workload, connect, path, nums @ ..] = args else {
        eprintln!("usage: __driver zkha|floor lock|cycles|contended|handover CONNECT PATH N...");
        return 2;
    };
    let nums: Vec<u64> = nums
        .iter()
        .map(|n| n.parse().expect("a whole number"))
        .collect();
    let floor = imp == "floor";
    // A user's runtime of its own, as a Rust service has; zkha runs its I/O on its own.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let out = rt.block_on(async {
        match (workload.as_str(), floor) {
            ("lock" | "cycles", true) => {
                let c = raw_client(connect).await;
                cycles_of(workload, &nums, async || floor_cycle(&c, path).await).await
            }
            ("lock" | "cycles", false) => {
                let c = zkha_client(connect).await;
                let m = c.mutex(path).expect("mutex");
                let out = cycles_of(workload, &nums, async || lock_cycle(&m).await).await;
                c.close().await;
                out
            }
            ("contended", false) => contended(connect, path, nums[0] as usize, nums[1]).await,
            ("handover", true) => floor_handover(connect, path, nums[0] as usize).await,
            ("handover", false) => handover(connect, path, nums[0] as usize).await,
            _ => json!(null),
        }
    });
    if out.is_null() {
        eprintln!("__driver: {imp} has no workload {workload:?}");
        return 2;
    }
    println!("{out}");
    0
}

/// One acquire + release of zkha's mutex.
async fn lock_cycle(m: &zkha::Mutex) {
    let g = m.acquire(None).await.expect("acquire");
    g.release().await.expect("release");
}

/// `lock WARM CYCLES` (the median of CYCLES timed cycles after WARM untimed ones) or
/// `cycles N` (N untimed cycles: the process's own figures are what counts).
async fn cycles_of(workload: &str, nums: &[u64], mut cycle: impl AsyncFnMut()) -> Value {
    let (warm, cycles) = if workload == "lock" {
        (nums[0], nums[1])
    } else {
        (0, nums[0])
    };
    let mut lat = Vec::new();
    for i in 0..warm + cycles {
        let t = Instant::now();
        cycle().await;
        if i >= warm {
            lat.push(ms(t.elapsed()));
        }
    }
    if workload == "lock" {
        stats(lat)
    } else {
        json!({"n": cycles})
    }
}

async fn zkha_client(connect: &str) -> Client {
    Client::connect(ClientOptions::new(connect).session_timeout(Duration::from_secs(10)))
        .await
        .expect("connect")
}

async fn contended(connect: &str, path: &str, sessions: usize, secs: u64) -> Value {
    let mut clients = Vec::new();
    for _ in 0..sessions {
        clients.push(zkha_client(connect).await);
    }
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(sessions + 1));
    let deadline = std::sync::Arc::new(std::sync::OnceLock::<Instant>::new());
    let mut tasks = Vec::new();
    for c in &clients {
        let m = c.mutex(path).expect("mutex");
        let (start, deadline) = (start.clone(), deadline.clone());
        tasks.push(tokio::spawn(async move {
            lock_cycle(&m).await; // warm: the path exists
            start.wait().await;
            let end = *deadline.get().expect("deadline set before the start");
            let mut n = 0u64;
            while Instant::now() < end {
                lock_cycle(&m).await;
                n += 1;
            }
            n
        }));
    }
    // The deadline is set before the barrier opens: every task sees it.
    let t0 = Instant::now();
    deadline
        .set(t0 + Duration::from_secs(secs))
        .expect("set once");
    start.wait().await;
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("task");
    }
    let elapsed = t0.elapsed().as_secs_f64();
    for c in clients {
        c.close().await;
    }
    json!({"acquisitions": total, "seconds": elapsed, "per_s": total as f64 / elapsed})
}

async fn handover(connect: &str, base: &str, rounds: usize) -> Value {
    let (c1, c2) = (zkha_client(connect).await, zkha_client(connect).await);
    let mut lat = Vec::new();
    for i in 0..rounds {
        let latch = format!("{base}/{i}");
        let a = c1.election(&latch, ElectionOptions::new("a")).expect("a");
        a.wait_for_leadership(Duration::from_secs(10))
            .await
            .expect("a leads");
        let b = c2.election(&latch, ElectionOptions::new("b")).expect("b");
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                b.wait_for_leadership(Duration::from_secs(30))
                    .await
                    .expect("b leads");
                Instant::now()
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await; // b's node in place
        let t0 = Instant::now();
        a.close().await;
        let granted = waiter.await.expect("waiter");
        lat.push(ms(granted - t0));
        b.close().await;
    }
    c1.close().await;
    c2.close().await;
    stats(lat)
}

/// The hand-over's floor: one session deletes a node another session watches; the time
/// until the watcher is told.
async fn floor_handover(connect: &str, base: &str, rounds: usize) -> Value {
    let (a, b) = (raw_client(connect).await, raw_client(connect).await);
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let mut lat = Vec::new();
    for i in 0..rounds {
        let node = format!("{base}/{i}");
        if let Err(zk::Error::NoNode) = a.create(&node, b"", &eph).await {
            floor_cycle(&a, base).await; // makes the parents
            a.create(&node, b"", &eph).await.expect("create");
        }
        let (stat, watcher) = b.check_and_watch_stat(&node).await.expect("watch");
        assert!(stat.is_some());
        let told = tokio::spawn(async move { (watcher.changed().await, Instant::now()) });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t0 = Instant::now();
        a.delete(&node, None).await.expect("delete");
        let (event, at) = told.await.expect("watcher");
        assert_eq!(event.event_type, zk::EventType::NodeDeleted);
        lat.push(ms(at - t0));
    }
    stats(lat)
}
