//! A real Flink cluster (1.20 to 2.3, `ZKHA_FLINK_VERSION`) on zkha — or on Flink's built-in
//! ZooKeeper HA — for zkha's end-to-end failover tests, `make demo` and `make bench`.
//!
//! - [`dist::Artifacts`]: Flink's distribution jars (from PyPI, cached), the zkha plugin jar
//!   and the test job's jar, fetched or built once per Flink version.
//! - [`Cluster`]: a standalone session or application cluster of JobManagers and TaskManagers on 127.0.0.1
//!   against a [`zkha_testkit::Ensemble`]; kill, terminate and restart JobManagers; the
//!   leader as ZooKeeper names it; job state and checkpoints over Flink's REST API ([`rest`]).
//! - [`secured`]: a cluster on a TLS + SASL ensemble with creator ACLs, set up as for
//!   Flink's built-in HA.
//! - [`txnlog`]: ZooKeeper's own transaction log, to tell who wrote what and when.
//! - [`Timeline`]: failover timelines measured with `Instant`s.

pub mod central_config;
pub mod cluster;
pub mod dist;
mod error;
pub mod logs;
pub mod rest;
pub mod scenario;
pub mod secured;
pub mod tasks;
mod timeline;

pub use cluster::{Application, Cluster, ClusterOptions, Ha, Leader};
pub use dist::Artifacts;
pub use error::{Error, Result};
pub use timeline::Timeline;
/// ZooKeeper's transaction log reader (it lives in the test kit).
pub use zkha_testkit::txnlog;
