//! `make bench`: benchmark programs printing JSON lines `{metric, value, unit, config}`.
//!
//! Every figure is measured against a floor taken in the same run on the same ensemble (the
//! raw round trips of the same client library), so machine drift shows in both.
//!
//! Environment: `ZKHA_BENCH_ROUNDS` (default 20), `ZKHA_BENCH_SESSION_MS` (session timeout of
//! the crash-failover rounds, default 4000), `ZKHA_BENCH_CRASH_ROUNDS` (default 3, each with
//! the liveness link on and off: the rounds with it off take about one session timeout each),
//! `ZKHA_BENCH_LOCK_CYCLES` (default 2000), `ZKHA_BENCH_LOCK_RUNS` (runs of lock/floor pairs,
//! default 5), `ZKHA_BENCH_WARMUP_S` (create/delete round trips on the fresh ensemble before
//! the first figure, default 5: a cold ensemble's round trips cost several times the later
//! ones, which once made the first figure's floor read 7.5 ms against 1.1 ms later).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use zkha::{Client, ClientOptions, ElectionOptions};
use zkha_testkit::{Ensemble, Options};
use zookeeper_client as zk;

#[path = "../coin.rs"]
mod coin;
use coin::Coin;
#[path = "../crash.rs"]
mod crash;
#[path = "../report.rs"]
mod report;
use report::{emit, env_num, percentile};

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if crash::run_contender_if_asked(&args) {
        return;
    }
    if args.get(1).map(String::as_str) == Some("__lock-cycles") {
        lock_cycles_child(&args[2], args[3].parse().expect("cycles"));
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let zk = Ensemble::start(3, Options::default()).expect("start ensemble");
    let config = format!(
        "{} zk={} clients->node{}({})",
        zk.options().describe(zk.len()),
        zk.zk_version(),
        server_node(&zk),
        zk.status()[server_node(&zk) - 1]
            .mode
            .map(|m| format!("{m:?}").to_lowercase())
            .unwrap_or_default()
    );
    rt.block_on(run(&zk, &config));
}

/// The node every bench client talks to: `ZKHA_BENCH_SERVER` = a node number (default 1) or
/// `leader`.
fn server_node(zk: &Ensemble) -> usize {
    match std::env::var("ZKHA_BENCH_SERVER").as_deref() {
        Ok("leader") => zk.leader().expect("the ensemble has a leader"),
        Ok(n) => n
            .parse()
            .ok()
            .filter(|n| (1..=zk.len()).contains(n))
            .unwrap_or_else(|| {
                panic!("ZKHA_BENCH_SERVER={n}: expected 1..={} or leader", zk.len())
            }),
        Err(_) => 1,
    }
}

async fn run(zk: &Ensemble, config: &str) {
    let rounds = env_num("ZKHA_BENCH_ROUNDS", 20) as usize;
    // Every client talks to the same server, so floor and measurement see the same path
    // (a follower forwards writes to the leader: a different server would change the floor).
    let connect = zk.node(server_node(zk)).addr().to_string();

    // Floor: raw round trips of the same client library.
    let raw = zk::Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .connect(&connect)
        .await
        .unwrap();
    let opts = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
    let warm_until = Instant::now() + Duration::from_secs(env_num("ZKHA_BENCH_WARMUP_S", 5));
    while Instant::now() < warm_until {
        raw.create("/bench-warm-up", b"", &opts).await.unwrap();
        raw.delete("/bench-warm-up", None).await.unwrap();
    }
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
    c1.close().await;
    c2.close().await;
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

    // Crash failover: the leader is a separate process killed with SIGKILL; with the liveness
    // link (the default) and without it, at the same session timeout.
    let session_ms = env_num("ZKHA_BENCH_SESSION_MS", 4000);
    let crash_rounds = env_num("ZKHA_BENCH_CRASH_ROUNDS", 3) as usize;
    if crash_rounds > 0 {
        for link in [true, false] {
            let mut failover =
                crash::crash_failover(&connect, "/bench-crash", session_ms, crash_rounds, link)
                    .await;
            emit_crash(config, &mut failover, session_ms, link);
        }
    }
    locks(&connect, config, &raw).await;
    pointer_store(&connect, config).await;
    lease_renewal(zk, &connect, config).await;
}

/// The ensemble's transaction counter: the low 32 bits of the leader's zxid (`srvr`).
fn txn_counter(zk: &Ensemble) -> u64 {
    let leader = zk.leader().expect("a leader");
    let zxid = zkha_testkit::four_letter::zxid(zk.node(leader).addr(), Duration::from_secs(2))
        .expect("the leader's zxid");
    zxid as u64 & 0xffff_ffff
}

