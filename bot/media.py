"""Catalog rows → what Telegram accepts: JPEG bytes within the photo limits, and captions.

Everything here is synchronous and pure (no Telegram calls): the bot runs ``prepare_jpeg``
in a worker thread, and the datasets work can extend ``caption_for`` without the bot.
"""

from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError
from telegram.constants import MessageLimit

from indexer.decode import to_rgb
from search.catalog import ImageRow

log = logging.getLogger(__name__)

# Telegram's photo limits (Bot API sendPhoto): ≤ 10 MB, width + height ≤ 10000, ratio ≤ 20.
MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_SIDES_SUM = 10_000
MAX_ASPECT = 20
LONG_SIDE = 1280  # what Telegram itself shows at most; bigger only costs upload time
JPEG_QUALITIES = (85, 70, 50)
CAPTION_LIMIT = MessageLimit.CAPTION_LENGTH


class ImageUnavailable(Exception):
    """The image file vanished or cannot be decoded any more; ``str()`` says why."""


def prepare_jpeg(
    path: str | Path, long_side: int = LONG_SIDE, max_bytes: int = MAX_PHOTO_BYTES
) -> bytes:
    """JPEG bytes of the image at ``path``, resized and cropped to Telegram's photo limits."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImageUnavailable(f"{path}: {exc.strerror or exc}") from exc
    return jpeg_from_bytes(data, long_side, name=str(path), max_bytes=max_bytes)


def jpeg_from_bytes(
    data: bytes, long_side: int = LONG_SIDE, name: str = "image", max_bytes: int = MAX_PHOTO_BYTES
) -> bytes:
    """Image bytes as a JPEG of at most ``max_bytes`` (see ``prepare_jpeg``).

    A JPEG that Telegram would take as it is goes out unchanged (``_sendable_as_is``):
    re-encoding a 1280 px photo costs ~20 ms of CPU per album photo, and loses quality.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            opened = Image.open(io.BytesIO(data))
            if _sendable_as_is(opened, data, long_side, max_bytes):
                return data
            opened.draft("RGB", (long_side, long_side))  # JPEG: decode at reduced scale
            opened.seek(0)
            opened.load()
            image: Image.Image = ImageOps.exif_transpose(opened) or opened
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageUnavailable(f"{name}: not a readable image ({exc})") from exc
    image = _within_limits(to_rgb(image), long_side)
    for quality in JPEG_QUALITIES:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=quality, optimize=True)
        if out.tell() <= max_bytes:
            return out.getvalue()
    raise ImageUnavailable(f"{name}: still over {max_bytes / 2**20:.3g} MB as a JPEG")


def _sendable_as_is(opened: Image.Image, data: bytes, long_side: int, max_bytes: int) -> bool:
    """A plain RGB/grey JPEG, already within the limits, carrying no metadata, complete.

    Only the header has been decoded here; a file cut short (no end-of-image marker) is
    re-encoded, which finds out whether it still decodes. EXIF and XMP rule the fast path
    out: re-encoding drops them, so a camera's GPS position never leaves the catalog, and
    EXIF orientation gets applied to the pixels.
    """
    width, height = opened.size
    return (
        opened.format == "JPEG"
        and opened.mode in ("RGB", "L")
        and len(data) <= max_bytes
        and data.endswith(b"\xff\xd9")
        and max(width, height) <= _max_side(long_side)
        and max(width, height) <= MAX_ASPECT * min(width, height)
        and "exif" not in opened.info
        and "xmp" not in opened.info
        and not any(str(key).startswith("XML:") for key in opened.info)
    )


def _max_side(long_side: int) -> int:
    """The longest side a sent photo may have: ``long_side``, within width + height ≤ 10000."""
    return min(long_side, MAX_SIDES_SUM // 2)


def _within_limits(image: Image.Image, long_side: int) -> Image.Image:
    """Centre-crop extreme panoramas to ratio 20, then shrink the long side to ``long_side``."""
    width, height = image.size
    if max(width, height) > MAX_ASPECT * min(width, height):
        if width > height:
            keep = MAX_ASPECT * height
            left = (width - keep) // 2
            image = image.crop((left, 0, left + keep, height))
        else:
            keep = MAX_ASPECT * width
            top = (height - keep) // 2
            image = image.crop((0, top, width, top + keep))
    side = _max_side(long_side)
    if max(image.size) > side:
        image = image.copy()
        image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


# --- captions -------------------------------------------------------------------------------
def _text(value: Any) -> str | None:
    """A metadata value usable in a caption: a non-empty single-line string, else None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())
    return cleaned or None


def _title(row: ImageRow) -> str:
    meta = row.metadata or {}
    for key in ("title", "productDisplayName", "description", "alt_description"):
        found = _text(meta.get(key))
        if found:
            return found
    if _text(row.caption):
        return _text(row.caption) or ""
    return Path(row.path).name or row.key


def _attribution(row: ImageRow) -> str | None:
    meta = row.metadata or {}
    name = _text(meta.get("photographer_name")) or _text(meta.get("photographer"))
    if name:
        where = " on Unsplash" if row.source == "unsplash" or meta.get("photo_url") else ""
        return f"Photo by {name}{where}"
    return _text(meta.get("attribution")) or _text(meta.get("credit"))


def caption_for(row: ImageRow, limit: int = CAPTION_LIMIT) -> str:
    """A short plain-text caption: title or caption or file name, then attribution if any."""
    title = _title(row)
    attribution = _attribution(row)
    link = _text((row.metadata or {}).get("photo_url"))
    parts = [title]
    if attribution and attribution not in title:
        parts.append(attribution)
    if link and attribution:
        parts.append(link)
    caption = "\n".join(parts)
    if len(caption) > limit:
        caption = caption[: limit - 1].rstrip() + "\u2026"
    return caption
