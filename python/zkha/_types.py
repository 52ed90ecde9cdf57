"""Value types returned by both the sync and the asyncio API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from . import _errors
from ._errors import ZkhaError


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
    reason: str | None = None
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
    t: tuple[str, tuple[int, str, str, int] | None, str | None, tuple[str, str] | None] | None,
) -> ElectionEvent | None:
    if t is None:
        return None
    kind, lead, reason, err = t
    error = None if err is None else getattr(_errors, err[0])(err[1])
    return ElectionEvent(kind, leadership(lead), reason, error)  # type: ignore[arg-type]
