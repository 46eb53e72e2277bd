"""Search by photo, end to end: real PTB Application ↔ fake Bot API, colour catalog."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
import pytest_asyncio
from PIL import Image

from tests.fakes.color_encoder import PALETTE
from tests.fakes.telegram_api import FakeBotApi
from tests.fakes.telegram_protocol import Call
from tests.test_bot_helpers import (
    EXTRA,
    TOKEN,
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


def jpeg_of(name: str, size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, {**PALETTE, **EXTRA}[name]).save(out, format="JPEG", quality=90)
    return out.getvalue()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[FakeBotApi]:
    root = tmp_path_factory.mktemp("photos")
    write_images(root / "images")
    settings = make_settings(root, max_query_image_mb=5.0)
    build_catalog(settings, root / "images")
    async with FakeBotApi(token=TOKEN) as fake, bot_running(fake, settings):
        yield fake


async def reply_to(api: FakeBotApi, user: int, send: Callable[[], object]) -> Call:
    """Do ``send`` (inject an update) and return the bot's first reply to ``user``."""
    mark = len(api.calls)
    send()
    return await next_call(api, user, ANY_REPLY, mark)


async def test_photo_finds_itself_first_then_its_neighbours(api: FakeBotApi) -> None:
    user = 301
    call = await reply_to(api, user, lambda: api.send_photo(jpeg_of("red"), user_id=user))
    assert call.method == "sendMediaGroup"
    assert call.params["media"][0].get("caption") == "red.jpg"
    assert colours_of(api, call)[:2] == ["red", "darkred"]


async def test_image_sent_as_a_file_is_a_query_too(api: FakeBotApi) -> None:
    user = 302
    png = io.BytesIO()
    Image.new("RGB", (300, 300), PALETTE["green"]).save(png, format="PNG")
    call = await reply_to(
        api, user, lambda: api.send_document(png.getvalue(), "image/png", "x.png", user_id=user)
    )
    assert colours_of(api, call)[0] == "green"


async def test_caption_adds_its_words_to_the_picture(api: FakeBotApi) -> None:
    alone = await reply_to(api, 303, lambda: api.send_photo(jpeg_of("white"), user_id=303))
    both = await reply_to(
        api, 304, lambda: api.send_photo(jpeg_of("white"), caption="black", user_id=304)
    )
    assert colours_of(api, alone)[:2] != ["white", "black"]
    assert set(colours_of(api, both)[:2]) == {"white", "black"}


async def test_more_after_a_photo_continues_the_photo_ranking(api: FakeBotApi) -> None:
    user = 305
    first = await reply_to(api, user, lambda: api.send_photo(jpeg_of("blue"), user_id=user))
    await wait_until(lambda: len(texts_to(api, user)) >= 1)
    prompt = chat_calls(api, user, "sendMessage")[-1]
    button = prompt.params["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    message_id = max(m for (c, m) in api.state.updates.bot_messages if c == user)
    mark = len(api.calls)
    api.press_button(message_id, button, user_id=user)
    second = await next_call(api, user, ALBUM, mark)
    page1 = colours_of(api, first)
    page2 = colours_of(api, second)
    assert page1[0] == "blue" and not set(page1) & set(page2) and len(page2) == 3


async def test_pdf_gets_a_one_line_answer(api: FakeBotApi) -> None:
    call = await reply_to(
        api,
        306,
        lambda: api.send_document(b"%PDF-1.4 ...", "application/pdf", "a.pdf", user_id=306),
    )
    assert call.method == "sendMessage" and "not a picture" in call.params["text"]


async def test_broken_image_file_gets_a_one_line_answer(api: FakeBotApi) -> None:
    call = await reply_to(
        api,
        307,
        lambda: api.send_document(b"\xff\xd8\xff\xe0garbage", "image/jpeg", "b.jpg", user_id=307),
    )
    assert call.method == "sendMessage" and "not a picture" in call.params["text"]


async def test_too_big_document_is_refused_without_downloading(api: FakeBotApi) -> None:
    gets = len(api.calls_to("getFile"))
    big = b"\xff\xd8\xff" + bytes(25 * 1024 * 1024)  # 25 MB "JPEG"
    call = await reply_to(
        api, 308, lambda: api.send_document(big, "image/jpeg", "huge.jpg", user_id=308)
    )
    assert call.method == "sendMessage" and "too big" in call.params["text"]
    assert "5 MB" in call.params["text"]
    assert len(api.calls_to("getFile")) == gets


async def test_failed_download_gets_a_one_line_answer_and_the_bot_goes_on(
    api: FakeBotApi,
) -> None:
    user = 309
    update = api.state.updates.photo(jpeg_of("yellow"), user_id=user)
    file_id = update["message"]["photo"][-1]["file_id"]
    api.state.rejected_file_ids.add(file_id)  # getFile now answers "invalid file_id"
    call = await reply_to(api, user, lambda: api.send_raw(update))
    assert call.method == "sendMessage" and "could not fetch" in call.params["text"]
    after = await reply_to(api, user, lambda: api.send_photo(jpeg_of("yellow"), user_id=user))
    assert colours_of(api, after)[0] == "yellow"


async def test_photo_in_a_group_needs_a_mention(api: FakeBotApi) -> None:
    group = -4001
    mark = len(api.calls)
    api.send_photo(jpeg_of("red"), user_id=310, chat_id=group, chat_type="group")
    api.send_photo(
        jpeg_of("green"), caption="@t2i_test_bot", user_id=310, chat_id=group, chat_type="group"
    )
    call = await next_call(api, group, ANY_REPLY, mark)
    assert colours_of(api, call)[0] == "green"
    await wait_until(lambda: len(chat_calls(api, group)) >= 2)
    assert len([c for c in chat_calls(api, group) if c.method in ALBUM]) == 1
