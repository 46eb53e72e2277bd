"""Inline mode end to end: real PTB Application ↔ fake Bot API, colour catalog.

Three set-ups: a storage chat (cached photos after the warm-up), a public URL (the bot's
own image server), and neither (an explanation button).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from bot import inline
from bot.access import AllowList
from bot.app import services_of
from bot.handlers import INLINE_START
from search.settings import Settings
from tests.fakes.telegram_api import FakeBotApi
from tests.test_bot_helpers import (
    TOKEN,
    bot_running,
    build_catalog,
    make_settings,
    nearest_colour,
    wait_until,
    write_images,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

STORAGE_CHAT = -1001234567890
CATALOG_SIZE = 7  # the palette plus dark red


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi(token=TOKEN) as fake:
        yield fake


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    root = tmp_path_factory.mktemp("inline")
    write_images(root / "images")
    built = make_settings(root)
    build_catalog(built, root / "images")
    return built


def with_(settings: Settings, **changes: Any) -> Settings:
    return settings.model_copy(update=changes)


@asynccontextmanager
async def own_bot(settings: Settings) -> AsyncIterator[tuple[FakeBotApi, Any]]:
    """A bot with its own fake server (two bots polling one server would split updates)."""
    async with FakeBotApi(token=TOKEN) as fake, bot_running(fake, settings) as app:
        yield fake, app


async def ask_inline(api: FakeBotApi, query: str, offset: str = "", **who: Any) -> dict[str, Any]:
    """Send an inline query; return the parameters of the bot's answerInlineQuery."""
    update = api.inline_query(query, offset, **who)
    query_id = update["inline_query"]["id"]
    await wait_until(lambda: query_id in api.state.inline_answers)
    return api.state.inline_answers[query_id]


def colour_of_file(api: FakeBotApi, file_id: str) -> str:
    stored = api.state.files.get(file_id)
    assert stored is not None, "the answer names a file_id Telegram never issued"
    return nearest_colour(stored.data)


async def test_without_storage_chat_or_url_inline_explains_itself(settings: Settings) -> None:
    async with own_bot(settings) as (api, _):
        answer = await ask_inline(api, "red dress")
    assert answer["results"] == []
    assert "not set up" in answer["button"]["text"]
    assert answer["button"]["start_parameter"] == INLINE_START


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def warm_bot(api: FakeBotApi, settings: Settings) -> AsyncIterator[Any]:
    """A bot with a storage chat, once its warm-up has cached every image."""
    configured = with_(settings, storage_chat_id=STORAGE_CHAT, warmup_per_minute=60_000.0)
    async with bot_running(api, configured) as app:
        svc = services_of(app)

        async def cached() -> int:
            return len(await svc.require_state().cached_image_ids(app.bot.id))

        for _ in range(250):
            if await cached() == CATALOG_SIZE:
                break
            await asyncio.sleep(0.02)
        assert await cached() == CATALOG_SIZE
        yield app


async def test_inline_pages_cached_photos_with_next_offset(
    api: FakeBotApi, warm_bot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inline, "PAGE", 3)  # seven images: pages of 3, 3 and 1
    pages, offset = [], ""
    while True:
        answer = await ask_inline(api, "red", offset)
        pages.append(answer["results"])
        offset = answer.get("next_offset") or ""
        if not offset:
            break
    assert [len(p) for p in pages] == [3, 3, 1]
    results = [r for page in pages for r in page]
    assert all(r["type"] == "photo" and r["photo_file_id"] for r in results)
    assert len({r["id"] for r in results}) == CATALOG_SIZE  # no image twice across pages
    colours = [colour_of_file(api, r["photo_file_id"]) for r in results]
    assert colours[:2] == ["red", "darkred"]
    assert results[0]["caption"] == "red.jpg"


async def test_inline_answer_settings(api: FakeBotApi, warm_bot: Any) -> None:
    answer = await ask_inline(api, "blue")
    assert answer["cache_time"] == warm_bot.bot_data["t2i_services"].settings.inline_cache_time_s
    assert not answer.get("is_personal")  # open bot: the same answer suits everyone
    assert colour_of_file(api, answer["results"][0]["photo_file_id"]) == "blue"


