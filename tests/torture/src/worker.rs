//! The worker processes of a round. Each is this crate's binary run as `zkha-torture worker`,
//! with its own zkha client (behind its own fault proxy), recording what it does and what it
//! believes ([`crate::history`]). SIGTERM stops it gracefully (close, then `Stopped`);
//! SIGKILL and SIGSTOP are faults.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zkha::{
    Client, ClientOptions, ElectionEvent, ElectionOptions, LivenessOptions, LockGuard, Op, Sabotage,
};

use crate::clock::now;
use crate::history::{Record, Recorder};
use crate::rng::Rng;

/// What a worker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// An election contender writing the register through fenced writes while it leads.
    Elect,
    /// A mutex holder incrementing the counter through fenced writes.
    Mutex,
    /// A writer of the read-write lock.
    RwWriter,
    /// A reader of the read-write lock.
    RwReader,
    /// A pointer-store owner adding, locking, releasing and removing entries.
    Store,
    /// Writes the config value.
    ConfigWriter,
    /// Watches the config value.
    ConfigReader,
}

impl Role {
    /// Every role, as the CLI names them.
    pub const ALL: [(&'static str, Role); 7] = [
        ("elect", Role::Elect),
        ("mutex", Role::Mutex),
        ("rw-writer", Role::RwWriter),
        ("rw-reader", Role::RwReader),
        ("store", Role::Store),
        ("config-writer", Role::ConfigWriter),
        ("config-reader", Role::ConfigReader),
    ];

    /// The CLI name.
    pub fn name(self) -> &'static str {
        Role::ALL
            .iter()
            .find(|(_, r)| *r == self)
            .map(|(n, _)| *n)
            .unwrap_or("?")
    }

    /// Parses a CLI name.
    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.iter().find(|(n, _)| *n == s).map(|(_, r)| *r)
    }
}

/// Everything a worker is told on its command line.
#[derive(Debug, Clone)]
pub struct WorkerArgs {
    /// What it does.
    pub role: Role,
    /// Its name in the histories (`elect-3`).
    pub name: String,
    /// Its ZooKeeper connect string (its own fault proxy).
    pub connect: String,
    /// The round's root znode.
    pub root: String,
    /// Where it records.
    pub out: PathBuf,
    /// The session timeout.
    pub t: Duration,
    /// A deliberate defect, if any.
    pub sabotage: Option<Sabotage>,
    /// Election contenders: the liveness endpoint's port, and the address it advertises (a
    /// fault proxy in front of it).
    pub liveness: Option<(u16, String)>,
    /// Seeds the worker's own random choices.
    pub seed: u64,
    /// Contenders: how often a leader writes the register, in ms (a leader with a write in
    /// flight is stuck on a server cut off from the quorum; one that writes rarely is not).
    pub write_every_ms: u64,
}

impl WorkerArgs {
    /// The command-line arguments that [`WorkerArgs::parse`] reads back.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec![
            "worker".to_string(),
            self.role.name().into(),
            self.name.clone(),
            self.connect.clone(),
            self.root.clone(),
            self.out.display().to_string(),
            self.t.as_millis().to_string(),
            self.seed.to_string(),
            sabotage_name(self.sabotage).into(),
            self.write_every_ms.to_string(),
        ];
        if let Some((port, adv)) = &self.liveness {
            a.push(port.to_string());
            a.push(adv.clone());
        }
        a
    }

    /// Reads the arguments after `worker`.
    pub fn parse(a: &[String]) -> Option<WorkerArgs> {
        Some(WorkerArgs {
            role: Role::parse(a.first()?)?,
            name: a.get(1)?.clone(),
            connect: a.get(2)?.clone(),
            root: a.get(3)?.clone(),
            out: PathBuf::from(a.get(4)?),
            t: Duration::from_millis(a.get(5)?.parse().ok()?),
            seed: a.get(6)?.parse().ok()?,
            sabotage: parse_sabotage(a.get(7)?)?,
            write_every_ms: a.get(8)?.parse().ok()?,
            liveness: match (a.get(9), a.get(10)) {
                (Some(p), Some(adv)) => Some((p.parse().ok()?, adv.clone())),
                _ => None,
            },
        })
    }
}

/// The CLI name of a sabotage (`none` for none).
pub fn sabotage_name(s: Option<Sabotage>) -> &'static str {
    match s {
        None => "none",
        Some(Sabotage::LeaseOverstated(_)) => "lease-overstated",
        Some(Sabotage::SkipFenceCheck) => "skip-fence-check",
        Some(Sabotage::LockDoesNotWait) => "lock-does-not-wait",
        Some(Sabotage::LeaseFromAnyAnswer) => "lease-from-any-answer",
    }
}

