//! Metrics as an operator's Prometheus sees them: scraped over HTTP from a client's endpoint,
//! against a real ensemble.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zkha::{Client, ElectionEvent, ErrorKind, MetricsOptions, RevokeReason};

/// `GET path` from `addr`: the status line, the headers and the body.
async fn http_get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let (head, body) = out.split_once("\r\n\r\n").expect("a response head");
    (head.to_string(), body.to_string())
}

/// The samples of an exposition: `name{labels}` -> value, the labels in written order.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("series and value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// The one sample named `name` whose labels include every one of `with`.
fn sample(all: &HashMap<String, f64>, name: &str, with: &[&str]) -> f64 {
    let found: Vec<_> = all
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name) && with.iter().all(|w| k.contains(*w)))
        .collect();
    assert_eq!(found.len(), 1, "{name} {with:?}: {found:?}");
    *found[0].1
}

async fn labelled(connect: &str, component: &str, port0: bool) -> Client {
    let mut o = options(connect, Duration::from_secs(4));
    o.metrics = MetricsOptions {
        labels: vec![
            ("cluster_id".into(), "metrics-test".into()),
            ("component".into(), component.into()),
        ],
        address: port0.then(|| "127.0.0.1:0".parse().unwrap()),
        port_range_end: None,
    };
    Client::connect(o).await.expect("connect")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_shows_grants_revocations_by_reason_and_the_lease() {
    let zk = shared();
    let a = labelled(&zk.connect_string(), "leader_a", true).await;
    let b = labelled(&zk.connect_string(), "standby_b", false).await;
    let addr = a.metrics_address().expect("an endpoint");
    let admin = client(&zk.connect_string(), Duration::from_secs(4)).await;
    let latch = unique("metrics");
    let ea = elect(&a, &latch, "a");
    let first = ea
        .wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let eb = elect(&b, &latch, "b");
    eventually(Duration::from_secs(5), "b joined", || eb.node().is_some()).await;

    let (head, body) = http_get(addr, "/metrics").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains("Content-Type: application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    assert!(
        body.ends_with("# EOF\n"),
        "OpenMetrics text ends with # EOF"
    );
    let before = samples(&body);
    let a_ = r#"component="leader_a""#;
    let b_ = r#"component="standby_b""#;
    assert_eq!(sample(&before, "zkha_grants_total", &[a_]), 1.0);
    assert_eq!(sample(&before, "zkha_grants_total", &[b_]), 0.0);
    assert_eq!(sample(&before, "zkha_leading", &[a_]), 1.0);
    assert_eq!(sample(&before, "zkha_leading", &[b_]), 0.0);
    assert_eq!(
        sample(
            &before,
            "zkha_connection_state",
            &[a_, r#"state="connected""#]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &before,
            "zkha_connection_state",
            &[a_, r#"state="suspended""#]
        ),
        0.0
    );
    let lease = sample(&before, "zkha_lease_remaining_seconds", &[a_]);
    assert!(lease > 0.0 && lease <= 4.0, "lease {lease}");
    assert_eq!(
        sample(&before, "zkha_session_timeout_requested_seconds", &[a_]),
        4.0
    );
    assert!(sample(&before, "zkha_session_timeout_seconds", &[a_]) > 0.0);
    assert!(sample(&before, "zkha_operations_total", &[a_]) > 0.0);
    assert!(
        sample(
            &before,
            "zkha_operation_latency_seconds_bucket",
            &[a_, r#"le="+Inf""#]
        ) > 0.0
    );
    assert!(before
        .keys()
        .any(|k| k.contains(r#"cluster_id="metrics-test""#)));

    // The leader's latch node is deleted: it is revoked (node_deleted), b is granted.
    let mut events = ea.events();
    admin.delete_recursive(&first.latch_node).await.unwrap();
    loop {
        match events.next_timeout(Duration::from_secs(5)).await {
            Some(ElectionEvent::Revoked { reason }) => {
                assert_eq!(reason, RevokeReason::NodeDeleted);
                break;
            }
            Some(_) => {}
            None => panic!("no revocation"),
        }
    }
    eb.wait_for_leadership(Duration::from_secs(5))
        .await
        .unwrap();
    let after = samples(&http_get(addr, "/metrics").await.1);
    assert_eq!(sample(&after, "zkha_grants_total", &[b_]), 1.0);
    assert_eq!(sample(&after, "zkha_leading", &[b_]), 1.0);
    assert_eq!(sample(&after, "zkha_leading", &[a_]), 0.0);
    assert_eq!(
        sample(
            &after,
            "zkha_revocations_total",
            &[a_, r#"reason="node_deleted""#]
        ),
        1.0
    );
    assert_eq!(
        sample(
            &after,
            "zkha_revocations_total",
            &[a_, r#"reason="session_expired""#]
        ),
        0.0
    );
    assert_eq!(
        sample(
            &after,
            "zkha_revocations_total",
            &[b_, r#"reason="node_deleted""#]
        ),
        0.0
    );

    let (head, _) = http_get(addr, "/other").await;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_asking_for_one_address_share_its_endpoint_until_the_last_closes() {
    let zk = shared();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let mut o = options(&zk.connect_string(), Duration::from_secs(4));
    o.metrics.address = Some(free);
    let one = Client::connect(o.clone()).await.expect("connect");
    let two = Client::connect(o).await.expect("connect");
    assert_eq!(one.metrics_address(), Some(free));
    assert_eq!(two.metrics_address(), Some(free));
    let body = http_get(free, "/metrics").await.1;
    assert!(body.contains("zkha_grants_total"), "{body}");
    one.close().await;
    drop(one);
    assert!(http_get(free, "/metrics")
        .await
        .0
        .starts_with("HTTP/1.1 200"));
    two.close().await;
    drop(two);
    // Closed once the client's background tasks have let go of it too.
    let start = std::time::Instant::now();
    while tokio::net::TcpStream::connect(free).await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the endpoint closes with the last client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_metrics_options_are_refused_naming_them() {
    let zk = shared();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    for (labels, address, expect) in [
        (vec![("bad-name", "x")], None, "bad-name"),
        (vec![("state", "x")], None, "reserved"),
        (vec![("a", "1"), ("a", "2")], None, "twice"),
        (
            vec![],
            Some(taken.local_addr().unwrap()),
            "cannot serve metrics on",
        ),
    ] {
        let mut o = options(&zk.connect_string(), Duration::from_secs(4));
        o.metrics = MetricsOptions {
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            address,
            port_range_end: None,
        };
        let err = Client::connect(o).await.expect_err("refused");
        assert!(err.to_string().contains(expect), "{expect}: {err}");
        if address.is_none() {
            assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        }
    }
}
