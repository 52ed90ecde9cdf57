//! `make bench-scale`: many simulated Flink clusters on one 3-node ensemble (issue #20).
//!
//! A simulated cluster is what the zkha plugin asks of ZooKeeper for one Flink cluster with one
//! running job: two JobManager sessions contending on the cluster's latch, the leader publishing
//! its four leader-information nodes and checkpointing (the checkpoint id counter, then
//! `add_and_lock` of the new checkpoint and `release_and_try_remove` of the subsumed one, every
//! fenced by the grant), every JobManager watching the resource manager's leader, and a
//! TaskManager session watching the resource manager's and the job's leader. Clusters run in
//! worker processes (`ZKHA_SCALE_PER_WORKER` each), not one JVM per process.
//!
//! For each N of `ZKHA_SCALE_N` (default `10,100,500`; clusters are added to the running ones)
//! it prints JSON lines: the ZooKeeper request and transaction rate from the servers' counters,
//! the servers' CPU, the p50/p99 of a lock cycle of an unrelated client, and the crash failover
//! of one more cluster whose leader process is killed while all run. Then the storm: the
//! ZooKeeper leader is killed with every cluster connected; the time until every cluster is
//! back to steady state, the revocations and sessions lost, and the peak request rate.
//!
//! Environment: `ZKHA_SCALE_SESSION_MS` (default 60000, Flink's default), `_CONNECTION_MS`
//! (15000, Flink's), `_CHECKPOINT_MS` (10000: each leader's checkpoint interval), `_WINDOW_S`
//! (30), `_TICK_MS` (2000, ZooKeeper's default), `_FORCE_SYNC` (1: `forceSync=yes`, as
//! production runs), `_PER_WORKER` (250), `_CRASH_ROUNDS` (3), `_STORM` (1), `_STABLE_S` (15:
//! how long every cluster must stay steady after the storm before it counts as over).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zkha::flink::FlinkLayout;
use zkha::{Client, ClientOptions, CounterFormat, Election, ElectionEvent, ElectionOptions};
use zkha_testkit::four_letter;
use zkha_testkit::{Ensemble, Options};

#[path = "../crash.rs"]
mod crash;
#[path = "../report.rs"]
mod report;
use report::{emit, env_num, percentile};

/// The first argument that makes this program a worker (`connect from to session_ms
/// connection_ms checkpoint_ms` follow).
const WORKER_ARG: &str = "__worker";

/// The job every simulated cluster runs (any 32 hex digits).
const JOB: &str = "0123456789abcdef0123456789abcdef";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if crash::run_contender_if_asked(&args) {
        return;
    }
    if args.get(1).map(String::as_str) == Some(WORKER_ARG) {
        let n = |i: usize| -> u64 { args[i].parse().expect("worker argument") };
        worker(&args[2], n(3)..n(4), n(5), n(6), n(7));
        return;
    }
    Settings::from_env().run();
}

// ----------------------------------------------------------------------------------------
// Worker: a share of the simulated clusters, reporting a status line every 200 ms.

/// What a worker counts over its clusters' lifetime.
#[derive(Default)]
struct Counters {
    grants: AtomicU64,
    revocations: AtomicU64,
    election_errors: AtomicU64,
    checkpoints: AtomicU64,
    checkpoint_errors: AtomicU64,
    /// `Suspended` states seen: a connection dropped.
    suspensions: AtomicU64,
    /// `Lost` or `Expired` states seen.
    losses: AtomicU64,
    connect_errors: AtomicU64,
}

/// One simulated cluster's handles (kept alive: dropping them would end the watches).
struct Sim {
    clients: Vec<Client>,
    elections: Vec<Election>,
    _watches: Vec<zkha::LeaderInfoWatch>,
}

impl Sim {
    /// Every session connected and exactly one JobManager leading with its lease.
    fn steady(&self) -> bool {
        self.clients.iter().all(|c| c.state().is_connected())
            && self.elections.iter().filter(|e| e.has_leadership()).count() == 1
    }
}

