//! The test kit's error type: every message says what went wrong and what to do.

/// What can go wrong while starting or steering an ensemble or a proxy.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Java, Maven or the ZooKeeper jars are missing or could not be fetched.
    #[error("{0}")]
    Install(String),
    /// A port asked for is taken, or no free port could be found.
    #[error("{0}")]
    Port(String),
    /// A server did not start, or exited; the message names its log file.
    #[error("{0}")]
    Start(String),
    /// Something did not happen in time (quorum, a node's answer).
    #[error("{0}")]
    Timeout(String),
    /// A request to the test kit was wrong (unknown node, bad argument, node state).
    #[error("{0}")]
    Usage(String),
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Result alias of the test kit.
pub type Result<T, E = Error> = std::result::Result<T, E>;
