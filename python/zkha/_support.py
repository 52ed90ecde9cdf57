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
