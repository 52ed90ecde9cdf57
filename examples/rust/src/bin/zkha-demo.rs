//! `make demo`: a Flink 2.3 cluster whose JobManager high availability runs on zkha.
//!
//! A local three-node ZooKeeper ensemble; a short prologue with zkha's election (the lease
//! riding out a ZooKeeper server crash, a graceful hand-over); then a standalone Flink session
//! cluster of two JobManagers and one TaskManager on zkha, running a checkpointing job; the
//! leading JobManager killed with SIGKILL; and the timeline of the failover (killed at, new
//! leader at, job running again at, restored checkpoint) next to the configured session
//! timeout; then the killed JobManager started again as a standby and a planned hand-over
//! (`zkha flink step-down`) moving leadership back without stopping anything, with its
//! timeline; then central configuration: the configuration pushed into ZooKeeper, the standby
//! restarted from a pulled file, a change pushed and the drift shown. Everything is stopped at
//! the end, also on Ctrl-C: every JVM dies with this process (parent-death signal), and the
//! run directories are removed.
//!
//! On a fresh machine it first fetches Flink's jars (PyPI, about 330 MB, once) and builds the
//! demo job (Maven); `make demo` builds the zkha plugin jar before.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zkha::{Client, ClientOptions, ConnectionState, Election, ElectionOptions};
use zkha_flink_e2e::central_config;
use zkha_flink_e2e::scenario::{self, Fault, JOB_ARGS};
use zkha_flink_e2e::{Artifacts, Cluster, ClusterOptions, Ha};
use zkha_testkit::{Ensemble, Options};

const LATCH: &str = "/zkha-demo/leader/latch";
const SESSION: Duration = Duration::from_secs(4);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Run directories to remove if the demo is interrupted.
static DIRS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn main() {
    on_interrupt_clean_up();
    if let Err(e) = run() {
        eprintln!("\ndemo failed: {e}");
        std::process::exit(1);
    }
}

fn step(msg: &str) {
    println!("\n==> {msg}");
}

fn say(msg: &str) {
    println!("    {msg}");
}

fn run() -> Res<()> {
    step("preparing: Flink 2.3.0's jars, the zkha plugin jar and the demo job (cached after the first run)");
    let t = Instant::now();
    let artifacts = Artifacts::prepare(&say)?;
    say(&format!("ready after {:.1} s", t.elapsed().as_secs_f64()));

    step("starting a 3-node ZooKeeper ensemble on 127.0.0.1");
    let t = Instant::now();
    let zk = Arc::new(Ensemble::start(3, Options::default())?);
    DIRS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(zk.dir().to_path_buf());
    say(&format!(
        "quorum after {:.1} s ({}), connect string {}",
        t.elapsed().as_secs_f64(),
        zk.options().describe(zk.len()),
        zk.connect_string()
    ));
    print_roles(&zk);

    zkha::runtime::block_on(prologue(zk.clone()))?;

    flink_story(&zk, &artifacts)?;

    step("stopping everything");
    drop(zk);
    let left = children();
    if left.is_empty() {
        say("done: no Flink or ZooKeeper process is left running");
    } else {
        say(&format!("still running (killing them now): {left:?}"));
        kill_children();
    }
    Ok(())
}

/// zkha's election in brief: a lease that rides out a ZooKeeper server crash, and a graceful
/// hand-over in about one round trip.
async fn prologue(zk: Arc<Ensemble>) -> zkha::Result<()> {
    step(&format!(
        "prologue: three zkha contenders elect a leader on {LATCH} (session timeout {SESSION:?})"
    ));
    let mut contenders = Vec::new();
    for name in ["alpha", "bravo", "charlie"] {
        let c = Client::connect(ClientOptions::new(zk.connect_string()).session_timeout(SESSION))
            .await?;
        let e = c.election(LATCH, ElectionOptions::new(name))?;
        contenders.push((name, c, e));
    }
    let leader = wait_leader(&contenders).await?;
    let (name, client, election) = &contenders[leader];
    say(&format!(
        "{name} leads (fencing token {})",
        election.leadership().map_or(0, |l| l.fencing_token)
    ));

    if let Some(node) = zk.node_of_session(client.session_id()) {
        let mut states = client.state_events();
        let _ = states.try_next();
        let t = Instant::now();
        let _ = zk.node(node).kill();
        say(&format!(
            "killed ZooKeeper server {node}, the one {name} is connected to"
        ));
        while t.elapsed() < SESSION {
            match states.next_timeout(Duration::from_millis(100)).await {
                Some(ConnectionState::Suspended { safe_until }) => say(&format!(
                    "+{:>4} ms  {name} is disconnected but keeps leading: its lease runs {} ms more",
                    t.elapsed().as_millis(),
                    safe_until.saturating_duration_since(Instant::now()).as_millis()
                )),
                Some(ConnectionState::Reconnected { .. }) => {
                    say(&format!(
                        "+{:>4} ms  {name} reconnected to another server, same session: still the leader = {}",
                        t.elapsed().as_millis(),
                        election.has_leadership()
                    ));
                    break;
                }
                _ => {}
            }
        }
        zk.node(node).restart().map_err(|e| {
            zkha::Error::new(zkha::ErrorKind::ZooKeeper, format!("restart server: {e}"))
        })?;
    }

    let t = Instant::now();
    election.close().await;
    let next = wait_leader(&contenders).await?;
    say(&format!(
        "{name} stepped down gracefully: {} leads {:.1} ms later",
        contenders[next].0,
        t.elapsed().as_secs_f64() * 1000.0
    ));
    for (_, c, e) in &contenders {
        e.close().await;
        c.close().await;
    }
    Ok(())
}

