"""zkha: ZooKeeper coordination done right — leader election with a leadership lease, fenced
writes, locks, counters, pointer stores, watches and a view of Flink's HA data.

Sync API here, asyncio twins in :mod:`zkha.aio`, Flink view in :mod:`zkha.flink`, CLI ``zkha``.
Core ``tracing`` events go to the ``zkha`` logger (:func:`set_log_level`).
"""

from __future__ import annotations

from . import _zkha
from ._errors import (
    BadVersionError,
    ClosedError,
    ConfigError,
    ConnectionLossError,
    CorruptError,
    InterruptedError,
    InvalidArgumentError,
    IoError,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    NotLeaderError,
    SessionExpiredError,
    TimeoutError,
    TooLargeError,
    ZkhaError,
    ZooKeeperError,
)
from ._log import set_log_level
from ._security import SaslDigestMd5, SaslKerberos, Tls
from ._sync import (
    Client,
    ConfigWatch,
    Counter,
    Election,
    Fence,
    LeaderWatch,
    Lock,
    LockGuard,
    NodeWatch,
    PointerStore,
    ReadWriteLock,
)
from ._types import (
    CheckOp,
    ConfigChange,
    Contender,
    CreateOp,
    DeleteOp,
    ElectionEvent,
    Entry,
    Leadership,
    Liveness,
    LockKind,
    Metrics,
    NodeMode,
    NodeStat,
    Op,
    OpResult,
    Reason,
    Retry,
    SetDataOp,
    State,
)

__version__ = "0.1.0"


def openmetrics_text() -> str:
    """Every live client's metrics in this process as OpenMetrics text (what Prometheus
    scrapes; docs/metrics.md), for tools that serve or push metrics themselves."""
    return _zkha.openmetrics_text()


set_log_level()

__all__ = [
    "BadVersionError",
    "CheckOp",
    "Client",
    "ClosedError",
    "ConfigChange",
    "ConfigError",
    "ConfigWatch",
    "CreateOp",
    "ConnectionLossError",
    "Contender",
    "CorruptError",
    "Counter",
    "DeleteOp",
    "Election",
    "ElectionEvent",
    "Entry",
    "Fence",
    "InterruptedError",
    "InvalidArgumentError",
    "IoError",
    "LeaderWatch",
    "Leadership",
    "Liveness",
    "Metrics",
    "Lock",
    "LockGuard",
    "LockKind",
    "NoAuthError",
    "NodeMode",
    "NodeStat",
    "NodeWatch",
    "NoNodeError",
    "NodeExistsError",
    "NotEmptyError",
    "NotLeaderError",
    "Op",
    "OpResult",
    "PointerStore",
    "Reason",
    "Retry",
    "ReadWriteLock",
    "SaslDigestMd5",
    "SaslKerberos",
    "SessionExpiredError",
    "SetDataOp",
    "State",
    "TimeoutError",
    "Tls",
    "TooLargeError",
    "ZkhaError",
    "ZooKeeperError",
    "openmetrics_text",
    "set_log_level",
]
