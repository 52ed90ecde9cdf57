//! Shared helpers of zkha's integration tests: real ensembles and clients.
#![allow(dead_code)]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use zkha::{Client, ClientOptions, Election, ElectionOptions};
use zkha_testkit::{Ensemble, Options};

/// One 3-node ensemble shared by the tests of a binary that do not hurt it.
pub fn shared() -> &'static Ensemble {
    static ZK: OnceLock<Ensemble> = OnceLock::new();
    ZK.get_or_init(|| Ensemble::start(3, Options::default()).expect("start the shared ensemble"))
}

/// A fresh ensemble for tests that kill, pause or stop servers.
pub fn fresh(nodes: usize) -> Ensemble {
    Ensemble::start(nodes, Options::default()).expect("start an ensemble")
}

/// A unique path per test.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "/{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Options for `connect` with session timeout `t`.
pub fn options(connect: &str, t: Duration) -> ClientOptions {
    ClientOptions::new(connect)
        .session_timeout(t)
        .connection_timeout(t / 2)
}

/// Logs to stderr when `RUST_LOG` is set (e.g. `RUST_LOG=zkha=debug`).
pub fn init_logging() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if std::env::var_os("RUST_LOG").is_some() {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        }
    });
}

/// Connects a zkha client.
pub async fn client(connect: &str, t: Duration) -> Client {
    init_logging();
    Client::connect(options(connect, t)).await.expect("connect")
}

/// Joins `latch` as `id`.
pub fn elect(c: &Client, latch: &str, id: &str) -> Election {
    c.election(latch, ElectionOptions::new(id))
        .expect("join election")
}

/// Waits until `f` is true, polling; panics with `what` after `within`.
pub async fn eventually(within: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < within, "not within {within:?}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    start.elapsed()
}

/// Number of elections that currently lead.
pub fn leaders(es: &[Election]) -> usize {
    es.iter().filter(|e| e.has_leadership()).count()
}

/// Children of `parent` that session `session` owns (read through client `c`, after a sync).
pub async fn owned_by(c: &Client, parent: &str, session: i64) -> Vec<String> {
    c.sync(parent).await.unwrap();
    let mut out = Vec::new();
    for name in c.get_children(parent).await.unwrap().unwrap_or_default() {
        let p = format!("{parent}/{name}");
        if let Some((_, st)) = c.get_data(&p).await.unwrap() {
            if st.ephemeral_owner == session {
                out.push(name);
            }
        }
    }
    out
}
