"""Value types returned by both the sync and the asyncio API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import _zkha
from ._errors import ZkhaError

State = Literal["connecting", "connected", "suspended", "reconnected", "lost", "expired", "closed"]
"""A connection state, as core names it (docs/failure-model.md: what each means for a holder)."""

Reason = Literal["lease_expired", "session_expired", "node_deleted", "closed", "suspended"]
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
    closed, lease_expired, suspended, session_expired, node_deleted) or ``"error"`` (with
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
