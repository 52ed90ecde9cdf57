//! One round: an ensemble, the worker processes, the faults of a seed, quiesce, and the
//! checks; the report is one JSON line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;
use zkha::{Client, ClientOptions, Sabotage};
use zkha_testkit::{Ensemble, FaultProxy, Mode, Options};

use crate::check::{self, Facts, Outcome};
use crate::clock::now;
use crate::faults::{self, Fault, Kind};
use crate::history::{self, Record};
use crate::rng::Rng;
use crate::worker::{self, Role, WorkerArgs};

/// How a round runs.
#[derive(Debug, Clone)]
pub struct RoundConfig {
    /// Decides the round's ensemble size, syncLimit, faults and the workers' choices.
    pub seed: u64,
    /// The session timeout of every worker.
    pub t: Duration,
    /// Faults per round.
    pub faults: usize,
    /// How long the fault phase lasts.
    pub window: Duration,
    /// The kinds to draw from (all if empty).
    pub kinds: Vec<Kind>,
    /// A deliberate defect for every worker (to show a checker catches it).
    pub sabotage: Option<Sabotage>,
    /// A fixed fault schedule instead of one drawn from the seed.
    pub schedule: Option<Vec<Fault>>,
    /// Aim every fault that can at the leading contender (or its server).
    pub aim_at_leader: bool,
    /// The `zkha-torture` binary (workers are it, run as `zkha-torture worker`).
    pub exe: PathBuf,
    /// Contenders: the chance that one reaches a single ZooKeeper server only (it cannot move
    /// to another server), and its register write period in ms (`None`: drawn per worker,
    /// 20 ms to 1 s).
    pub contenders: (f64, Option<u64>),
    /// Where the round keeps its histories (and, after a violation, the ensemble's logs).
    pub dir: PathBuf,
}

/// A fault as it happened.
#[derive(Debug, Clone, Serialize)]
pub struct Injected {
    /// What was drawn.
    #[serde(flatten)]
    pub fault: Fault,
    /// Whom it hit (`node 2`, `elect-1`).
    pub hit: String,
    /// It struck a holder: the worker it hit held leadership or a lock (or, for a server
    /// fault, someone held) while others waited for it.
    pub effective: bool,
}

/// A round's report (one JSON line).
#[derive(Debug, Serialize)]
pub struct RoundReport {
    /// The seed (replays the round).
    pub seed: u64,
    /// ZooKeeper servers.
    pub nodes: usize,
    /// syncLimit x tickTime, in ms.
    pub sync_limit_ms: u64,
    /// How long after the last fault healed a quorum served again (ZooKeeper's own election
    /// can take seconds after repeated failures); the progress window starts then.
    pub quorum_after_heal_ms: u64,
    /// The faults.
    pub faults: Vec<Injected>,
    /// Operations by kind (fenced writes accepted and refused, grants, adds, ...).
    pub operations: BTreeMap<String, u64>,
    /// Broken rules.
    pub violations: Vec<check::Violation>,
    /// Documented deviations (see [`check::Outcome::tolerated`]).
    pub tolerated: Vec<String>,
    /// Where the histories (and, after a violation, the ZooKeeper logs) are.
    pub dir: PathBuf,
    /// How to run this round again.
    pub replay: String,
}

/// A worker process of the round.
struct Proc {
    args: WorkerArgs,
    child: Child,
    /// In front of the ZooKeeper servers, for this worker alone.
    proxy: FaultProxy,
    /// In front of its liveness endpoint (contenders).
    liveness: Option<FaultProxy>,
    paused: bool,
}

/// Everything a round runs against.
struct Cluster {
    zk: Ensemble,
    procs: Vec<Proc>,
    root: String,
    dir: PathBuf,
    t: Duration,
    sabotage: Option<Sabotage>,
    exe: PathBuf,
    contenders: (f64, Option<u64>),
    next: usize,
    aim: f64,
    ended: HashMap<String, u64>,
    false_positives: Vec<(String, u64)>,
    admin: Client,
    rt: tokio::runtime::Runtime,
}

