//! `make demo`: a local three-node ZooKeeper ensemble and zkha's leader election at work:
//! the lease riding out a ZooKeeper server crash, a graceful hand-over, and a crashed leader
//! process replaced. Everything is stopped at the end (also on Ctrl-C: the server JVMs and
//! the contender process die with this process).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use zkha::{Client, ClientOptions, ConnectionState, Election, ElectionEvent, ElectionOptions};
use zkha_testkit::{Ensemble, Options};

const LATCH: &str = "/zkha-demo/leader/latch";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__contender") {
        contender(&args[2], args[3].parse().expect("session ms"));
        return;
    }
    if let Err(e) = run() {
        eprintln!("demo failed: {e}");
        std::process::exit(1);
    }
}

fn step(msg: &str) {
    println!("\n==> {msg}");
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn run() -> Res<()> {
    let session = Duration::from_secs(4);
    step("starting a 3-node ZooKeeper ensemble on 127.0.0.1 (jars cached in .cache/)");
    let t = Instant::now();
    let zk = Arc::new(Ensemble::start(3, Options::default())?);
    println!(
        "    quorum after {:.1} s ({})",
        t.elapsed().as_secs_f64(),
        zk.options().describe(zk.len())
    );
    print_roles(&zk);
    println!("    connect string: {}", zk.connect_string());
    zkha::runtime::block_on(story(zk.clone(), session))?;
    step("what the ensemble looks like now");
    print_roles(&zk);
    step("stopping everything");
    drop(zk);
    println!("    done: no ZooKeeper or contender process is left running");
    Ok(())
}

async fn story(zk: Arc<Ensemble>, session: Duration) -> zkha::Result<()> {
    let connect = zk.connect_string();
    step(&format!(
        "three zkha contenders join the election on {LATCH} (session timeout {session:?})"
    ));
    let mut contenders = Vec::new();
    for name in ["alpha", "bravo", "charlie"] {
        let c =
            Client::connect(ClientOptions::new(connect.clone()).session_timeout(session)).await?;
        let e = c.election(LATCH, ElectionOptions::new(name))?;
        contenders.push((name, c, e));
    }
    let (leader, _) = wait_leader(&contenders).await?;
    let (name, client, election) = &contenders[leader];
    let l = election.leadership().expect("leads");
    println!(
        "    {name} leads (fencing token {}, leader session {})",
        l.fencing_token, l.leader_session_id
    );

    step("killing the ZooKeeper server the leader is connected to");
    let node = zk.node_of_session(client.session_id());
    let mut states = client.state_events();
    let _ = states.try_next();
    let mut events = election.events();
    let _ = events.try_next();
    let t = Instant::now();
    if let Some(n) = node {
        let _ = zk.node(n).kill();
        println!("    killed server {n}");
    }
    let mut reconnected = None;
    let deadline = Instant::now() + session * 2;
    while Instant::now() < deadline {
        match states.next_timeout(Duration::from_millis(100)).await {
            Some(ConnectionState::Suspended { safe_until }) => println!(
                "    +{:>5} ms  Suspended: keeps leadership until its lease ends in {} ms",
                t.elapsed().as_millis(),
                safe_until
                    .saturating_duration_since(Instant::now())
                    .as_millis()
            ),
            Some(ConnectionState::Reconnected { .. }) => {
                println!(
                    "    +{:>5} ms  Reconnected to another server, same session",
                    t.elapsed().as_millis()
                );
                reconnected = Some(t.elapsed());
            }
            Some(other) => println!("    +{:>5} ms  {other:?}", t.elapsed().as_millis()),
            None => {}
        }
        if reconnected.is_some() && t.elapsed() > Duration::from_millis(500) {
            break;
        }
    }
    let kept = events.try_next().is_none() && election.has_leadership();
    println!("    {name} still leads: {kept} (no needless failover)");

    step(&format!("{name} steps down gracefully"));
    let t = Instant::now();
    election.close().await;
    let (next, _) = wait_leader(&contenders).await?;
    println!(
        "    {} leads after {:.1} ms",
        contenders[next].0,
        t.elapsed().as_secs_f64() * 1000.0
    );

    step("a leader in its own process is killed with SIGKILL");
    for (_, _, e) in &contenders {
        e.close().await;
    }
    let exe = std::env::current_exe().map_err(zkha::Error::from)?;
    let mut cmd = Command::new(exe);
    cmd.args(["__contender", &connect, &session.as_millis().to_string()])
        .stdout(Stdio::piped());
    // Tied to this process: Ctrl-C of the demo takes the contender with it.
    let mut child = zkha_testkit::spawn::spawn_tied(cmd).map_err(zkha::Error::from)?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .map_err(zkha::Error::from)?;
    println!("    process {} leads", child.id());
    let survivor =
        Client::connect(ClientOptions::new(connect.clone()).session_timeout(session)).await?;
    let e = survivor.election(LATCH, ElectionOptions::new("delta"))?;
    while e.node().is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut events = e.events();
    let t = Instant::now();
    let _ = child.kill();
    let _ = child.wait();
    while !matches!(events.next().await, Some(ElectionEvent::Granted(_)) | None) {}
    println!(
        "    delta leads {:.2} s after the kill (session timeout {:.1} s: ZooKeeper must expire the dead session first;\n    the liveness link of a later zkha release cuts this to well under a second)",
        t.elapsed().as_secs_f64(),
        session.as_secs_f64()
    );
    e.close().await;
    Ok(())
}

/// Waits until exactly one contender leads; returns its index and the wait.
async fn wait_leader(cs: &[(&str, Client, Election)]) -> zkha::Result<(usize, Duration)> {
    let t = Instant::now();
    loop {
        let leaders: Vec<usize> = (0..cs.len())
            .filter(|&i| cs[i].2.has_leadership())
            .collect();
        if leaders.len() == 1 {
            return Ok((leaders[0], t.elapsed()));
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

fn print_roles(zk: &Ensemble) {
    for n in zk.status() {
        let role = match (n.pid, n.mode) {
            (None, _) => "down".to_string(),
            (Some(_), Some(m)) => format!("{m:?}").to_lowercase(),
            (Some(_), None) => "not serving".to_string(),
        };
        println!("    node {} 127.0.0.1:{:<5} {role}", n.id, n.client_port);
    }
}

/// A contender in its own process: leads, prints GRANTED, then waits to be killed.
fn contender(connect: &str, session_ms: u64) {
    let client = Client::connect_blocking(
        ClientOptions::new(connect).session_timeout(Duration::from_millis(session_ms)),
    )
    .expect("connect");
    let e = client
        .election(LATCH, ElectionOptions::new("doomed"))
        .expect("join");
    let e2 = e.clone();
    zkha::runtime::block_on(async move { e2.wait_for_leadership(Duration::from_secs(60)).await })
        .expect("lead");
    println!("GRANTED");
    std::thread::sleep(Duration::from_secs(3600));
}
