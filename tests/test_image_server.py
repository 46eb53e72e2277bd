"""The inline-mode image server: signed URLs in, catalog JPEGs out, and nothing else.

A real colour catalog and a real ``Searcher`` supply the paths; the server runs on 127.0.0.1
and a raw HTTP client sends request targets verbatim (HTTP libraries would normalise the
``..`` and ``%2e`` attacks away before they reach the server).
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

import bot.image_server as image_server
from bot.image_server import MAX_URL_PHOTO_BYTES, ImageServer
from bot.image_urls import ImageUrls, url_secret
from bot.media import ImageUnavailable, jpeg_from_bytes
from search.engine import Searcher
from tests.test_bot_helpers import TOKEN, build_catalog, make_settings, nearest_colour, write_images

BASE = "https://img.example.org/t2i"
BIG_RGB = (200, 100, 50)


# --- a catalog with a few colours, a big image and one that will vanish ----------------------
@dataclass
class Catalog:
    searcher: Searcher
    ids: dict[str, int]  # file stem → image id
    paths: dict[str, Path]
    removed: set[int] = field(default_factory=set)  # ids that "left the catalog"

    def path_of(self, image_id: int) -> str | None:
        if image_id in self.removed:
            return None
        row = self.searcher.rows([image_id]).get(image_id)
        return None if row is None else row.path


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Catalog]:
    root = tmp_path_factory.mktemp("image_server")
    images = root / "images"
    write_images(images)
    Image.new("RGB", (2600, 1300), BIG_RGB).save(images / "big.jpg", quality=90)
    Image.new("RGB", (64, 64), (30, 180, 40)).save(images / "doomed.jpg")
    settings = make_settings(root)
    build_catalog(settings, images)
    searcher = Searcher(settings)
    rows = searcher.rows(searcher.all_ids())
    ids = {Path(row.path).stem: image_id for image_id, row in rows.items()}
    paths = {Path(row.path).stem: Path(row.path) for row in rows.values()}
    yield Catalog(searcher, ids, paths)
    searcher.close()


@pytest.fixture
def urls() -> ImageUrls:
    return ImageUrls(BASE, url_secret(TOKEN))


@pytest.fixture
def encodes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(path, long side) of every re-encode the server does."""
    calls: list[tuple[str, int]] = []
    real = image_server.prepare_jpeg

    def counting(path: Any, long_side: int, max_bytes: int) -> bytes:
        calls.append((str(path), long_side))
        return real(path, long_side, max_bytes=max_bytes)

    monkeypatch.setattr(image_server, "prepare_jpeg", counting)
    return calls


@pytest_asyncio.fixture
async def server(catalog: Catalog, urls: ImageUrls) -> AsyncIterator[ImageServer]:
    served = ImageServer(urls, catalog.path_of)
    await served.start("127.0.0.1", 0)
    yield served
    await served.stop()


# --- a raw HTTP/1.1 client ------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


async def fetch(port: int, target: str, method: str = "GET", body: bytes = b"") -> Reply:
    """Send ``target`` exactly as given; read the reply until the server closes."""

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        head = (
            f"{method} {target} HTTP/1.1\r\nHost: img.example.org\r\n"
            f"Connection: close\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        raw = await reader.read()
        writer.close()
        await writer.wait_closed()
        return raw

    raw = await asyncio.wait_for(exchange(), 5.0)
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Reply(int(status_line.split()[1]), headers, payload)


def route(urls: ImageUrls, image_id: int, kind: str = "photo") -> str:
    """The server-relative path of an image URL (what the proxy forwards)."""
    url = urls.photo_url(image_id) if kind == "photo" else urls.thumb_url(image_id)
    assert url.startswith(BASE + "/")
    return url[len(BASE) :]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    image.load()
    return image


def mean_rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)


