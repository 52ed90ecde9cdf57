//! `make bench`: benchmark programs printing JSON lines `{metric, value, unit, config}`.
//!
//! Every figure is measured against a floor taken in the same run on the same ensemble (the
//! raw round trips of the same client library), so machine drift shows in both.
//!
//! Environment: `ZKHA_BENCH_ROUNDS` (default 20), `ZKHA_BENCH_SESSION_MS` (session timeout of
//! the crash-failover rounds, default 4000), `ZKHA_BENCH_CRASH_ROUNDS` (default 3).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use zkha::{Client, ClientOptions, ElectionOptions};
use zkha_testkit::{Ensemble, Options};
use zookeeper_client as zk;

fn env_num(key: &str, default: u64) -> u64 {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn emit(metric: &str, value: f64, unit: &str, config: &str, extra: serde_json::Value) {
    let mut line = json!({"metric": metric, "value": (value * 1000.0).round() / 1000.0, "unit": unit, "config": config});
    if let (Some(obj), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            obj.insert(k.clone(), v.clone());
        }
    }
    println!("{line}");
}

fn percentile(samples: &mut [f64], q: f64) -> f64 {
    samples.sort_by(|a, b| a.total_cmp(b));
    let idx = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[idx.min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("__contender") {
        contender(&args[2], &args[3], args[4].parse().expect("session ms"));
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let zk = Ensemble::start(3, Options::default()).expect("start ensemble");
    let config = format!("{} zk={}", zk.options().describe(zk.len()), zk.zk_version());
    rt.block_on(run(&zk, &config));
}

async fn run(zk: &Ensemble, config: &str) {
    let rounds = env_num("ZKHA_BENCH_ROUNDS", 20) as usize;
    let connect = zk.connect_string();

    // Floor: raw round trips of the same client library.
    let raw = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&connect)
        .await
        .unwrap();
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let mut cd = Vec::new();
    let mut ex = Vec::new();
    for i in 0..rounds.max(50) {
        let p = format!("/bench-floor-{i}");
        let t = Instant::now();
        raw.create(&p, b"", &opts).await.unwrap();
        raw.delete(&p, None).await.unwrap();
        cd.push(ms(t.elapsed()));
        let t = Instant::now();
        raw.check_stat("/").await.unwrap();
        ex.push(ms(t.elapsed()));
    }
    let floor_cd = percentile(&mut cd, 0.5);
    emit(
        "raw_create_delete_rtt_p50",
        floor_cd,
        "ms",
        config,
        json!({}),
    );
    emit(
        "raw_exists_rtt_p50",
        percentile(&mut ex, 0.5),
        "ms",
        config,
        json!({}),
    );

    // Graceful hand-over: the leader closes, the next contender is granted.
    let t_session = Duration::from_secs(10);
    let c1 = Client::connect(ClientOptions::new(connect.clone()).session_timeout(t_session))
        .await
        .unwrap();
    let c2 = Client::connect(ClientOptions::new(connect.clone()).session_timeout(t_session))
        .await
        .unwrap();
    let mut handover = Vec::new();
    for i in 0..rounds {
        let latch = format!("/bench-handover-{i}");
        let a = c1.election(&latch, ElectionOptions::new("a")).unwrap();
        a.wait_for_leadership(Duration::from_secs(10))
            .await
            .unwrap();
        let b = c2.election(&latch, ElectionOptions::new("b")).unwrap();
        // Let b register behind a.
        while b.node().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let mut events = b.events();
        let t = Instant::now();
        a.close().await;
        loop {
            if let Some(zkha::ElectionEvent::Granted(_)) = events.next().await {
                break;
            }
        }
        handover.push(ms(t.elapsed()));
        b.close().await;
    }
    let p50 = percentile(&mut handover, 0.5);
    emit(
        "election_graceful_handover_p50",
        p50,
        "ms",
        config,
        json!({"rounds": rounds, "ratio_to_create_delete_floor": p50 / floor_cd}),
    );
    emit(
        "election_graceful_handover_p99",
        percentile(&mut handover, 0.99),
        "ms",
        config,
        json!({"rounds": rounds}),
    );

    // Crash failover: the leader is a separate process killed with SIGKILL.
    let session_ms = env_num("ZKHA_BENCH_SESSION_MS", 4000);
    let crash_rounds = env_num("ZKHA_BENCH_CRASH_ROUNDS", 3) as usize;
    let mut failover = Vec::new();
    let exe = std::env::current_exe().unwrap();
    for i in 0..crash_rounds {
        let latch = format!("/bench-crash-{i}");
        let mut cmd = Command::new(&exe);
        cmd.args(["__contender", &connect, &latch, &session_ms.to_string()])
            .stdout(Stdio::piped());
        let mut child = zkha_testkit::spawn::spawn_tied(cmd).unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "GRANTED", "contender process did not lead");
        let local = Client::connect(
            ClientOptions::new(connect.clone()).session_timeout(Duration::from_millis(session_ms)),
        )
        .await
        .unwrap();
        let b = local
            .election(&latch, ElectionOptions::new("survivor"))
            .unwrap();
        while b.node().is_none() {
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
        failover.push(ms(t.elapsed()));
        b.close().await;
        local.close().await;
    }
    let p50 = percentile(&mut failover, 0.5);
    emit(
        "election_crash_failover_p50",
        p50,
        "ms",
        config,
        json!({"rounds": crash_rounds, "session_timeout_ms": session_ms, "ratio_to_session_timeout": p50 / session_ms as f64, "liveness_link": false}),
    );
}

/// A contender in its own process: leads, prints GRANTED, then waits to be killed.
fn contender(connect: &str, latch: &str, session_ms: u64) {
    let client = Client::connect_blocking(
        ClientOptions::new(connect).session_timeout(Duration::from_millis(session_ms)),
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
