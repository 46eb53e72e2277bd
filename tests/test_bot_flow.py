"""The bot end to end: real PTB Application ↔ fake Bot API over HTTP, colour catalog.

One fake server and one running bot for the whole module; every test uses its own user id
so the per-user flood control of one test never touches another.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from PIL import Image

from bot.app import services_of
from bot.media import LONG_SIDE, MAX_ASPECT, MAX_PHOTO_BYTES, MAX_SIDES_SUM
from search.engine import Searcher
from search.settings import Settings
from tests.fakes.telegram_api import FakeBotApi
from tests.fakes.telegram_protocol import Drop, RetryAfter, ServerError
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

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALBUM = ("sendMediaGroup", "sendPhoto")
ANY_REPLY = ("sendMediaGroup", "sendPhoto", "sendMessage")


class ExplodingSearcher(Searcher):
    """A real Searcher whose encoder fails for one magic word: a bug inside a handler."""

    def query_vectors(self, texts: Any) -> Any:
        if any("kaboom" in t for t in texts):
            raise RuntimeError("simulated bug while encoding")
        return super().query_vectors(texts)


class World:
    def __init__(self, api: FakeBotApi, app: Any, settings: Settings, images: Path) -> None:
        self.api, self.app, self.settings, self.images = api, app, settings, images

    def mark(self) -> int:
        return len(self.api.calls)

    async def ask(self, text: str, user_id: int, **who: Any) -> Any:
        """Send a text; return the bot's first reply once the chat has gone quiet."""
        chat = who.get("chat_id", user_id)
        mark = self.mark()
        self.api.send_text(text, user_id=user_id, **who)
        first = await next_call(self.api, chat, ANY_REPLY, mark)
        if first.method == "sendMediaGroup" and len(first.params["media"]) >= 3:
            # A full page is followed by its "More" prompt: wait for it to be part of this.
            after = self.api.calls.index(first) + 1
            await next_call(self.api, chat, ("sendMessage",), after)
        await self.quiet(chat, for_s=0.05)
        return first

    async def quiet(self, chat: int, for_s: float = 0.15) -> None:
        """Wait until nothing has been sent to ``chat`` for ``for_s`` (album + prompt done)."""
        while True:
            count = len(chat_calls(self.api, chat))
            await asyncio.sleep(for_s)
            if len(chat_calls(self.api, chat)) == count:
                return


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    root = tmp_path_factory.mktemp("botflow")
    write_images(root / "images")
    settings = make_settings(root)
    build_catalog(settings, root / "images")
    async with (
        FakeBotApi(token=TOKEN) as api,
        bot_running(api, settings, ExplodingSearcher) as app,
    ):
        yield World(api, app, settings, root / "images")


def check_photo_limits(data: bytes) -> None:
    assert len(data) <= MAX_PHOTO_BYTES
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "JPEG"
        width, height = image.size
    assert width + height <= MAX_SIDES_SUM and max(width, height) <= LONG_SIDE
    assert max(width, height) <= MAX_ASPECT * min(width, height)


async def test_english_query_gets_an_album_in_colour_order(world: World) -> None:
    call = await world.ask("a red dress", user_id=101)
    assert call.method == "sendMediaGroup"
    photos = album_photos(call)
    assert len(photos) == 3
    for data, _ in photos:
        assert data is not None  # first time: uploaded
        check_photo_limits(data)
    assert colours_of(world.api, call)[:2] == ["red", "darkred"]
    captions = [item.get("caption") for item in call.params["media"]]
    assert captions[:2] == ["red.jpg", "darkred.jpg"]


async def test_russian_query_gets_an_album_and_russian_texts(world: World) -> None:
    call = await world.ask("синее платье", user_id=102, language_code="ru")
    assert call.method == "sendMediaGroup"
    assert colours_of(world.api, call)[0] == "blue"
    await wait_until(lambda: bool(texts_to(world.api, 102)))
    prompt = chat_calls(world.api, 102, "sendMessage")[-1]
    assert "Ещё" in str(prompt.params["reply_markup"])


async def test_second_identical_query_reuses_file_ids(world: World) -> None:
    first = await world.ask("green", user_id=103)
    second = await world.ask("green", user_id=103)
    reused = album_photos(second)
    assert all(data is None and file_id for data, file_id in reused)
    assert not second.files  # nothing uploaded
    assert colours_of(world.api, second) == colours_of(world.api, first)


