//! zkha: ZooKeeper coordination done right — leader election with a leadership lease, fenced
//! writes, locks, checkpoint pointers and Flink's HA layout — for Rust, Java (Flink), Python
//! and C.
