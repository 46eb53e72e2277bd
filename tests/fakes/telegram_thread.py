"""Blocking wrapper that runs a FakeBotApi on its own event loop in a daemon thread.

Sync tests and benchmarks drive a bot whose loop (or lack of one) must not also
host the fake; this keeps the fake on a private loop and marshals every call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakes.telegram_methods import SentPhoto
from tests.fakes.telegram_protocol import Call, Fault
from tests.fakes.telegram_updates import JsonDict

if TYPE_CHECKING:
    from tests.fakes.telegram_api import FakeBotApi


class FakeBotApiThread:
    """A FakeBotApi on its own event loop in a daemon thread, with blocking wrappers.

    For sync tests and benchmarks whose own loop (or none) must not host the fake.
    ``call(name, ...)`` reaches any FakeBotApi method not wrapped here.
    """

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._api: FakeBotApi | None = None

    def _run(self, fn: Callable[..., Any], *args: Any, timeout: float = 30, **kw: Any) -> Any:
        if self._loop is None:
            raise RuntimeError("FakeBotApiThread is not started")

        async def runner() -> Any:
            result = fn(*args, **kw)
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(runner(), self._loop).result(timeout)

    @property
    def api(self) -> FakeBotApi:
        """The underlying FakeBotApi (touch its state only through ``call`` or wrappers)."""
        if self._api is None:
            raise RuntimeError("FakeBotApiThread is not started")
        return self._api

    def start(self) -> FakeBotApiThread:
        from tests.fakes import telegram_api  # deferred: the server module imports this one

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fake-telegram-api", daemon=True
        )
        self._thread.start()
        self._api = self._run(lambda: telegram_api.FakeBotApi(**self._options).start())
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        if self._api is not None:
            self._run(self._api.stop)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._loop.close()
        self._loop = self._api = None

    def __enter__(self) -> FakeBotApiThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def call(self, name: str, *args: Any, **kw: Any) -> Any:
        """Run ``api.<name>(*args, **kw)`` on the fake's loop (awaited if async)."""
        return self._run(getattr(self.api, name), *args, **kw)

    @property
    def base_url(self) -> str:
        return self.api.base_url

    @property
    def base_file_url(self) -> str:
        return self.api.base_file_url

    @property
    def calls(self) -> list[Call]:
        return list(self._run(lambda: list(self.api.calls)))

    @property
    def sent_photos(self) -> list[SentPhoto]:
        return list(self._run(lambda: list(self.api.sent_photos)))

    @property
    def latency(self) -> float:
        return self.api.latency

    @latency.setter
    def latency(self, value: float) -> None:
        self._run(setattr, self.api, "latency", value)

    def calls_to(self, method: str) -> list[Call]:
        return list(self.call("calls_to", method))

    def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        return list(self._run(self.api.wait_for, method, count, timeout, timeout=timeout + 5))

    def inject(self, method: str, *faults: Fault) -> None:
        self.call("inject", method, *faults)

    def send_text(self, text: str, **who: Any) -> JsonDict:
        return dict(self.call("send_text", text, **who))

    def send_command(self, command: str = "/start", **who: Any) -> JsonDict:
        return dict(self.call("send_command", command, **who))

    def send_photo(self, image: bytes, caption: str | None = None, **who: Any) -> JsonDict:
        return dict(self.call("send_photo", image, caption, **who))

    def press_button(self, message: JsonDict | int, callback_data: str, **who: Any) -> JsonDict:
        return dict(self.call("press_button", message, callback_data, **who))

    def inline_query(self, query: str, offset: str = "", **who: Any) -> JsonDict:
        return dict(self.call("inline_query", query, offset, **who))

    def send_raw(self, update: JsonDict) -> JsonDict:
        return dict(self.call("send_raw", update))
