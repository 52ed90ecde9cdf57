//! zkha's torture suite: rounds of random real faults against its recipes, run in several
//! OS processes, with checkers over the recorded histories and ZooKeeper's own transaction log.
//!
//! - [`round`]: one round: an ensemble, the worker processes, a fault schedule drawn from a
//!   seed, quiesce, and the checks.
//! - [`faults`]: the fault kinds and how a schedule is drawn and applied.
//! - [`worker`]: what each worker process does and records.
//! - [`history`]: the records, one JSON line each, on one clock shared by every process.
//! - [`check`]: the checkers.
//!
//! docs/torture.md describes faults, workloads, checkers and the figures of the last long run.

pub mod check;
pub mod clock;
pub mod faults;
pub mod history;
pub mod rng;
pub mod round;
pub mod worker;
