"""Search by photo: a picture (sent as a photo or as an image file) is the query.

The file is fetched with ``getFile`` (refused before downloading when over the size limit),
decoded and embedded with the image encoder off the event loop, and answered like a text
query: an album of the most similar images and a "More" button (its page keeps the
vector). A caption adds its words: the query is the normalised mean of the picture's and
the caption's vectors (see ``SearchService.photo_vector``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import PurePath

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.access import strip_mention
from bot.handlers import (
    Context,
    addressed,
    chat_action,
    language_of,
    problem_key,
    refuse_if_throttled,
    say,
    send_results,
)
from bot.services import services
from search.errors import NotAnImage, UserError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic"}
PHOTO_LABEL = "\U0001f4f7"  # what a photo query is called in the bot's state (📷)
MB = 1024 * 1024


@dataclass(frozen=True)
class PictureRef:
    """The Telegram file to fetch for a picture query, and its size when Telegram said."""

    file_id: str
    size: int | None


def picture_of(message: Message) -> PictureRef | None:
    """The message's picture: the largest photo size, or an image document; else None."""
    if message.photo:
        largest = message.photo[-1]
        return PictureRef(largest.file_id, largest.file_size)
    document = message.document
    if document is None:
        return None
    mime = (document.mime_type or "").lower()
    suffix = PurePath(document.file_name or "").suffix.lower()
    if mime.startswith("image/") or (not mime and suffix in IMAGE_EXTENSIONS):
        return PictureRef(document.file_id, document.file_size)
    return None


async def on_picture(update: Update, context: Context) -> None:
    """A photo or a file: in private chats always, in groups when addressed to the bot."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    if chat.type != ChatType.PRIVATE and not addressed(message, context.bot):
        return
    svc, lang = services(context), language_of(update)
    if await refuse_if_throttled(update, context):
        return
    ref = picture_of(message)
    if ref is None:
        await say(context, chat.id, "not_an_image", lang)
        return
    limit = int(svc.settings.max_query_image_mb * MB)
    if ref.size is not None and ref.size > limit:
        await say(context, chat.id, "photo_too_big", lang, limit_mb=_mb(limit))
        return
    svc.background(chat_action(context.bot, chat.id), "chat-action")
    try:
        data = await _download(context, ref, limit)
    except _TooBig:
        await say(context, chat.id, "photo_too_big", lang, limit_mb=_mb(limit))
        return
    if data is None:
        await say(context, chat.id, "download_failed", lang)
        return
    caption = message.caption
    if caption and chat.type != ChatType.PRIVATE:
        caption = strip_mention(caption, context.bot.username)
    try:
        vector = await svc.search.photo_vector(data, caption)
    except NotAnImage as exc:
        log.info("picture query not usable: %s", exc)
        await say(context, chat.id, "not_an_image", lang)
        return
    except UserError as exc:
        await say(context, chat.id, problem_key(exc), lang)
        return
    label = f"{PHOTO_LABEL} {caption}".strip() if caption else PHOTO_LABEL
    await send_results(update, context, label, vector)


class _TooBig(Exception):
    """The file is over the download limit (known only once ``getFile`` answered)."""


async def _download(context: Context, ref: PictureRef, limit: int) -> bytes | None:
    """The file's bytes, or None when Telegram would not give them (logged)."""
    try:
        telegram_file = await context.bot.get_file(ref.file_id)
        if telegram_file.file_size is not None and telegram_file.file_size > limit:
            raise _TooBig
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        if "too big" in str(exc).lower():  # getFile refuses files over 20 MB
            raise _TooBig from exc
        log.warning("could not download a picture query: %s", exc)
        return None
    if len(data) > limit:
        raise _TooBig
    return data


def _mb(limit: int) -> str:
    return f"{limit / MB:g}"
