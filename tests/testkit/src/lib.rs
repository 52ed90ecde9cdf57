//! zkha's test kit: real ZooKeeper ensembles with fault levers, for tests in every language.
//!
//! - [`Ensemble`]: `QuorumPeerMain` JVMs on 127.0.0.1 with free ports; kill, stop, restart,
//!   pause (SIGSTOP), resume, find the leader, wait for a quorum.
//! - [`FaultProxy`]: a per-client TCP proxy that cuts, blackholes or delays traffic, or cuts
//!   a connection just before the reply to a chosen ZooKeeper request.
//! - [`control`]: the same, steered from another process through the `zkha-testkit` CLI, for
//!   pytest, JUnit and CTest.
//!
//! ZooKeeper's jars come from Maven Central into `<repo>/.cache` on first use ([`install`]).

pub mod control;
mod ensemble;
mod error;
pub mod four_letter;
pub mod install;
pub mod peers;
mod proxy;
pub mod spawn;
pub mod txnlog;
mod zk_frames;

pub use ensemble::{Ensemble, NodeRef, NodeStatus, Options};
pub use error::{Error, Result};
pub use four_letter::Mode;
pub use proxy::{Fault, FaultProxy};
pub use zk_frames::ZkRequest;
