"""The bot across restarts, catalog changes, access rules and webhook mode.

Each test starts its own fake Bot API and Application (they differ in settings or
catalog); starting one takes a fraction of a second.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import build_application, running
from search.catalog import Catalog
from tests.fakes.telegram_api import FakeBotApi
from tests.test_bot_helpers import (
    TOKEN,
    album_photos,
    bot_running,
    build_catalog,
    chat_calls,
    colours_of,
    make_settings,
    next_call,
    texts_to,
    wait_until,
    write_images,
)

ALBUM = ("sendMediaGroup", "sendPhoto")
ANY_REPLY = ("sendMediaGroup", "sendPhoto", "sendMessage")


async def reply_to(api: FakeBotApi, text: str, user_id: int = 1001, **who: Any) -> Any:
    mark = len(api.calls)
    api.send_text(text, user_id=user_id, **who)
    return await next_call(api, who.get("chat_id", user_id), ANY_REPLY, mark)


def last_button(api: FakeBotApi, chat_id: int) -> tuple[int, str]:
    prompts = [
        m for (c, m), msg in api.state.updates.bot_messages.items()
        if c == chat_id and msg.get("reply_markup")
    ]
    message_id = max(prompts)
    markup = api.state.updates.bot_messages[(chat_id, message_id)]["reply_markup"]
    return message_id, markup["inline_keyboard"][0][0]["callback_data"]


async def test_more_button_survives_a_restart(tmp_path: Path) -> None:
    write_images(tmp_path / "images")
    settings = make_settings(tmp_path)
    build_catalog(settings, tmp_path / "images")
    async with FakeBotApi(token=TOKEN) as api:
        async with bot_running(api, settings):
            first = await reply_to(api, "red")
            await wait_until(lambda: bool(texts_to(api, 1001)))
        message_id, data = last_button(api, 1001)
        async with bot_running(api, settings):  # a new Application over the same state dir
            mark = len(api.calls)
            api.press_button(message_id, data)
            second = await next_call(api, 1001, ALBUM, mark)
            answers = await api.wait_for("answerCallbackQuery", 1)
            assert "expired" not in str(answers[0].params.get("text"))
        assert not set(colours_of(api, first)) & set(colours_of(api, second))
        assert (tmp_path / "data" / "bot-state.sqlite3").exists()


async def test_no_catalog_then_catalog_appears(tmp_path: Path) -> None:
    write_images(tmp_path / "images")
    settings = make_settings(tmp_path, reload_interval_s=0.2)
    async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings):
        call = await reply_to(api, "red")
        assert call.method == "sendMessage"
        assert "No catalog yet" in call.params["text"]
        assert "python -m indexer build" in call.params["text"]
        ru = await reply_to(api, "красный", user_id=2002, language_code="ru")
        assert "Каталога пока нет" in ru.params["text"]
        await asyncio.to_thread(build_catalog, settings, tmp_path / "images")
        await asyncio.sleep(0.6)  # a few reload periods
        call = await reply_to(api, "red", user_id=2003)
        assert call.method == "sendMediaGroup"


async def test_empty_catalog_gets_a_friendly_text(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with Catalog.create_or_open(settings.data_dir) as catalog:  # e.g. every image removed
        catalog.record_models("color:v1", "color:v1", 7)
    async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings):
        call = await reply_to(api, "red")
        assert call.method == "sendMessage" and "catalog is empty" in call.params["text"]


async def test_catalog_built_with_other_models_gets_a_rebuilding_note(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_images(tmp_path / "images")
    build_catalog(make_settings(tmp_path), tmp_path / "images")
    settings = make_settings(tmp_path, text_model="color:v2", image_model="color:v2")
    async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings):
        call = await reply_to(api, "red")
        assert call.method == "sendMessage" and "rebuilt" in call.params["text"]
    mismatch = [r for r in caplog.records if "catalog not available" in r.getMessage()]
    assert len(mismatch) == 1 and "\n" not in mismatch[0].getMessage()


async def test_reload_serves_a_new_generation_without_restart(tmp_path: Path) -> None:
    write_images(tmp_path / "images")
    settings = make_settings(tmp_path, reload_interval_s=0.2)
    build_catalog(settings, tmp_path / "images")
    async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings) as app:
        before = await reply_to(api, "red")
        captions = [m.get("caption") for m in before.params["media"]]
        assert "crimson.jpg" not in captions
        generation = app.bot_data["t2i_services"].search.searcher.generation
        Image.new("RGB", (320, 240), (215, 35, 35)).save(tmp_path / "images" / "crimson.jpg")
        await asyncio.to_thread(build_catalog, settings, tmp_path / "images")
        with Catalog.open_readonly(settings.data_dir) as catalog:
            assert catalog.generation > generation
        await wait_until(
            lambda: app.bot_data["t2i_services"].search.searcher.generation > generation, 5
        )
        after = await reply_to(api, "red", user_id=3003)
        assert "crimson.jpg" in [m.get("caption") for m in after.params["media"]]


async def test_allow_list_refuses_others_once_and_serves_members(tmp_path: Path) -> None:
    write_images(tmp_path / "images")
    settings = make_settings(tmp_path, allowed_user_ids=[42])
    build_catalog(settings, tmp_path / "images")
    async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings):
        refusal = await reply_to(api, "red", user_id=7)
        assert "private" in refusal.params["text"]
        api.send_text("red again", user_id=7)
        api.send_command("/start", user_id=7)
        member = await reply_to(api, "red", user_id=42)
        assert member.method == "sendMediaGroup"
        await asyncio.sleep(0.2)
        assert len(chat_calls(api, 7)) == 1  # one polite refusal, nothing else


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_end_to_end_and_wrong_secret_rejected(tmp_path: Path) -> None:
    write_images(tmp_path / "images")
    settings = make_settings(tmp_path)
    build_catalog(settings, tmp_path / "images")
    port = free_port()
    async with FakeBotApi(token=TOKEN) as api:
        settings = settings.model_copy(
            update={"telegram_api_url": api.base_url, "telegram_file_url": api.base_file_url}
        )
        app = build_application(settings)
        hook = {
            "listen": "127.0.0.1", "port": port, "url_path": "tg-hook",
            "webhook_url": f"http://127.0.0.1:{port}/tg-hook", "secret_token": "s3cret-Token_1",
        }
        async with running(app, webhook=hook):
            assert api.webhook["secret_token"] == "s3cret-Token_1"
            update = api.state.updates.text("red", user_id=1001)
            mark = len(api.calls)
            assert await api.deliver_webhook(update) == 200
            call = await next_call(api, 1001, ALBUM, mark)
            assert colours_of(api, call)[0] in ("red", "darkred")
            forged = api.state.updates.text("blue", user_id=1002)
            assert await api.deliver_webhook(forged, secret="wrong") == 403
            assert await api.deliver_webhook(forged, secret="") == 403
            await asyncio.sleep(0.3)
            assert not chat_calls(api, 1002)


async def test_unwritable_state_dir_falls_back_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_images(tmp_path / "images")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the state directory should be")
    settings = make_settings(tmp_path, state_dir=blocker / "state")
    build_catalog(settings, tmp_path / "images")
    with caplog.at_level(logging.WARNING):
        async with FakeBotApi(token=TOKEN) as api, bot_running(api, settings):
            first = await reply_to(api, "red")
            await wait_until(lambda: bool(texts_to(api, 1001)))
            second = await reply_to(api, "red", user_id=1002)
    assert first.method == second.method == "sendMediaGroup"
    assert all(fid for _, fid in album_photos(second))  # the cache works, in memory
    warnings = [r for r in caplog.records if "kept in memory" in r.getMessage()
                or "keeping it in memory" in r.getMessage()]
    assert len(warnings) == 1