/// Runs one round.
pub fn run(cfg: &RoundConfig) -> std::io::Result<RoundReport> {
    let mut rng = Rng::new(cfg.seed);
    let nodes = if rng.chance(0.2) { 5 } else { 3 };
    // A cut-off follower answers its clients for syncLimit x tickTime: below or above T.
    let sync_limit = *rng.pick(&[10u32, 50]);
    std::fs::create_dir_all(&cfg.dir)?;
    let zk = Ensemble::start(
        nodes,
        Options::default()
            .partitionable(true)
            .sync_limit(sync_limit),
    )
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?;
    let root = format!("/torture-{:016x}", cfg.seed);
    let admin = rt
        .block_on(Client::connect(
            ClientOptions::new(zk.connect_string()).session_timeout(Duration::from_secs(30)),
        ))
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    rt.block_on(async {
        for (p, v) in [
            (worker::register(&root), "none 0 0"),
            (worker::counter(&root), "0"),
            (worker::rw_value(&root), "0"),
            (worker::config_value(&root), "0"),
        ] {
            admin.put(&p, v.as_bytes()).await?;
        }
        Ok::<_, zkha::Error>(())
    })
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut c = Cluster {
        zk,
        procs: Vec::new(),
        root,
        dir: cfg.dir.clone(),
        t: cfg.t,
        sabotage: cfg.sabotage,
        exe: cfg.exe.clone(),
        contenders: cfg.contenders,
        next: 0,
        aim: if cfg.aim_at_leader { 1.0 } else { 0.8 },
        ended: HashMap::new(),
        false_positives: Vec::new(),
        admin,
        rt,
    };
    for (role, n) in [
        (Role::Elect, 3),
        (Role::Mutex, 2),
        (Role::RwWriter, 1),
        (Role::RwReader, 1),
        (Role::Store, 2),
        (Role::ConfigWriter, 1),
        (Role::ConfigReader, 1),
    ] {
        for _ in 0..n {
            let seed = rng.next_u64();
            c.spawn(role, seed)?;
        }
    }
    // Let the workers connect and the first grants happen.
    std::thread::sleep(cfg.t);
    let schedule = match &cfg.schedule {
        Some(s) => s.clone(),
        None => faults::draw(&mut rng, &cfg.kinds, cfg.faults, cfg.window, cfg.t),
    };
    let start = Instant::now();
    let mut injected = Vec::new();
    for f in &schedule {
        if let Some(wait) = f.at.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let struck = now();
        let target = c.apply(f, &mut rng)?;
        injected.push((f.clone(), target, struck));
    }
    let healed = now();
    // Progress is owed once ZooKeeper serves again: after a leader kill or pause its own
    // election can take seconds (its notification timeout backs off), and no client can
    // make progress without a quorum.
    c.wait_majority(Duration::from_secs(60));
    let healed_at = now();
    // The progress window, then quiesce: the config writer first, so the reader can catch up.
    std::thread::sleep(cfg.t + Duration::from_secs(2));
    c.stop_role(Role::ConfigWriter);
    std::thread::sleep(Duration::from_secs(1));
    c.stop_all();
    let leftovers = c.leftovers();
    // Every server healed and synced: the union of their logs is what was committed.
    let _ = c.zk.wait_quorum(Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(500));
    let txns = zkha_testkit::txnlog::read_ensemble(&c.zk)
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    // What ZooKeeper committed, for whoever reads a failed round (zxid, session, ops).
    let committed: String = txns
        .iter()
        .map(|t| {
            format!(
                "{:#x} {} session {:#x} {}\n",
                t.zxid,
                t.time_ms,
                t.session,
                t.describe()
            )
        })
        .collect();
    std::fs::write(c.dir.join("txns.txt"), committed)?;
    let records = history::read_dir(&c.dir)?;
    let outcome: Outcome = check::run(&Facts {
        records: &records,
        txns: &txns,
        root: &c.root,
        ended: &c.ended,
        healed_at,
        t_ns: cfg.t.as_nanos() as u64,
        false_positives: &c.false_positives,
        leftovers: &leftovers,
    });
    let holds: Vec<check::Interval> = ["leadership", "mutex", "write", "read"]
        .iter()
        .flat_map(|w| check::intervals(&records, w, &c.ended))
        .collect();
    let faults = injected
        .into_iter()
        .map(|(fault, hit, at)| {
            let server_fault = hit.contains("node");
            Injected {
                effective: holds
                    .iter()
                    .any(|i| i.start <= at && i.end >= at && (server_fault || i.worker == hit)),
                fault,
                hit,
            }
        })
        .collect();
    if !outcome.violations.is_empty() {
        keep_logs(&c.zk, &c.dir);
    }
    Ok(RoundReport {
        seed: cfg.seed,
        nodes,
        sync_limit_ms: u64::from(sync_limit) * 100,
        quorum_after_heal_ms: (healed_at - healed) / 1_000_000,
        faults,
        operations: operations(&records),
        violations: outcome.violations,
        tolerated: outcome.tolerated,
        dir: cfg.dir.clone(),
        replay: format!(
            "ZKHA_TORTURE_SEED={} make torture ZKHA_TORTURE_ROUNDS=1{}",
            cfg.seed,
            match cfg.sabotage {
                Some(s) => format!(" ZKHA_TORTURE_SABOTAGE={}", worker::sabotage_name(Some(s))),
                None => String::new(),
            }
        ),
    })
}

