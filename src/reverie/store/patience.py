"""Patience at start-up: a server or worker started before its database or object store (or while one
restarts) waits for it, instead of dying with a traceback that an orchestrator's restart loop would repeat."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from ..errors import Unavailable

log = logging.getLogger(__name__)

PATIENCE_SECONDS = 60.0
T = TypeVar("T")


def until_available(part: str, attempt: Callable[[], T], patience_s: float = PATIENCE_SECONDS) -> T:
    """attempt(), tried again (pauses of 0.5 s doubling to 5 s) while it raises Unavailable; the last
    Unavailable after `patience_s`."""
    deadline, pause = time.monotonic() + patience_s, 0.5
    while True:
        try:
            return attempt()
        except Unavailable as exc:
            if time.monotonic() + pause > deadline:
                raise
            log.warning("waiting for the %s (%s); trying again in %.1f s", part, exc.why, pause)
            time.sleep(pause)
            pause = min(5.0, pause * 2)
