//! zkha's metrics on a real Flink cluster (`ZKHA_FLINK_VERSION`, default 2.3): each JobManager
//! serves them for Prometheus (`high-availability.zkha.metrics.port`) and as JMX MBeans; across
//! a crash failover (leader SIGKILLed, the liveness link hands over) the standby's counters
//! tell what happened.
//!
//! Run alone: `cargo test -p zkha-flink-e2e --test metrics -- --nocapture`.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use zkha_flink_e2e::cluster::free_ports;
use zkha_flink_e2e::scenario::{self, Fault};
use zkha_flink_e2e::{dist, Artifacts, Ha};

/// `GET /metrics` from a JobManager's endpoint: `name{labels}` -> value.
fn scrape(port: u16) -> HashMap<String, f64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("metrics endpoint");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("an HTTP response");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(body.ends_with("# EOF\n"), "OpenMetrics text: {body}");
    body.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.rsplit_once(' ').expect("sample");
            (k.to_string(), v.parse().expect("value"))
        })
        .collect()
}

/// The value of the one series of `name` (a JobManager has one zkha client).
fn one(samples: &HashMap<String, f64>, name: &str, with: &str) -> f64 {
    let found: Vec<f64> = samples
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && k.contains(with))
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(found.len(), 1, "{name} {with}: {found:?}");
    found[0]
}

/// The zkha MBean attributes of the JVM with JMX at `port`, read over remote JMX by the
/// build's JDK (a source-file launch needs `jdk.compiler`, which the JRE runtimes the matrix
/// runs Flink on lack; remote JMX does not care which Java asks).
fn jmx(port: u16) -> HashMap<String, String> {
    let tool = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/JmxRead.java");
    let java = std::env::var_os("JAVA_HOME")
        .map(|h| Path::new(&h).join("bin/java"))
        .filter(|j| j.exists())
        .unwrap_or_else(|| "java".into());
    let out = Command::new(java)
        .arg(tool)
        .arg(format!("127.0.0.1:{port}"))
        .output()
        .expect("run JmxRead");
    assert!(
        out.status.success(),
        "JmxRead: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("io.zkha:type=Client,cluster="),
        "a zkha MBean: {text}"
    );
    text.lines()
        .filter_map(|l| l.rsplit_once(' ')?.1.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_crash_failover_shows_in_the_standbys_metrics_over_http_and_jmx() {
    let _serial = scenario::serial();
    let artifacts = Artifacts::prepare(&dist::stderr).expect("artifacts");
    let zk = scenario::ensemble().expect("ensemble");
    let ports = free_ports(4).expect("ports");
    let (metrics, jmx_ports) = (&ports[..2], &ports[2..]);
    let (mut cluster, job) = scenario::start_with_job_on(
        &artifacts,
        &zk,
        Ha::Zkha,
        2,
        |o| {
            for i in 0..2 {
                o.jm_extra_config.push(vec![(
                    "high-availability.zkha.metrics.port".into(),
                    metrics[i].to_string(),
                )]);
                o.jm_jvm_args.push(
                    [
                        format!("-Dcom.sun.management.jmxremote.port={}", jmx_ports[i]),
                        format!("-Dcom.sun.management.jmxremote.rmi.port={}", jmx_ports[i]),
                        "-Dcom.sun.management.jmxremote.host=127.0.0.1".into(),
                        "-Djava.rmi.server.hostname=127.0.0.1".into(),
                        "-Dcom.sun.management.jmxremote.authenticate=false".into(),
                        "-Dcom.sun.management.jmxremote.ssl=false".into(),
                    ]
                    .to_vec(),
                );
            }
        },
        &dist::stderr,
    )
    .expect("cluster with job");
    let leader = cluster.leader().expect("leader").expect("a leader").jm;
    let standby = 1 - leader;
    let cluster_id = cluster.options().cluster_id.trim_matches('/').to_string();
    let label = format!(r#"cluster_id="{cluster_id}""#);

    let lead = scrape(metrics[leader]);
    assert_eq!(one(&lead, "zkha_leading", &label), 1.0, "the leader leads");
    let before = scrape(metrics[standby]);
    assert_eq!(one(&before, "zkha_leading", &label), 0.0);
    assert_eq!(
        one(&before, "zkha_connection_state", r#"state="connected""#),
        1.0
    );
    let lease = one(&before, "zkha_lease_remaining_seconds", &label);
    assert!(lease > 0.0, "the standby's session has a lease: {lease}");
    let jmx_before = jmx(jmx_ports[standby]);
    assert_eq!(jmx_before["State"], "connected", "{jmx_before:?}");
    assert_eq!(
        jmx_before["grants"].parse::<f64>().unwrap(),
        one(&before, "zkha_grants_total", &label),
        "JMX and Prometheus agree"
    );

    let f = scenario::fail_leader(&mut cluster, &job, Fault::Kill).expect("failover");
    scenario::assert_killed_leader_replaced(&cluster, &job, &f, Duration::from_secs(5));
    assert_eq!(f.new_leader, standby);

    let after = scrape(metrics[standby]);
    let delta = |name: &str, with: &str| one(&after, name, with) - one(&before, name, with);
    assert_eq!(delta("zkha_grants_total", &label), 1.0, "granted once");
    assert_eq!(
        delta("zkha_forced_takeovers_total", &label),
        1.0,
        "the liveness link proved the leader dead once"
    );
    for reason in [
        "lease_expired",
        "session_expired",
        "node_deleted",
        "closed",
        "suspended",
    ] {
        assert_eq!(
            delta("zkha_revocations_total", &format!(r#"reason="{reason}""#)),
            0.0,
            "the surviving standby was never revoked ({reason})"
        );
    }
    assert_eq!(one(&after, "zkha_leading", &label), 1.0);
    let jmx_after = jmx(jmx_ports[standby]);
    let jmx_delta =
        |k: &str| jmx_after[k].parse::<i64>().unwrap() - jmx_before[k].parse::<i64>().unwrap();
    assert_eq!(jmx_delta("grants"), 1, "{jmx_after:?}");
    assert_eq!(jmx_delta("forced_takeovers"), 1, "{jmx_after:?}");
    assert_eq!(jmx_after["leading"], "1");
    eprintln!(
        "standby JobManager {}: grants +1, forced takeovers +1, no revocation (HTTP and JMX)",
        standby + 1
    );
}
