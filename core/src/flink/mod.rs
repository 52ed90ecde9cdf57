//! Flink's side of things: its configuration keys, its znode layout, and the byte formats its
//! built-in ZooKeeper HA writes, so zkha and Flink's own JobManagers can share a cluster.

pub mod config;
pub mod config_store;
pub mod connection_info;
pub mod known_keys;
pub mod layout;
mod security;
pub mod state_handle;
mod step_down;
pub mod view;

pub use config::FlinkConfig;
pub use layout::FlinkLayout;
pub use view::ClusterView;
