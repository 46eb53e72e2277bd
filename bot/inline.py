"""Inline mode: ``@bot red dress`` in any chat answers with a grid of matching photos.

Telegram needs each photo either as a ``file_id`` this bot already owns
(``InlineQueryResultCachedPhoto``: learnt from albums and from the storage-chat warm-up)
or as a public JPEG URL (``InlineQueryResultPhoto``: served by ``bot/image_server.py``
behind ``T2I_PUBLIC_BASE_URL``). Which is available decides the mode:

- storage chat usable: cached photos (plus URLs for the rest when a public URL is set too);
- only a public URL: URL photos;
- neither (or the storage chat is unusable): no results, a one-line explanation button.

Answers never wait for uploads: an image without a ``file_id`` yet is left out of this
answer (or given by URL) and the warm-up catches up in the background. Paging: the offset
is the rank reached so far; each answer covers up to 50 ranks and returns the next one
as ``next_offset`` until ``T2I_INLINE_MAX_RESULTS``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from telegram import (
    InlineQuery,
    InlineQueryResult,
    InlineQueryResultCachedPhoto,
    InlineQueryResultPhoto,
    InlineQueryResultsButton,
    Update,
)
from telegram.constants import InlineQueryLimit
from telegram.error import TelegramError

from bot.handlers import INLINE_START, Context, language_of
from bot.media import caption_for
from bot.search_service import Query
from bot.services import Services, services
from bot.texts import text
from search.engine import Hit, clean_query
from search.errors import EmptyQuery, UserError

log = logging.getLogger(__name__)

PAGE = InlineQueryLimit.RESULTS  # 50 results per answer at most
HINT_CACHE_S = 10  # short: hints and refusals must not stick once things change


def parse_offset(raw: str, max_results: int) -> int | None:
    """The rank an answer starts at: "" → 0; a number in range → it; else None (no page).

    Telegram only echoes the ``next_offset`` we gave, so anything else is a forged or
    stale offset: answer with nothing rather than start over (which could loop).
    """
    if not raw:
        return 0
    if not raw.isascii() or not raw.isdigit() or len(raw) > 6:
        return None
    offset = int(raw)
    return offset if offset < max_results else None


def _cached_photos_usable(svc: Services) -> bool:
    """A storage chat is configured and the bot can post there."""
    return svc.warmup is not None and svc.warmup.usable


def inline_ready(svc: Services) -> bool:
    """Whether inline answers can carry photos at all (see the module docstring)."""
    return _cached_photos_usable(svc) or svc.image_urls is not None


async def on_inline_query(update: Update, context: Context) -> None:
    """Answer ``@bot query``: photos for the page at the offset, or one hint button."""
    iq = update.inline_query
    assert iq is not None
    svc, lang = services(context), language_of(update)
    if not inline_ready(svc):
        await _hint(iq, "inline_off", lang)
        return
    try:
        cleaned = clean_query(iq.query)
    except EmptyQuery:
        await _hint(iq, "inline_empty", lang)
        return
    max_results = svc.settings.inline_max_results
    offset = parse_offset(iq.offset, max_results)
    if offset is None:
        await _answer(iq, [], next_offset="", cache_time=HINT_CACHE_S, is_personal=True)
        return
    size = min(PAGE, max_results - offset)
    try:
        hits = await svc.search.search(Query(cleaned, size, offset=offset))
    except UserError as exc:
        log.info("inline query not answered: %s", exc)
        await _hint(iq, "inline_unavailable", lang)
        return
    results = await _results(svc, context, hits)
    more = len(hits) == size and offset + size < max_results
    button = None
    if not results and offset == 0:
        # Matches exist but none has a file_id yet (the warm-up is still running).
        button = InlineQueryResultsButton(
            text("inline_warming" if hits else "inline_no_hits", lang),
            start_parameter=INLINE_START,
        )
    await _answer(
        iq,
        results,
        next_offset=str(offset + size) if more else "",
        cache_time=svc.settings.inline_cache_time_s,
        is_personal=not svc.access.open,  # refusals differ per user
        button=button,
    )


async def _results(svc: Services, context: Context, hits: Sequence[Hit]) -> list[InlineQueryResult]:
    """One photo result per hit that has a file_id or (failing that) a public URL."""
    cached = (
        await svc.require_state().file_ids(context.bot.id, [h.id for h in hits])
        if _cached_photos_usable(svc)
        else {}
    )
    results: list[InlineQueryResult] = []
    for hit in hits:
        caption = caption_for(hit.row)
        file_id = cached.get(hit.id)
        if file_id is not None:
            results.append(InlineQueryResultCachedPhoto(str(hit.id), file_id, caption=caption))
        elif svc.image_urls is not None:
            results.append(
                InlineQueryResultPhoto(
                    str(hit.id),
                    photo_url=svc.image_urls.photo_url(hit.id),
                    thumbnail_url=svc.image_urls.thumb_url(hit.id),
                    caption=caption,
                )
            )
    return results


async def _hint(iq: InlineQuery, key: str, lang: str) -> None:
    """No results, one button with a line of explanation (opens a chat with the bot)."""
    button = InlineQueryResultsButton(text(key, lang), start_parameter=INLINE_START)
    await _answer(iq, [], next_offset="", cache_time=HINT_CACHE_S, is_personal=True, button=button)


async def _answer(
    iq: InlineQuery,
    results: Sequence[InlineQueryResult],
    *,
    next_offset: str,
    cache_time: int,
    is_personal: bool,
    button: InlineQueryResultsButton | None = None,
) -> None:
    """``answerInlineQuery``; a query Telegram already dropped (user typed on) is no error."""
    try:
        await iq.answer(
            results,
            next_offset=next_offset,
            cache_time=cache_time,
            is_personal=is_personal,
            button=button,
        )
    except TelegramError as exc:
        if "query is too old" in str(exc).lower() or "query id is invalid" in str(exc).lower():
            log.debug("inline answer came too late: %s", exc)
            return
        raise
