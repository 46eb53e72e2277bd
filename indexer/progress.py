"""Progress: a bar with rate and ETA on a terminal, a log line every few seconds otherwise."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

log = logging.getLogger("indexer")


class Progress:
    def __init__(self, total: int, enabled: bool | None = None, every_s: float = 5.0) -> None:
        self.total = total
        self.done = 0
        self._started = time.perf_counter()
        self._last_log = self._started
        self._every = every_s
        interactive = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None
        if interactive and total:
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="img", dynamic_ncols=True, file=sys.stderr)
        self._log_lines = enabled is None and not interactive

    def update(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            self._bar.update(count)
            return
        now = time.perf_counter()
        if self._log_lines and now - self._last_log >= self._every:
            self._last_log = now
            rate = self.done / max(now - self._started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("inf")
            log.info("%d/%d images, %.1f img/s, ETA %.0f s", self.done, self.total, rate, eta)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