/// Parses a sabotage's CLI name (`Some(None)` for `none`).
pub fn parse_sabotage(s: &str) -> Option<Option<Sabotage>> {
    Some(match s {
        "none" => None,
        // The lease claims a whole session timeout more than proven.
        "lease-overstated" => Some(Sabotage::LeaseOverstated(Duration::from_secs(3))),
        "skip-fence-check" => Some(Sabotage::SkipFenceCheck),
        "lock-does-not-wait" => Some(Sabotage::LockDoesNotWait),
        "lease-from-any-answer" => Some(Sabotage::LeaseFromAnyAnswer),
        _ => return None,
    })
}

/// Znodes of a round, under its root.
pub fn register(root: &str) -> String {
    format!("{root}/register")
}

/// The mutex workers' counter.
pub fn counter(root: &str) -> String {
    format!("{root}/counter")
}

/// The read-write lock workers' value.
pub fn rw_value(root: &str) -> String {
    format!("{root}/rw-value")
}

/// The config value the config workers write and watch.
pub fn config_value(root: &str) -> String {
    format!("{root}/config/value")
}

/// Runs a worker until SIGTERM; exits the process.
pub fn run(args: WorkerArgs) -> ! {
    // `ZKHA_TORTURE_LOG=zkha=debug` (an env-filter) logs the client to the worker's stderr file.
    if let Ok(filter) = std::env::var("ZKHA_TORTURE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .try_init();
    }
    let rec = Arc::new(Recorder::create(&args.out).expect("create the history file"));
    rec.put(&Record::Started {
        t: now(),
        worker: args.name.clone(),
        role: args.role.name().into(),
        pid: std::process::id(),
    });
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        tokio::spawn(async move {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
            }
            s.store(true, Ordering::SeqCst);
        });
        let client = connect(&args, &stop).await;
        if let Some(c) = client {
            // Every connection state with its session id, to read a failed round by.
            let (states_rec, name, mut states) = (rec.clone(), args.name.clone(), c.state_events());
            states_rec.put(&Record::State {
                t: now(),
                worker: name.clone(),
                state: format!("session {:#x}", c.session_id()),
            });
            tokio::spawn(async move {
                while let Some(s) = states.next().await {
                    states_rec.put(&Record::State {
                        t: now(),
                        worker: name.clone(),
                        state: format!("{s:?}"),
                    });
                }
            });
            let w = Worker {
                args: args.clone(),
                rec: rec.clone(),
                client: c.clone(),
                stop,
                rng: Mutex::new(Rng::new(args.seed)),
            };
            match args.role {
                Role::Elect => w.elect().await,
                Role::Mutex | Role::RwWriter | Role::RwReader => w.lock().await,
                Role::Store => w.store().await,
                Role::ConfigWriter => w.config_writer().await,
                Role::ConfigReader => w.config_reader().await,
            }
            c.close().await;
        }
        rec.put(&Record::Stopped {
            t: now(),
            worker: args.name.clone(),
        });
    });
    std::process::exit(0)
}

