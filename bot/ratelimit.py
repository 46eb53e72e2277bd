"""Outgoing request pacing and retries: PTB's ``AIORateLimiter`` plus network-error retries.

``AIORateLimiter`` honours a 429's ``retry_after`` but never retries a 5xx answer or a
dropped connection (DESIGN.md §4). A send that failed that way would lose the user's
album, so this subclass also retries ``NetworkError`` (not ``BadRequest``, which is a
subclass but means the request itself is wrong) a few times with a short back-off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from telegram.error import BadRequest, NetworkError
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

JSON = bool | dict[str, Any] | list[dict[str, Any]]


class RetryingRateLimiter(AIORateLimiter):
    """``AIORateLimiter`` that also retries transient network and server errors."""

    def __init__(
        self,
        *,
        overall_per_s: float = 30.0,
        max_retries: int = 3,
        network_retries: int = 2,
        backoff_s: float = 0.5,
    ) -> None:
        # overall_per_s = 0 disables the overall pacing (benchmarks, a local Bot API server).
        super().__init__(
            overall_max_rate=overall_per_s,
            overall_time_period=1 if overall_per_s else 0,
            max_retries=max_retries,
        )
        self.network_retries = network_retries
        self.backoff_s = backoff_s

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, JSON]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> JSON:
        for attempt in range(self.network_retries + 1):
            try:
                return await super().process_request(
                    callback, args, kwargs, endpoint, data, rate_limit_args
                )
            except BadRequest:
                raise
            except NetworkError as exc:
                if attempt == self.network_retries:
                    raise
                delay = self.backoff_s * 2**attempt
                log.warning("%s failed (%s); retrying in %.1f s", endpoint, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")
