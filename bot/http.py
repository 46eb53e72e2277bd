"""The bot's HTTP client for the Bot API: PTB's ``BaseRequest`` over aiohttp.

Why not PTB's default ``HTTPXRequest``: under load the bot's event loop, not the model,
was the limit, and most of that loop's time went into httpx/httpcore's connection pool
(every request re-checks every pooled connection, one ``getpeername``/``poll`` each).
Measured on the 2-core dev machine, PTB's ``Bot`` against the fake Bot API with 16 calls
in flight: 4.3 ms of CPU per call over httpx, 0.74 ms over aiohttp (5.8x; one call at a
time: 1.9 vs 0.8 ms), with ``benchmarks/http_client.py``.
aiohttp is a mature, C-accelerated client, so the swap is a library doing the job, not
hand-written HTTP.

The contract is PTB's: ``do_request`` returns ``(status, body)``; timeouts raise
``TimedOut``, other transport failures ``NetworkError``; PTB turns statuses into its
errors (429 → ``RetryAfter`` and so on) itself.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData


class AiohttpRequest(BaseRequest):
    """A pooled aiohttp session; one per ``Bot`` request kind (API calls, long polling).

    Timeouts map onto aiohttp's: ``connect`` bounds opening a socket, ``pool`` + ``connect``
    bounds getting a connection, ``read`` bounds each wait for response bytes. aiohttp has
    no per-write timeout, so ``write`` (``media_write`` for uploads) bounds the whole
    request together with the others.
    """

    def __init__(
        self,
        connection_pool_size: int = 1,
        *,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._defaults = {
            "read": read_timeout,
            "write": write_timeout,
            "connect": connect_timeout,
            "pool": pool_timeout,
            "media_write": media_write_timeout,
        }
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._defaults["read"]

    async def initialize(self) -> None:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                # Aborts TLS connections whose shutdown never completes: asyncio leaked them
                # before Python 3.12.8 (aiohttp warns and ignores the flag after that).
                enable_cleanup_closed=sys.version_info < (3, 12, 8),
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # PTB reads bodies itself; aiohttp must not decide what is an error.
                raise_for_status=False,
                auto_decompress=True,
                # HTTPS_PROXY / HTTP_PROXY / NO_PROXY apply, as they did with httpx.
                trust_env=True,
            )

    async def shutdown(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        if self._session is None or self._session.closed:
            raise RuntimeError("This AiohttpRequest is not initialized!")
        files = request_data.multipart_data if request_data else None
        read = self._pick(read_timeout, "read")
        connect = self._pick(connect_timeout, "connect")
        pool = self._pick(pool_timeout, "pool")
        write = self._pick(write_timeout, "media_write" if files else "write")
        timeout = aiohttp.ClientTimeout(
            total=_sum(connect, pool, write, read),
            connect=_sum(connect, pool),
            sock_connect=connect,
            sock_read=read,
        )
        try:
            async with self._session.request(
                method, url, data=_body(request_data, files), timeout=timeout
            ) as response:
                return response.status, await response.read()
        except (TimeoutError, asyncio.TimeoutError) as err:  # noqa: UP041 (aiohttp raises both)
            raise TimedOut from err
        except aiohttp.ClientError as err:
            raise NetworkError(f"aiohttp.{type(err).__name__}: {err}") from err

    def _pick(self, value: ODVInput[float], name: str) -> float | None:
        return self._defaults[name] if isinstance(value, DefaultValue) else value


def _body(request_data: RequestData | None, files: dict[str, Any] | None) -> Any:
    """Form fields (urlencoded), or multipart with the files, as PTB's HTTPXRequest sends."""
    if request_data is None:
        return None
    fields = request_data.json_parameters
    if not files:
        return fields or None
    form = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        form.add_field(name, value)
    for name, part in files.items():
        if isinstance(part, tuple):
            filename, content, mimetype = part
            form.add_field(name, content, filename=filename, content_type=mimetype)
        else:  # bare content without a file name
            form.add_field(name, part)
    return form


def _sum(*parts: float | None) -> float | None:
    """None (no limit) if any part is unlimited."""
    return None if any(p is None for p in parts) else sum(p for p in parts if p is not None)
