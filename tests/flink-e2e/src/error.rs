//! The kit's error: a message that says what went wrong and where to look.

use std::fmt;

/// What went wrong while preparing, starting or steering a Flink cluster.
#[derive(Debug)]
pub struct Error(pub String);

impl Error {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error(format!("I/O error: {e}"))
    }
}

impl From<zkha::Error> for Error {
    fn from(e: zkha::Error) -> Error {
        Error(format!("ZooKeeper: {e}"))
    }
}

impl From<zkha_testkit::Error> for Error {
    fn from(e: zkha_testkit::Error) -> Error {
        Error(format!("test kit: {e}"))
    }
}

/// Result alias of the kit.
pub type Result<T, E = Error> = std::result::Result<T, E>;
