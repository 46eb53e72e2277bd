"""The bot's own image server: catalog photos and thumbnails for inline mode, by signed id.

``InlineQueryResultPhoto`` needs public JPEG URLs (≤ 5 MB) that Telegram's servers fetch. The
operator's HTTPS proxy at ``T2I_PUBLIC_BASE_URL`` forwards to this plain-HTTP server, which
answers only the routes of ``bot.image_urls.ImageUrls``: every request maps to an image id
through an HMAC-checked regex, never to a file path, so nothing outside the catalog can be
read. Tornado serves it because python-telegram-bot's ``webhooks`` extra already brings it.

Each request looks the id up in the catalog and stats the file (both off the event loop), so
an image that left the catalog or the disk stops being served at once; the re-encoded bytes
come from a small LRU keyed on the file's mtime and size, since Telegram fetches a popular
result again and again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.image_urls import ImageUrls, Kind
from bot.media import LONG_SIDE, ImageUnavailable, prepare_jpeg

log = logging.getLogger(__name__)

MAX_URL_PHOTO_BYTES = 5_000_000  # Telegram: a photo sent by URL is at most 5 MB
PHOTO_LONG_SIDE = LONG_SIDE
THUMB_LONG_SIDE = 320
CACHE_BYTES = 32 * 1024 * 1024
ENCODE_CONCURRENCY = 2  # re-encodes at once: a burst of fetches must not starve the searches
MAX_AGE_S = 86_400


class _Key(NamedTuple):
    image_id: int
    kind: Kind
    path: str
    mtime_ns: int
    size: int


class _ByteLru:
    """Prepared JPEGs, least recently used dropped first, bounded by their total size."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[_Key, bytes] = OrderedDict()
        self._total = 0

    def get(self, key: _Key) -> bytes | None:
        data = self._items.get(key)
        if data is not None:
            self._items.move_to_end(key)
        return data

    def put(self, key: _Key, data: bytes) -> None:
        if len(data) > self.max_bytes:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._total -= len(old)
        self._items[key] = data
        self._total += len(data)
        while self._total > self.max_bytes:
            _, dropped = self._items.popitem(last=False)
            self._total -= len(dropped)


class ImageServer:
    """Serves signed photo and thumbnail URLs of catalog images over plain HTTP."""

    def __init__(
        self,
        urls: ImageUrls,
        path_of: Callable[[int], str | None],
        cache_bytes: int = CACHE_BYTES,
    ) -> None:
        self.urls = urls
        self._path_of = path_of  # blocking (SQLite): only ever called in a worker thread
        self._cache = _ByteLru(cache_bytes)
        self._pending: dict[_Key, asyncio.Task[bytes | None]] = {}
        self._encoding = asyncio.Semaphore(ENCODE_CONCURRENCY)
        self._server: HTTPServer | None = None
        self._port = 0

    @property
    def port(self) -> int:
        """The bound TCP port (useful after ``start(listen, 0)``)."""
        return self._port

    async def start(self, listen: str, port: int) -> None:
        """Listen on ``listen:port``; port 0 picks a free one."""
        if self._server is not None:
            raise RuntimeError("the image server is already running")
        app = Application(
            [(r".*", _ImageHandler, {"image_server": self})],
            log_function=_log_request,
            compress_response=False,
        )
        sockets = bind_sockets(port, address=listen or None)
        # Requests carry no body; a large one is an abuse, not a client of ours.
        server = HTTPServer(app, max_body_size=4096, idle_connection_timeout=60, body_timeout=10)
        server.add_sockets(sockets)
        self._server = server
        self._port = int(sockets[0].getsockname()[1])
        log.info("image server listening on %s:%d", listen or "*", self._port)

    async def stop(self) -> None:
        """Stop listening, close connections and drop encodes in flight."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stop()
        await server.close_all_connections()
        pending = list(self._pending.values())
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def jpeg(self, image_id: int, kind: Kind) -> bytes | None:
        """The JPEG to serve for a parsed route, or None when it must be a 404."""
        key = await asyncio.to_thread(self._locate, image_id, kind)
        if key is None:
            return None
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        # Telegram may fetch the same new URL more than once at a time: encode it once.
        task = self._pending.get(key)
        if task is None:
            task = asyncio.create_task(self._encode(key))
            self._pending[key] = task
        return await asyncio.shield(task)

    def _locate(self, image_id: int, kind: Kind) -> _Key | None:
        """The cache key of a catalog image whose file is still there, else None."""
        path = self._path_of(image_id)
        if path is None:
            log.debug("image %d is not in the catalog", image_id)
            return None
        try:
            info = os.stat(path)
        except OSError as exc:
            log.warning("image %d vanished from disk: %s (%s)", image_id, path, exc.strerror)
            return None
        if not stat.S_ISREG(info.st_mode):
            log.warning("image %d is not a regular file any more: %s", image_id, path)
            return None
        return _Key(image_id, kind, path, info.st_mtime_ns, info.st_size)

    async def _encode(self, key: _Key) -> bytes | None:
        try:
            async with self._encoding:
                data = await asyncio.to_thread(_prepare, key)
            if data is not None:
                self._cache.put(key, data)
            return data
        finally:
            self._pending.pop(key, None)


def _prepare(key: _Key) -> bytes | None:
    """Re-encode one image for its kind (runs in a worker thread)."""
    side = PHOTO_LONG_SIDE if key.kind == "photo" else THUMB_LONG_SIDE
    try:
        return prepare_jpeg(key.path, side, max_bytes=MAX_URL_PHOTO_BYTES)
    except ImageUnavailable as exc:
        log.warning("image %d cannot be served: %s", key.image_id, exc)
        return None


class _ImageHandler(RequestHandler):
    """GET and HEAD of signed image routes; everything else is a 404 (or 405)."""

    SUPPORTED_METHODS = ("GET", "HEAD")

    def initialize(self, image_server: ImageServer) -> None:
        self.image_server = image_server

    async def get(self) -> None:
        # request.path is the raw, still percent-encoded path without the query string, so
        # "%2e%2e" or "//" can never match the strict route pattern.
        parsed = self.image_server.urls.parse(self.request.path)
        data = None if parsed is None else await self.image_server.jpeg(*parsed)
        if data is None:
            self._not_found()
            return
        self.set_header("Content-Type", "image/jpeg")
        self.set_header("Cache-Control", f"public, max-age={MAX_AGE_S}")
        # For HEAD tornado drops the body but keeps Content-Length and the ETag of it.
        self.finish(data)

    async def head(self) -> None:
        await self.get()

    def _not_found(self) -> None:
        self.set_status(404)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(b"not found\n")

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado's default error page is HTML naming the server; a scanner needs nothing.
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.finish(f"{status_code} {self._reason}\n")


def _log_request(handler: RequestHandler) -> None:
    """Access log: debug for normal traffic and scanners' 404s, warning for server errors."""
    status = handler.get_status()
    level = logging.WARNING if status >= 500 else logging.DEBUG
    if log.isEnabledFor(level):
        request = handler.request
        ms = 1000.0 * request.request_time()
        log.log(level, "%d %s %r %.1f ms", status, request.method, request.path[:200], ms)
