//! zkha: ZooKeeper coordination done right — leader election with a leadership lease, fenced
//! writes, locks, checkpoint pointers and Flink's HA layout — for Rust, Java (Flink), Python
//! and C.
//!
//! Start with [`Client::connect`], then join an [`Election`]. Every write a leader makes can be
//! fenced on its latch node ([`Fence`]), so a stale leader's write fails atomically.

mod child_view;
pub mod config_watch;
pub mod contenders;
pub mod contract;
pub mod counter;
mod dead_sessions;
pub mod doctor;
pub mod election;
mod error;
mod events;
pub mod fence;
mod fence_slot;
pub mod flink;
mod holds;
pub mod leader_info;
mod liveness;
pub mod lock;
pub mod metrics;
pub mod node_watch;
pub mod options;
pub mod path;
pub mod pointer_store;
mod queue;
pub mod runtime;
pub mod security;
mod session;
pub mod step_down;
mod watchdog;

pub use config_watch::{ConfigChange, ConfigSnapshot, ConfigWatch};
pub use contenders::Contender;
pub use contract::Coded;
pub use counter::{Counter, CounterFormat};
pub use election::{
    Election, ElectionEvent, ElectionOptions, Leadership, LivenessStatus, RevokeReason,
};
pub use error::{Error, ErrorKind, Result};
pub use events::{EventStream, SharedEventStream};
pub use fence::{Fence, FenceSource, Op, OpResult};
pub use fence_slot::FenceSlot;
pub use holds::LostReason;
pub use leader_info::{LeaderInfo, LeaderInfoWatch};
pub use lock::{Lock, LockGuard, LockKind, Mutex, ReadWriteLock, Semaphore};
pub use metrics::{Histogram, MetricsEndpoint, MetricsSnapshot};
pub use node_watch::{NodeChildren, NodeData, NodeWatch};
#[cfg(feature = "sabotage")]
#[doc(hidden)]
pub use options::Sabotage;
pub use options::{AclMode, ClientOptions, LivenessOptions, MetricsOptions, RetryPolicy};
pub use pointer_store::{Entry, PointerStore};
pub use security::{AclEntry, Credential, Kerberos, Pem, Sasl, TlsConfig};
pub use session::{Client, ConnectionState, ConnectionStateKind, NodeMode, NodeStat, StateEvents};
pub use step_down::{StepDown, StepDownOptions};
pub use watchdog::Watchdog;
