//! zkha's test kit: real ZooKeeper ensembles with fault levers, for tests in every language.
//!
//! - [`Ensemble`]: `QuorumPeerMain` JVMs on 127.0.0.1 with free ports; kill, stop, restart,
//!   pause (SIGSTOP), resume, find the leader, wait for a quorum.
//! - [`FaultProxy`]: a per-client TCP proxy that cuts, blackholes or delays traffic, or cuts
//!   a connection just before the reply to a chosen ZooKeeper request.
//! - [`control`]: the same, steered from another process through the `zkha-testkit` CLI, for
//!   pytest, JUnit and CTest.
//! - Secured ensembles: TLS-only client ports ([`TlsConfig`], [`TlsFiles`]), SASL DIGEST-MD5
//!   ([`DigestFiles`]) and Kerberos with a real MIT KDC ([`KerberosConfig`], [`Kerberos`]).
//!
//! ZooKeeper's jars come from Maven Central into `<repo>/.cache` on first use ([`install`]).

pub mod admin;
pub mod control;
mod ensemble;
mod error;
pub mod four_letter;
pub mod install;
pub mod kerberos;
pub mod peers;
pub mod ports;
mod proxy;
pub mod sasl;
pub mod spawn;
pub mod tls;
pub mod txnlog;
mod zk_frames;

pub use ensemble::{Ensemble, NodeRef, NodeStatus, Options};
pub use error::{Error, Result};
pub use four_letter::Mode;
pub use kerberos::{Kerberos, KerberosClient, KerberosConfig, KerberosPrincipal};
pub use proxy::{Fault, FaultProxy};
pub use sasl::{DigestFiles, DigestUser, SaslConfig, SaslMechanism};
pub use tls::{ClientAuth, TlsConfig, TlsFiles};
pub use zk_frames::{RequestCounts, ZkRequest};