/// What renewing the lease costs the ensemble: transactions per second per session, for
/// sessions that hold something (an election each) and for idle ones, counted from the
/// leader's zxid over a quiet window.
async fn lease_renewal(zk: &Ensemble, connect: &str, config: &str) {
    let sessions = env_num("ZKHA_BENCH_LEASE_SESSIONS", 10) as usize;
    let window = Duration::from_secs(env_num("ZKHA_BENCH_LEASE_WINDOW_S", 12));
    let t = Duration::from_millis(env_num("ZKHA_BENCH_SESSION_MS", 4000));
    for busy in [true, false] {
        let mut clients = Vec::new();
        let mut elections = Vec::new();
        for i in 0..sessions {
            let c = Client::connect(ClientOptions::new(connect).session_timeout(t))
                .await
                .unwrap();
            if busy {
                let e = c
                    .election(&format!("/bench-lease-{i}"), ElectionOptions::new("a"))
                    .unwrap();
                e.wait_for_leadership(Duration::from_secs(10))
                    .await
                    .unwrap();
                elections.push(e);
            }
            clients.push(c);
        }
        // Let joins and the first renewals settle, then count.
        tokio::time::sleep(t).await;
        let before = txn_counter(zk);
        let start = Instant::now();
        tokio::time::sleep(window).await;
        let txns = txn_counter(zk).saturating_sub(before);
        let secs = start.elapsed().as_secs_f64();
        let per = txns as f64 / secs / sessions as f64;
        emit(
            if busy {
                "lease_renewal_txns_per_s_per_holding_session"
            } else {
                "lease_renewal_txns_per_s_per_idle_session"
            },
            per,
            "txn/s",
            config,
            json!({"sessions": sessions, "session_timeout_ms": t.as_millis() as u64,
                "window_s": secs, "transactions": txns,
                "what": "one check-multi per renewal (no data change, no watch) plus a sync (not a transaction)"}),
        );
        for e in elections {
            e.close().await;
        }
        for c in clients {
            c.close().await;
        }
    }
}

fn emit_crash(config: &str, failover: &mut [f64], session_ms: u64, link: bool) {
    let p50 = percentile(failover, 0.5);
    let max = percentile(failover, 1.0);
    emit(
        if link {
            "election_crash_failover_link_on_p50"
        } else {
            "election_crash_failover_link_off_p50"
        },
        p50,
        "ms",
        config,
        json!({
            "rounds": failover.len(),
            "max_ms": max,
            "session_timeout_ms": session_ms,
            "ratio_to_session_timeout": p50 / session_ms as f64,
            "liveness_link": link,
            "kill": "SIGKILL of the leader process"
        }),
    );
}

