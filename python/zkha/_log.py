"""Core ``tracing`` events go to Python ``logging`` under the ``zkha`` logger."""

from __future__ import annotations

import logging

from . import _zkha

logger = logging.getLogger("zkha")

_LEVELS = [(logging.ERROR, 1), (logging.WARNING, 2), (logging.INFO, 3), (logging.DEBUG, 4)]


def set_log_level(level: int | str | None = None) -> None:
    """Forward core events at ``level`` and above (default: the ``zkha`` logger's effective
    level). Call again after changing the ``zkha`` logger's level."""
    if level is None:
        level = logger.getEffectiveLevel()
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown logging level {level!r}")
    native = 0
    for py_level, n in _LEVELS:
        if level <= py_level:
            native = n
    if level < logging.DEBUG:
        native = 5
    _zkha.set_log_level(native)
