"""bot/http.py: PTB's request contract over aiohttp, against a real local HTTP server."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from telegram import InputFile
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.http import AiohttpRequest

param = RequestParameter.from_input


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A local server: /slow sleeps 2 s, /echo answers with what it received."""
    seen: list[dict[str, Any]] = []

    async def echo(request: web.Request) -> web.Response:
        fields: dict[str, Any] = {}
        if request.content_type.startswith("multipart/"):
            async for part in await request.multipart():
                body = await part.read()  # type: ignore[union-attr]
                fields[part.name or ""] = (part.filename, body,  # type: ignore[union-attr]
                                           part.headers.get("Content-Type"))
        else:
            fields = dict(await request.post())
        seen.append({"method": request.method, "fields": fields,
                     "agent": request.headers.get("User-Agent", "")})
        return web.json_response({"ok": True, "result": True}, status=201)

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(2)
        return web.json_response({"ok": True, "result": True})

    app = web.Application()
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/slow", slow)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}", seen
    await runner.cleanup()


async def test_status_and_body_come_back_unchanged(server: tuple[str, list[Any]]) -> None:
    base, seen = server
    request = AiohttpRequest()
    await request.initialize()
    try:
        data = RequestData([param("chat_id", 42), param("text", "héllo")])
        status, body = await request.do_request(f"{base}/echo", "POST", data)
    finally:
        await request.shutdown()
    assert (status, body) == (201, b'{"ok": true, "result": true}')
    assert seen[0]["fields"] == {"chat_id": "42", "text": "héllo"}
    assert "python-telegram-bot" in seen[0]["agent"]


async def test_files_go_as_multipart_with_names_and_types(server: tuple[str, list[Any]]) -> None:
    base, seen = server
    photo = InputFile(b"\xff\xd8\xff\xe0 jpeg bytes", filename="red.jpg", attach=True)
    data = RequestData([param("chat_id", 7), param("media", photo)])
    request = AiohttpRequest()
    await request.initialize()
    try:
        await request.do_request(f"{base}/echo", "POST", data)
    finally:
        await request.shutdown()
    fields = seen[0]["fields"]
    assert fields["chat_id"][1] == b"7"
    (name,) = [k for k in fields if k not in ("chat_id", "media")]
    assert fields[name] == ("red.jpg", b"\xff\xd8\xff\xe0 jpeg bytes", "image/jpeg")
    assert fields["media"][1] == f"attach://{name}".encode()


async def test_a_slow_answer_is_a_timeout_not_a_hang(server: tuple[str, list[Any]]) -> None:
    base, _ = server
    request = AiohttpRequest(read_timeout=0.2)
    await request.initialize()
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimedOut):
            await request.do_request(f"{base}/slow", "POST")
        assert asyncio.get_running_loop().time() - started < 1.5
        # A per-call timeout overrides the default one.
        status, _ = await request.do_request(f"{base}/slow", "POST", read_timeout=5)
        assert status == 200
    finally:
        await request.shutdown()


async def test_a_refused_connection_is_a_network_error() -> None:
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    request = AiohttpRequest()
    await request.initialize()
    try:
        with pytest.raises(NetworkError, match="aiohttp"):
            await request.do_request(f"http://127.0.0.1:{port}/x", "POST")
    finally:
        await request.shutdown()


async def test_use_before_initialize_or_after_shutdown_is_refused() -> None:
    request = AiohttpRequest()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    await request.initialize()
    await request.shutdown()
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")



async def test_the_proxy_environment_variables_are_honoured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As with PTB's httpx client: a bot behind HTTPS_PROXY/HTTP_PROXY keeps working."""
    request_lines: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_lines.append(await reader.readline())
        while (await reader.readline()) not in (b"\r\n", b""):
            pass
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\n")
        writer.write(b"proxied")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(proxy, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
    request = AiohttpRequest()
    await request.initialize()
    try:
        status, body = await request.do_request("http://api.telegram.invalid/bot1/getMe", "POST")
    finally:
        await request.shutdown()
        server.close()
    assert (status, body) == (200, b"proxied")
    assert request_lines == [b"POST http://api.telegram.invalid/bot1/getMe HTTP/1.1\r\n"]
