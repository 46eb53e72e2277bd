"""Download images concurrently, safely and resumably.

Why each piece is here:

* bounded concurrency (one semaphore-like pool of workers and an httpx connection limit),
  so a 25k-image run neither opens 25k sockets nor holds 25k bodies in memory;
* retries with exponential back-off and jitter on 5xx, 429, timeouts and dropped
  connections only: a 404 will not turn into a 200 by asking again;
* a body is streamed into ``DEST/.partial/<name>.<random>.tmp``, checked (size limit, image
  magic bytes, Pillow ``verify()``) and only then renamed into place with ``os.replace``, so a
  file with the final name is always complete: a rerun skips it, a ``kill -9`` leaves at most
  a temp file, which the next run removes;
* one lock file per destination, because two runs removing each other's temp files would
  lose work silently.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import random
import secrets
import ssl
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
from PIL import Image, UnidentifiedImageError

from search.errors import UserError

log = logging.getLogger(__name__)

PARTIAL_DIR = ".partial"
_LOCK_NAME = ".lock"
_CHUNK = 64 * 1024
# Magic numbers of the formats Pillow reads and image CDNs serve.
_MAGIC: tuple[bytes, ...] = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF little-endian
    b"MM\x00*",  # TIFF big-endian
)


@dataclass(frozen=True)
class FetchJob:
    """One image to get: where from, and the file name it gets in the destination."""

    url: str
    name: str


@dataclass(frozen=True)
class FetchOptions:
    concurrency: int = 16
    timeout_s: float = 30.0
    retries: int = 4  # extra attempts after the first, for transient errors only
    backoff_s: float = 0.5  # first back-off; doubles per attempt, with ±50 % jitter
    max_backoff_s: float = 30.0
    max_bytes: int = 20 * 1024 * 1024
    user_agent: str = "t2i-search-indexer/0.1 (+https://github.com/)"


@dataclass
class FetchSummary:
    """What a run did. ``failures`` holds (name, url, reason); reasons are short and shared
    between files so that they group well in the summary."""

    downloaded: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    seconds: float = 0.0
    retries: int = 0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def images_per_s(self) -> float:
        return self.downloaded / self.seconds if self.seconds > 0 else 0.0

    def reasons(self) -> dict[str, int]:
        """Failure reasons, most common first."""
        return dict(Counter(reason for _, _, reason in self.failures).most_common())

    def as_json(self) -> dict[str, object]:
        return {
            "downloaded": self.downloaded,
            "skipped": self.skipped,
            "failed": self.failed,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "retries": self.retries,
            "images_per_s": round(self.images_per_s, 3),
            "reasons": self.reasons(),
            "failures": [{"name": n, "url": u, "reason": r} for n, u, r in self.failures],
        }


class _Retryable(Exception):
    """A failure that may go away (5xx, 429, timeout, dropped connection)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class _Permanent(Exception):
    """A failure that asking again will not fix (4xx, not an image, too large)."""


def refusal(url: str) -> str | None:
    """Why this URL is not fetched at all, or None. Only http(s) URLs with a host are."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "refused: not a valid URL"
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "none"
        return f"refused: scheme {scheme!r} is not http or https"
    if not parts.hostname:
        return "refused: URL has no host"
    return None


def looks_like_image(head: bytes) -> bool:
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return True
    return any(head.startswith(magic) for magic in _MAGIC)


def backoff_delay(attempt: int, options: FetchOptions, retry_after: float | None = None) -> float:
    """Exponential back-off with ±50 % jitter (so retries of many workers do not line up);
    a server's Retry-After wins when it asks for longer."""
    base = min(options.max_backoff_s, options.backoff_s * (2**attempt))
    delay = base * random.uniform(0.5, 1.5)
    if retry_after is not None:
        delay = max(delay, min(retry_after, options.max_backoff_s))
    return delay