/// Counts what the workers did.
fn operations(records: &[Record]) -> BTreeMap<String, u64> {
    let mut ops = BTreeMap::new();
    for r in records {
        let key = match r {
            Record::Granted { .. } => "grants".to_string(),
            Record::Revoked { .. } => "revocations".to_string(),
            Record::FencedWrite { what, ok, .. } => {
                format!("{what}_writes_{}", if *ok { "accepted" } else { "refused" })
            }
            Record::AddAck { .. } => "store_adds".to_string(),
            Record::RemoveSent { .. } => "store_removes".to_string(),
            Record::Snapshot { .. } => "store_listings".to_string(),
            Record::ConfigWrite { ok: true, .. } => "config_writes".to_string(),
            Record::BeliefStart { what, .. } if what != "leadership" => format!("{what}_holds"),
            _ => continue,
        };
        *ops.entry(key).or_insert(0) += 1;
    }
    ops
}

/// Copies the ensemble's configs, logs and data (transaction logs, snapshots, epoch files)
/// next to the histories (the ensemble's own directory goes with it): what ZooKeeper itself
/// committed, and what each server kept, can be read after the round.
fn keep_logs(zk: &Ensemble, dir: &Path) {
    for id in 1..=zk.len() {
        let to = dir.join(format!("zookeeper-node{id}"));
        let _ = std::fs::create_dir_all(&to);
        let node = zk.log_path(id);
        let _ = std::fs::copy(&node, to.join("zookeeper.log"));
        if let Some(parent) = node.parent() {
            let _ = std::fs::copy(parent.join("zoo.cfg"), to.join("zoo.cfg"));
        }
        copy_dir(
            &zkha_testkit::txnlog::ensemble_data_dir(zk, id),
            &to.join("data"),
        );
    }
}

