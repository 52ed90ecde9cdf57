//! The `zkha-testkit` CLI that pytest, JUnit and CTest use: start, steer, stop, owner death.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_zkha-testkit");

fn cli(args: &[&str]) -> Value {
    let out = Command::new(BIN).args(args).arg("--json").output().unwrap();
    assert!(
        out.status.success(),
        "zkha-testkit {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(text.trim()).unwrap_or(Value::Null)
}

fn pid_alive(pid: u64) -> bool {
    // A zombie still answers kill(0); read the state instead.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat.split_whitespace().nth(2).is_none_or(|s| s != "Z"),
        Err(_) => false,
    }
}

fn wait_dead(pids: &[u64], within: Duration) {
    let deadline = Instant::now() + within;
    while pids.iter().any(|&p| pid_alive(p)) {
        assert!(
            Instant::now() < deadline,
            "processes {pids:?} still alive after {within:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn node_pids(status: &Value) -> Vec<u64> {
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n["pid"].as_u64())
        .collect()
}

#[test]
fn start_steer_and_stop_through_the_cli() {
    let me = std::process::id().to_string();
    let started = cli(&["ensemble", "start", "--nodes", "3", "--owner-pid", &me]);
    let handle = started["handle"].as_str().unwrap().to_string();
    let pids = node_pids(&started);
    assert_eq!(pids.len(), 3);
    assert_eq!(
        started["connect_string"]
            .as_str()
            .unwrap()
            .split(',')
            .count(),
        3
    );

    let leader = cli(&["leader", &handle]).as_u64().unwrap();
    cli(&["node", &handle, "kill", &leader.to_string()]);
    cli(&["wait-quorum", &handle, "--timeout-ms", "30000"]);
    let new_leader = cli(&["leader", &handle]).as_u64().unwrap();
    assert_ne!(leader, new_leader);
    cli(&["node", &handle, "restart", &leader.to_string()]);
    cli(&["wait-quorum", &handle]);

    let proxy = cli(&["proxy", &handle, "start", "--node", "1"]);
    assert_eq!(
        proxy["connect_string"].as_str().unwrap().split(',').count(),
        1
    );
    let id = proxy["proxy"].as_u64().unwrap().to_string();
    cli(&["proxy", &handle, "blackhole", &id]);
    let status = cli(&["ensemble", "status", &handle]);
    assert_eq!(status["proxies"][0]["fault"]["mode"], "blackhole");
    cli(&["proxy", &handle, "delay", &id, "20"]);
    cli(&["proxy", &handle, "heal", &id]);

    // A bad request is refused with a message, and the supervisor keeps serving.
    let out = Command::new(BIN)
        .args(["node", &handle, "kill", "9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node 9"));

    let status = cli(&["ensemble", "status", &handle]);
    let all = node_pids(&status);
    let supervisor = started["supervisor_pid"].as_u64().unwrap();
    cli(&["ensemble", "stop", &handle]);
    wait_dead(&all, Duration::from_secs(20));
    wait_dead(&[supervisor], Duration::from_secs(20));
}

#[test]
fn ensemble_dies_with_its_owner() {
    let mut owner = Command::new("sleep")
        .arg("600")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let started = cli(&[
        "ensemble",
        "start",
        "--nodes",
        "1",
        "--owner-pid",
        &owner.id().to_string(),
    ]);
    let pids = node_pids(&started);
    let supervisor = started["supervisor_pid"].as_u64().unwrap();
    assert!(pids.iter().all(|&p| pid_alive(p)));
    owner.kill().unwrap();
    owner.wait().unwrap();
    wait_dead(&pids, Duration::from_secs(20));
    wait_dead(&[supervisor], Duration::from_secs(20));
}

#[test]
fn unknown_handle_says_what_is_wrong() {
    let out = Command::new(BIN)
        .args(["ensemble", "status", "/nonexistent/handle"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/handle") && err.contains("still running"),
        "{err}"
    );
}

#[test]
fn every_command_answers_help_and_does_nothing_else() {
    let jvms = || {
        Command::new("pgrep")
            .args(["-f", "QuorumPeerMain"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0)
    };
    let before = jvms();
    for words in [
        &["--help"][..],
        &["help"],
        &["ensemble", "start", "--help"],
        &["ensemble", "start", "--nodes", "--help"],
        &["ensemble", "stop", "--help"],
        &["ensemble", "status", "-h"],
        &["node", "--help"],
        &["wait-quorum", "--help"],
        &["leader", "--help"],
        &["proxy", "--help"],
        &["install", "--help"],
    ] {
        let t = Instant::now();
        let out = Command::new(BIN).args(words).output().unwrap();
        assert!(out.status.success(), "{words:?}: {out:?}");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("USAGE") || text.contains("\nUSAGE"),
            "{words:?}: {text}"
        );
        let cmd = words.iter().find(|w| !w.starts_with('-') && **w != "help");
        if let Some(cmd) = cmd {
            assert!(
                text.contains(&format!("zkha-testkit {cmd}")),
                "{words:?}: {text}"
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "{words:?} took {:?}",
            t.elapsed()
        );
    }
    assert!(jvms() <= before, "a --help started ZooKeeper");
}

#[test]
fn cut_before_reply_through_the_cli() {
    let me = std::process::id().to_string();
    let started = cli(&["ensemble", "start", "--nodes", "1", "--owner-pid", &me]);
    let handle = started["handle"].as_str().unwrap().to_string();
    let proxy = cli(&["proxy", &handle, "start"]);
    let id = proxy["proxy"].as_u64().unwrap().to_string();
    cli(&[
        "proxy",
        &handle,
        "cut-before-reply",
        &id,
        "get-children",
        "/x",
    ]);
    let status = cli(&["ensemble", "status", &handle]);
    assert_eq!(status["proxies"][0]["armed_reply_cuts"], 1);
    let out = Command::new(BIN)
        .args(["proxy", &handle, "cut-before-reply", &id, "frobnicate"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("frobnicate"));
    cli(&["ensemble", "stop", &handle]);
}

#[test]
fn partitions_through_the_cli() {
    let me = std::process::id().to_string();
    let started = cli(&[
        "ensemble",
        "start",
        "--nodes",
        "3",
        "--partitionable",
        "--sync-limit",
        "10",
        "--owner-pid",
        &me,
    ]);
    let handle = started["handle"].as_str().unwrap().to_string();
    assert!(started["config"].as_str().unwrap().contains("syncLimit=10"));
    let leader = cli(&["leader", &handle]).as_u64().unwrap();
    let others: Vec<String> = (1..=3u64)
        .filter(|&n| n != leader)
        .map(|n| n.to_string())
        .collect();
    cli(&["partition", &handle, &leader.to_string(), &others.join(",")]);
    // The majority side elects a new leader.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = cli(&["leader", &handle]).as_u64();
        if l.is_some_and(|l| l != leader) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no new leader on the majority side"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    cli(&["partition", &handle, "heal"]);
    cli(&["wait-quorum", &handle, "--timeout-ms", "30000"]);
    cli(&["partition", &handle, "isolate", "1"]);
    cli(&["partition", &handle, "heal"]);
    let out = Command::new(BIN)
        .args(["partition", &handle, "1,9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node 9"));
    cli(&["ensemble", "stop", &handle]);
}
