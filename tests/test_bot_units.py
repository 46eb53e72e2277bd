"""The bot's pure parts: batcher, flood control, JPEG preparation, captions, texts, state,
health check, token redaction and the ``python -m bot`` edge."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot import logs
from bot.access import AllowList, UserThrottle, mentions, strip_mention
from bot.health import healthcheck, touch
from bot.media import ImageUnavailable, caption_for, jpeg_from_bytes, prepare_jpeg
from bot.state import BotState
from bot.texts import language, text
from search.batching import MicroBatcher
from search.catalog import ImageRow


# --- micro-batcher ---------------------------------------------------------------------------
async def test_batcher_merges_concurrent_requests_into_one_call() -> None:
    calls: list[list[int]] = []
    threads: set[str] = set()

    def square(items: list[int]) -> list[int]:
        calls.append(items)
        threads.add(threading.current_thread().name)
        return [i * i for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(square, window_ms=20, max_batch=32)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)))
    await batcher.close()
    assert results == [i * i for i in range(10)]
    assert calls == [list(range(10))]
    assert threading.current_thread().name not in threads  # never on the event loop thread


async def test_batcher_respects_max_batch_and_off_means_one_by_one() -> None:
    sizes: list[int] = []

    def echo(items: list[int]) -> list[int]:
        sizes.append(len(items))
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(echo, window_ms=20, max_batch=4)
    assert await asyncio.gather(*(batcher.submit(i) for i in range(10))) == list(range(10))
    assert max(sizes) == 4 and sum(sizes) == 10
    await batcher.close()
    sizes.clear()
    off: MicroBatcher[int, int] = MicroBatcher(echo, window_ms=0, max_batch=1)
    await asyncio.gather(*(off.submit(i) for i in range(5)))
    await off.close()
    assert sizes == [1] * 5


async def test_batcher_isolates_a_failing_item() -> None:
    def picky(items: list[int]) -> list[int]:
        if 3 in items:
            raise ValueError("three is bad")
        return items

    batcher: MicroBatcher[int, int] = MicroBatcher(picky, window_ms=20, max_batch=32)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    await batcher.close()
    assert results[:3] == [0, 1, 2] and results[4] == 4
    assert isinstance(results[3], ValueError)


# --- access ----------------------------------------------------------------------------------
def test_throttle_allows_a_burst_then_warns_once_then_refills() -> None:
    now = [0.0]
    throttle = UserThrottle(burst=3, per_minute=60, clock=lambda: now[0])
    outcomes = [throttle.take(1) for _ in range(6)]
    assert outcomes == [(True, False)] * 3 + [(False, True), (False, False), (False, False)]
    assert throttle.take(2) == (True, False)  # another user is not affected
    now[0] += 1.0  # one token per second
    assert throttle.take(1) == (True, False)


def test_allow_list_and_mentions() -> None:
    assert AllowList().allows(1, 1)
    allow = AllowList(user_ids=[5], chat_ids=[-100])
    assert allow.allows(5, 9) and allow.allows(9, -100) and not allow.allows(9, 9)
    assert allow.first_refusal(9) and not allow.first_refusal(9)
    assert mentions("hi @T2I_Test_Bot red", "t2i_test_bot")
    assert not mentions("mail me@t2i_test_bot.com", "t2i_test_bot")
    assert strip_mention("@t2i_test_bot  red dress", "t2i_test_bot") == "red dress"


# --- media -----------------------------------------------------------------------------------
def _encoded(image: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt)
    return out.getvalue()


def test_jpeg_within_limits_for_big_transparent_and_panorama_images() -> None:
    big = jpeg_from_bytes(_encoded(Image.new("RGB", (4000, 3000), (1, 2, 3)), "JPEG"))
    with Image.open(io.BytesIO(big)) as image:
        assert image.format == "JPEG" and max(image.size) == 1280
    clear = jpeg_from_bytes(_encoded(Image.new("RGBA", (64, 64), (0, 0, 0, 0)), "PNG"))
    with Image.open(io.BytesIO(clear)) as image:
        assert image.convert("RGB").getpixel((5, 5)) >= (250, 250, 250)  # onto white
    strip = jpeg_from_bytes(_encoded(Image.new("RGB", (3000, 50), (9, 9, 9)), "PNG"))
    with Image.open(io.BytesIO(strip)) as image:
        width, height = image.size
        assert width <= 20 * height and width + height <= 10_000
    cmyk = jpeg_from_bytes(_encoded(Image.new("CMYK", (40, 40)), "JPEG"))
    assert Image.open(io.BytesIO(cmyk)).mode == "RGB"


def test_a_plain_jpeg_within_limits_is_sent_byte_for_byte() -> None:
    photo = _encoded(Image.new("RGB", (1280, 853), (200, 40, 40)), "JPEG")
    assert jpeg_from_bytes(photo) is photo  # not even copied: no decode, no re-encode
    grey = _encoded(Image.new("L", (300, 200), 90), "JPEG")
    assert jpeg_from_bytes(grey) is grey


def test_metadata_size_and_damage_still_go_through_re_encoding() -> None:
    gps = Image.Exif()
    gps[0x8825] = {2: (48.0, 51.0, 24.0)}  # GPSInfo: where the photo was taken
    gps[0x0112] = 6  # Orientation: rotate 90° when shown
    out = io.BytesIO()
    Image.new("RGB", (120, 60), (1, 2, 3)).save(out, "JPEG", exif=gps.tobytes())
    tagged = out.getvalue()
    sent = jpeg_from_bytes(tagged)
    with Image.open(io.BytesIO(sent)) as image:
        assert "exif" not in image.info and image.size == (60, 120)  # rotated, no GPS
    assert jpeg_from_bytes(tagged, long_side=100) != tagged
    big = _encoded(Image.new("RGB", (1281, 100), (5, 5, 5)), "JPEG")
    assert Image.open(io.BytesIO(jpeg_from_bytes(big))).size[0] == 1280
    clean = _encoded(Image.new("RGB", (200, 100), (5, 5, 5)), "JPEG")
    assert jpeg_from_bytes(clean, max_bytes=len(clean) - 1) != clean
    # Cut short: decoding it is what decides (PIL pads a truncated JPEG or refuses it).
    with pytest.raises(ImageUnavailable):
        jpeg_from_bytes(clean[: len(clean) // 3])


def test_missing_or_broken_files_are_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ImageUnavailable):
        prepare_jpeg(tmp_path / "gone.jpg")
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    with pytest.raises(ImageUnavailable):
        prepare_jpeg(tmp_path / "bad.jpg")


def _row(**kw: object) -> ImageRow:
    base: dict[str, object] = dict(
        id=1, source="folder", key="k", path="/x/cat.jpg", content_hash="h", width=1, height=1
    )
    base.update(kw)
    return ImageRow(**base)  # type: ignore[arg-type]


def test_captions_use_titles_attribution_and_file_names() -> None:
    assert caption_for(_row()) == "cat.jpg"
    assert caption_for(_row(caption="A cat on a mat")) == "A cat on a mat"
    unsplash = _row(
        source="unsplash",
        caption="Foggy hills",
        metadata={"photographer_name": "Ann Lee", "photo_url": "https://u/p/1"},
    )
    assert caption_for(unsplash) == "Foggy hills\nPhoto by Ann Lee on Unsplash\nhttps://u/p/1"
    fashion = _row(metadata={"productDisplayName": "Blue Denim Jacket", "x": {"y": 1}})
    assert caption_for(fashion) == "Blue Denim Jacket"
    long = caption_for(_row(caption="word " * 400))
    assert len(long) <= 1024 and long.endswith("\u2026")
    assert "{" not in caption_for(_row(metadata={"title": {"nested": True}}))


def test_texts_follow_the_language_code() -> None:
    assert language("ru-RU") == "ru" and language("de") == "en" and language(None) == "en"
    assert text("more_button", "ru") == "Ещё" and text("more_button", "fr") == "More"
    assert "@mybot" in text("help", "en", username="mybot")


# --- state -------------------------------------------------------------------------------------
async def test_state_caches_file_ids_and_pages_with_expiry(tmp_path: Path) -> None:
    state = await BotState.open(tmp_path)
    await state.store_file_ids(1, {10: "A", 11: "B"})
    await state.store_file_ids(2, {10: "other-bot"})
    assert await state.file_ids(1, [10, 11, 12]) == {10: "A", 11: "B"}
    await state.forget_file_ids(1, [10])
    assert await state.file_ids(1, [10, 11]) == {11: "B"}
    qid = await state.new_page(5, 6, "red", [1, 2, 3], "en")
    assert len(f"more:{qid}".encode()) <= 64
    await state.extend_page(qid, [4, 5])
    page = await state.page(qid, max_age_s=60)
    assert page is not None and page.shown_ids == (1, 2, 3, 4, 5) and page.query == "red"
    await asyncio.sleep(0.01)
    assert await state.page(qid, max_age_s=0.001) is None  # expired
    assert await state.expire_pages(0.001) == 1
    await state.close()


async def test_state_survives_many_concurrent_writers(tmp_path: Path) -> None:
    """32 albums finishing at once: every write lands, none fails with "API misuse"
    (cursors left to the garbage collector broke the shared connection under this load)."""
    state = await BotState.open(tmp_path)

    async def user(n: int) -> None:
        for j in range(20):
            await state.store_file_ids(1, {n * 100 + j: f"id-{n}-{j}"})
            qid = await state.new_page(n, n, "q", [1, 2], "en", np.ones(4, np.float32))
            await state.extend_page(qid, [3])
            page = await state.page(qid, max_age_s=60)
            assert page is not None and page.vector is not None and page.shown_ids == (1, 2, 3)

    await asyncio.gather(*(user(n) for n in range(32)))
    assert len(await state.cached_image_ids(1)) == 32 * 20
    await state.close()


async def test_state_file_from_before_photo_queries_gains_the_vector_column(
    tmp_path: Path,
) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "bot-state.sqlite3")
    old.execute(
        "CREATE TABLE pages (qid TEXT PRIMARY KEY, chat_id INTEGER NOT NULL, user_id INTEGER, "
        "query TEXT NOT NULL, shown_ids TEXT NOT NULL, lang TEXT NOT NULL, "
        "created_at REAL NOT NULL)"
    )
    old.execute("INSERT INTO pages VALUES ('abc', 1, 2, 'red', '[7]', 'en', 1e12)")
    old.commit()
    old.close()
    state = await BotState.open(tmp_path)
    kept = await state.page("abc", max_age_s=float("inf"))
    assert kept is not None and kept.query == "red" and kept.vector is None
    qid = await state.new_page(1, 2, "photo", [8], "en", np.array([0.6, 0.8], np.float32))
    page = await state.page(qid, max_age_s=60)
    assert (
        page is not None
        and page.vector is not None
        and page.vector.tolist() == [pytest.approx(0.6), pytest.approx(0.8)]
    )
    await state.close()


# --- health --------------------------------------------------------------------------------------
def test_healthcheck_by_heartbeat_age(tmp_path: Path) -> None:
    beat = tmp_path / "beat"
    assert not healthcheck(beat)[0]
    touch(beat)
    assert healthcheck(beat)[0]
    old = time.time() - 120
    os.utime(beat, (old, old))
    healthy, reason = healthcheck(beat)
    assert not healthy and "last heartbeat" in reason


# --- token redaction and the CLI edge ------------------------------------------------------------
def test_token_is_redacted_from_messages_args_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    token = "123456789:AAFsuperSecretTokenValue_x"
    logs.protect([token])
    log = logging.getLogger("redaction-test")
    with caplog.at_level(logging.DEBUG):
        log.info("calling https://api.telegram.org/bot%s/getMe", token)
        log.debug(f"token {token} in an f-string")
        try:
            raise RuntimeError(f"The token `{token}` was rejected by the server.")
        except RuntimeError:
            log.exception("start-up failed")
    assert token not in caplog.text and "AAFsuperSecretTokenValue_x" not in caplog.text
    assert caplog.text.count(logs.REDACTED) >= 3


def test_missing_token_is_one_line_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("T2I_BOT_TOKEN", "")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "T2I_BOT_TOKEN is not set" in err and "BotFather" in err


def test_webhook_without_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("T2I_BOT_TOKEN", "1:abcdefghijk")
    monkeypatch.setenv("T2I_WEBHOOK_URL", "https://example.org/hook")
    assert main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "T2I_WEBHOOK_SECRET" in err
    assert "abcdefghijk" not in err


def test_healthcheck_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.__main__ import main

    monkeypatch.setenv("T2I_HEARTBEAT_FILE", str(tmp_path / "beat"))
    assert main(["healthcheck"]) == 1
    touch(tmp_path / "beat")
    assert main(["healthcheck"]) == 0
    assert "ok" in capsys.readouterr().out
