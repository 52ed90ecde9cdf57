//! Bad input to the test kit fails fast with a message that says what to do.

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use zkha_testkit::install::{self, Maven};
use zkha_testkit::{Ensemble, Error, Options};

#[test]
fn taken_port_is_named_in_the_error() {
    let squatter = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = squatter.local_addr().unwrap().port();
    let err = Ensemble::start(1, Options::default().client_ports(vec![port])).unwrap_err();
    assert!(matches!(err, Error::Port(_)), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains(&port.to_string()) && msg.contains("already in use"),
        "{msg}"
    );
}

#[test]
fn unreachable_maven_fails_fast_with_advice() {
    let cache = std::env::temp_dir().join(format!("zkha-empty-cache-{}", std::process::id()));
    let maven = Maven {
        program: PathBuf::from("mvn"),
        extra_args: vec!["--offline".into()],
    };
    let start = Instant::now();
    let err = install::fetch_zookeeper(&maven, "3.9.5", &cache).unwrap_err();
    let _ = std::fs::remove_dir_all(&cache);
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "took {:?}",
        start.elapsed()
    );
    let msg = err.to_string();
    assert!(
        msg.contains("Maven Central") && msg.contains("ZKHA_ZK_CLASSPATH"),
        "{msg}"
    );
}

#[test]
fn missing_maven_is_reported() {
    let cache = std::env::temp_dir().join(format!("zkha-nomvn-cache-{}", std::process::id()));
    let maven = Maven {
        program: PathBuf::from("/nonexistent/mvn"),
        extra_args: vec![],
    };
    let msg = install::fetch_zookeeper(&maven, "3.9.5", &cache)
        .unwrap_err()
        .to_string();
    let _ = std::fs::remove_dir_all(&cache);
    assert!(msg.contains("apt-get install maven"), "{msg}");
}

#[test]
fn bad_zookeeper_version_is_named() {
    let msg = install::fetch_zookeeper(&Maven::default(), "3.9.5; rm -rf /", &std::env::temp_dir())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ZKHA_ZK_VERSION") && msg.contains("rm -rf"),
        "{msg}"
    );
}

#[test]
fn missing_java_is_reported_with_advice() {
    let msg = install::find_java_in(Some(PathBuf::from("/nonexistent/jdk")))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/nonexistent/jdk/bin/java") && msg.contains("JAVA_HOME"),
        "{msg}"
    );
}

#[test]
fn unknown_node_is_a_usage_error() {
    let zk = Ensemble::start(1, Options::default()).unwrap();
    let err = zk.kill(7).unwrap_err();
    assert!(err.to_string().contains("no node 7"), "{err}");
    let err = zk.restart(1).unwrap_err();
    assert!(err.to_string().contains("running"), "{err}");
}
