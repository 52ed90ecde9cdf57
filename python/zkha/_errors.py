"""The zkha exception hierarchy: one class per core error kind, all under ZkhaError."""

from __future__ import annotations

import builtins

__all__ = [
    "ZkhaError",
    "InvalidArgumentError",
    "ConfigError",
    "ConnectionLossError",
    "SessionExpiredError",
    "ClosedError",
    "TimeoutError",
    "NoNodeError",
    "NodeExistsError",
    "BadVersionError",
    "NotEmptyError",
    "NotLeaderError",
    "TooLargeError",
    "CorruptError",
    "NoAuthError",
    "InterruptedError",
    "IoError",
    "ZooKeeperError",
]


class ZkhaError(Exception):
    """Base of every zkha error; ``str(e)`` is the core's message naming the offending input.

    A raised error also carries core's name of its kind (``kind``: "no_node", "not_leader",
    ... as C's ``zkha_status_name`` and Java's exceptions name it) and ``outcome_unknown``:
    True if a write that failed this way may have been applied all the same (a connection
    loss, a timeout, a session that ended with it in flight), False only when nothing was
    written."""

    kind: str = "unknown"
    outcome_unknown: bool = True


class InvalidArgumentError(ZkhaError, ValueError):
    """An argument is malformed: a path, an id, a connect string, an option value."""


class ConfigError(ZkhaError, ValueError):
    """A configuration key (Flink config file) is missing or has a bad value."""


class ConnectionLossError(ZkhaError, ConnectionError):
    """The connection to ZooKeeper was lost; the outcome of the operation is unknown."""


class SessionExpiredError(ZkhaError):
    """The ZooKeeper session expired (a new one is being opened)."""


class ClosedError(ZkhaError):
    """The client or recipe was closed."""


class TimeoutError(ZkhaError, builtins.TimeoutError):
    """Not done in time (also: not granted / not acquired within the timeout)."""


class NoNodeError(ZkhaError, LookupError):
    """A znode or entry does not exist."""


class NodeExistsError(ZkhaError):
    """A znode or entry already exists."""


class BadVersionError(ZkhaError):
    """A version check failed (someone else changed the znode)."""


class NotEmptyError(ZkhaError):
    """A znode still has children."""


class NotLeaderError(ZkhaError):
    """A fenced write was refused: leadership or the lock is gone."""


class TooLargeError(ZkhaError, ValueError):
    """A payload is larger than ZooKeeper accepts."""


class CorruptError(ZkhaError):
    """Stored bytes could not be decoded."""


class NoAuthError(ZkhaError, PermissionError):
    """Not permitted by the znode's ACL."""


class InterruptedError(ZkhaError):
    """The operation was interrupted."""


class IoError(ZkhaError, OSError):
    """An I/O error (reading a file)."""


class ZooKeeperError(ZkhaError):
    """Any other error ZooKeeper or its client library reports."""