async def test_more_pages_through_all_results_and_ends_with_one_photo(world: World) -> None:
    user = 104
    first = await world.ask("yellow", user_id=user)
    await wait_until(lambda: len(texts_to(world.api, user)) >= 1)
    prompt = chat_calls(world.api, user, "sendMessage")[-1]
    button = prompt.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert len(button.encode()) <= 64
    message_id = max(m for (c, m) in world.api.state.updates.bot_messages if c == user)

    mark = world.mark()
    world.api.press_button(message_id, button, user_id=user)
    second = await next_call(world.api, user, ALBUM, mark)
    await world.api.wait_for("answerCallbackQuery", 1)
    await wait_until(lambda: len(texts_to(world.api, user)) >= 2)
    message_id = max(m for (c, m) in world.api.state.updates.bot_messages if c == user)

    mark = world.mark()
    world.api.press_button(message_id, button, user_id=user)
    third = await next_call(world.api, user, ALBUM, mark)
    assert third.method == "sendPhoto"  # 7 images, 3 per page: the last page has one
    seen = colours_of(world.api, first) + colours_of(world.api, second)
    seen += colours_of(world.api, third)
    assert seen[0] == "yellow" and len(set(seen)) == 7  # every image once, none repeated


async def test_unknown_more_id_answers_the_callback_with_a_notice(world: World) -> None:
    await world.ask("black", user_id=105)
    message_id = max(m for (c, m) in world.api.state.updates.bot_messages if c == 105)
    before = len(world.api.calls_to("answerCallbackQuery"))
    world.api.press_button(message_id, "more:doesnotexist", user_id=105, strict=False)
    answers = await world.api.wait_for("answerCallbackQuery", before + 1)
    assert "expired" in str(answers[-1].params.get("text"))


@pytest.mark.parametrize(
    ("user", "text"),
    [(110, "   \t  "), (111, "\u200b\u200c\u200d\u2060"), (112, "\u200f\u200e")],
)
async def test_empty_looking_text_gets_a_prompt_for_words(
    world: World, user: int, text: str
) -> None:
    call = await world.ask(text, user_id=user)
    assert call.method == "sendMessage"
    assert "few words" in call.params["text"]


@pytest.mark.parametrize(
    ("user", "text"),
    [
        (113, "red " * 1024),  # 4096 characters, Telegram's maximum
        (114, "🔴🌹🍒"),
        (115, "שמלה red אדומה"),  # RTL with a Latin word
        (116, "re\u200bd dress \u200b red"),
    ],
)
async def test_odd_texts_still_get_an_album(world: World, user: int, text: str) -> None:
    call = await world.ask(text, user_id=user)
    assert call.method == "sendMediaGroup"
    if "red" in text.split():
        assert colours_of(world.api, call)[0] in ("red", "darkred")


async def test_edited_message_is_answered_as_a_new_query(world: World) -> None:
    first = await world.ask("white", user_id=117)
    mark = world.mark()
    world.api.edit_text(1, "blue", user_id=117)
    edited = await next_call(world.api, 117, ALBUM, mark)
    assert colours_of(world.api, first)[0] == "white"
    assert colours_of(world.api, edited)[0] == "blue"


@pytest.mark.parametrize("kind", ["sticker", "voice", "document"])
async def test_non_text_messages_get_a_hint(world: World, kind: str) -> None:
    user = {"sticker": 120, "voice": 121, "document": 122}[kind]
    mark = world.mark()
    if kind == "sticker":
        world.api.send_sticker(user_id=user)
    elif kind == "voice":
        world.api.send_voice(user_id=user)
    else:
        world.api.send_document(b"%PDF-1.4", "application/pdf", "a.pdf", user_id=user)
    call = await next_call(world.api, user, ANY_REPLY, mark)
    expected = "not a picture" if kind == "document" else "few words"  # a PDF: say why
    assert call.method == "sendMessage" and expected in call.params["text"]


async def test_spamming_user_is_throttled_and_others_are_not_delayed(world: World) -> None:
    spammer, other = 130, 131
    for _ in range(20):
        world.api.send_text("red", user_id=spammer)
    answer = await world.ask("blue", user_id=other)
    assert answer.method == "sendMediaGroup"
    await wait_until(lambda: "slow down" in " ".join(texts_to(world.api, spammer)).lower())
    await wait_until(lambda: not world.api.pending_updates)
    albums = chat_calls(world.api, spammer, "sendMediaGroup")
    notes = [t for t in texts_to(world.api, spammer) if "slow down" in t.lower()]
    assert len(albums) == world.settings.user_burst
    assert len(notes) == 1


async def test_retry_after_is_honoured_and_the_album_delivered(world: World) -> None:
    world.api.inject("sendMediaGroup", RetryAfter(1))
    mark = world.mark()
    world.api.send_text("green", user_id=140)
    call = await next_call(world.api, 140, ALBUM, mark, within=10)
    refused = [c for c in world.api.calls[mark:] if isinstance(c.fault, RetryAfter)]
    assert refused and call.time - refused[0].time >= 1.0