# --- serving ----------------------------------------------------------------------------------
async def test_photo_and_thumbnail_urls_serve_resized_catalog_jpegs(
    server: ImageServer, catalog: Catalog, urls: ImageUrls
) -> None:
    assert server.port > 0
    red = await fetch(server.port, route(urls, catalog.ids["red"]))
    assert red.status == 200
    assert red.headers["content-type"] == "image/jpeg"
    assert red.headers["cache-control"] == "public, max-age=86400"
    assert int(red.headers["content-length"]) == len(red.body) <= MAX_URL_PHOTO_BYTES
    assert nearest_colour(red.body) == "red"
    assert decoded(red.body).size == (320, 240)

    big = await fetch(server.port, route(urls, catalog.ids["big"]))
    assert big.status == 200 and len(big.body) <= MAX_URL_PHOTO_BYTES
    image = decoded(big.body)
    assert image.size == (1280, 640)  # 2600 × 1300 shrunk to Telegram's 1280 long side
    assert np.abs(mean_rgb(image) - np.asarray(BIG_RGB)).max() < 6

    thumb = await fetch(server.port, route(urls, catalog.ids["big"], "thumb"))
    assert thumb.status == 200 and thumb.headers["content-type"] == "image/jpeg"
    small = decoded(thumb.body)
    assert small.size == (320, 160)
    assert np.abs(mean_rgb(small) - np.asarray(BIG_RGB)).max() < 6
    blue_thumb = await fetch(server.port, route(urls, catalog.ids["blue"], "thumb"))
    assert nearest_colour(blue_thumb.body) == "blue"


async def test_head_gives_the_headers_of_get_without_a_body(
    server: ImageServer, catalog: Catalog, urls: ImageUrls
) -> None:
    target = route(urls, catalog.ids["yellow"])
    got = await fetch(server.port, target)
    head = await fetch(server.port, target, method="HEAD")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-type"] == "image/jpeg"
    assert int(head.headers["content-length"]) == len(got.body) > 0
    assert head.headers["etag"] == got.headers["etag"]


