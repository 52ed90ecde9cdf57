//! Crash failover rounds shared by the bench programs (through `#[path]`): a contender process
//! leads, a survivor in the bench process waits behind it, the leader is killed with SIGKILL.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zkha::{Client, ClientOptions, ElectionOptions, LivenessOptions};

/// The first argument that makes a bench program run [`contender`] (`connect latch session_ms
/// on|off` follow).
pub const CONTENDER_ARG: &str = "__contender";

/// Runs [`contender`] if the program was started as one; true if it was.
pub fn run_contender_if_asked(args: &[String]) -> bool {
    if args.get(1).map(String::as_str) != Some(CONTENDER_ARG) {
        return false;
    }
    let link = args.get(5).map(String::as_str) != Some("off");
    contender(
        &args[2],
        &args[3],
        args[4].parse().expect("session ms"),
        link,
    );
    true
}

/// `rounds` crash failovers: a contender process leads, a local survivor waits behind it
/// (linked to it when the link is on), the leader is killed with SIGKILL; the time until the
/// survivor is granted, in ms.
pub async fn crash_failover(
    connect: &str,
    prefix: &str,
    session_ms: u64,
    rounds: usize,
    link: bool,
) -> Vec<f64> {
    let mut failover = Vec::new();
    let exe = std::env::current_exe().unwrap();
    let liveness = if link {
        LivenessOptions::default()
    } else {
        LivenessOptions::disabled()
    };
    for i in 0..rounds {
        let latch = format!("{prefix}-{}-{i}", if link { "link" } else { "nolink" });
        let mut cmd = Command::new(&exe);
        cmd.args([CONTENDER_ARG, connect, &latch, &session_ms.to_string()])
            .arg(if link { "on" } else { "off" })
            .stdout(Stdio::piped());
        let mut child = zkha_testkit::spawn::spawn_tied(cmd).unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "GRANTED", "contender process did not lead");
        let local = Client::connect(
            ClientOptions::new(connect)
                .session_timeout(Duration::from_millis(session_ms))
                .liveness(liveness.clone()),
        )
        .await
        .unwrap();
        let b = local
            .election(&latch, ElectionOptions::new("survivor"))
            .unwrap();
        while b.node().is_none() || (link && !b.liveness().linked) {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let mut events = b.events();
        let t = Instant::now();
        child.kill().unwrap();
        child.wait().unwrap();
        loop {
            if let Some(zkha::ElectionEvent::Granted(_)) = events.next().await {
                break;
            }
        }
        failover.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(local.metrics().forced_takeovers, u64::from(link));
        b.close().await;
        local.close().await;
    }
    failover
}

/// A contender in its own process: leads, prints GRANTED, then waits to be killed.
pub fn contender(connect: &str, latch: &str, session_ms: u64, link: bool) {
    let liveness = if link {
        LivenessOptions::default()
    } else {
        LivenessOptions::disabled()
    };
    let client = Client::connect_blocking(
        ClientOptions::new(connect)
            .session_timeout(Duration::from_millis(session_ms))
            .liveness(liveness),
    )
    .unwrap();
    let e = client
        .election(latch, ElectionOptions::new("doomed"))
        .unwrap();
    zkha::runtime::block_on({
        let e = e.clone();
        async move { e.wait_for_leadership(Duration::from_secs(30)).await }
    })
    .unwrap();
    println!("GRANTED");
    std::thread::sleep(Duration::from_secs(3600));
}
