"""Internals shared with the native module (not public)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:  # asyncio (and the ssl it loads, 3 MiB) only for asyncio users
    import asyncio

G = TypeVar("G")


def _resolve(fut: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Completes ``fut`` on its loop (called via ``loop.call_soon_threadsafe`` by the core)."""
    if fut.done():
        return
    if ok:
        fut.set_result(value)
    else:
        fut.set_exception(value)


def _data(data: bytes | bytearray | memoryview, what: str = "data") -> bytes:
    """Node data as bytes: bytes-like objects only (``bytes(5)`` would be five zero bytes)."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(data).__name__}")
    return bytes(data)


class _Holders(Generic[G]):
    """The guards of the ``with`` blocks in progress on one lock object, per holder (a thread
    or an asyncio task), so each block releases its own; nested blocks of one holder leave in
    reverse order."""

    def __init__(self) -> None:
        self._by: dict[object, list[G]] = {}
        self._mu = threading.Lock()

    def push(self, holder: object, guard: G) -> G:
        with self._mu:
            self._by.setdefault(holder, []).append(guard)
        return guard

    def pop(self, holder: object) -> G | None:
        with self._mu:
            stack = self._by.get(holder, [])
            guard = stack.pop() if stack else None
            if not stack:
                self._by.pop(holder, None)
        return guard
