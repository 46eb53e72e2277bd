"""The fake Bot API behaves like Telegram for the real python-telegram-bot client.

Every test drives the fake over HTTP with PTB itself, so a test here failing
means the bot's tests would see something Telegram would not do.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import io
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
import telegram
from aiohttp import web
from PIL import Image
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultCachedPhoto,
    InputMediaPhoto,
    Update,
)
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter
from telegram.ext import Application, ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes import telegram_api as fake
from tests.fakes.telegram_api import FakeBotApi, FakeBotApiThread

TOKEN = "123456:TEST-token_abc"
USER = 1001
REPO_ROOT = Path(__file__).resolve().parent.parent


def jpeg(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, "JPEG")
    return buffer.getvalue()


def seconds(value: int | dtm.timedelta) -> float:
    """RetryAfter.retry_after is an int or a timedelta depending on PTB settings."""
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server


@pytest_asyncio.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[telegram.Bot]:
    client = telegram.Bot(TOKEN, base_url=api.base_url, base_file_url=api.base_file_url)
    async with client:
        yield client


async def test_get_me_answers_the_test_bot(api: FakeBotApi, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert me.username == "t2i_test_bot"
    assert me.is_bot and me.supports_inline_queries and me.can_join_groups
    assert api.calls_to("getMe") and api.calls_to("getMe")[0].token == TOKEN
    assert api.base_url.startswith("http://127.0.0.1:")


async def test_malformed_token_is_unauthorized(api: FakeBotApi) -> None:
    client = telegram.Bot("not-a-token", base_url=api.base_url)
    with pytest.raises(InvalidToken):
        await client.get_me()


async def test_album_upload_records_jpeg_bytes_and_captions(
    api: FakeBotApi, bot: telegram.Bot
) -> None:
    images = [jpeg((255, 0, 0), (120, 80)), jpeg((0, 0, 255), (50, 90))]
    sent = await bot.send_media_group(
        USER,
        [
            InputMediaPhoto(images[0], caption="<b>red</b> &amp; wide", parse_mode="HTML"),
            InputMediaPhoto(images[1]),
        ],
    )
    assert len(sent) == 2 and sent[0].media_group_id == sent[1].media_group_id
    assert [p.data for p in api.sent_photos] == images
    assert api.sent_photos[0].caption == "<b>red</b> &amp; wide"
    assert api.sent_photos[0].parse_mode == "HTML"
    assert sent[0].caption == "red & wide"
    assert all(p.filename == "application.octet-stream" for p in api.sent_photos)
    largest = sent[0].photo[-1]
    assert (largest.width, largest.height) == (120, 80)
    assert len({m.photo[-1].file_id for m in sent}) == 2
    with Image.open(io.BytesIO(api.sent_photos[1].data or b"")) as decoded:
        assert decoded.size == (50, 90)


async def test_issued_file_id_can_be_resent_without_upload(
    api: FakeBotApi, bot: telegram.Bot
) -> None:
    first = await bot.send_photo(USER, jpeg(), caption="первый 🐱 [1]")
    assert api.sent_photos[0].caption == first.caption == "первый 🐱 [1]"
    file_id = first.photo[-1].file_id
    again = await bot.send_photo(USER, file_id, caption="again")
    assert again.photo[-1].file_id == file_id
    assert api.sent_photos[-1].file_id == file_id and api.sent_photos[-1].data is None
    assert not api.calls_to("sendPhoto")[-1].files


async def test_unknown_or_rejected_file_id_is_a_bad_request(
    api: FakeBotApi, bot: telegram.Bot
) -> None:
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        await bot.send_photo(USER, "AgACnever-issued")
    known = (await bot.send_photo(USER, jpeg())).photo[-1].file_id
    api.rejected_file_ids.add(known)
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier/HTTP URL specified"):
        await bot.send_media_group(USER, [InputMediaPhoto(known), InputMediaPhoto(jpeg())])


async def test_telegram_limits_are_enforced(api: FakeBotApi, bot: telegram.Bot) -> None:
    photo = jpeg()
    with pytest.raises(BadRequest):
        await bot.send_media_group(USER, [InputMediaPhoto(photo)])
    with pytest.raises(BadRequest, match=r"(?i)too many"):
        await bot.send_media_group(USER, [InputMediaPhoto(photo)] * 11)
    with pytest.raises(BadRequest, match=r"(?i)caption is too long"):
        await bot.send_photo(USER, photo, caption="x" * 1025)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        button = InlineKeyboardButton("more", callback_data="é" * 33)  # 66 bytes
        await bot.send_message(USER, "hits", reply_markup=InlineKeyboardMarkup([[button]]))
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(USER, "cats < dogs", parse_mode="HTML")
    assert api.sent_photos == []  # nothing rejected was recorded as sent
    ok = await bot.send_message(USER, "x" * 4096)
    assert len(ok.text or "") == 4096


async def test_inline_answer_limits(api: FakeBotApi, bot: telegram.Bot) -> None:
    file_id = (await bot.send_photo(USER, jpeg())).photo[-1].file_id
    query_id = api.inline_query("cats")["inline_query"]["id"]
    results = [InlineQueryResultCachedPhoto(str(i), file_id) for i in range(51)]
    with pytest.raises(BadRequest, match=r"(?i)RESULTS_TOO_MUCH"):
        await bot.answer_inline_query(query_id, results)
    with pytest.raises(BadRequest, match=r"(?i)NEXT_OFFSET_INVALID"):
        await bot.answer_inline_query(query_id, results[:50], next_offset="9" * 65)
    assert await bot.answer_inline_query(query_id, results[:50], next_offset="50")
    assert len(api.calls_to("answerInlineQuery")[-1].params["results"]) == 50


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_retry_after_fault_raises_ptb_retry_after(api: FakeBotApi, bot: telegram.Bot) -> None:
    api.inject("sendMessage", fake.RetryAfter(7))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(USER, "hi")
    assert seconds(caught.value.retry_after) == 7
    assert (await bot.send_message(USER, "hi")).text == "hi"  # the fault was consumed


async def test_server_error_and_dropped_connection_are_network_errors(
    api: FakeBotApi, bot: telegram.Bot
) -> None:
    api.inject("sendMediaGroup", fake.ServerError(500), fake.Drop())
    album = [InputMediaPhoto(jpeg()), InputMediaPhoto(jpeg())]
    with pytest.raises(NetworkError) as first:
        await bot.send_media_group(USER, album)
    assert not isinstance(first.value, BadRequest)
    with pytest.raises(NetworkError, match=r"(?i)disconnected|Server"):
        await bot.send_media_group(USER, album)
    assert len(await bot.send_media_group(USER, album)) == 2
    assert [c.fault for c in api.calls_to("sendMediaGroup")] == [
        fake.ServerError(500),
        fake.Drop(),
        None,
    ]


async def test_delay_fault_and_latency_slow_the_answer(api: FakeBotApi, bot: telegram.Bot) -> None:
    api.inject("sendChatAction", fake.Delay(0.3))
    started = time.monotonic()
    assert await bot.send_chat_action(USER, "upload_photo")
    assert time.monotonic() - started >= 0.3
    api.latency = 0.2
    started = time.monotonic()
    await bot.send_message(USER, "slow")
    assert time.monotonic() - started >= 0.2


async def test_long_poll_wakes_when_an_update_arrives(api: FakeBotApi, bot: telegram.Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()
    started = time.monotonic()
    injected = api.send_text("123", language_code="ru")
    updates = await poll
    assert time.monotonic() - started < 1.0
    assert [u.update_id for u in updates] == [injected["update_id"]]
    message = updates[0].message
    assert message is not None and message.text == "123"
    assert message.from_user is not None and message.from_user.language_code == "ru"
    confirmed = await bot.get_updates(offset=updates[0].update_id + 1, timeout=0)
    assert confirmed == () and api.pending_updates == []


async def test_polling_while_webhook_is_set_conflicts(api: FakeBotApi, bot: telegram.Bot) -> None:
    await bot.set_webhook("https://example.invalid/hook", secret_token="s3cret")
    assert api.webhook["secret_token"] == "s3cret"
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)
    await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""


async def test_webhook_delivery_posts_update_with_secret(
    api: FakeBotApi, bot: telegram.Bot
) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="s3cret")
        update = api.send_command("/start")
        assert await api.deliver_webhook(update) == 200
        assert received == [("s3cret", update)]
    finally:
        await runner.cleanup()


async def test_files_download_through_get_file(api: FakeBotApi, bot: telegram.Bot) -> None:
    user_image = jpeg((10, 200, 10), (30, 20))
    update = api.send_photo(user_image, caption="like this")
    user_file = await bot.get_file(update["message"]["photo"][-1]["file_id"])
    assert user_file.file_size == len(user_image)
    assert bytes(await user_file.download_as_bytearray()) == user_image
    sent_image = jpeg()
    sent = await bot.send_photo(USER, sent_image)
    sent_file = await bot.get_file(sent.photo[-1].file_id)
    assert bytes(await sent_file.download_as_bytearray()) == sent_image


async def test_buttons_callbacks_and_edits(api: FakeBotApi, bot: telegram.Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("More", callback_data="more:1")]])
    sent = await bot.send_message(USER, "3 results", reply_markup=keyboard)
    with pytest.raises(ValueError, match=r"(?i)no button"):
        api.press_button(sent.message_id, "less:1")
    api.press_button(sent.message_id, "more:1")
    (update,) = await bot.get_updates(timeout=1)
    assert update.callback_query is not None and update.callback_query.data == "more:1"
    assert await update.callback_query.answer()
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await update.callback_query.answer()
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("3 results", USER, sent.message_id, reply_markup=keyboard)
    edited = await bot.edit_message_text("6 results", USER, sent.message_id)
    assert isinstance(edited, telegram.Message) and edited.reply_markup is None


async def test_injected_updates_parse_as_ptb_objects(api: FakeBotApi, bot: telegram.Bot) -> None:
    await bot.send_message(-500, "earlier bot reply")
    api.send_command("/start@t2i_test_bot deep", chat_type="group", chat_id=-500)
    api.send_text("and this?", chat_type="group", chat_id=-500, reply_to_bot=True)
    api.send_document(jpeg(), "image/jpeg", "cat.jpg", caption="as file")
    api.send_sticker()
    api.send_voice(duration=3)
    api.edit_text(42, "fixed typo")
    updates = await bot.get_updates(timeout=0)
    command, reply, document, sticker, voice, edited = (u.effective_message for u in updates)
    assert command is not None and command.chat.type == "group"
    assert command.parse_entities() and command.text == "/start@t2i_test_bot deep"
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.text == "earlier bot reply"
    assert document is not None and document.document is not None
    assert document.document.file_name == "cat.jpg"
    downloaded = await (await bot.get_file(document.document.file_id)).download_as_bytearray()
    assert bytes(downloaded) == jpeg()
    assert sticker is not None and sticker.sticker is not None
    assert voice is not None and voice.voice is not None
    assert updates[-1].edited_message is not None and edited is not None
    assert edited.message_id == 42 and edited.text == "fixed typo"


async def test_unknown_method_is_not_found(bot: telegram.Bot) -> None:
    with pytest.raises(telegram.error.EndPointNotFound):
        await bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": USER})


async def test_commands_round_trip(bot: telegram.Bot) -> None:
    await bot.set_my_commands([("start", "Start"), ("help", "Help")], language_code="ru")
    commands = await bot.get_my_commands(language_code="ru")
    assert [c.command for c in commands] == ["start", "help"]
    assert await bot.get_my_commands() == ()


async def test_wait_for_reports_what_arrived(api: FakeBotApi, bot: telegram.Bot) -> None:
    await bot.get_me()
    with pytest.raises(TimeoutError, match=r"sendMessage.*getMe"):
        await api.wait_for("sendMessage", timeout=0.2)
    waiter = asyncio.create_task(api.wait_for("sendMessage", count=2, timeout=3))
    await bot.send_message(USER, "a")
    await bot.send_message(USER, "b")
    assert [c.params["text"] for c in await waiter] == ["a", "b"]


async def test_ptb_application_echoes_through_polling(api: FakeBotApi) -> None:
    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"echo: {update.effective_message.text}")

    app: Application = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        api.send_text("hello bot")
        (call,) = await api.wait_for("sendMessage", timeout=5)
        assert call.params["text"] == "echo: hello bot" and call.params["chat_id"] == USER
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
    assert api.calls_to("deleteWebhook") and api.pending_updates == []


def test_thread_wrapper_serves_sync_callers() -> None:
    with FakeBotApiThread() as server:
        server.send_text("from a thread")

        async def poll() -> tuple[Update, ...]:
            async with telegram.Bot(TOKEN, base_url=server.base_url) as client:
                return await client.get_updates(timeout=1)

        updates = asyncio.run(poll())
        assert updates[0].message is not None and updates[0].message.text == "from a thread"
        assert [c.method for c in server.wait_for("getUpdates")] == ["getUpdates"]
        assert server.calls[0].method == "getMe"


@pytest.mark.slow
def test_process_mode_prints_ready_and_calls() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.telegram_api", "--port", "0"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "READY" and ready[1].startswith("http://127.0.0.1:")

        async def hello() -> None:
            async with telegram.Bot(TOKEN, base_url=ready[1]) as client:
                await client.set_my_commands([("start", "Start")])

        asyncio.run(hello())
        assert proc.stdout.readline().strip() == "CALL getMe"
        assert proc.stdout.readline().strip() == "CALL setMyCommands"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0
