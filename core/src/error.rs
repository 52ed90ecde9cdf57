//! One error type for all of zkha, with a [`ErrorKind`] each binding maps to its own
//! exceptions or codes. Messages name the input that was wrong (path, key, size).

use std::fmt;

use crate::contract::coded_enum;

coded_enum! {
    /// What kind of failure an [`Error`] is. Bindings map these one to one, by the stable
    /// code and name of [`Coded`](crate::Coded).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    #[non_exhaustive]
    pub enum ErrorKind ("error kind") {
        /// An argument is malformed: a path, an id, a connect string, an option value.
        InvalidArgument = 1, "invalid_argument";
        /// A configuration key (Flink config file) is missing or has a bad value.
        Config = 2, "config";
        /// The connection to ZooKeeper was lost; the outcome of the operation is unknown.
        ConnectionLoss = 3, "connection_loss";
        /// The ZooKeeper session expired (a new one is being opened).
        SessionExpired = 4, "session_expired";
        /// The client or recipe was closed.
        Closed = 5, "closed";
        /// The operation did not finish in time.
        Timeout = 6, "timeout";
        /// A znode does not exist.
        NoNode = 7, "no_node";
        /// A znode already exists.
        NodeExists = 8, "node_exists";
        /// A version check failed (someone else changed the znode).
        BadVersion = 9, "bad_version";
        /// A znode still has children.
        NotEmpty = 10, "not_empty";
        /// A fenced write was refused: the writer no longer holds leadership (or the lock).
        NotLeader = 11, "not_leader";
        /// A payload exceeds the size ZooKeeper accepts.
        TooLarge = 12, "too_large";
        /// Stored bytes could not be decoded.
        Corrupt = 13, "corrupt";
        /// Not permitted by the znode's ACL, or authentication failed.
        NoAuth = 14, "no_auth";
        /// An operation was interrupted (cancelled by the caller).
        Interrupted = 15, "interrupted";
        /// An I/O error outside ZooKeeper (reading a config file).
        Io = 16, "io";
        /// Any other error reported by ZooKeeper or the client library.
        ZooKeeper = 17, "zookeeper";
    }
}

impl ErrorKind {
    /// True if a write that failed with this kind may have been applied all the same: the
    /// request may have reached ZooKeeper before the failure was seen (a connection loss, a
    /// timeout, a session that expired or a client that closed with it in flight, any other
    /// failure). False only for kinds that prove nothing was written: refused before sending
    /// (`InvalidArgument`, `Config`, `TooLarge`, `NotLeader` from the lease or a missing
    /// grant) or a failed atomic request answered by the server (`NoNode`, `NodeExists`,
    /// `BadVersion`, `NotEmpty`, `NoAuth`, `NotLeader` from the fence check). Flink's
    /// `ZooKeeperStateHandleStore` draws the same line before it deletes a state file.
    pub fn outcome_unknown(self) -> bool {
        !matches!(
            self,
            ErrorKind::InvalidArgument
                | ErrorKind::Config
                | ErrorKind::TooLarge
                | ErrorKind::NotLeader
                | ErrorKind::NoNode
                | ErrorKind::NodeExists
                | ErrorKind::BadVersion
                | ErrorKind::NotEmpty
                | ErrorKind::NoAuth
        )
    }
}

/// zkha's error: a kind and a message that names the offending input.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// Result alias used throughout zkha.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message (also the `Display` form).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Prefixes the message with context, keeping the kind.
    pub fn context(mut self, what: impl fmt::Display) -> Error {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    pub(crate) fn config(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Config, message)
    }

    pub(crate) fn closed(what: &str) -> Error {
        Error::new(ErrorKind::Closed, format!("{what} is closed"))
    }

    /// Maps a ZooKeeper client error for an operation on `path`.
    pub(crate) fn zk(e: zookeeper_client::Error, path: &str) -> Error {
        use zookeeper_client::Error as Z;
        let (kind, text) = match &e {
            Z::NoNode => (ErrorKind::NoNode, "no such znode".to_string()),
            Z::NodeExists => (ErrorKind::NodeExists, "znode already exists".to_string()),
            Z::BadVersion => (ErrorKind::BadVersion, "znode version changed".to_string()),
            Z::NotEmpty => (ErrorKind::NotEmpty, "znode has children".to_string()),
            Z::SessionExpired => (ErrorKind::SessionExpired, e.to_string()),
            // Not applied, and the session lives on another server: repeat it there.
            Z::SessionMoved => (
                ErrorKind::ConnectionLoss,
                "session moved to another server (the request came through an old connection)"
                    .to_string(),
            ),
            Z::ClientClosed => (ErrorKind::Closed, "ZooKeeper client closed".to_string()),
            Z::ConnectionLoss | Z::Custom(_) | Z::UnexpectedError(_) => {
                (ErrorKind::ConnectionLoss, format!("connection lost ({e})"))
            }
            Z::Timeout => (ErrorKind::Timeout, e.to_string()),
            Z::NoAuth | Z::AuthFailed | Z::InvalidAcl => (ErrorKind::NoAuth, e.to_string()),
            Z::BadArguments(_) => (ErrorKind::InvalidArgument, e.to_string()),
            Z::RuntimeInconsistent => (ErrorKind::NotLeader, "fence check failed".to_string()),
            Z::MarshallingError => (
                ErrorKind::TooLarge,
                "the server could not read the request (payload above jute.maxbuffer?)".to_string(),
            ),
            _ => (ErrorKind::ZooKeeper, e.to_string()),
        };
        Error::new(kind, format!("{text} (path {path})"))
    }

    /// True if a write that failed with this error may have been applied all the same (see
    /// [`ErrorKind::outcome_unknown`]).
    pub fn outcome_unknown(&self) -> bool {
        self.kind.outcome_unknown()
    }

    /// True if retrying the same idempotent request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::ConnectionLoss | ErrorKind::Timeout)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SessionMoved: a request reached a server that no longer owns our session (it came
    /// through an old connection). It was not applied and the session lives, so it is
    /// repeated like a connection loss; treating it as the session's end made a release
    /// skip the delete of a node that stayed, blocking the queue.
    #[test]
    fn a_moved_session_is_a_passing_trouble_not_an_expiry() {
        let e = Error::zk(zookeeper_client::Error::SessionMoved, "/lock/n");
        assert_eq!(e.kind(), ErrorKind::ConnectionLoss, "{e}");
        assert!(e.is_retryable());
        assert!(e.to_string().contains("moved"), "{e}");
        assert_eq!(
            Error::zk(zookeeper_client::Error::SessionExpired, "/p").kind(),
            ErrorKind::SessionExpired
        );
    }
}