fn worker(
    connect: &str,
    clusters: std::ops::Range<u64>,
    session_ms: u64,
    connection_ms: u64,
    checkpoint_ms: u64,
) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let counters = Arc::new(Counters::default());
    let sims: Arc<StdMutex<Vec<Sim>>> = Arc::default();
    let total = clusters.end - clusters.start;
    rt.spawn({
        let (connect, counters, sims) = (connect.to_string(), counters.clone(), sims.clone());
        async move {
            for i in clusters {
                let (connect, counters, sims) = (connect.clone(), counters.clone(), sims.clone());
                tokio::spawn(async move {
                    let t = Timing {
                        session_ms,
                        connection_ms,
                        checkpoint_ms,
                    };
                    let sim = start_cluster(&connect, i, t, &counters).await;
                    sims.lock().unwrap().push(sim);
                });
                // Spread the connects: a few hundred sessions at once is a storm of its own.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let out = std::io::stdout();
    loop {
        std::thread::sleep(Duration::from_millis(200));
        let line = {
            let sims = sims.lock().unwrap();
            let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
            json!({
                "clusters": total,
                "started": sims.len(),
                "steady": sims.iter().filter(|s| s.steady()).count(),
                "grants": c(&counters.grants),
                "revocations": c(&counters.revocations),
                "election_errors": c(&counters.election_errors),
                "checkpoints": c(&counters.checkpoints),
                "checkpoint_errors": c(&counters.checkpoint_errors),
                "suspensions": c(&counters.suspensions),
                "losses": c(&counters.losses),
                "connect_errors": c(&counters.connect_errors),
                "rss_kb": rss_kb(std::process::id()),
            })
        };
        let mut out = out.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return; // the bench is gone
        }
    }
}

#[derive(Clone, Copy)]
struct Timing {
    session_ms: u64,
    connection_ms: u64,
    checkpoint_ms: u64,
}

/// Connects a session, retrying (a connect can time out while hundreds start at once).
async fn connect_session(connect: &str, t: Timing, counters: &Counters) -> Client {
    loop {
        let options = ClientOptions::new(connect)
            .session_timeout(Duration::from_millis(t.session_ms))
            .connection_timeout(Duration::from_millis(t.connection_ms));
        match Client::connect(options).await {
            Ok(c) => return c,
            Err(_) => {
                counters.connect_errors.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Starts simulated cluster `i`: two JobManagers contending, a TaskManager watching.
async fn start_cluster(connect: &str, i: u64, t: Timing, counters: &Arc<Counters>) -> Sim {
    let layout = FlinkLayout::new(format!("/scale/c{i:04}"));
    let mut clients = Vec::new();
    for _ in 0..3 {
        let c = connect_session(connect, t, counters).await;
        tokio::spawn(count_states(c.clone(), counters.clone()));
        clients.push(c);
    }
    let rm = layout.connection_info("resource_manager");
    let mut watches = Vec::new();
    let mut elections = Vec::new();
    for (n, c) in clients[..2].iter().enumerate() {
        let e = c
            .election(&layout.latch(), ElectionOptions::new(format!("c{i}-jm{n}")))
            .expect("join the election");
        tokio::spawn(contend(
            e.clone(),
            c.clone(),
            layout.clone(),
            t,
            counters.clone(),
        ));
        elections.push(e);
        watches.push(c.watch_leader_info(&rm).expect("watch"));
    }
    watches.push(clients[2].watch_leader_info(&rm).expect("watch"));
    watches.push(
        clients[2]
            .watch_leader_info(&layout.job_connection_info(JOB))
            .expect("watch"),
    );
    Sim {
        clients,
        elections,
        _watches: watches,
    }
}

/// Counts the connection states a session goes through.
async fn count_states(c: Client, counters: Arc<Counters>) {
    let mut states = c.state_events();
    while let Some(s) = states.next().await {
        match s {
            zkha::ConnectionState::Suspended { .. } => &counters.suspensions,
            zkha::ConnectionState::Lost | zkha::ConnectionState::Expired { .. } => &counters.losses,
            _ => continue,
        }
        .fetch_add(1, Ordering::Relaxed);
    }
}

/// One JobManager: on each grant, publishes its leader information and checkpoints until
/// revoked, as Flink's leader does through the plugin.
async fn contend(e: Election, c: Client, layout: FlinkLayout, t: Timing, counters: Arc<Counters>) {
    let mut events = e.events();
    loop {
        match events.next().await {
            Some(ElectionEvent::Granted(_)) => {}
            Some(ElectionEvent::Revoked { .. }) => {
                counters.revocations.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            Some(ElectionEvent::Error { .. }) => {
                counters.election_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            None => return,
        }
        counters.grants.fetch_add(1, Ordering::Relaxed);
        let info = format!(
            "akka://flink@{}:6123/user/rpc/x_{}",
            layout.root,
            e.participant_id()
        );
        for comp in zkha::flink::layout::COMPONENTS {
            let _ = e
                .publish_leader_info(&layout.connection_info(comp), info.as_bytes())
                .await;
        }
        let _ = e
            .publish_leader_info(&layout.job_connection_info(JOB), info.as_bytes())
            .await;
        let fence: Arc<dyn zkha::FenceSource> = Arc::new(e.clone());
        let store = c
            .pointer_store(&layout.checkpoints(JOB))
            .expect("store")
            .fenced_by(fence.clone());
        let counter = c
            .counter(&layout.checkpoint_id_counter(JOB), CounterFormat::Int32, 1)
            .expect("counter")
            .fenced_by(fence);
        // Recovery reads and locks what the store holds, as Flink's does on a grant.
        let mut retained: Vec<String> = store
            .get_all_and_lock()
            .await
            .map(|all| all.into_iter().map(|e| e.name).collect())
            .unwrap_or_default();
        // Each leader's checkpoints start at a phase of their own.
        let phase = Duration::from_millis(spread(e.participant_id(), t.checkpoint_ms));
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + phase,
            Duration::from_millis(t.checkpoint_ms),
        );
        loop {
            tokio::select! {
                event = events.next() => match event {
                    Some(ElectionEvent::Revoked { .. }) => {
                        counters.revocations.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    Some(ElectionEvent::Error { .. }) => {
                        counters.election_errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Some(ElectionEvent::Granted(_)) => {}
                    None => return,
                },
                _ = tick.tick() => {
                    let done = checkpoint(&store, &counter, &mut retained).await;
                    match done {
                        Ok(()) => &counters.checkpoints,
                        Err(_) => &counters.checkpoint_errors,
                    }
                    .fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
}

/// Flink's pattern for one completed checkpoint with one retained: the id from the counter,
/// the pointer added and locked, the subsumed ones released and removed.
async fn checkpoint(
    store: &zkha::PointerStore,
    counter: &zkha::Counter,
    retained: &mut Vec<String>,
) -> zkha::Result<()> {
    let id = counter.get_and_increment().await?;
    let name = FlinkLayout::checkpoint_name(id);
    // A serialized RetrievableStateHandle is a few hundred bytes.
    store.add_and_lock(&name, &[7u8; 400]).await?;
    for old in std::mem::replace(retained, vec![name]) {
        store.release_and_try_remove(&old).await?;
    }
    Ok(())
}

/// A number in `0..range` fixed by `key` (FNV-1a): spreads the clusters' rhythms.
fn spread(key: &str, range: u64) -> u64 {
    let hash = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % range.max(1)
}

/// A process's resident set in KiB (0 if unknown).
fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

// ----------------------------------------------------------------------------------------
// The bench: workers, windows, the crash rounds and the storm.

/// What the run is told by the environment.
struct Settings {
    ns: Vec<u64>,
    session_ms: u64,
    connection_ms: u64,
    checkpoint_ms: u64,
    window: Duration,
    tick_ms: u64,
    force_sync: bool,
    per_worker: u64,
    crash_rounds: usize,
    storm: bool,
    /// How long every cluster must stay steady after the storm before it counts as over.
    stable: Duration,
}

/// A worker process and its latest status line.
struct Worker {
    _child: Child,
    latest: Arc<StdMutex<serde_json::Value>>,
}

impl Worker {
    fn spawn(connect: &str, clusters: std::ops::Range<u64>, s: &Settings) -> Worker {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.arg(WORKER_ARG).arg(connect);
        for n in [
            clusters.start,
            clusters.end,
            s.session_ms,
            s.connection_ms,
            s.checkpoint_ms,
        ] {
            cmd.arg(n.to_string());
        }
        cmd.stdout(Stdio::piped());
        let mut child = zkha_testkit::spawn::spawn_tied(cmd).expect("start a worker");
        let latest = Arc::new(StdMutex::new(json!({})));
        let stdout: ChildStdout = child.stdout.take().unwrap();
        std::thread::spawn({
            let latest = latest.clone();
            move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { return };
                    if let Ok(v) = serde_json::from_str(&line) {
                        *latest.lock().unwrap() = v;
                    }
                }
            }
        });
        Worker {
            _child: child,
            latest,
        }
    }
}

/// The workers' latest status lines, summed field by field.
fn totals(workers: &[Worker]) -> std::collections::BTreeMap<String, u64> {
    let mut sum = std::collections::BTreeMap::new();
    for w in workers {
        if let Some(obj) = w.latest.lock().unwrap().as_object() {
            for (k, v) in obj {
                *sum.entry(k.clone()).or_insert(0) += v.as_u64().unwrap_or(0);
            }
        }
    }
    sum
}

fn get(t: &std::collections::BTreeMap<String, u64>, k: &str) -> u64 {
    t.get(k).copied().unwrap_or(0)
}

/// What the servers' own counters say at one moment.
struct Servers {
    at: Instant,
    /// `zk_packets_received` of each server that answered.
    packets: Vec<Option<i64>>,
    /// The last zxid applied, from any server that answered.
    zxid: Option<i64>,
    /// CPU time of each server's JVM, in clock ticks.
    cpu_ticks: Vec<Option<u64>>,
    watches: i64,
    znodes: i64,
    connections: i64,
    outstanding: i64,
}

impl Servers {
    fn read(zk: &Ensemble) -> Servers {
        let t = Duration::from_secs(2);
        let status = zk.status();
        let mut s = Servers {
            at: Instant::now(),
            packets: Vec::new(),
            zxid: None,
            cpu_ticks: status.iter().map(|n| n.pid.and_then(cpu_ticks)).collect(),
            watches: 0,
            znodes: 0,
            connections: 0,
            outstanding: 0,
        };
        for addr in zk.addrs() {
            let m = four_letter::mntr(addr, t);
            s.packets.push(m.get("zk_packets_received").copied());
            s.watches += m.get("zk_watch_count").copied().unwrap_or(0);
            s.znodes = s.znodes.max(m.get("zk_znode_count").copied().unwrap_or(0));
            s.connections += m.get("zk_num_alive_connections").copied().unwrap_or(0);
            s.outstanding = s
                .outstanding
                .max(m.get("zk_outstanding_requests").copied().unwrap_or(0));
            s.zxid = s.zxid.max(four_letter::zxid(addr, t));
        }
        s
    }

    /// Requests per second since `before`, over the servers that answered both times with a
    /// counter that did not restart.
    fn request_rate(&self, before: &Servers) -> f64 {
        let n: i64 = self
            .packets
            .iter()
            .zip(&before.packets)
            .filter_map(|(a, b)| Some(a.as_ref()? - b.as_ref()?).filter(|d| *d >= 0))
            .sum();
        n as f64 / self.at.duration_since(before.at).as_secs_f64()
    }

    /// Transactions per second since `before` (zxids within one leader epoch).
    fn transaction_rate(&self, before: &Servers) -> Option<f64> {
        let (a, b) = (self.zxid?, before.zxid?);
        (a >> 32 == b >> 32)
            .then(|| (a - b) as f64 / self.at.duration_since(before.at).as_secs_f64())
    }

    /// CPU used by the servers since `before`, in cores: (all servers, the busiest one).
    fn cpu_cores(&self, before: &Servers) -> (f64, f64) {
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let secs = self.at.duration_since(before.at).as_secs_f64();
        let per: Vec<f64> = self
            .cpu_ticks
            .iter()
            .zip(&before.cpu_ticks)
            .filter_map(|(a, b)| Some(a.as_ref()?.saturating_sub(*b.as_ref()?) as f64 / hz / secs))
            .collect();
        (per.iter().sum(), per.iter().copied().fold(0.0, f64::max))
    }
}

/// A process's user + system CPU time in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Lock cycles (acquire, release) of a client unrelated to the clusters for `window`, a
/// cycle every 20 ms: their durations in ms.
async fn lock_cycles(connect: &str, session_ms: u64, window: Duration) -> Vec<f64> {
    let c = Client::connect(
        ClientOptions::new(connect).session_timeout(Duration::from_millis(session_ms)),
    )
    .await
    .expect("connect the probe");
    let m = c.mutex("/scale-probe/lock").expect("mutex");
    let mut cycles = Vec::new();
    let end = Instant::now() + window;
    while Instant::now() < end {
        let t = Instant::now();
        let g = m
            .acquire(Some(Duration::from_secs(10)))
            .await
            .expect("the probe's lock");
        g.release().await.expect("release the probe's lock");
        cycles.push(t.elapsed().as_secs_f64() * 1000.0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.close().await;
    cycles
}

impl Settings {
    fn from_env() -> Settings {
        let ns = std::env::var("ZKHA_SCALE_N")
            .unwrap_or_else(|_| "10,100,500".into())
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("ZKHA_SCALE_N: {n:?} is not a number"))
            })
            .collect();
        Settings {
            ns,
            session_ms: env_num("ZKHA_SCALE_SESSION_MS", 60_000),
            connection_ms: env_num("ZKHA_SCALE_CONNECTION_MS", 15_000),
            checkpoint_ms: env_num("ZKHA_SCALE_CHECKPOINT_MS", 10_000),
            window: Duration::from_secs(env_num("ZKHA_SCALE_WINDOW_S", 30)),
            tick_ms: env_num("ZKHA_SCALE_TICK_MS", 2000),
            force_sync: env_num("ZKHA_SCALE_FORCE_SYNC", 1) != 0,
            per_worker: env_num("ZKHA_SCALE_PER_WORKER", 250).max(1),
            crash_rounds: env_num("ZKHA_SCALE_CRASH_ROUNDS", 3) as usize,
            storm: env_num("ZKHA_SCALE_STORM", 1) != 0,
            stable: Duration::from_secs(env_num("ZKHA_SCALE_STABLE_S", 15)),
        }
    }

    fn run(self) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let tick = self.tick_ms as u32;
        let options = Options {
            heap_mb: 1024,
            ..Options::default()
                .tick_ms(tick)
                .force_sync(self.force_sync)
                .session_timeout_bounds(2 * tick, (20 * tick).max(self.session_ms as u32))
        };
        let zk = Ensemble::start(3, options).expect("start the ensemble");
        let connect = zk.connect_string();
        let config = format!(
            "{} zk={} session={}ms connection={}ms checkpoint every {}ms, {} cores",
            zk.options().describe(zk.len()),
            zk.zk_version(),
            self.session_ms,
            self.connection_ms,
            self.checkpoint_ms,
            std::thread::available_parallelism().map_or(0, |n| n.get()),
        );
        // The floor: the same lock cycles on the ensemble before any cluster runs, after 5 s of
        // them to warm the servers up (a fresh JVM's first round trips cost several times more).
        rt.block_on(lock_cycles(
            &connect,
            self.session_ms,
            Duration::from_secs(5),
        ));
        let mut floor = rt.block_on(lock_cycles(&connect, self.session_ms, self.window / 2));
        emit_lock_cycles(&mut floor, 0, &config);
        let mut workers: Vec<Worker> = Vec::new();
        let mut running = 0;
        let mut last_rate = 0.0;
        for &n in &self.ns {
            while running < n {
                let to = (running + self.per_worker).min(n);
                workers.push(Worker::spawn(&connect, running..to, &self));
                running = to;
            }
            let took = wait_steady(&workers, n, Duration::from_secs(120 + n / 5));
            // Let the first grants' recoveries and checkpoints pass before the window.
            std::thread::sleep(Duration::from_secs(10));
            last_rate = rt.block_on(self.window(&zk, &workers, n, took, &config));
            if self.crash_rounds > 0 {
                let mut failover = rt.block_on(crash::crash_failover(
                    &connect,
                    &format!("/scale-crash-{n}"),
                    self.session_ms,
                    self.crash_rounds,
                    true,
                ));
                let p50 = percentile(&mut failover, 0.5);
                emit(
                    "scale_crash_failover_p50",
                    p50,
                    "ms",
                    &config,
                    json!({"clusters": n, "rounds": failover.len(),
                        "max_ms": percentile(&mut failover, 1.0),
                        "kill": "SIGKILL of one more cluster's leader process, all clusters running"}),
                );
            }
        }
        if self.storm {
            let n = running;
            self.storm(&zk, &workers, n, last_rate, &config);
        }
    }

    /// Measures one window with `n` clusters running (the servers' counters, then the probe's
    /// lock cycles for half as long, so its own requests are not counted); returns the
    /// request rate.
    async fn window(
        &self,
        zk: &Ensemble,
        workers: &[Worker],
        n: u64,
        started_in: Duration,
        config: &str,
    ) -> f64 {
        let before = Servers::read(zk);
        let totals_before = totals(workers);
        // The servers' queues, sampled every second.
        let mut outstanding = 0;
        let end = Instant::now() + self.window;
        while Instant::now() < end {
            tokio::time::sleep(Duration::from_secs(1)).await;
            outstanding = outstanding.max(Servers::read(zk).outstanding);
        }
        let after = Servers::read(zk);
        let t = totals(workers);
        let mut cycles = lock_cycles(&zk.connect_string(), self.session_ms, self.window / 2).await;
        let rate = after.request_rate(&before);
        let txns = after.transaction_rate(&before).unwrap_or(f64::NAN);
        let (cpu, cpu_max) = after.cpu_cores(&before);
        let checkpoints = get(&t, "checkpoints") - get(&totals_before, "checkpoints");
        let secs = after.at.duration_since(before.at).as_secs_f64();
        let common = json!({"clusters": n, "sessions": 3 * n, "window_s": secs.round()});
        let with = |extra: serde_json::Value| {
            let mut v = common.clone();
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            v
        };
        emit(
            "scale_requests_per_s",
            rate,
            "requests/s",
            config,
            with(json!({
                "transactions_per_s": txns,
                "pings_and_reads_per_s": rate - txns,
                "per_cluster": rate / n as f64,
                "checkpoints_per_s": checkpoints as f64 / secs,
                "watches": after.watches,
                "znodes": after.znodes,
                "connections": after.connections,
                "outstanding_max": outstanding,
                "started_in_s": started_in.as_secs_f64(),
            })),
        );
        emit(
            "scale_server_cpu",
            cpu,
            "cores",
            config,
            with(json!({"busiest_server_cores": cpu_max})),
        );
        emit_lock_cycles(&mut cycles, n, config);
        emit(
            "scale_worker_rss_per_cluster",
            get(&t, "rss_kb") as f64 / n as f64,
            "KiB",
            config,
            with(json!({"checkpoint_errors": get(&t, "checkpoint_errors"),
                "revocations": get(&t, "revocations")})),
        );
        rate
    }

    /// Kills the ZooKeeper leader with `n` clusters running and watches them come back.
    fn storm(&self, zk: &Ensemble, workers: &[Worker], n: u64, steady_rate: f64, config: &str) {
        wait_steady(workers, n, Duration::from_secs(120));
        let before = totals(workers);
        let leader = zk.leader().expect("a ZooKeeper leader");
        // The request rate, every second, from another thread.
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let outcome = std::thread::scope(|scope| {
            let sampler = scope.spawn(move || {
                let mut peak: f64 = 0.0;
                let mut last = Servers::read(zk);
                while stop_rx.recv_timeout(Duration::from_secs(1)).is_err() {
                    let now = Servers::read(zk);
                    peak = peak.max(now.request_rate(&last));
                    last = now;
                }
                peak
            });
            let t0 = Instant::now();
            zk.node(leader).kill().expect("kill the ZooKeeper leader");
            let mut last_unsteady: Option<Instant> = None;
            let mut new_leader: Option<Duration> = None;
            let deadline = t0 + Duration::from_secs(300);
            let mut recovered = false;
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let now = Instant::now();
                if new_leader.is_none() && zk.leader().is_some() {
                    new_leader = Some(t0.elapsed());
                }
                if get(&totals(workers), "steady") < n {
                    last_unsteady = Some(now);
                } else if last_unsteady.is_some_and(|l| now - l > self.stable) {
                    recovered = true;
                    break;
                }
                if now > deadline {
                    break;
                }
                if last_unsteady.is_none() && t0.elapsed() > Duration::from_secs(60) {
                    recovered = true; // nobody noticed in a minute: reported as 0
                    break;
                }
            }
            let _ = stop_tx.send(());
            (
                sampler.join().unwrap(),
                t0,
                last_unsteady,
                new_leader,
                recovered,
            )
        });
        let (peak, t0, last_unsteady, new_leader, recovered) = outcome;
        let after = totals(workers);
        let delta = |k: &str| get(&after, k).saturating_sub(get(&before, k));
        emit(
            "scale_storm_recovery",
            last_unsteady.map_or(0.0, |l| l.duration_since(t0).as_secs_f64()),
            "s",
            config,
            json!({
                "clusters": n,
                "recovered": recovered,
                "revocations": delta("revocations"),
                "sessions_lost": delta("losses"),
                "suspensions": delta("suspensions"),
                "checkpoint_errors": delta("checkpoint_errors"),
                "zookeeper_leader_elected_s": new_leader.map(|d| d.as_secs_f64()),
                "peak_requests_per_s": peak,
                "steady_requests_per_s": steady_rate,
                "kill": "SIGKILL of the ZooKeeper leader; steady = every session connected and one leader per cluster",
            }),
        );
        let _ = zk.node(leader).restart();
        assert!(
            recovered,
            "the clusters were not all steady 300 s after the storm"
        );
    }
}

/// The p99 (and p50) of the probe's lock cycles with `n` clusters running.
fn emit_lock_cycles(cycles: &mut [f64], n: u64, config: &str) {
    let samples = cycles.len();
    emit(
        "scale_lock_cycle_p99",
        percentile(cycles, 0.99),
        "ms",
        config,
        json!({"clusters": n, "sessions": 3 * n, "p50_ms": percentile(cycles, 0.5),
            "samples": samples, "client": "an unrelated client: acquire + release of a mutex"}),
    );
}

/// Waits until `n` clusters run and are steady; how long it took.
fn wait_steady(workers: &[Worker], n: u64, timeout: Duration) -> Duration {
    let t0 = Instant::now();
    loop {
        let t = totals(workers);
        if get(&t, "started") == n && get(&t, "steady") == n {
            return t0.elapsed();
        }
        assert!(
            t0.elapsed() < timeout,
            "{} of {n} clusters started and {} steady after {timeout:?}: {t:?}",
            get(&t, "started"),
            get(&t, "steady"),
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