@pytest.mark.parametrize("offset", ["abc", "-3", "1e3", "999999", "٣", "3" * 40])
async def test_garbage_or_out_of_range_offset_answers_nothing(
    api: FakeBotApi, warm_bot: Any, offset: str
) -> None:
    answer = await ask_inline(api, "green", offset)
    assert answer["results"] == [] and not answer.get("next_offset")


async def test_longest_inline_query_is_answered(api: FakeBotApi, warm_bot: Any) -> None:
    answer = await ask_inline(api, ("yellow " * 37)[:256])
    assert colour_of_file(api, answer["results"][0]["photo_file_id"]) == "yellow"


async def test_empty_inline_query_gets_a_hint(api: FakeBotApi, warm_bot: Any) -> None:
    answer = await ask_inline(api, "   ")
    assert answer["results"] == [] and "few words" in answer["button"]["text"]


async def test_user_not_on_the_allow_list_is_refused(api: FakeBotApi, warm_bot: Any) -> None:
    svc = services_of(warm_bot)
    opened = svc.access
    svc.access = AllowList(user_ids=[424242])
    try:
        refused = await ask_inline(api, "red", user_id=777)
        allowed = await ask_inline(api, "red", user_id=424242)
    finally:
        svc.access = opened
    assert refused["results"] == [] and "private" in refused["button"]["text"]
    assert refused["is_personal"] is True
    assert allowed["results"] and allowed["is_personal"] is True


async def test_answers_with_what_is_cached_now_rather_than_waiting(
    settings: Settings, tmp_path: Path
) -> None:
    slow = with_(settings, storage_chat_id=STORAGE_CHAT, warmup_per_minute=0.5, state_dir=tmp_path)
    async with own_bot(slow) as (api, _):
        loop = asyncio.get_running_loop()
        started = loop.time()
        answer = await ask_inline(api, "white")
        took = loop.time() - started
    assert took < 2.0  # not waiting for 7 uploads at one per two minutes
    assert len(answer["results"]) <= 1
    if not answer["results"]:
        assert "prepared" in answer["button"]["text"]


async def test_storage_chat_the_bot_cannot_post_to(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    forbidden = -1009999
    configured = with_(settings, storage_chat_id=forbidden, state_dir=tmp_path)
    async with FakeBotApi(token=TOKEN) as api:
        api.state.forbidden_chats.add(forbidden)  # before the warm-up's first upload
        with caplog.at_level(logging.INFO):
            async with bot_running(api, configured) as app:
                svc = services_of(app)
                await wait_until(lambda: svc.warmup is not None and not svc.warmup.usable)
                answer = await ask_inline(api, "red")
                again = await ask_inline(api, "blue")
    assert "not set up" in answer["button"]["text"] and again["results"] == []
    errors = [
        r for r in caplog.records if r.levelno >= logging.ERROR and str(forbidden) in r.getMessage()
    ]
    assert len(errors) == 1


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_public_url_mode_serves_catalog_images_only(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/"
    configured = with_(
        settings,
        public_base_url=base.rstrip("/"),
        image_server_listen="127.0.0.1",
        image_server_port=port,
        state_dir=tmp_path,
    )
    async with own_bot(configured) as (api, _), aiohttp.ClientSession() as http:
        answer = await ask_inline(api, "blue")
        first = answer["results"][0]
        assert first["type"] == "photo" and first["photo_url"].startswith(base)
        async with http.get(first["photo_url"]) as response:
            assert response.status == 200 and response.content_type == "image/jpeg"
            assert nearest_colour(await response.read()) == "blue"
        async with http.get(first["thumbnail_url"]) as response:
            assert response.status == 200
        for attack in ("i/../../catalog.sqlite3", "data/catalog.sqlite3", "i/1.jpg"):
            async with http.get(base + attack) as response:
                assert response.status == 404
                assert b"SQLite" not in await response.read()
