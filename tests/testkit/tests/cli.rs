//! The `zkha-testkit` CLI that pytest, JUnit and CTest use: start, steer, stop, owner death.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use zookeeper_client::{Acls, Client, CreateMode, SaslOptions, TlsOptions};

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secured_ensembles_through_the_cli() {
    // Mistakes are refused before anything starts.
    for (args, says) in [
        (&["--tls-client-auth", "need"][..], "needs --tls"),
        (&["--tls", "--tls-client-auth", "maybe"], "maybe"),
        (
            &["--sasl-digest", "a:b", "--kerberos"],
            "exclude each other",
        ),
        (&["--sasl-digest", "nocolon"], "USER:PASSWORD"),
        (&["--krb-client", "x"], "needs --kerberos"),
        (&["--kerberos", "--krb-client", "x:soon"], "soon"),
        (&["--sasl-optional"], "needs --sasl-digest or --kerberos"),
    ] {
        let out = Command::new(BIN)
            .args(["ensemble", "start"])
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }

    let me = std::process::id().to_string();
    // TLS-only and DIGEST-MD5 on one ensemble.
    let started = cli(&[
        "ensemble",
        "start",
        "--nodes",
        "1",
        "--tls",
        "--sasl-digest",
        "zkha:secret,other:pw2",
        "--owner-pid",
        &me,
    ]);
    let handle = started["handle"].as_str().unwrap().to_string();
    let tls = &started["tls"];
    let path = |v: &Value| std::path::PathBuf::from(v.as_str().unwrap());
    for key in [
        "ca_cert",
        "client_cert",
        "client_key",
        "client_jks",
        "client_p12",
        "truststore_jks",
        "truststore_p12",
        "expired_client_cert",
    ] {
        assert!(path(&tls[key]).is_file(), "tls.{key}: {tls}");
    }
    assert_eq!(tls["client_auth"], "need");
    assert_eq!(
        tls["java_properties"]["zookeeper.ssl.keyStore.location"],
        tls["client_jks"]
    );
    let users = &started["sasl_digest"]["users"];
    assert_eq!(users[1]["user"], "other");
    let jaas = std::fs::read_to_string(path(&users[0]["jaas"])).unwrap();
    assert!(jaas.contains("username=\"zkha\""), "{jaas}");
    assert_eq!(
        users[0]["java_properties"]["zookeeper.fips-mode"], "false",
        "{users}"
    );
    let status = cli(&["ensemble", "status", &handle]);
    assert_eq!(status["nodes"][0]["mode"], "standalone", "{status}");
    assert!(status["nodes"][0]["admin_port"].is_u64());

    let read = |key: &str| std::fs::read_to_string(path(&tls[key])).unwrap();
    let client = Client::connector()
        .with_session_timeout(Duration::from_secs(10))
        .with_tls(
            TlsOptions::new()
                .with_pem_ca(&read("ca_cert"))
                .unwrap()
                .with_pem_identity(&read("client_cert"), &read("client_key"))
                .unwrap(),
        )
        .with_sasl(SaslOptions::digest_md5("zkha", "secret"))
        .secure_connect(started["connect_string"].as_str().unwrap())
        .await
        .expect("TLS and DIGEST-MD5 client");
    client
        .create(
            "/both",
            b"",
            &CreateMode::Persistent.with_acls(Acls::creator_all()),
        )
        .await
        .unwrap();
    let (acl, _) = client.get_acl("/both").await.unwrap();
    let ids: Vec<String> = acl
        .iter()
        .map(|a| format!("{}:{}", a.scheme(), a.id()))
        .collect();
    assert!(
        ids.contains(&"sasl:zkha".to_string()) && ids.iter().any(|i| i.starts_with("x509:")),
        "{ids:?}"
    );
    drop(client);
    let pids = node_pids(&status);
    let dir = path(&started["dir"]);
    cli(&["ensemble", "stop", &handle]);
    wait_dead(&pids, Duration::from_secs(20));
    assert!(!dir.exists(), "{} left behind", dir.display());

    // Kerberos; the KDC dies with a SIGKILLed supervisor (parent-death signal).
    let started = cli(&[
        "ensemble",
        "start",
        "--nodes",
        "1",
        "--kerberos",
        "--krb-client",
        "zkha",
        "--krb-client",
        "short:60",
        "--owner-pid",
        &me,
    ]);
    let krb = &started["kerberos"];
    assert_eq!(krb["server_principal"], "zookeeper/localhost@EXAMPLE.COM");
    assert_eq!(krb["clients"][1]["principal"], "short@EXAMPLE.COM");
    assert_eq!(krb["clients"][1]["max_life_s"], 60);
    assert!(krb["clients"][0]["max_life_s"].is_null());
    assert!(path(&krb["clients"][0]["keytab"]).is_file());
    assert_eq!(krb["env"]["KRB5_CONFIG"], krb["krb5_conf"]);
    assert_eq!(started["nodes"][0]["mode"], "standalone");
    let kdc = krb["kdc_pid"].as_u64().unwrap();
    let supervisor = started["supervisor_pid"].as_u64().unwrap();
    let mut pids = node_pids(&started);
    assert!(pid_alive(kdc));
    // SAFETY: kill(2) of the supervisor this test started.
    unsafe { libc::kill(supervisor as libc::pid_t, libc::SIGKILL) };
    pids.extend([kdc, supervisor]);
    wait_dead(&pids, Duration::from_secs(20));
    let _ = std::fs::remove_dir_all(started["handle"].as_str().unwrap());
    let _ = std::fs::remove_dir_all(started["dir"].as_str().unwrap());
}
