"""A fake Telegram Bot API server on 127.0.0.1 for tests, benchmarks and smoke runs.

The real python-telegram-bot client talks to it over HTTP through ``base_url``
and ``base_file_url``, so the bot is exercised exactly as in production:
requests are parsed (JSON, form and multipart with ``attach://`` uploads),
validated against Telegram's limits, recorded as ``Call`` objects, and
answered with Bot API JSON. Tests inject user updates (served by long-polling
``getUpdates`` or POSTed to a webhook) and faults (429, 5xx, delays, dropped
connections). Method behaviour lives in ``telegram_methods``, update builders
in ``telegram_updates``, file ids and bytes in ``telegram_files``.

Three ways to use it: ``async with FakeBotApi() as api`` in async tests,
``with FakeBotApiThread() as api`` (own event loop in a thread) in sync tests
and benchmarks, and ``python -m tests.fakes.telegram_api --port N`` as a
process that prints ``READY <base_url>`` and one ``CALL <method>`` line per call.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import signal
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from tests.fakes.telegram_files import FileStore
from tests.fakes.telegram_methods import ApiError, BotState, Methods, SentPhoto
from tests.fakes.telegram_protocol import (
    CONFLICT_POLLING,
    CONFLICT_WEBHOOK,
    MAX_UPLOAD_BYTES,
    Call,
    Delay,
    Drop,
    Fault,
    RetryAfter,
    ServerError,
    parse_request,
)
from tests.fakes.telegram_thread import FakeBotApiThread
from tests.fakes.telegram_updates import DEFAULT_USER_ID, JsonDict, UpdateBuilder

__all__ = [
    "Call",
    "Delay",
    "Drop",
    "FakeBotApi",
    "FakeBotApiThread",
    "Fault",
    "RetryAfter",
    "ServerError",
]

LOOPBACK = "127.0.0.1"
TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")


class FakeBotApi:
    """The fake Bot API server; see the module docstring."""

    def __init__(
        self,
        *,
        port: int = 0,
        token: str | None = None,
        latency: float = 0.0,
        bot_username: str = "t2i_test_bot",
        on_call: Callable[[Call], None] | None = None,
    ) -> None:
        self.port = port
        self.token = token
        self.latency = latency
        self.on_call = on_call
        self.tokens_seen: set[str] = set()
        self.bot_user: JsonDict = {
            "id": int(token.split(":")[0]) if token else 7_000_000_001,
            "is_bot": True,
            "first_name": "T2I Test Bot",
            "username": bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }
        files = FileStore()
        self.state = BotState(files=files, updates=UpdateBuilder(files, self.bot_user))
        self.methods = Methods(self.state, self.bot_user)
        self.calls: list[Call] = []
        self._faults: dict[str, collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._queue: list[JsonDict] = []
        self._update_event = asyncio.Event()
        self._call_event = asyncio.Event()
        self._poll_generation = 0
        self._closing = False
        self._runner: web.AppRunner | None = None

    # -- lifecycle ------------------------------------------------------------
    async def start(self) -> FakeBotApi:
        """Listen on 127.0.0.1 (a free port unless one was given)."""
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, LOOPBACK, self.port)
        await site.start()
        sockets = self._runner.addresses
        self.port = int(sockets[0][1])
        return self

    async def stop(self) -> None:
        """Wake long polls and shut the server down."""
        self._closing = True
        self._notify_pollers()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``ApplicationBuilder().base_url(...)``; PTB appends the token."""
        return f"{self.root_url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``ApplicationBuilder().base_file_url(...)``; PTB appends the token."""
        return f"{self.root_url}/file/bot"

    # -- views for tests ---------------------------------------------------------
    @property
    def sent_photos(self) -> list[SentPhoto]:
        """Every photo the bot sent (sendPhoto and album items), in order."""
        return self.state.sent_photos

    @property
    def rejected_file_ids(self) -> set[str]:
        """file_ids answered with "wrong file identifier" (e.g. expired ones)."""
        return self.state.rejected_file_ids

    @property
    def forbidden_chats(self) -> set[int | str]:
        """Chats where send* answers 403 "bot is not a member of the channel chat"."""
        return self.state.forbidden_chats

    @property
    def missing_chats(self) -> set[int | str]:
        """Chats where send* answers 400 "chat not found"."""
        return self.state.missing_chats

    @property
    def webhook(self) -> JsonDict:
        """The webhook set by the bot: ``url``, ``secret_token``, ``allowed_updates``."""
        return self.state.webhook

    @property
    def commands(self) -> dict[str, list[JsonDict]]:
        """Commands set by setMyCommands, by JSON of ``[scope, language_code]``."""
        return self.state.commands

    @property
    def next_update_id(self) -> int:
        return self.state.updates.next_update_id

    @next_update_id.setter
    def next_update_id(self, value: int) -> None:
        self.state.updates.next_update_id = value

    @property
    def pending_updates(self) -> list[JsonDict]:
        """Updates queued and not yet confirmed by a getUpdates offset."""
        return list(self._queue)

    def calls_to(self, method: str) -> list[Call]:
        """Calls of one method (case-insensitive, as in the Bot API)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    async def wait_for(
        self,
        method: str,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of the contract
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` arrived; TimeoutError lists what came."""
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.calls_to(method)) < count:
            event = self._call_event
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                seen = [c.method for c in self.calls]
                raise TimeoutError(
                    f"waited {timeout}s for {count} x {method}, got "
                    f"{len(self.calls_to(method))}; calls so far: {seen}"
                )
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                continue
        return self.calls_to(method)[:count]

    def inject(self, method: str, *faults: Fault) -> None:
        """Queue faults for a method ("*" for any), consumed one per call in order."""
        self._faults[method.lower()].extend(faults)

    # -- update injection ---------------------------------------------------------
    def send_raw(self, update: JsonDict) -> JsonDict:
        """Queue an update dict as is (an ``update_id`` is added when missing)."""
        if "update_id" not in update:
            update = self.state.updates.wrap(**update)
        self._queue.append(update)
        self._notify_pollers()
        return update

    def send_text(
        self,
        text: str,
        *,
        user_id: int = DEFAULT_USER_ID,
        chat_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str | None = None,
        reply_to_bot: bool = False,
        entities: list[JsonDict] | None = None,
    ) -> JsonDict:
        """A user sends a text message.

        Defaults: the user's private chat; ``chat_type`` "group"/"supergroup" with
        a negative ``chat_id`` for groups (a known chat keeps its type).
        """
        return self.send_raw(
            self.state.updates.text(
                text,
                entities,
                user_id=user_id,
                chat_id=chat_id,
                language_code=language_code,
                chat_type=chat_type,
                reply_to_bot=reply_to_bot,
            )
        )

    def send_command(self, command: str = "/start", **who: Any) -> JsonDict:
        """A user sends ``/command [args]``; same keywords as ``send_text``."""
        return self.send_text(command, **who)

    def send_photo(self, image: bytes, caption: str | None = None, **who: Any) -> JsonDict:
        """A user sends a photo; getFile + the file URL serve ``image``."""
        return self.send_raw(self.state.updates.photo(image, caption, **who))

    def send_document(
        self, data: bytes, mime_type: str, file_name: str, caption: str | None = None, **who: Any
    ) -> JsonDict:
        """A user sends a file (e.g. an image "without compression")."""
        return self.send_raw(
            self.state.updates.document(data, mime_type, file_name, caption, **who)
        )

    def send_sticker(self, emoji: str = "🙂", **who: Any) -> JsonDict:
        """A user sends a sticker."""
        return self.send_raw(self.state.updates.sticker(emoji=emoji, **who))

    def send_voice(self, duration: int = 2, **who: Any) -> JsonDict:
        """A user sends a voice message."""
        return self.send_raw(self.state.updates.voice(duration=duration, **who))

    def edit_text(self, message_id: int, text: str, **who: Any) -> JsonDict:
        """A user edits an earlier text message (an ``edited_message`` update)."""
        return self.send_raw(self.state.updates.edited_text(message_id, text, **who))

    def press_button(
        self, message: JsonDict | int, callback_data: str, *, strict: bool = True, **who: Any
    ) -> JsonDict:
        """A user presses an inline button on a message the bot sent (dict or message_id)."""
        return self.send_raw(
            self.state.updates.callback(message, callback_data, strict=strict, **who)
        )

    def inline_query(self, query: str, offset: str = "", **who: Any) -> JsonDict:
        """A user types ``@bot query``; ``offset`` is the bot's earlier next_offset."""
        return self.send_raw(self.state.updates.inline(query, offset, **who))

    async def deliver_webhook(
        self, update: JsonDict, url: str | None = None, secret: str | None = None
    ) -> int:
        """POST an update to the bot's webhook (default: the one it set); return the status."""
        url = url or self.state.webhook.get("url")
        if not url:
            raise ValueError("no webhook URL: the bot has not called setWebhook")
        if urlsplit(url).hostname not in (LOOPBACK, "localhost"):
            raise ValueError(f"refusing to deliver outside 127.0.0.1: {url}")
        secret = secret if secret is not None else self.state.webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        async with (
            aiohttp.ClientSession() as session,
            session.post(url, json=update, headers=headers) as response,
        ):
            await response.read()
            return response.status

    # -- HTTP ----------------------------------------------------------------
    def _notify_pollers(self) -> None:
        """Wake every waiting getUpdates; later waits use a fresh event."""
        event, self._update_event = self._update_event, asyncio.Event()
        event.set()

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        event, self._call_event = self._call_event, asyncio.Event()
        event.set()
        if self.on_call is not None:
            self.on_call(call)

    def _next_fault(self, method: str) -> Fault | None:
        for key in (method.lower(), "*"):
            if self._faults[key]:
                return self._faults[key].popleft()
        return None

    def _token_ok(self, token: str) -> bool:
        return bool(TOKEN_RE.match(token)) and (self.token is None or token == self.token)

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params, uploads = await parse_request(request)
        except ApiError as err:
            return web.json_response(err.body(), status=err.code)
        authorized = self._token_ok(token)
        fault = self._next_fault(method) if authorized else None
        self._record(
            Call(
                method=method,
                params=params,
                files={k: u.data for k, u in uploads.items()},
                token=token,
                filenames={k: u.filename for k, u in uploads.items()},
                fault=fault,
            )
        )
        self.tokens_seen.add(token)
        if not authorized:
            return web.json_response(ApiError(401, "Unauthorized").body(), status=401)
        if isinstance(fault, Drop):
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if isinstance(fault, Delay):
            await asyncio.sleep(fault.seconds)
        if isinstance(fault, RetryAfter):
            too_many = ApiError(
                429,
                f"Too Many Requests: retry after {fault.seconds}",
                {"retry_after": fault.seconds},
            )
            return web.json_response(too_many.body(), status=429)
        if isinstance(fault, ServerError):
            failure = ApiError(fault.status, fault.description)
            return web.json_response(failure.body(), status=fault.status)
        if self.latency and method.lower().startswith("send"):
            await asyncio.sleep(self.latency)
        try:
            if method.lower() == "getupdates":
                result: Any = await self._get_updates(params)
            else:
                result = self.methods.call(method, params, uploads)
        except ApiError as err:
            return web.json_response(err.body(), status=err.code)
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: JsonDict) -> list[JsonDict]:
        """Long polling: confirm by offset, then answer at once or when an update arrives."""
        if self.state.webhook.get("url"):
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = int(params.get("offset") or 0)
        if offset > 0:
            self._queue = [u for u in self._queue if u["update_id"] >= offset]
        elif offset < 0:
            self._queue = self._queue[offset:]
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        allowed = params.get("allowed_updates") or []
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_pollers()  # an older poll still waiting now answers 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(params.get("timeout") or 0)
        while True:
            if generation != self._poll_generation:
                raise ApiError(409, CONFLICT_POLLING)
            event = self._update_event
            ready = [u for u in self._queue if not allowed or set(u) & set(allowed)]
            left = deadline - loop.time()
            if ready or left <= 0 or self._closing:
                return ready[:limit]
            try:
                await asyncio.wait_for(event.wait(), left)
            except TimeoutError:
                continue

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        token, path = request.match_info["token"], request.match_info["path"]
        stored = self.state.files.by_path(path)
        if not self._token_ok(token) or stored is None:
            return web.json_response(ApiError(404, "Not Found").body(), status=404)
        return web.Response(body=stored.data, content_type=stored.mime_type)


async def _serve(port: int, token: str | None, latency: float) -> None:
    """Run until SIGINT/SIGTERM, printing READY and one CALL line per request."""

    def log_call(call: Call) -> None:
        print(f"CALL {call.method}", flush=True)

    api = FakeBotApi(port=port, token=token, latency=latency, on_call=log_call)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with api:
        print(f"READY {api.base_url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Fake Telegram Bot API on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--host", default=LOOPBACK, choices=[LOOPBACK])
    parser.add_argument("--token", default=None, help="accept only this token")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to send*")
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.port, args.token, args.latency))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