/// Copies a directory tree, best effort.
fn copy_dir(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let _ = std::fs::create_dir_all(to);
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            let _ = std::fs::copy(&p, to.join(e.file_name()));
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

impl Cluster {
    /// Starts a worker of `role` behind a proxy of its own.
    fn spawn(&mut self, role: Role, seed: u64) -> std::io::Result<()> {
        self.next += 1;
        let name = format!("{}-{}", role.name(), self.next);
        let mut choice = Rng::new(seed ^ 0x5eed);
        let servers = self.zk.addrs();
        let servers = if role == Role::Elect && choice.chance(self.contenders.0) {
            vec![*choice.pick(&servers)]
        } else {
            servers
        };
        let proxy =
            FaultProxy::start(&servers).map_err(|e| std::io::Error::other(e.to_string()))?;
        let write_every_ms = self
            .contenders
            .1
            .unwrap_or_else(|| *choice.pick(&[20, 200, 1000]));
        let (liveness, lp) = if role == Role::Elect {
            let port = free_port();
            let lp = FaultProxy::start(&[std::net::SocketAddr::from(([127, 0, 0, 1], port))])
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let adv = lp.connect_string();
            (Some((port, adv)), Some(lp))
        } else {
            (None, None)
        };
        let args = WorkerArgs {
            role,
            name: name.clone(),
            connect: proxy.connect_string(),
            root: self.root.clone(),
            out: self.dir.join(format!("{name}.jsonl")),
            t: self.t,
            sabotage: self.sabotage,
            liveness,
            seed,
            write_every_ms,
        };
        let mut cmd = Command::new(&self.exe);
        cmd.args(args.to_args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(
                self.dir.join(format!("{name}.stderr")),
            )?);
        let child = zkha_testkit::spawn::spawn_tied(cmd)?;
        self.procs.push(Proc {
            args,
            child,
            proxy,
            liveness: lp,
            paused: false,
        });
        Ok(())
    }

    /// The worker that leads the election now (lowest latch node), if it can be told.
    fn leading_worker(&self) -> Option<usize> {
        let latch = format!("{}/latch", self.root);
        let children = self.rt.block_on(async {
            self.admin.sync(&latch).await.ok()?;
            self.admin.get_children(&latch).await.ok().flatten()
        })?;
        let lowest = children
            .iter()
            .min_by_key(|c| c.rsplit("latch-").next().map(str::to_string))?;
        self.procs.iter().position(|p| {
            p.liveness
                .as_ref()
                .is_some_and(|l| lowest.contains(&format!("@{}-", l.connect_string())))
                && !p.is_done()
        })
    }

    /// The server the leading contender's session is on, if it can be told.
    fn server_of_leader(&self) -> Option<usize> {
        let latch = format!("{}/latch", self.root);
        let owner = self.rt.block_on(async {
            let children = self.admin.get_children(&latch).await.ok().flatten()?;
            let lowest = children
                .iter()
                .min_by_key(|c| c.rsplit("latch-").next().map(str::to_string))?;
            let (_, stat) = self
                .admin
                .get_data(&format!("{latch}/{lowest}"))
                .await
                .ok()
                .flatten()?;
            Some(stat.ephemeral_owner)
        })?;
        self.zk.node_of_session(owner)
    }

    /// A worker to hit: most often the leading contender (so the fault matters), else any.
    fn pick_worker(&self, rng: &mut Rng, target: u64, roles: &[Role]) -> usize {
        if roles.contains(&Role::Elect) && rng.chance(self.aim) {
            if let Some(i) = self.leading_worker() {
                return i;
            }
        }
        let live: Vec<usize> = (0..self.procs.len())
            .filter(|&i| roles.contains(&self.procs[i].args.role) && !self.procs[i].is_done())
            .collect();
        if live.is_empty() {
            return 0;
        }
        live[(target % live.len() as u64) as usize]
    }

    fn server(&self, target: u64, mode: Option<Mode>) -> usize {
        let status = self.zk.status();
        let fit: Vec<usize> = status
            .iter()
            .filter(|n| mode.is_none_or(|m| n.mode == Some(m)))
            .map(|n| n.id)
            .collect();
        if fit.is_empty() {
            1 + (target % self.zk.len() as u64) as usize
        } else {
            fit[(target % fit.len() as u64) as usize]
        }
    }

    /// Waits (up to `timeout`) until a majority of the servers serve and exactly one of them
    /// leads.
    fn wait_majority(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let status = self.zk.status();
            let serving: Vec<Mode> = status.iter().filter_map(|n| n.mode).collect();
            let leaders = serving.iter().filter(|m| m.is_leader()).count();
            if serving.len() > status.len() / 2 && leaders == 1 {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Injects `f` and heals it after its duration; returns whom it hit.
    fn apply(&mut self, f: &Fault, rng: &mut Rng) -> std::io::Result<String> {
        let err = |e: zkha_testkit::Error| std::io::Error::other(e.to_string());
        let all_roles = [
            Role::Elect,
            Role::Mutex,
            Role::RwWriter,
            Role::RwReader,
            Role::Store,
            Role::ConfigReader,
        ];
        Ok(match f.kind {
            Kind::ClientCut => {
                let i = self.pick_worker(rng, f.target, &all_roles);
                self.procs[i].proxy.cut();
                self.procs[i].args.name.clone()
            }
            Kind::ClientBlackhole | Kind::ClientDelay => {
                let i = self.pick_worker(rng, f.target, &all_roles);
                if f.kind == Kind::ClientDelay {
                    self.procs[i].proxy.delay(rng.range(50, 300));
                } else {
                    self.procs[i].proxy.blackhole();
                }
                std::thread::sleep(f.lasting);
                self.procs[i].proxy.heal();
                self.procs[i].args.name.clone()
            }
            Kind::ServerKill | Kind::LeaderKill => {
                let mode = (f.kind == Kind::LeaderKill).then_some(Mode::Leader);
                let n = self.server(f.target, mode);
                self.zk.node(n).kill().map_err(err)?;
                std::thread::sleep(f.lasting);
                self.zk.node(n).restart().map_err(err)?;
                format!("node {n}")
            }
            Kind::ServerPause => {
                let n = self.server(f.target, None);
                self.zk.node(n).pause().map_err(err)?;
                std::thread::sleep(f.lasting);
                self.zk.node(n).resume().map_err(err)?;
                format!("node {n}")
            }
            Kind::ServerRestart => {
                let n = self.server(f.target, None);
                self.zk.node(n).stop().map_err(err)?;
                self.zk.node(n).restart().map_err(err)?;
                format!("node {n}")
            }
            Kind::IsolateFollower | Kind::IsolateLeader => {
                let mode = if f.kind == Kind::IsolateLeader {
                    Mode::Leader
                } else {
                    Mode::Follower
                };
                // Most often the leading contender's own server, when it has that role: the
                // partition that a lease renewed by any answer cannot see.
                let n = match self.server_of_leader() {
                    // Aimed: the leading contender's server, whatever its role.
                    Some(n) if self.aim >= 1.0 => n,
                    Some(n)
                        if rng.chance(self.aim) && self.zk.status()[n - 1].mode == Some(mode) =>
                    {
                        n
                    }
                    _ => self.server(f.target, Some(mode)),
                };
                self.zk.isolate(n).map_err(err)?;
                std::thread::sleep(f.lasting);
                self.zk.heal_partition();
                format!("node {n}")
            }
            Kind::WholeRestart => {
                for n in 1..=self.zk.len() {
                    self.zk.node(n).kill().map_err(err)?;
                }
                for n in 1..=self.zk.len() {
                    self.zk.node(n).restart().map_err(err)?;
                }
                "every node".into()
            }
            Kind::WorkerPause => {
                let i = self.pick_worker(rng, f.target, &[Role::Elect, Role::Mutex]);
                let pid = self.procs[i].child.id();
                let _ = zkha_testkit::spawn::signal(pid, libc::SIGSTOP);
                self.procs[i].paused = true;
                std::thread::sleep(f.lasting);
                let _ = zkha_testkit::spawn::signal(pid, libc::SIGCONT);
                self.procs[i].paused = false;
                self.procs[i].args.name.clone()
            }
            Kind::WorkerKill => {
                let i = self.pick_worker(rng, f.target, &[Role::Elect, Role::Mutex]);
                let name = self.procs[i].args.name.clone();
                let _ = self.procs[i].child.kill();
                let _ = self.procs[i].child.wait();
                self.ended.insert(name.clone(), now());
                let role = self.procs[i].args.role;
                self.spawn(role, rng.next_u64())?;
                name
            }
            Kind::LivenessFalsePositive => {
                let i = self.pick_worker(rng, f.target, &[Role::Elect]);
                let name = self.procs[i].args.name.clone();
                if let Some(lp) = &self.procs[i].liveness {
                    self.false_positives.push((name.clone(), now()));
                    // Its ZooKeeper traffic slowed too: the deposed leader learns of its
                    // deletion late and keeps writing meanwhile, which only its fence stops.
                    self.procs[i].proxy.delay(150);
                    lp.close();
                    std::thread::sleep(f.lasting);
                    lp.heal();
                    self.procs[i].proxy.heal();
                }
                name
            }
        })
    }

    fn stop(&mut self, i: usize) {
        let p = &mut self.procs[i];
        if p.is_done() {
            return;
        }
        if p.paused {
            let _ = zkha_testkit::spawn::signal(p.child.id(), libc::SIGCONT);
        }
        let _ = zkha_testkit::spawn::signal(p.child.id(), libc::SIGTERM);
    }

    fn wait(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let p = &mut self.procs[i];
        while matches!(p.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = p.child.kill();
        let _ = p.child.wait();
        let name = p.args.name.clone();
        self.ended.entry(name).or_insert_with(now);
    }

    fn stop_role(&mut self, role: Role) {
        let which: Vec<usize> = (0..self.procs.len())
            .filter(|&i| self.procs[i].args.role == role)
            .collect();
        for &i in &which {
            self.stop(i);
        }
        for i in which {
            self.wait(i);
        }
    }

    fn stop_all(&mut self) {
        for p in &self.procs {
            p.proxy.heal();
            if let Some(l) = &p.liveness {
                l.heal();
            }
        }
        for i in 0..self.procs.len() {
            self.stop(i);
        }
        for i in 0..self.procs.len() {
            self.wait(i);
        }
    }

    /// Latch, lock and pointer-store lock nodes left after every worker stopped.
    fn leftovers(&self) -> Vec<String> {
        let root = self.root.clone();
        self.rt.block_on(async {
            let a = &self.admin;
            let _ = a.sync(&root).await;
            let mut left = Vec::new();
            for dir in ["latch", "mutex", "rw"] {
                let p = format!("{root}/{dir}");
                for c in a.get_children(&p).await.ok().flatten().unwrap_or_default() {
                    left.push(format!("{p}/{c}"));
                }
            }
            let store = format!("{root}/store");
            for e in a
                .get_children(&store)
                .await
                .ok()
                .flatten()
                .unwrap_or_default()
            {
                let locks = format!("{store}/{e}/locks");
                for c in a
                    .get_children(&locks)
                    .await
                    .ok()
                    .flatten()
                    .unwrap_or_default()
                {
                    left.push(format!("{locks}/{c}"));
                }
            }
            left
        })
    }
}

impl Proc {
    fn is_done(&self) -> bool {
        // SAFETY: kill(pid, 0) only probes.
        unsafe { libc::kill(self.child.id() as libc::pid_t, 0) != 0 }
    }
}
