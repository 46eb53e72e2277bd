"""The storage-chat warm-up: each catalog image is uploaded once, and never again.

A real ``telegram.Bot`` talks to the fake Bot API over HTTP, with a real ``BotState`` file
and a real ``Searcher`` over a small colour catalog, so what is checked is what Telegram and
the operator would see: the uploads to the storage chat, the cached file_ids, the log lines.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from telegram import Bot

from bot.album import send_hits
from bot.state import BotState
from bot.warmup import StorageWarmup
from search.engine import Searcher
from search.settings import Settings
from tests.fakes.color_encoder import PALETTE
from tests.fakes.telegram_api import FakeBotApi, ServerError
from tests.fakes.telegram_protocol import Call
from tests.test_bot_helpers import (
    TOKEN,
    build_catalog,
    chat_calls,
    make_settings,
    nearest_colour,
    wait_until,
    write_images,
)

STORAGE = -1001234567890  # a private channel
USER = 4242
FAST = 60_000.0  # uploads per minute when pacing is not what a test looks at


def catalog(root: Path, colours: dict[str, tuple[int, int, int]] | None = None) -> Settings:
    images = root / "images"
    write_images(images, colours)
    settings = make_settings(root)
    build_catalog(settings, images)
    return settings


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url) as client:
        yield client


@pytest.fixture
async def state(tmp_path: Path) -> AsyncIterator[BotState]:
    opened = await BotState.open(tmp_path / "state")
    yield opened
    await opened.close()


def uploads(api: FakeBotApi) -> list[Call]:
    """Successful sendPhoto calls to the storage chat."""
    return chat_calls(api, STORAGE, "sendPhoto")


def uploaded_ids(api: FakeBotApi) -> list[int]:
    return sorted(int(c.filenames["photo"].removesuffix(".jpg")) for c in uploads(api))


def served(searcher: Searcher) -> Callable[[], Searcher | None]:
    return lambda: searcher


async def test_each_image_is_uploaded_once_and_never_again(
    tmp_path: Path, api: FakeBotApi, bot: Bot, state: BotState
) -> None:
    searcher = Searcher(catalog(tmp_path))
    ids = searcher.all_ids()
    rows = searcher.rows(ids)
    warmup = StorageWarmup(bot, state, STORAGE, served(searcher), per_minute=FAST)

    assert await warmup.run_once() == len(ids)
    assert uploaded_ids(api) == ids
    for call in uploads(api):
        image_id = int(call.filenames["photo"].removesuffix(".jpg"))
        # The right picture under the right id, as a JPEG, without pinging the channel.
        assert nearest_colour(call.files["photo"]) == Path(rows[image_id].path).stem
        assert call.params.get("disable_notification") is True
    issued = {
        int(str(p.filename).removesuffix(".jpg")): p.issued_file_id
        for p in api.sent_photos
        if p.chat_id == STORAGE
    }
    assert await state.file_ids(bot.id, ids) == issued

    assert await warmup.run_once() == 0
    # A restart: a fresh state connection on the same file and a fresh task upload nothing,
    # even when left running for several idle cycles.
    reopened = await BotState.open(tmp_path / "state")
    try:
        again = StorageWarmup(bot, reopened, STORAGE, served(searcher), FAST, idle_s=0.02)
        task = asyncio.create_task(again.run_forever())
        await asyncio.sleep(0.3)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await reopened.file_ids(bot.id, ids) == issued
    finally:
        await reopened.close()
    assert len(uploads(api)) == len(ids)
    searcher.close()


async def test_a_vanished_file_is_skipped_with_one_warning(
    tmp_path: Path, api: FakeBotApi, bot: Bot, state: BotState, caplog: pytest.LogCaptureFixture
) -> None:
    searcher = Searcher(catalog(tmp_path))
    ids = searcher.all_ids()
    rows = searcher.rows(ids)
    gone = next(i for i in ids if Path(rows[i].path).stem == "green")
    await asyncio.to_thread(Path(rows[gone].path).unlink)
    warmup = StorageWarmup(bot, state, STORAGE, served(searcher), per_minute=FAST)

    with caplog.at_level(logging.INFO, logger="bot.warmup"):
        assert await warmup.run_once() == len(ids) - 1
        assert await warmup.run_once() == 0
    assert uploaded_ids(api) == [i for i in ids if i != gone]
    assert gone not in await state.cached_image_ids(bot.id)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"image {gone}" in warnings[0].getMessage()
    assert any(
        f"uploaded {len(ids) - 1}, skipped 1, 0 left" in r.getMessage() for r in caplog.records
    )
    searcher.close()


@pytest.mark.parametrize("refusal", ["forbidden", "missing"])
async def test_a_chat_the_bot_cannot_post_to_stops_the_task_with_one_error(
    tmp_path: Path,
    api: FakeBotApi,
    bot: Bot,
    state: BotState,
    caplog: pytest.LogCaptureFixture,
    refusal: str,
) -> None:
    (api.forbidden_chats if refusal == "forbidden" else api.missing_chats).add(STORAGE)
    searcher = Searcher(catalog(tmp_path))
    warmup = StorageWarmup(bot, state, STORAGE, served(searcher), FAST, idle_s=0.02)
    assert warmup.usable

    with caplog.at_level(logging.INFO, logger="bot.warmup"):
        await asyncio.wait_for(warmup.run_forever(), timeout=5)  # ends by itself
        assert await warmup.run_once() == 0

    assert not warmup.usable
    assert len(api.calls_to("sendPhoto")) == 1  # gave up at the first refusal
    assert await state.cached_image_ids(bot.id) == set()
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert str(STORAGE) in errors[0] and "add the bot to that chat" in errors[0]
    searcher.close()


async def test_uploads_are_paced_to_the_configured_rate(
    tmp_path: Path, api: FakeBotApi, bot: Bot, state: BotState
) -> None:
    three = {name: PALETTE[name] for name in ("red", "green", "blue")}
    searcher = Searcher(catalog(tmp_path, three))
    warmup = StorageWarmup(bot, state, STORAGE, served(searcher), per_minute=600)  # one / 0.1 s

    started = time.monotonic()
    assert await warmup.run_once() == 3
    assert time.monotonic() - started >= 0.19
    arrivals = [c.time for c in uploads(api)]
    assert all(b - a >= 0.05 for a, b in itertools.pairwise(arrivals))  # unpaced: ~ms
    searcher.close()


async def test_images_already_sent_in_an_album_are_not_uploaded(
    tmp_path: Path, api: FakeBotApi, bot: Bot, state: BotState
) -> None:
    searcher = Searcher(catalog(tmp_path))
    ids = searcher.all_ids()
    hits = searcher.search_text("red", k=2)
    sent = await send_hits(bot, state, USER, hits)
    assert len(sent) == 2 and sent[0] in await state.cached_image_ids(bot.id)

    warmup = StorageWarmup(bot, state, STORAGE, served(searcher), per_minute=FAST)
    assert await warmup.run_once() == len(ids) - 2
    assert uploaded_ids(api) == sorted(set(ids) - set(sent))
    assert await state.cached_image_ids(bot.id) == set(ids)
    searcher.close()


async def test_network_trouble_and_a_late_catalog_only_delay_the_warm_up(
    tmp_path: Path, api: FakeBotApi, bot: Bot, state: BotState, caplog: pytest.LogCaptureFixture
) -> None:
    searcher = Searcher(catalog(tmp_path))
    ids = searcher.all_ids()
    current: list[Searcher | None] = [None]  # the catalog is not open yet
    api.inject("sendPhoto", ServerError(502, "Bad Gateway"))
    warmup = StorageWarmup(bot, state, STORAGE, lambda: current[0], FAST, idle_s=0.05)

    with caplog.at_level(logging.WARNING, logger="bot.warmup"):
        task = asyncio.create_task(warmup.run_forever())
        await asyncio.sleep(0.15)
        assert api.calls_to("sendPhoto") == []
        current[0] = searcher
        await wait_until(lambda: len(uploads(api)) == len(ids))
        await asyncio.sleep(0.15)  # a few more idle passes
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    assert warmup.usable
    assert uploaded_ids(api) == ids  # the failed attempt was retried, nothing twice
    assert len(api.calls_to("sendPhoto")) == len(ids) + 1
    assert any("Bad Gateway" in r.getMessage() for r in caplog.records)
    searcher.close()
