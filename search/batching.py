"""A generic asyncio micro-batcher: many concurrent requests, one blocking call per batch.

Text encoders are far cheaper per query in a batch than one query at a time (one forward
pass, one BLAS call), and the event loop must never run them. ``MicroBatcher`` collects the
requests that arrive within ``window_ms`` (or until ``max_batch`` are waiting), runs the
blocking batch function once on its own worker thread, and hands each caller its result.
With ``max_batch=1`` it degrades to "one call per request, on the worker thread", which is
the baseline the bot benchmark compares against.

Nothing here knows about Telegram or models.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass
class BatchStats:
    """How the batcher has been used: enough for a benchmark to show the batch sizes."""

    batches: int = 0
    items: int = 0
    largest: int = 0
    sizes: list[int] = field(default_factory=list)

    def record(self, size: int) -> None:
        self.batches += 1
        self.items += size
        self.largest = max(self.largest, size)
        if len(self.sizes) < 10_000:
            self.sizes.append(size)


class MicroBatcher(Generic[T, R]):
    """Run ``fn(items) -> results`` (same length, same order) for batches of requests.

    If a batch of several items fails, each item is retried alone, so one bad request
    fails only its own caller. Exceptions reach the caller unchanged.
    """

    def __init__(
        self,
        fn: Callable[[list[T]], Sequence[R]],
        *,
        window_ms: float = 5.0,
        max_batch: int = 32,
        name: str = "batcher",
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        self._fn = fn
        self._window = max(0.0, window_ms) / 1000.0
        self._max_batch = max_batch
        # One worker: model calls run one batch at a time and use the library's own threads.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._full = asyncio.Event()
        self._collector: asyncio.Task[None] | None = None
        self._closed = False
        self.stats = BatchStats()

    async def submit(self, item: T) -> R:
        """Queue one request and wait for its result."""
        if self._closed:
            raise RuntimeError("the batcher is closed")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch:
            self._full.set()
        if self._collector is None or self._collector.done():
            self._collector = asyncio.create_task(self._collect())
        return await future

    async def _collect(self) -> None:
        """Drain the queue batch by batch until it is empty."""
        while self._pending:
            if self._window and len(self._pending) < self._max_batch:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._window)
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            self._full.clear()
            if len(self._pending) >= self._max_batch:
                self._full.set()
            await self._run(batch)

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        live = [(item, fut) for item, fut in batch if not fut.done()]
        if not live:
            return
        self.stats.record(len(live))
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(
                self._executor, self._fn, [item for item, _ in live]
            )
        except Exception as exc:  # noqa: BLE001 - handed to the caller(s), not swallowed
            if len(live) == 1:
                _settle(live[0][1], exc=exc)
                return
            log.debug("a batch of %d failed (%s); retrying items alone", len(live), exc)
            for pair in live:
                await self._run([pair])
            return
        if len(results) != len(live):
            error = RuntimeError(f"batch function returned {len(results)} for {len(live)}")
            for _, fut in live:
                _settle(fut, exc=error)
            return
        for (_, fut), result in zip(live, results, strict=True):
            _settle(fut, result=result)

    async def close(self) -> None:
        """Fail waiting callers, stop collecting, and release the worker thread."""
        self._closed = True
        if self._collector is not None and not self._collector.done():
            self._collector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._collector
        for _, fut in self._pending:
            _settle(fut, exc=RuntimeError("the batcher is closed"))
        self._pending.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)


def _settle(
    future: asyncio.Future[R], *, result: R | None = None, exc: BaseException | None = None
) -> None:
    """Resolve a caller's future unless the caller gave up (cancelled) meanwhile."""
    if future.done():
        return
    if exc is not None:
        future.set_exception(exc)
    else:
        future.set_result(result)  # type: ignore[arg-type]
