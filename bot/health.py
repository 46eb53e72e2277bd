"""Liveness: the running bot touches a heartbeat file; ``python -m bot healthcheck`` reads it.

A file (rather than an HTTP endpoint) works the same in polling and webhook mode and in a
container ``HEALTHCHECK``; the check passes while the event loop is alive enough to run a
task every ``HEARTBEAT_EVERY_S`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)

HEARTBEAT_EVERY_S = 30.0
STALE_AFTER_S = 90.0


def touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{time.time():.0f}\n", encoding="ascii")


async def heartbeat(path: Path, every_s: float = HEARTBEAT_EVERY_S) -> None:
    """Touch ``path`` now and then every ``every_s`` seconds, until cancelled."""
    warned = False
    while True:
        try:
            await asyncio.to_thread(touch, path)
            warned = False
        except OSError as exc:
            if not warned:
                log.warning("cannot write the heartbeat file %s: %s", path, exc)
                warned = True
        await asyncio.sleep(every_s)


def healthcheck(path: Path, stale_after_s: float = STALE_AFTER_S) -> tuple[bool, str]:
    """(healthy, one-line reason) from the heartbeat file's age."""
    try:
        age = time.time() - path.stat().st_mtime
    except OSError:
        return False, f"unhealthy: no heartbeat file at {path} (is the bot running?)"
    if age > stale_after_s:
        return False, f"unhealthy: last heartbeat {age:.0f} s ago (limit {stale_after_s:.0f} s)"
    return True, f"ok: last heartbeat {age:.0f} s ago"
