"""Internals shared with the native module (not public)."""

from __future__ import annotations

import asyncio
from typing import Any


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