/// Lock benchmarks: the uncontended cycle against the raw floor (interleaved, so machine
/// drift cancels), CPU and memory of a process doing nothing but lock cycles, and contended
/// throughput.
async fn locks(connect: &str, config: &str, raw: &zk::Client) {
    let cycles = env_num("ZKHA_BENCH_LOCK_CYCLES", 2000) as usize;
    let c = Client::connect(ClientOptions::new(connect).session_timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    let m = c.mutex("/bench-lock").unwrap();
    let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
    let seq = zk::CreateMode::EphemeralSequential.with_acls(zk::Acls::anyone_all());
    raw.create(
        "/bench-proto",
        b"",
        &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all()),
    )
    .await
    .unwrap();
    let (mut floor, mut short, mut lib, mut proto, mut lock) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    c.put("/bench-floor-same/base", b"").await.unwrap();
    let node_prefix = "/bench-floor-same/_c_0b2e5a6d-94c3-4f1e-8a57-3c1d9e7f2b10-lock-";
    let floor_cycle = async || {
        let (node, _) = c
            .create(node_prefix, b"", zkha::NodeMode::EphemeralSequential)
            .await
            .unwrap();
        c.delete(&node, None).await.unwrap();
    };
    let lock_cycle = async || {
        let g = m.acquire(None).await.unwrap();
        g.release().await.unwrap();
    };

    // The goal: the lock cycle against its floor, measured as A/B pairs (a coin decides which
    // of the two goes first), in `runs` runs of `pairs` pairs after a warm-up (connection, the
    // handle's child view). Each run gives a ratio of medians; the figure is the median run,
    // printed with the spread of all runs (one run alone misleads by a few per cent).
    let runs = env_num("ZKHA_BENCH_LOCK_RUNS", 5).max(1) as usize;
    let pairs = cycles.clamp(1, 1000);
    let mut coin = Coin::seeded();
    let mut run_ratios = Vec::new();
    let (mut run_locks, mut run_floors) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let (mut f, mut l) = (Vec::new(), Vec::new());
        let warm_up = if run == 0 { 300 } else { 10 };
        for i in 0..pairs + warm_up {
            let lock_first = coin.flip();
            let mut row = [0.0f64; 2];
            for which in [lock_first, !lock_first] {
                let t = Instant::now();
                if which {
                    lock_cycle().await;
                } else {
                    floor_cycle().await;
                }
                row[usize::from(which)] = ms(t.elapsed());
            }
            if i >= warm_up {
                f.push(row[0]);
                l.push(row[1]);
            }
        }
        let (f50, l50) = (percentile(&mut f, 0.5), percentile(&mut l, 0.5));
        run_ratios.push(l50 / f50);
        run_floors.push(f50);
        run_locks.push(l50);
    }
    let ratios_in_order = run_ratios.clone();
    let ratio = percentile(&mut run_ratios, 0.5);
    let spread = [run_ratios[0], run_ratios[run_ratios.len() - 1]];

    // Context: the lock beside other floors. Interleaved: each iteration measures every floor
    // and the lock, so machine drift hits all alike.
    // Rotated: each iteration starts at another measurement, so none always follows the same
    // one (what ran just before shows in a round trip's cost).
    for i in 0..cycles.min(1000) + 50 {
        let mut row = [0.0f64; 5];
        for k in 0..5 {
            let which = (i + k) % 5;
            let t = Instant::now();
            match which {
                // The floor of the goal: the same zkha client creating and deleting the node a
                // lock cycle creates and deletes (EPHEMERAL_SEQUENTIAL, Curator's name, same
                // depth), raw: same session, same runtime hand-offs; the lock adds the recipe.
                0 => floor_cycle().await,
                // The same client's create + delete of a short plain node under the root.
                1 => {
                    c.create("/bench-floor-short", b"", zkha::NodeMode::Ephemeral)
                        .await
                        .unwrap();
                    c.delete("/bench-floor-short", None).await.unwrap();
                }
                // The bare client library on the caller's own runtime (no zkha runtime).
                2 => {
                    raw.create("/bench-floor", b"", &eph).await.unwrap();
                    raw.delete("/bench-floor", None).await.unwrap();
                }
                // The lock protocol done by hand with the bare library: sequential create and
                // getChildren sent back to back, then delete. ZooKeeper holds a session's
                // read until its preceding write has committed, so this costs more.
                3 => {
                    let create = raw.create("/bench-proto/_c_x-lock-", b"", &seq);
                    let list = raw.get_children("/bench-proto");
                    let (_, n) = create.await.unwrap();
                    list.await.unwrap();
                    raw.delete(&format!("/bench-proto/_c_x-lock-{n}"), None)
                        .await
                        .unwrap();
                }
                _ => lock_cycle().await,
            }
            row[which] = ms(t.elapsed());
        }
        if i >= 50 {
            floor.push(row[0]);
            short.push(row[1]);
            lib.push(row[2]);
            proto.push(row[3]);
            lock.push(row[4]);
        }
    }
    let n = floor.len();
    let (f50, s50, b50, p50, l50) = (
        percentile(&mut floor, 0.5),
        percentile(&mut short, 0.5),
        percentile(&mut lib, 0.5),
        percentile(&mut proto, 0.5),
        percentile(&mut lock, 0.5),
    );
    let views = c.metrics().lock_view_acquires;
    emit(
        "lock_uncontended_cycle_p50",
        percentile(&mut run_locks, 0.5),
        "ms",
        config,
        json!({
            "runs": runs,
            "pairs_per_run": pairs,
            "floor_create_delete_p50_ms": percentile(&mut run_floors, 0.5),
            "ratio_to_create_delete_floor": ratio,
            "ratio_spread": spread,
            "ratio_runs": ratios_in_order,
            "goal_ratio": 1.05,
            "meets_goal": ratio <= 1.05,
            "floor": "the same zkha client's raw create + delete of a lock-shaped node (ephemeral sequential, Curator name), paired with each lock cycle in random order",
            "interleaved_cycles": n,
            "interleaved_lock_p50_ms": l50,
            "interleaved_floor_p50_ms": f50,
            "interleaved_ratio_to_create_delete_floor": l50 / f50,
            "short_node_floor_p50_ms": s50,
            "ratio_to_short_node_floor": l50 / s50,
            "library_floor_p50_ms": b50,
            "ratio_to_library_floor": l50 / b50,
            "protocol_floor_p50_ms": p50,
            "ratio_to_protocol_floor": l50 / p50,
            "acquires_from_child_view": views
        }),
    );

    // A process that does nothing but lock cycles: CPU per 1000 cycles and peak RSS.
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args(["__lock-cycles", connect, &cycles.to_string()])
        .output()
        .unwrap();
    let child: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "lock-cycles child failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let cpu_ms_per_1000 =
        child["cpu_us"].as_f64().unwrap() / 1000.0 / (child["cycles"].as_f64().unwrap() / 1000.0);
    emit(
        "lock_cycle_cpu_per_1000",
        cpu_ms_per_1000,
        "ms",
        config,
        json!({"cycles": child["cycles"], "goal": "well under 1000 ms (1 ms per cycle)"}),
    );
    emit(
        "lock_bench_peak_rss",
        child["max_rss_kb"].as_f64().unwrap() / 1024.0,
        "MiB",
        config,
        json!({"goal_mib": 8, "process": "a lock-cycle loop on the shared runtime"}),
    );

    // Contended: N sessions take turns on one mutex for a fixed time.
    for sessions in [4usize, 16] {
        let mut clients = Vec::new();
        for _ in 0..sessions {
            clients.push(
                Client::connect(
                    ClientOptions::new(connect).session_timeout(Duration::from_secs(10)),
                )
                .await
                .unwrap(),
            );
        }
        let path = format!("/bench-contended-{sessions}");
        let stop = Instant::now() + Duration::from_secs(3);
        let mut tasks = Vec::new();
        for c in &clients {
            let m = c.mutex(&path).unwrap();
            tasks.push(tokio::spawn(async move {
                let mut n = 0u64;
                while Instant::now() < stop {
                    let g = m.acquire(None).await.unwrap();
                    g.release().await.unwrap();
                    n += 1;
                }
                n
            }));
        }
        let t = Instant::now();
        let mut total = 0;
        for task in tasks {
            total += task.await.unwrap();
        }
        emit(
            &format!("lock_contended_acquisitions_per_s_{sessions}_sessions"),
            total as f64 / t.elapsed().as_secs_f64(),
            "1/s",
            config,
            json!({"sessions": sessions, "seconds": 3}),
        );
        for c in clients {
            c.close().await;
        }
    }
}

