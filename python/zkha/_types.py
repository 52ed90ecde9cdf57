"""Value types returned by both the sync and the asyncio API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import _zkha
from ._errors import ZkhaError
from ._support import _data

State = Literal["connecting", "connected", "suspended", "reconnected", "lost", "expired", "closed"]
"""A connection state, as core names it (docs/failure-model.md: what each means for a holder)."""

Reason = Literal[
    "lease_expired", "session_expired", "node_deleted", "closed", "suspended", "step_down"
]
"""Why leadership was revoked or a held lock was lost, as core names it."""

LockKind = Literal["mutex", "read", "write", "semaphore"]
"""The kinds of lock ``Client.acquire`` takes."""


@dataclass(frozen=True)
class Leadership:
    """A leadership grant."""

    fencing_token: int
    """Monotonic across grants on this latch path (czxid of the winning node)."""
    leader_session_id: str
    """A fresh UUID per grant (Flink's leader session id)."""
    latch_node: str
    """Full path of the winning latch node."""
    session_id: int
    """The ZooKeeper session holding the grant."""


@dataclass(frozen=True)
class ElectionEvent:
    """``kind`` is ``"granted"`` (with ``leadership``), ``"revoked"`` (with ``reason``:
    closed, lease_expired, suspended, session_expired, node_deleted, step_down) or ``"error"`` (with
    ``error``: contending fails for a reason that does not pass by itself, such as an ACL
    that refuses the latch node; told once, the contender keeps retrying with backoff)."""

    kind: Literal["granted", "revoked", "error"]
    leadership: Leadership | None = None
    reason: Reason | None = None
    error: ZkhaError | None = None


@dataclass(frozen=True)
class Entry:
    """A pointer-store entry."""

    name: str
    data: bytes
    version: int


@dataclass(frozen=True)
class ConfigChange:
    """A change under a watched config root: ``value`` is None when deleted."""

    path: str
    value: bytes | None


NodeMode = Literal[
    "persistent", "persistent_sequential", "ephemeral", "ephemeral_sequential", "container"
]
"""How a znode created by ``Client.create`` or a :class:`CreateOp` lives (core's names)."""


@dataclass(frozen=True)
class NodeStat:
    """What ZooKeeper tells about a znode."""

    czxid: int
    """zxid of the creating transaction."""
    mzxid: int
    """zxid of the last data change."""
    version: int
    """Data version (what ``version=`` arguments compare with)."""
    cversion: int
    """Children version."""
    ephemeral_owner: int
    """Owning session of an ephemeral node (0 for persistent ones)."""
    num_children: int
    data_length: int


@dataclass(frozen=True)
class Contender:
    """One contender of an election or a lock, in queue order (the first leads or holds)."""

    node: str
    """Its node's name under the latch or lock path."""
    data: bytes
    """The node's data: an election contender's participant id."""
    stat: NodeStat
    """The node's stat (``ephemeral_owner``: the contender's session)."""

    @property
    def participant_id(self) -> str:
        return self.data.decode("utf-8", "replace")


def contenders(rows: list[tuple[str, bytes, _Stat]]) -> list[Contender]:
    return [Contender(node, data, NodeStat(*stat)) for node, data, stat in rows]


@dataclass(frozen=True)
class CreateOp:
    """Create ``path`` (its parent must exist) in a :meth:`Fence.multi`."""

    path: str
    data: bytes = b""
    mode: NodeMode = "persistent"


@dataclass(frozen=True)
class SetDataOp:
    """Set ``path``'s data if its version is ``version`` (None: any)."""

    path: str
    data: bytes
    version: int | None = None


@dataclass(frozen=True)
class DeleteOp:
    """Delete ``path`` if its version is ``version`` (None: any)."""

    path: str
    version: int | None = None


@dataclass(frozen=True)
class CheckOp:
    """Require ``path`` to exist at ``version`` (None: any)."""

    path: str
    version: int | None = None


Op = CreateOp | SetDataOp | DeleteOp | CheckOp


@dataclass(frozen=True)
class OpResult:
    """The result of one operation of a multi: ``path`` is the created path (sequential
    modes add the suffix), ``stat`` the node's stat after a create or a set."""

    kind: Literal["created", "set", "deleted", "checked"]
    path: str | None = None
    stat: NodeStat | None = None


@dataclass(frozen=True)
class Retry:
    """How reads and idempotent writes are repeated after a connection loss: up to
    ``max_retries`` times, waiting ``base_wait`` seconds, doubling up to ``max_wait``."""

    max_retries: int = 3
    base_wait: float = 0.1
    max_wait: float = 5.0


@dataclass(frozen=True)
class Liveness:
    """The liveness link of election contenders (docs/recipes/election.md): each serves a
    small TCP endpoint its successor watches, so a crashed leader is replaced at once instead
    of after the session timeout. ``enabled=False`` switches it off; ``listen_host`` /
    ``listen_port`` (0: any free port) choose where it listens; ``advertise`` (``host`` or
    ``host:port``) is what successors connect to, behind NAT or port mapping."""

    enabled: bool = True
    listen_host: str | None = None
    listen_port: int = 0
    advertise: str | None = None


@dataclass(frozen=True)
class Metrics:
    """Where a client's metrics are shown (docs/metrics.md). Every client is in
    :func:`zkha.openmetrics_text`; with ``port`` an HTTP endpoint serves them at
    ``http://host:port/metrics`` for Prometheus (``port_end``: the first free port of
    ``port..port_end``; clients of one process asking for the same port share it). ``labels``
    go on every series of the client (e.g. ``{"cluster_id": "orders", "component": "tool"}``);
    ``client``, ``state``, ``reason`` and ``le`` are zkha's own."""

    port: int | None = None
    host: str = "0.0.0.0"
    port_end: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


_Stat = tuple[int, int, int, int, int, int, int]


def node_stat(t: _Stat | None) -> NodeStat | None:
    return None if t is None else NodeStat(*t)


def op_tuple(op: Op) -> tuple[str, str, bytes | None, str | None, int | None]:
    if isinstance(op, CreateOp):
        return ("create", op.path, _data(op.data), op.mode, None)
    if isinstance(op, SetDataOp):
        return ("set", op.path, _data(op.data), None, op.version)
    if isinstance(op, DeleteOp):
        return ("delete", op.path, None, None, op.version)
    if isinstance(op, CheckOp):
        return ("check", op.path, None, None, op.version)
    raise TypeError(f"not an operation: {op!r} (CreateOp, SetDataOp, DeleteOp, CheckOp)")


def native_options(
    retry: Retry | None, liveness: Liveness | bool | None, metrics: Metrics | None = None
) -> dict[str, Any]:
    """The native keywords of ``retry``, ``liveness`` (a bool: the link on or off) and
    ``metrics``."""
    if isinstance(liveness, bool):
        liveness = Liveness(enabled=liveness)
    return {
        "metrics": None
        if metrics is None
        else (metrics.host, metrics.port, metrics.port_end, list(metrics.labels.items())),
        "retry": None if retry is None else (retry.max_retries, retry.base_wait, retry.max_wait),
        "liveness": None
        if liveness is None
        else (liveness.enabled, liveness.listen_host, liveness.listen_port, liveness.advertise),
    }


def op_result(t: tuple[str, str | None, _Stat | None]) -> OpResult:
    return OpResult(t[0], t[1], node_stat(t[2]))  # type: ignore[arg-type]


def leadership(t: tuple[int, str, str, int] | None) -> Leadership | None:
    return None if t is None else Leadership(*t)


def election_event(
    t: tuple[str, tuple[int, str, str, int] | None, str | None, tuple[int, str] | None] | None,
) -> ElectionEvent | None:
    if t is None:
        return None
    kind, lead, reason, err = t
    error = None if err is None else _zkha.error_of_kind(*err)
    return ElectionEvent(kind, leadership(lead), reason, error)  # type: ignore[arg-type]