/// Waits until exactly one contender leads; returns its index.
async fn wait_leader(cs: &[(&str, Client, Election)]) -> zkha::Result<usize> {
    let t = Instant::now();
    loop {
        let leaders: Vec<usize> = (0..cs.len())
            .filter(|&i| cs[i].2.has_leadership())
            .collect();
        if leaders.len() == 1 {
            return Ok(leaders[0]);
        }
        if t.elapsed() > Duration::from_secs(30) {
            return Err(zkha::Error::new(
                zkha::ErrorKind::Timeout,
                "no single leader within 30 s",
            ));
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn flink_story(zk: &Ensemble, artifacts: &Artifacts) -> Res<()> {
    step(&format!(
        "starting Flink {}: 2 JobManagers and 1 TaskManager on 127.0.0.1,\n    \
         high-availability.type: {}, session timeout {SESSION:?}",
        artifacts.flink_version,
        Ha::Zkha.type_value()
    ));
    let mut options = ClusterOptions::new(Ha::Zkha, zk.connect_string());
    options.session_timeout = SESSION;
    options.cluster_id = "/zkha-demo".into();
    let t = Instant::now();
    let mut cluster = Cluster::start(artifacts, options)?;
    DIRS.lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(cluster.dir().to_path_buf());
    let leader = cluster.leader()?.ok_or("no JobManager leads")?;
    say(&format!(
        "cluster ready after {:.1} s; JobManager {} (pid {}) leads, web UI and REST at {}",
        t.elapsed().as_secs_f64(),
        leader.jm + 1,
        cluster.jm_pid(leader.jm).unwrap_or(0),
        leader.address
    ));
    say(&format!(
        "ZooKeeper {}/leader/rest_server/connection_info names it; logs in {}",
        cluster.options().cluster_root(),
        cluster.dir().display()
    ));

    // Any act that fails keeps the cluster's logs (they are removed after a good run).
    let outcome = (|| -> Res<()> {
        step("submitting the job: a counting source -> a keyed running sum -> a discarding sink, a checkpoint every 500 ms");
        let job = cluster.submit_job(&JOB_ARGS)?;
        cluster.wait_job_running(&job, Duration::from_secs(90))?;
        say(&format!("job {job} RUNNING"));
        let mut last = None;
        for _ in 0..4 {
            let id = cluster.wait_checkpoint(&job, last, Duration::from_secs(60))?;
            say(&format!("checkpoint {id} completed"));
            last = Some(id);
        }

        step(&format!(
            "killing the leader JobManager {} (pid {}) with SIGKILL",
            leader.jm + 1,
            cluster.jm_pid(leader.jm).unwrap_or(0)
        ));
        let f = scenario::fail_leader(&mut cluster, &job, Fault::Kill)?;
        step("timeline");
        print!("{}", f.timeline);
        say(&format!(
            "failover: JobManager {} leads {:.2} s after the kill, the job runs again after {:.2} s,",
            f.new_leader + 1,
            f.leader_after.as_secs_f64(),
            f.running_after.as_secs_f64()
        ));
        say(&format!(
            "          restored from checkpoint {} (the latest completed before the kill: {});",
            f.restored.map_or("none".into(), |r| r.to_string()),
            f.checkpoint_before
        ));
        say(&format!(
            "          configured session timeout: {:.1} s (without zkha's liveness link a crashed leader is replaced only once ZooKeeper expires its session)",
            SESSION.as_secs_f64()
        ));
        let next = cluster.wait_checkpoint(&job, f.restored, Duration::from_secs(60))?;
        say(&format!(
            "the job goes on: checkpoint {next} completed under the new leader"
        ));

        step(&format!(
            "starting JobManager {} again: it joins as a standby",
            f.old_leader + 1
        ));
        cluster.restart_jm(f.old_leader)?;
        cluster.wait_standby(f.old_leader, Duration::from_secs(120))?;
        cluster.wait_checkpoint(&job, Some(next), Duration::from_secs(60))?;
        say("both JobManagers contend again");
        step(&format!(
            "planned hand-over before host maintenance: `zkha flink step-down` moves leadership off JobManager {} without stopping it",
            f.new_leader + 1
        ));
        let s = scenario::fail_leader(&mut cluster, &job, Fault::StepDown)?;
        step("timeline");
        print!("{}", s.timeline);
        say(&format!(
            "step-down: JobManager {} leads {:.0} ms after the request (its grant), the job runs again after {:.2} s, restored from checkpoint {};",
            s.new_leader + 1,
            s.granted_after.unwrap_or(s.leader_after).as_secs_f64() * 1000.0,
            s.running_after.as_secs_f64(),
            s.restored.map_or("none".into(), |r| r.to_string())
        ));
        say(&format!(
            "           JobManager {} is still running, now a standby (pid {})",
            s.old_leader + 1,
            cluster.jm_pid(s.old_leader).unwrap_or(0)
        ));
        central_config(&mut cluster, s.old_leader)?;
        Ok(())
    })();
    if outcome.is_err() {
        cluster.keep_logs();
        say(&format!(
            "the cluster's logs are kept in {}",
            cluster.dir().display()
        ));
    }
    drop(cluster);
    outcome
}

/// Central configuration: the standby JobManager `jm`'s configuration pushed into ZooKeeper,
/// `jm` restarted from a pulled file (as an entry point would), a change pushed, and the drift
/// `zkha flink config status` shows.
fn central_config(cluster: &mut Cluster, jm: usize) -> Res<()> {
    step(&format!(
        "central configuration: JobManager {}'s config.yaml pushed into ZooKeeper (`zkha flink config push`),\n    \
         then the standby restarted from a file pulled out of it (`zkha flink config pull --role jobmanager`)",
        jm + 1
    ));
    let (store, doc) =
        central_config::push_kit_config(cluster, jm, "demo", "the cluster's configuration")?;
    say(&format!(
        "{} version {}: {} bytes, by {} ({})",
        store.path(),
        doc.version,
        doc.base.len(),
        doc.author,
        doc.note
    ));
    let t = Instant::now();
    let v = central_config::restart_from_pulled(cluster, &store, jm)?;
    let p = central_config::status_of(cluster, &store, jm, v)?;
    say(&format!(
        "JobManager {} (pid {}) runs version {} after {:.1} s and published it: {}",
        jm + 1,
        p.running.pid,
        p.running.version,
        t.elapsed().as_secs_f64(),
        if p.stale { "STALE" } else { "current" }
    ));
    let overlay = "web.refresh-interval: 2 s\n";
    let doc = central_config::push(
        &store,
        zkha::flink::config_store::Part::Role("jobmanager".into()),
        overlay,
        "demo",
        "slower web refresh",
    )?;
    let p = central_config::status_of(cluster, &store, jm, v)?;
    say(&format!(
        "pushed version {} (a jobmanager overlay: {}); `zkha flink config status` now says:",
        doc.version,
        overlay.trim()
    ));
    say(&format!(
        "  jobmanager {}:{}  version {}  {}",
        p.running.host,
        p.running.pid,
        p.running.version,
        if p.stale { "STALE" } else { "current" }
    ));
    for d in &p.differs {
        say(&format!(
            "    {}: {} -> {}",
            d.key,
            d.before.as_deref().unwrap_or("(unset)"),
            d.after.as_deref().unwrap_or("(unset)")
        ));
    }
    say("a restart that pulls again applies it; the leader was not started from a pulled file, so it is not listed");
    Ok(())
}

fn print_roles(zk: &Ensemble) {
    for n in zk.status() {
        let role = match (n.pid, n.mode) {
            (None, _) => "down".to_string(),
            (Some(_), Some(m)) => format!("{m:?}").to_lowercase(),
            (Some(_), None) => "not serving".to_string(),
        };
        say(&format!(
            "node {} 127.0.0.1:{:<5} {role}",
            n.id, n.client_port
        ));
    }
}

/// Ctrl-C (or SIGTERM): remove the run directories and exit; every JVM dies with this process
/// through its parent-death signal.
fn on_interrupt_clean_up() {
    // SAFETY: plain signal-mask calls before any other thread exists; child processes start
    // with an empty mask (std resets it).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        std::thread::spawn(move || {
            let mut sig: libc::c_int = 0;
            libc::sigwait(&set, &mut sig);
            eprintln!("\n==> interrupted: stopping every Flink and ZooKeeper process and removing the run directories");
            kill_children();
            for dir in DIRS.lock().unwrap_or_else(|p| p.into_inner()).iter() {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::process::exit(130);
        });
    }
}

/// SIGKILLs this process's children (the JVMs) and waits briefly for them to go, so none
/// writes into a run directory while it is removed.
fn kill_children() {
    let pids = children();
    for &pid in &pids {
        // SAFETY: kill(2) on our own child processes.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    }
    for pid in pids {
        // SAFETY: reaping our own children; they were just killed.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    }
}

/// The pids of this process's live child processes (from /proc).
fn children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        // A zombie (state Z) has exited already.
        if ppid == Some(me.as_str()) && state != Some("Z") {
            if let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() {
                pids.push(pid);
            }
        }
    }
    pids
}
