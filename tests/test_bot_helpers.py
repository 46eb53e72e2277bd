"""Shared pieces of the bot tests: colour catalogs, a running bot over the fake Bot API.

Holds no tests itself. Each bot test module starts one fake server and one Application
and reuses them, so the whole bot suite stays fast on two cores.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bot.app import build_application, running
from search.engine import Searcher
from search.settings import Settings
from tests.fakes.color_encoder import PALETTE
from tests.fakes.telegram_api import FakeBotApi
from tests.fakes.telegram_protocol import Call

TOKEN = "7000000001:AAHsecretTokenPartThatMustNeverBeLogged"
# Catalog: the palette plus a second, darker red, so "red" has two close matches.
EXTRA = {"darkred": (150, 20, 20)}


def write_images(folder: Path, colours: dict[str, tuple[int, int, int]] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, rgb in (colours or {**PALETTE, **EXTRA}).items():
        Image.new("RGB", (320, 240), rgb).save(folder / f"{name}.jpg", quality=90)


def build_catalog(settings: Settings, images: Path) -> None:
    from indexer.commands.build import build
    from indexer.sources.folder import FolderSource
    from tests.fakes.color_encoder import ColorEncoder

    build(settings, FolderSource(images), ColorEncoder(), progress=False)


def make_settings(root: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "data_dir": root / "data", "image_model": "color:v1", "text_model": "color:v1",
        "bot_token": TOKEN, "results_per_album": 3, "heartbeat_file": root / "heartbeat",
        "reload_interval_s": 3600.0, "batch_window_ms": 2.0,
        # The palette's reds are near-duplicates to the colour encoder; keep them all.
        "duplicate_threshold": 1.0,
    }
    values.update(extra)
    return Settings(_env_file=None, **values)


@asynccontextmanager
async def bot_running(
    api: FakeBotApi, settings: Settings,
    factory: Callable[[Settings], Searcher] = Searcher, **options: Any,
) -> AsyncIterator[Any]:
    """The real Application, talking to ``api`` over HTTP, until the block ends."""
    settings = settings.model_copy(
        update={"telegram_api_url": api.base_url, "telegram_file_url": api.base_file_url}
    )
    app = build_application(settings, factory, **options)
    async with running(app, poll_timeout=1.0):
        yield app


# --- reading what the bot sent -----------------------------------------------------------------
def chat_calls(api: FakeBotApi, chat_id: int, method: str | None = None) -> list[Call]:
    return [
        c for c in api.calls
        if str(c.params.get("chat_id")) == str(chat_id)
        and (method is None or c.method.lower() == method.lower())
        and c.fault is None
    ]


def texts_to(api: FakeBotApi, chat_id: int) -> list[str]:
    return [str(c.params.get("text")) for c in chat_calls(api, chat_id, "sendMessage")]


async def wait_until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def next_call(
    api: FakeBotApi, chat_id: int, methods: tuple[str, ...], after: int, within: float = 5.0
) -> Call:
    """The first successful call of one of ``methods`` to ``chat_id`` beyond index ``after``."""
    wanted = {m.lower() for m in methods}

    def found() -> list[Call]:
        return [
            c for c in api.calls[after:]
            if c.method.lower() in wanted and c.fault is None
            and str(c.params.get("chat_id")) == str(chat_id)
        ]

    await wait_until(lambda: bool(found()), within)
    return found()[0]


def album_photos(call: Call) -> list[tuple[bytes | None, str | None]]:
    """(uploaded bytes or None, file_id or None) per album item / the single photo."""
    if call.method.lower() == "sendphoto":
        ref = call.params.get("photo")
        if isinstance(ref, str) and not ref.startswith("attach://"):
            return [(None, ref)]
        name = ref[len("attach://") :] if isinstance(ref, str) else "photo"
        return [(call.files[name], None)]
    out: list[tuple[bytes | None, str | None]] = []
    for item in call.params["media"]:
        ref = item["media"]
        if isinstance(ref, str) and ref.startswith("attach://"):
            out.append((call.files[ref[len("attach://") :]], None))
        else:
            out.append((None, str(ref)))
    return out


def mean_colour(data: bytes) -> tuple[int, int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        mean = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
    return int(mean[0]), int(mean[1]), int(mean[2])


def nearest_colour(data: bytes) -> str:
    rgb = np.asarray(mean_colour(data), dtype=np.float32)
    colours = {**PALETTE, **EXTRA}
    return min(colours, key=lambda n: float(np.linalg.norm(rgb - np.asarray(colours[n]))))


def photo_bytes(api: FakeBotApi, call: Call) -> list[bytes]:
    """The image bytes behind each photo of a sendPhoto/sendMediaGroup call."""
    out = []
    for data, file_id in album_photos(call):
        if data is None:
            stored = api.state.files.get(str(file_id))
            assert stored is not None, f"unknown file_id {file_id}"
            data = stored.data
        out.append(data)
    return out


def colours_of(api: FakeBotApi, call: Call) -> list[str]:
    return [nearest_colour(b) for b in photo_bytes(api, call)]