/// Pointer store: add a checkpoint and subsume the oldest (Flink's
/// `addCheckpointAndSubsumeOldestOne`), keeping one retained.
async fn pointer_store(connect: &str, config: &str) {
    let rounds = env_num("ZKHA_BENCH_LOCK_CYCLES", 2000).min(500) as i64;
    let c = Client::connect(ClientOptions::new(connect).session_timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    let store = c.pointer_store("/bench-checkpoints").unwrap();
    let handle = vec![0xacu8; 490]; // the size of a Flink checkpoint pointer
    store
        .add_and_lock(&format!("{:019}", 0), &handle)
        .await
        .unwrap();
    let mut lat = Vec::new();
    for id in 1..=rounds {
        let t = Instant::now();
        store
            .add_and_lock(&format!("{id:019}"), &handle)
            .await
            .unwrap();
        assert!(store
            .release_and_try_remove(&format!("{:019}", id - 1))
            .await
            .unwrap());
        lat.push(ms(t.elapsed()));
    }
    emit(
        "pointer_store_add_and_subsume_p50",
        percentile(&mut lat, 0.5),
        "ms",
        config,
        json!({"rounds": rounds, "payload_bytes": 490}),
    );
    emit(
        "pointer_store_add_and_subsume_p99",
        percentile(&mut lat, 0.99),
        "ms",
        config,
        json!({"rounds": rounds, "payload_bytes": 490}),
    );
}

/// Child process: `cycles` uncontended lock cycles, then its own CPU time and peak RSS.
fn lock_cycles_child(connect: &str, cycles: usize) {
    let client = Client::connect_blocking(
        ClientOptions::new(connect).session_timeout(Duration::from_secs(10)),
    )
    .unwrap();
    let m = client.mutex("/bench-lock-child").unwrap();
    let before = rusage();
    zkha::runtime::block_on(async move {
        for _ in 0..cycles {
            let g = m.acquire(None).await?;
            g.release().await?;
        }
        Ok(())
    })
    .unwrap();
    let after = rusage();
    let cpu_us = (after.0 - before.0) as f64;
    println!(
        "{}",
        json!({"cycles": cycles, "cpu_us": cpu_us, "max_rss_kb": after.1})
    );
}

/// (user + system CPU µs, peak RSS KiB) of this process.
fn rusage() -> (i64, i64) {
    // SAFETY: getrusage fills the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    (us(ru.ru_utime) + us(ru.ru_stime), ru.ru_maxrss)
}