/// Connects, retrying until it works or the worker is stopped (faults may be on at start).
async fn connect(args: &WorkerArgs, stop: &AtomicBool) -> Option<Client> {
    let mut o = ClientOptions::new(args.connect.clone())
        .session_timeout(args.t)
        .connection_timeout(args.t);
    o.liveness = match &args.liveness {
        Some((port, adv)) => LivenessOptions {
            enabled: true,
            listen_host: Some("127.0.0.1".into()),
            listen_port: *port,
            advertise: Some(adv.clone()),
        },
        None => LivenessOptions::disabled(),
    };
    if let Some(s) = args.sabotage {
        o = o.sabotage(s);
    }
    while !stop.load(Ordering::SeqCst) {
        match Client::connect(o.clone()).await {
            Ok(c) => return Some(c),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    None
}

struct Worker {
    args: WorkerArgs,
    rec: Arc<Recorder>,
    client: Client,
    stop: Arc<AtomicBool>,
    rng: Mutex<Rng>,
}

/// Samples a belief every millisecond on its own thread: records `BeliefStart` at the first
/// sample that holds and `BeliefEnd` (with the last sample that held) at the first that does
/// not. `probe` gives the token while the belief holds.
fn sample_belief(
    rec: Arc<Recorder>,
    worker: String,
    what: &str,
    stop: Arc<AtomicBool>,
    probe: impl Fn() -> Option<i64> + Send + 'static,
) -> std::thread::JoinHandle<()> {
    let what = what.to_string();
    std::thread::spawn(move || {
        let mut holding: Option<u64> = None;
        loop {
            let done = stop.load(Ordering::SeqCst);
            let t = now();
            match (probe(), holding) {
                (Some(token), None) => {
                    rec.put(&Record::BeliefStart {
                        t,
                        worker: worker.clone(),
                        what: what.clone(),
                        token,
                    });
                    holding = Some(t);
                }
                (Some(_), Some(_)) => holding = Some(t),
                (None, Some(last)) => {
                    rec.put(&Record::BeliefEnd {
                        t: last,
                        worker: worker.clone(),
                        what: what.clone(),
                    });
                    holding = None;
                }
                (None, None) => {}
            }
            if done && holding.is_none() {
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    })
}

impl Worker {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn rand(&self, lo: u64, hi: u64) -> u64 {
        self.rng
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .range(lo, hi)
    }

    async fn elect(&self) {
        let a = &self.args;
        let e = match self
            .client
            .election(&format!("{}/latch", a.root), ElectionOptions::new(&a.name))
        {
            Ok(e) => e,
            Err(_) => return,
        };
        let belief_stop = Arc::new(AtomicBool::new(false));
        let probe = e.clone();
        let sampler = sample_belief(
            self.rec.clone(),
            a.name.clone(),
            "leadership",
            belief_stop.clone(),
            move || probe.leadership().map(|l| l.fencing_token),
        );
        let mut events = e.events();
        let (rec, name) = (self.rec.clone(), a.name.clone());
        let logger = tokio::spawn(async move {
            while let Some(ev) = events.next().await {
                let t = now();
                rec.put(&match ev {
                    ElectionEvent::Granted(l) => Record::Granted {
                        t,
                        worker: name.clone(),
                        token: l.fencing_token,
                    },
                    ElectionEvent::Revoked { reason } => Record::Revoked {
                        t,
                        worker: name.clone(),
                        reason: format!("{reason:?}"),
                    },
                    ElectionEvent::Error { message, .. } => Record::Revoked {
                        t,
                        worker: name.clone(),
                        reason: format!("error: {message}"),
                    },
                });
            }
        });
        let register = register(&a.root);
        let mut seq = 0u64;
        while !self.stopped() {
            tokio::time::sleep(Duration::from_millis(a.write_every_ms)).await;
            let Ok(fence) = e.fence() else { continue };
            seq += 1;
            let token = fence.token();
            let t_sent = now();
            let r = fence
                .multi(vec![Op::SetData {
                    path: register.clone(),
                    data: format!("{} {token} {seq}", a.name).into_bytes(),
                    version: None,
                }])
                .await;
            self.rec.put(&Record::FencedWrite {
                t_sent,
                t_done: now(),
                worker: a.name.clone(),
                what: "register".into(),
                token,
                value: seq,
                ok: r.is_ok(),
                error: r.err().map(|e| e.to_string()),
            });
        }
        e.close().await;
        belief_stop.store(true, Ordering::SeqCst);
        let _ = sampler.join();
        logger.abort();
    }

    /// Mutex holders increment the counter; read-write lock writers set the value; readers
    /// read it. Each hold is sampled (`is_held()`) for the exclusion checks.
    async fn lock(&self) {
        let a = &self.args;
        let (what, lock_path) = match a.role {
            Role::Mutex => ("mutex", format!("{}/mutex", a.root)),
            Role::RwWriter => ("write", format!("{}/rw", a.root)),
            _ => ("read", format!("{}/rw", a.root)),
        };
        let mutex = self.client.mutex(&lock_path).ok();
        let rw = self.client.read_write_lock(&lock_path).ok();
        let held: Arc<Mutex<Option<Arc<LockGuard>>>> = Arc::default();
        let belief_stop = Arc::new(AtomicBool::new(false));
        let probe = held.clone();
        let sampler = sample_belief(
            self.rec.clone(),
            a.name.clone(),
            what,
            belief_stop.clone(),
            move || {
                let g = probe.lock().unwrap_or_else(|p| p.into_inner()).clone()?;
                g.is_held().then(|| g.fencing_token())
            },
        );
        while !self.stopped() {
            let timeout = Some(Duration::from_secs(5));
            let got = match (a.role, &mutex, &rw) {
                (Role::Mutex, Some(m), _) => m.acquire(timeout).await,
                (Role::RwWriter, _, Some(l)) => l.write(timeout).await,
                (_, _, Some(l)) => l.read(timeout).await,
                _ => return,
            };
            let Ok(g) = got else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let g = Arc::new(g);
            *held.lock().unwrap_or_else(|p| p.into_inner()) = Some(g.clone());
            match a.role {
                Role::Mutex => self.increment(&g).await,
                Role::RwWriter => self.set_rw(&g).await,
                _ => {
                    let _ = self.client.get_data(&rw_value(&a.root)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(self.rand(0, 30))).await;
            held.lock().unwrap_or_else(|p| p.into_inner()).take();
            // The sampler may hold a clone for a moment.
            let mut g = g;
            let guard = loop {
                match Arc::try_unwrap(g) {
                    Ok(guard) => break guard,
                    Err(back) => {
                        g = back;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            };
            let _ = guard.release().await;
            tokio::time::sleep(Duration::from_millis(self.rand(0, 20))).await;
        }
        belief_stop.store(true, Ordering::SeqCst);
        let _ = sampler.join();
    }

    /// Reads the counter and writes it plus one, fenced by the mutex (no version check: only
    /// the mutex keeps two holders from writing the same value).
    async fn increment(&self, g: &LockGuard) {
        let path = counter(&self.args.root);
        let Ok(Some((data, _))) = self.client.get_data(&path).await else {
            return;
        };
        let v: u64 = String::from_utf8_lossy(&data).trim().parse().unwrap_or(0);
        let Ok(fence) = g.fence() else { return };
        let t_sent = now();
        let r = fence
            .multi(vec![Op::SetData {
                path,
                data: (v + 1).to_string().into_bytes(),
                version: None,
            }])
            .await;
        self.rec.put(&Record::FencedWrite {
            t_sent,
            t_done: now(),
            worker: self.args.name.clone(),
            what: "counter".into(),
            token: fence.token(),
            value: v + 1,
            ok: r.is_ok(),
            error: r.err().map(|e| e.to_string()),
        });
    }

    async fn set_rw(&self, g: &LockGuard) {
        let Ok(fence) = g.fence() else { return };
        let value = now();
        let t_sent = now();
        let r = fence
            .multi(vec![Op::SetData {
                path: rw_value(&self.args.root),
                data: value.to_string().into_bytes(),
                version: None,
            }])
            .await;
        self.rec.put(&Record::FencedWrite {
            t_sent,
            t_done: now(),
            worker: self.args.name.clone(),
            what: "rw".into(),
            token: fence.token(),
            value,
            ok: r.is_ok(),
            error: r.err().map(|e| e.to_string()),
        });
    }

    async fn store(&self) {
        let a = &self.args;
        let root = format!("{}/store", a.root);
        let Ok(store) = self.client.pointer_store(&root) else {
            return;
        };
        let mut mine: Vec<String> = Vec::new();
        let mut n = 0u64;
        while !self.stopped() {
            tokio::time::sleep(Duration::from_millis(self.rand(10, 40))).await;
            match self.rand(0, 10) {
                0..=3 => {
                    n += 1;
                    let name = format!("{}-{n}", a.name);
                    let t_sent = now();
                    if store.add_and_lock(&name, name.as_bytes()).await.is_ok() {
                        self.rec.put(&Record::AddAck {
                            t_sent,
                            t_done: now(),
                            worker: a.name.clone(),
                            name: name.clone(),
                        });
                        mine.push(name);
                    }
                }
                4..=5 if !mine.is_empty() => {
                    let i = self.rand(0, mine.len() as u64) as usize;
                    let name = mine.swap_remove(i);
                    self.rec.put(&Record::RemoveSent {
                        t: now(),
                        worker: a.name.clone(),
                        name: name.clone(),
                    });
                    let _ = store.release_and_try_remove(&name).await;
                }
                6 => {
                    // Lock everything there is (the other owner's entries too), then let go
                    // of what is not ours.
                    if let Ok(all) = store.get_all_and_lock().await {
                        for e in all {
                            if !mine.contains(&e.name) {
                                let _ = store.release(&e.name).await;
                            }
                        }
                    }
                }
                _ => {
                    let t_start = now();
                    if self.client.sync(&root).await.is_err() {
                        continue;
                    }
                    if let Ok(names) = store.get_all_handles().await {
                        self.rec.put(&Record::Snapshot {
                            t_start,
                            t_end: now(),
                            worker: a.name.clone(),
                            names,
                        });
                    }
                }
            }
        }
    }

    async fn config_writer(&self) {
        let path = config_value(&self.args.root);
        let mut value = 0u64;
        while !self.stopped() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            value += 1;
            let t_sent = now();
            let ok = self
                .client
                .put(&path, value.to_string().as_bytes())
                .await
                .is_ok();
            self.rec.put(&Record::ConfigWrite {
                t_sent,
                t_done: now(),
                worker: self.args.name.clone(),
                value,
                ok,
            });
        }
    }

    async fn config_reader(&self) {
        let root = format!("{}/config", self.args.root);
        let Ok(w) = self.client.config_watch(&root) else {
            return;
        };
        let mut events = w.events();
        let seen = |w: &zkha::ConfigWatch| {
            w.get("value")
                .and_then(|v| String::from_utf8_lossy(&v).trim().parse().ok())
        };
        self.rec.put(&Record::ConfigSeen {
            t: now(),
            worker: self.args.name.clone(),
            value: seen(&w),
        });
        while !self.stopped() {
            if events
                .next_timeout(Duration::from_millis(100))
                .await
                .is_some()
            {
                self.rec.put(&Record::ConfigSeen {
                    t: now(),
                    worker: self.args.name.clone(),
                    value: seen(&w),
                });
            }
        }
    }
}