def clean_partial(dest: Path) -> int:
    """Remove temp files a killed run left behind; returns how many."""
    partial = dest / PARTIAL_DIR
    removed = 0
    if partial.is_dir():
        for leftover in partial.iterdir():
            if leftover.name != _LOCK_NAME and leftover.is_file():
                leftover.unlink(missing_ok=True)
                removed += 1
    return removed


class Fetcher:
    """Downloads ``FetchJob``s into ``dest``; one instance per run."""

    def __init__(
        self,
        dest: Path,
        options: FetchOptions | None = None,
        on_done: Callable[[str], None] | None = None,
    ) -> None:
        self.dest = dest
        self.options = options or FetchOptions()
        self.on_done = on_done or (lambda outcome: None)
        self.summary = FetchSummary()
        self._ssl: ssl.SSLContext | None = None

    def pending(self, jobs: Iterable[FetchJob]) -> list[FetchJob]:
        """Jobs whose file is not there yet (each name once); counts the skipped ones."""
        seen: set[str] = set()
        todo: list[FetchJob] = []
        for job in jobs:
            if job.name in seen:
                continue
            seen.add(job.name)
            if (self.dest / job.name).is_file():
                self.summary.skipped += 1
            else:
                todo.append(job)
        return todo

    async def run(self, jobs: list[FetchJob]) -> FetchSummary:
        started = time.perf_counter()
        queue: Iterator[FetchJob] = iter(jobs)
        workers = [
            asyncio.create_task(self._worker(queue))
            for _ in range(max(1, min(self.options.concurrency, len(jobs))))
        ]
        await asyncio.gather(*workers)
        self.summary.seconds = time.perf_counter() - started
        return self.summary

    def _client(self) -> httpx.AsyncClient:
        """One client (one kept-alive connection) per worker: httpcore's shared pool scans
        every connection on every request, which cost more CPU than the downloads at 16."""
        if self._ssl is None:  # loading the CA bundle costs ~0.1 s: once per run, not per worker
            self._ssl = httpx.create_ssl_context()
        return httpx.AsyncClient(
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            verify=self._ssl,
            timeout=httpx.Timeout(self.options.timeout_s),
            follow_redirects=True,
            headers={"User-Agent": self.options.user_agent},
            trust_env=False,
        )

    async def _worker(self, queue: Iterator[FetchJob]) -> None:
        async with self._client() as client:
            for job in queue:  # a shared iterator: each job goes to exactly one worker
                await self._one(client, job)

    async def _one(self, client: httpx.AsyncClient, job: FetchJob) -> None:
        reason = await self._fetch_one(client, job)
        if reason is None:
            self.summary.downloaded += 1
            self.on_done("downloaded")
        else:
            self.summary.failed += 1
            self.summary.failures.append((job.name, job.url, reason))
            log.debug("failed %s (%s): %s", job.name, job.url, reason)
            self.on_done("failed")

    async def _fetch_one(self, client: httpx.AsyncClient, job: FetchJob) -> str | None:
        refused = refusal(job.url)
        if refused is not None:
            return refused
        attempt = 0
        while True:
            try:
                await self._download(client, job)
                return None
            except _Permanent as exc:
                return str(exc)
            except _Retryable as exc:
                if attempt >= self.options.retries:
                    return f"{exc} (after {attempt + 1} attempts)"
                await asyncio.sleep(backoff_delay(attempt, self.options, exc.retry_after))
                attempt += 1
                self.summary.retries += 1

    async def _download(self, client: httpx.AsyncClient, job: FetchJob) -> None:
        tmp = self.dest / PARTIAL_DIR / f"{job.name}.{secrets.token_hex(4)}.tmp"
        try:
            size = await self._stream_to(client, job.url, tmp)
            try:
                await asyncio.to_thread(_verify_image, tmp)
            except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
                raise _Permanent("not a readable image") from exc
            os.replace(tmp, self.dest / job.name)
            self.summary.bytes += size
        finally:
            tmp.unlink(missing_ok=True)

    async def _stream_to(self, client: httpx.AsyncClient, url: str, tmp: Path) -> int:
        max_bytes = self.options.max_bytes
        try:
            async with client.stream("GET", url) as response:
                _check_status(response)
                _check_headers(response, max_bytes)
                size = 0
                out: IO[bytes] | None = None
                try:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        if out is None:
                            if not looks_like_image(chunk[:16]):
                                raise _Permanent("not an image (unknown file signature)")
                            # a local temp file: opening and 64 KiB writes cost microseconds
                            out = open(tmp, "wb")  # noqa: ASYNC230, SIM115
                        size += len(chunk)
                        if size > max_bytes:
                            raise _Permanent(f"too large (over {max_bytes} bytes)")
                        out.write(chunk)
                finally:
                    if out is not None:
                        out.close()
                if out is None:
                    raise _Permanent("empty response")
                return size
        except httpx.TimeoutException as exc:
            raise _Retryable("timeout") from exc
        except (httpx.UnsupportedProtocol, httpx.TooManyRedirects, httpx.InvalidURL) as exc:
            raise _Permanent(f"refused: {type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__})") from exc


