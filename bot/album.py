"""Send hits as one album (or one photo), reusing Telegram file_ids where we have them.

First sends upload JPEG bytes prepared off the event loop; the file_ids Telegram answers
with are cached per (bot, image), so the same picture is never uploaded twice. A cached
file_id Telegram no longer accepts is forgotten and the album re-sent with uploads. A file
that vanished from disk since indexing is skipped (logged), and the rest still goes out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from telegram import Bot, InputFile, InputMediaPhoto, Message
from telegram.constants import MediaGroupLimit
from telegram.error import BadRequest

from bot.media import ImageUnavailable, caption_for, prepare_jpeg
from bot.state import BotState
from search.engine import Hit

log = logging.getLogger(__name__)

# Telegram's wording when a file_id is unknown, expired or belongs to another bot.
_FILE_ID_ERRORS = ("wrong file identifier", "file reference", "wrong remote file", "file_id")


@dataclass
class _Item:
    hit: Hit
    caption: str
    file_id: str | None = None
    data: bytes | None = None

    @property
    def media(self) -> str | InputFile:
        if self.file_id is not None:
            return self.file_id
        assert self.data is not None
        return InputFile(self.data, filename=f"{self.hit.id}.jpg", attach=True)


def _prepare(hit: Hit) -> bytes | None:
    try:
        return prepare_jpeg(hit.path)
    except ImageUnavailable as exc:
        log.warning("image %d skipped: %s", hit.id, exc)
        return None


async def _load(items: Sequence[_Item]) -> None:
    """Fill ``data`` for items without a file_id, in worker threads (decode is CPU work)."""
    todo = [item for item in items if item.file_id is None]
    blobs = await asyncio.gather(*(asyncio.to_thread(_prepare, item.hit) for item in todo))
    for item, blob in zip(todo, blobs, strict=True):
        item.data = blob


async def send_hits(bot: Bot, state: BotState, chat_id: int, hits: Sequence[Hit]) -> list[int]:
    """Send ``hits`` to ``chat_id``; return the ids of the images actually sent."""
    hits = list(hits)[: MediaGroupLimit.MAX_MEDIA_LENGTH]
    cached = await state.file_ids(bot.id, [h.id for h in hits])
    items = [_Item(h, caption_for(h.row), cached.get(h.id)) for h in hits]
    await _load(items)
    items = [i for i in items if i.file_id is not None or i.data is not None]
    if not items:
        return []
    try:
        messages = await _send(bot, chat_id, items)
    except BadRequest as exc:
        stale = [i for i in items if i.file_id is not None]
        if not stale or not any(s in str(exc).lower() for s in _FILE_ID_ERRORS):
            raise
        log.info("Telegram rejected %d cached file id(s) (%s): uploading again", len(stale), exc)
        await state.forget_file_ids(bot.id, [i.hit.id for i in stale])
        for item in stale:
            item.file_id = None
        await _load(stale)
        items = [i for i in items if i.file_id is not None or i.data is not None]
        if not items:
            return []
        messages = await _send(bot, chat_id, items)
    await _remember(bot, state, items, messages)
    return [i.hit.id for i in items]


async def _send(bot: Bot, chat_id: int, items: Sequence[_Item]) -> Sequence[Message]:
    if len(items) == 1:
        item = items[0]
        return [await bot.send_photo(chat_id, item.media, caption=item.caption)]
    media = [InputMediaPhoto(item.media, caption=item.caption) for item in items]
    return await bot.send_media_group(chat_id, media)


async def _remember(
    bot: Bot, state: BotState, items: Sequence[_Item], messages: Sequence[Message]
) -> None:
    """Cache the file_id Telegram gave each uploaded photo (largest size)."""
    learnt = {
        item.hit.id: message.photo[-1].file_id
        for item, message in zip(items, messages, strict=False)
        if item.file_id is None and message.photo
    }
    await state.store_file_ids(bot.id, learnt)