async def test_nothing_but_signed_catalog_routes_is_served(
    server: ImageServer, catalog: Catalog, urls: ImageUrls, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.image_server")
    red_id = catalog.ids["red"]
    good = route(urls, red_id)
    sig = good.rsplit("-", 1)[1][:16]
    file_path = str(catalog.paths["red"])
    sqlite_path = str(catalog.searcher.settings.data_dir / "catalog.sqlite3")
    forged = ImageUrls(BASE, url_secret("another token"))
    attacks = [
        "/i/../../etc/passwd",
        "/i/%2e%2e/%2e%2e/etc/passwd",
        "/i/..%2f..%2fetc%2fpasswd",
        "/../catalog.sqlite3",
        "/data/catalog.sqlite3",
        "/catalog.sqlite3",
        sqlite_path,
        file_path,
        f"/i/{file_path}",
        f"/i/{red_id}-{sig}.jpg/../../catalog.sqlite3",
        "/",
        "/i/",
        f"//i/{red_id}-{sig}.jpg",
        f"/i//{red_id}-{sig}.jpg",
        f"/i/{red_id}-{sig}.jpg/",
        f"/i/{red_id}-{sig}.jpeg",
        f"/i/{red_id}-{sig.upper()}.jpg",
        f"/i/0{red_id}-{sig}.jpg",
        f"/i/-{red_id}-{sig}.jpg",
        f"/i/{red_id}-{'0' * 16}.jpg",  # wrong signature
        f"/t/{red_id}-{sig}.jpg",  # the photo's signature does not sign the thumbnail
        f"/i/{red_id}%2D{sig}.jpg",
        route(forged, red_id),  # signed with another bot's key
        route(urls, 987_654_321),  # validly signed, but no such image
        f"/i/{10**30}-{sig}.jpg",
    ]
    for target in attacks:
        reply = await fetch(server.port, target)
        assert reply.status == 404, target
        assert reply.body == b"not found\n", target
        assert "image/jpeg" not in reply.headers.get("content-type", ""), target

    posted = await fetch(server.port, good, method="POST", body=b"x=1")
    assert posted.status == 405
    assert not posted.body.startswith(b"\xff\xd8")  # not the JPEG
    assert (await fetch(server.port, good, method="DELETE")).status == 405
    # Scanners' misses stay out of the INFO log; the token never appears anywhere.
    assert not [r for r in caplog.records if r.levelno >= logging.INFO and "404" in r.getMessage()]
    assert all(TOKEN not in r.getMessage() for r in caplog.records)
    assert (await fetch(server.port, good)).status == 200  # the server is still fine


async def test_an_image_gone_from_disk_or_catalog_is_a_404_even_when_cached(
    server: ImageServer, catalog: Catalog, urls: ImageUrls, caplog: pytest.LogCaptureFixture
) -> None:
    doomed = route(urls, catalog.ids["doomed"])
    assert (await fetch(server.port, doomed)).status == 200  # now in the LRU
    catalog.paths["doomed"].unlink()
    with caplog.at_level(logging.WARNING, logger="bot.image_server"):
        gone = await fetch(server.port, doomed)
    assert gone.status == 404 and gone.body == b"not found\n"
    assert any("vanished" in r.getMessage() for r in caplog.records)

    white = route(urls, catalog.ids["white"])
    assert (await fetch(server.port, white)).status == 200
    catalog.removed.add(catalog.ids["white"])  # e.g. a reload dropped the row
    try:
        assert (await fetch(server.port, white)).status == 404
    finally:
        catalog.removed.discard(catalog.ids["white"])


async def test_repeated_fetches_are_served_from_memory(
    catalog: Catalog, urls: ImageUrls, encodes: list[tuple[str, int]]
) -> None:
    server = ImageServer(urls, catalog.path_of)
    await server.start("127.0.0.1", 0)
    try:
        photo = route(urls, catalog.ids["black"])
        first = await fetch(server.port, photo)
        again = await fetch(server.port, photo)
        assert first.status == again.status == 200 and first.body == again.body
        assert encodes == [(str(catalog.paths["black"]), 1280)]
        await fetch(server.port, route(urls, catalog.ids["black"], "thumb"))
        assert encodes[1:] == [(str(catalog.paths["black"]), 320)]

        # Telegram fetching a new URL several times at once still costs one encode.
        green = route(urls, catalog.ids["green"])
        replies = await asyncio.gather(*(fetch(server.port, green) for _ in range(4)))
        assert {r.status for r in replies} == {200}
        assert len({r.body for r in replies}) == 1
        assert [p for p, _ in encodes].count(str(catalog.paths["green"])) == 1
    finally:
        await server.stop()
    with pytest.raises(OSError):
        await fetch(server.port, photo)  # stopped: nothing listens any more


async def test_the_cache_is_bounded_by_total_size(
    catalog: Catalog, urls: ImageUrls, encodes: list[tuple[str, int]]
) -> None:
    sizes = {
        name: len(image_server.prepare_jpeg(catalog.paths[name], 1280, MAX_URL_PHOTO_BYTES))
        for name in ("red", "blue")
    }
    encodes.clear()
    # Room for either photo, never both: the older one is dropped.
    server = ImageServer(urls, catalog.path_of, cache_bytes=sum(sizes.values()) - 1)
    await server.start("127.0.0.1", 0)
    try:
        for name in ("red", "red", "blue", "blue", "red"):
            assert (await fetch(server.port, route(urls, catalog.ids[name]))).status == 200
    finally:
        await server.stop()
    assert [Path(p).stem for p, _ in encodes] == ["red", "blue", "red"]


# --- URLs -------------------------------------------------------------------------------------
def test_urls_round_trip_and_name_nothing_but_an_id() -> None:
    urls = ImageUrls(BASE, url_secret(TOKEN))
    photo, thumb = urls.photo_url(42), urls.thumb_url(42)
    assert photo.startswith(BASE + "/i/42-") and photo.endswith(".jpg")
    assert thumb.startswith(BASE + "/t/42-") and thumb.endswith(".jpg")
    assert len(photo) == len(BASE + "/i/42-.jpg") + 16
    assert urls.parse(photo[len(BASE) :]) == (42, "photo")
    assert urls.parse(thumb[len(BASE) :]) == (42, "thumb")
    # A proxy that does not strip the base URL's path prefix works as well.
    assert urls.parse("/t2i" + photo[len(BASE) :]) == (42, "photo")
    assert urls.parse(photo) is None  # a full URL is not a path
    # Same id, another kind or id: another signature.
    assert photo.rsplit("-", 1)[1] != thumb.rsplit("-", 1)[1]
    assert urls.photo_url(43).rsplit("-", 1)[1] != photo.rsplit("-", 1)[1]
    # Deterministic across restarts (Telegram may re-fetch a URL later), per-token.
    assert ImageUrls(BASE, url_secret(TOKEN)).photo_url(42) == photo
    assert ImageUrls(BASE, url_secret(TOKEN + "x")).photo_url(42) != photo
    assert url_secret(TOKEN) != TOKEN.encode() and TOKEN not in photo
    # A root base URL, and a prefix that looks like a route.
    root = ImageUrls("https://img.example.org", url_secret(TOKEN))
    assert root.parse(root.photo_url(7)[len("https://img.example.org") :]) == (7, "photo")
    odd = ImageUrls("https://x.org/i", url_secret(TOKEN))
    assert odd.parse(odd.photo_url(7)[len("https://x.org/i") :]) == (7, "photo")
    assert odd.parse(odd.photo_url(7)[len("https://x.org") :]) == (7, "photo")


def test_url_parse_rejects_everything_else() -> None:
    urls = ImageUrls(BASE, url_secret(TOKEN))
    good = urls.photo_url(42)[len(BASE) :]
    sig = good[len("/i/42-") : -len(".jpg")]
    rejected = [
        "",
        "/",
        good + "?x=1",
        good + "\n",
        good + "/",
        "/" + good,
        good.replace("/i/", "/x/"),
        good.upper(),
        f"/i/042-{sig}.jpg",
        f"/i/-42-{sig}.jpg",
        f"/i/+42-{sig}.jpg",
        f"/i/{10**30}-{sig}.jpg",
        f"/i/٤٢-{sig}.jpg",  # Arabic-Indic digits are digits to int(), not to the route
        f"/i/42-{sig[:-1]}.jpg",
        f"/i/42-{sig}0.jpg",
        f"/i/42-{sig[::-1]}.jpg",
        "/i/../../etc/passwd",
        "/i/%2e%2e/%2e%2e/etc/passwd",
        f"/t2i/../i/42-{sig}.jpg",
        f"/t2i//i/42-{sig}.jpg",
        f"/i/42-{sig}.jpg/../../../catalog.sqlite3",
    ]
    for path in rejected:
        assert urls.parse(path) is None, path
    assert ImageUrls(BASE, url_secret("other")).parse(good) is None
    for bad_id in (0, -1, 10**18, True):
        with pytest.raises(ValueError):
            urls.photo_url(bad_id)
    assert urls.parse(urls.photo_url(10**18 - 1)[len(BASE) :]) == (10**18 - 1, "photo")


def test_jpeg_from_bytes_honours_a_smaller_byte_limit() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (960, 1280, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(noise).save(out, format="PNG")
    data = out.getvalue()
    best = jpeg_from_bytes(data)  # the default limit (10 MB) takes the first quality
    capped = jpeg_from_bytes(data, max_bytes=len(best) - 1)
    assert len(capped) < len(best)
    assert decoded(capped).size == (1280, 960)
    with pytest.raises(ImageUnavailable, match="still over"):
        jpeg_from_bytes(data, max_bytes=10_000)