@pytest.mark.parametrize("fault", [ServerError(500), Drop()], ids=["500", "dropped"])
async def test_server_errors_and_dropped_connections_are_retried(
    world: World, fault: Any
) -> None:
    user = 141 if isinstance(fault, ServerError) else 142
    world.api.inject("sendMediaGroup", fault)
    mark = world.mark()
    world.api.send_text("yellow", user_id=user)
    call = await next_call(world.api, user, ALBUM, mark, within=10)
    assert call.method == "sendMediaGroup"
    assert any(c.fault == fault for c in world.api.calls[mark:])
    await world.quiet(user, for_s=1.2)  # the prompt may be on a retry of its own
    follow_up = await world.ask("black", user_id=user)  # the bot keeps serving
    assert follow_up.method == "sendMediaGroup", follow_up.params.get("text")


async def test_exception_in_a_handler_gets_an_apology_and_the_bot_goes_on(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    call = await world.ask("kaboom red", user_id=150)
    assert call.method == "sendMessage" and "went wrong" in call.params["text"]
    assert "simulated bug" in caplog.text
    russian = await world.ask("kaboom", user_id=151, language_code="ru")
    assert "пошло не так" in russian.params["text"]
    assert (await world.ask("red", user_id=150)).method == "sendMediaGroup"


async def test_rejected_cached_file_id_is_uploaded_again_and_cache_refreshed(
    world: World,
) -> None:
    first = await world.ask("darkred", user_id=160)
    cached = await world.ask("darkred", user_id=160)
    ids = [fid for _, fid in album_photos(cached)]
    assert all(ids)
    world.api.rejected_file_ids.update(str(i) for i in ids)  # e.g. Telegram expired them
    mark = world.mark()
    await world.ask("darkred", user_id=160)
    attempts = [c for c in world.api.calls[mark:] if c.method == "sendMediaGroup"]
    assert len(attempts) == 2  # refused with the stale ids, then re-sent with uploads
    again = attempts[-1]
    assert all(data is not None for data, _ in album_photos(again))
    assert colours_of(world.api, again) == colours_of(world.api, first)
    fresh = await world.ask("darkred", user_id=161)
    new_ids = [fid for _, fid in album_photos(fresh)]
    assert all(new_ids) and not set(new_ids) & set(ids)


async def test_vanished_file_is_skipped_and_the_album_still_goes_out(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    state = services_of(world.app).require_state()
    await state.forget_file_ids(world.app.bot.id, range(1, 100))  # nothing cached: upload all
    (world.images / "white.jpg").rename(world.images / "white.moved")
    try:
        call = await world.ask("white white white", user_id=170)
    finally:
        (world.images / "white.moved").rename(world.images / "white.jpg")
    assert call.method == "sendMediaGroup"
    assert len(call.params["media"]) == 2  # the top hit, white, is gone; two remain
    assert "white" not in colours_of(world.api, call)
    assert "white.jpg" in caplog.text


async def test_groups_answer_only_mentions_replies_and_commands(world: World) -> None:
    group = -100_777
    who = {"user_id": 180, "chat_id": group, "chat_type": "supergroup"}
    mark = world.mark()
    world.api.send_text("red dress", **who)  # not addressed: silence
    world.api.send_sticker(**who)  # not addressed: silence
    mention = await world.ask("@t2i_test_bot red dress", **who)
    assert mention.method == "sendMediaGroup"
    assert colours_of(world.api, mention)[0] in ("red", "darkred")
    reply = await world.ask("blue", reply_to_bot=True, **who)
    assert reply.method == "sendMediaGroup" and colours_of(world.api, reply)[0] == "blue"
    help_call = await world.ask("/help@t2i_test_bot", **who)
    assert help_call.method == "sendMessage" and "/start" in help_call.params["text"]
    group_calls = [c for c in world.api.calls[mark:] if c.params.get("chat_id") == group]
    sends = [c for c in group_calls if c.method.startswith("send") and "Action" not in c.method]
    # mention: album + More prompt; reply: album + prompt; /help: one message.
    assert len(sends) == 5


async def test_token_never_appears_in_logs(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    world.api.inject("sendMediaGroup", Drop())
    await world.ask("green", user_id=190)
    logging.getLogger("probe").error("url was http://x/bot%s/getMe", TOKEN)
    assert TOKEN not in caplog.text
    assert TOKEN.split(":")[1] not in caplog.text
    assert "<redacted-token>" in caplog.text


async def test_commands_menu_and_start(world: World) -> None:
    assert world.api.commands, "setMyCommands was not called"
    names = {c["command"] for cmds in world.api.commands.values() for c in cmds}
    assert names == {"start", "help"}
    call = await world.ask("/start", user_id=195)
    assert "red dress" in call.params["text"]
    ru = await world.ask("/start", user_id=196, language_code="ru")
    assert "Привет" in ru.params["text"]


async def test_heartbeat_file_is_written(world: World) -> None:
    from bot.health import healthcheck

    healthy, reason = healthcheck(world.settings.heartbeat_file)
    assert healthy, reason