def _check_status(response: httpx.Response) -> None:
    status = response.status_code
    if status == 200:
        return
    if status == 429 or status >= 500:
        raise _Retryable(f"HTTP {status}", _retry_after(response.headers.get("retry-after")))
    raise _Permanent(f"HTTP {status}")


def _check_headers(response: httpx.Response, max_bytes: int) -> None:
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type.startswith("text/") or content_type in ("application/json", "application/xml"):
        raise _Permanent(f"not an image ({content_type})")
    length = response.headers.get("content-length")
    if length and length.isdigit() and int(length) > max_bytes:
        raise _Permanent(f"too large (over {max_bytes} bytes)")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: rare for images; the back-off applies


def _verify_image(path: Path) -> None:
    """``verify()`` checks structure (PNG checksums) but reads no JPEG scan data, so a cut
    JPEG would pass it. A complete JPEG ends with the EOI marker; one that does not is
    decoded at 1/8 scale (JPEG draft mode), which reads every byte of the scan and fails on a
    cut file. That decode costs ~1.5 ms, too much for every image of a 25k-photo run.
    Other formats get ``verify()`` only: fully decoding an arbitrary PNG could be a
    decompression bomb."""
    with Image.open(path) as image:
        image.verify()
        is_jpeg = image.format == "JPEG"
    if not is_jpeg or _ends_with_eoi(path):
        return
    with Image.open(path) as image:
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
        image.load()


def _ends_with_eoi(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64))
        return handle.read().rstrip(b"\0\r\n ").endswith(b"\xff\xd9")


class _DestLock:
    """An advisory lock on DEST/.partial/.lock; released by the OS even on ``kill -9``."""

    def __init__(self, dest: Path) -> None:
        self.path = dest / PARTIAL_DIR / _LOCK_NAME
        self._file: IO[bytes] | None = None

    def __enter__(self) -> _DestLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "ab")  # closed in __exit__
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._file.close()
            raise UserError(f"another fetch is writing to {self.path.parent.parent}") from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()


def fetch(
    jobs: Iterable[FetchJob],
    dest: Path,
    options: FetchOptions | None = None,
    on_start: Callable[[int], None] | None = None,
    on_done: Callable[[str], None] | None = None,
) -> FetchSummary:
    """Download every job not already in ``dest`` (blocking; runs its own event loop).

    ``on_start(n)`` gets the number of downloads to do, ``on_done`` each outcome.
    """
    dest.mkdir(parents=True, exist_ok=True)
    with _DestLock(dest):
        removed = clean_partial(dest)
        if removed:
            log.info("removed %d unfinished temp file(s) of an earlier run", removed)
        fetcher = Fetcher(dest, options, on_done)
        todo = fetcher.pending(jobs)
        if on_start is not None:
            on_start(len(todo))
        if not todo:
            return fetcher.summary
        return asyncio.run(fetcher.run(todo))
