"""Thin Telegram handlers: decide what the update asks for, then call search and album code."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultsButton,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.access import mentions, strip_mention
from bot.album import send_hits
from bot.search_service import Query
from bot.services import Services, services
from bot.texts import language, text
from search.engine import clean_query
from search.errors import CatalogEmpty, CatalogMissing, EmptyQuery, UserError

log = logging.getLogger(__name__)

MORE_PREFIX = "more:"
INLINE_START = "inline"  # inline-mode buttons open a private chat with "/start inline"
Context = ContextTypes.DEFAULT_TYPE


def language_of(update: Update) -> str:
    """The user's supported interface language."""
    user = update.effective_user
    return language(user.language_code if user else None)


def addressed(message: Message | None, bot: Bot) -> bool:
    """In a group: a command, a mention of the bot, or a reply to one of its messages."""
    if message is None:
        return False
    if message.chat.type == ChatType.PRIVATE:
        return True
    body = message.text or message.caption or ""
    if body.startswith("/"):
        return True
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        return True
    return mentions(body, bot.username)


# --- access gate (group -1) -----------------------------------------------------------------
async def gate(update: Update, context: Context) -> None:
    """Allow-list: others get one polite refusal, then silence; no other handler runs."""
    svc = services(context)
    user, chat = update.effective_user, update.effective_chat
    if svc.access.allows(user.id if user else None, chat.id if chat else None):
        return
    if update.callback_query is not None:
        await update.callback_query.answer(text("not_allowed", language_of(update)))
    elif update.inline_query is not None:
        button = InlineQueryResultsButton(
            text("inline_not_allowed", language_of(update)), start_parameter=INLINE_START
        )
        await update.inline_query.answer([], cache_time=0, is_personal=True, button=button)
    elif addressed(update.effective_message, context.bot) and chat is not None:
        key = user.id if user is not None and chat.type == ChatType.PRIVATE else chat.id
        if svc.access.first_refusal(key):
            await context.bot.send_message(chat.id, text("not_allowed", language_of(update)))
    raise ApplicationHandlerStop


# --- commands ---------------------------------------------------------------------------------
async def on_start(update: Update, context: Context) -> None:
    """/start: what the bot does, with example queries."""
    if update.effective_chat is not None:
        await context.bot.send_message(update.effective_chat.id, text("start", language_of(update)))


async def on_help(update: Update, context: Context) -> None:
    """/help: how to search, also in groups."""
    if update.effective_chat is not None:
        body = text("help", language_of(update), username=context.bot.username or "bot")
        await context.bot.send_message(update.effective_chat.id, body)


# --- queries ----------------------------------------------------------------------------------
async def on_text(update: Update, context: Context) -> None:
    """Any text (new or edited) is a query; in groups only when addressed to the bot."""
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    query = message.text
    if chat.type != ChatType.PRIVATE:
        if not addressed(message, context.bot):
            return
        query = strip_mention(query, context.bot.username)
    await answer_query(update, context, query)


async def say(context: Context, chat_id: int, key: str, lang: str, **values: object) -> None:
    """Send the text ``key`` in ``lang``."""
    await context.bot.send_message(chat_id, text(key, lang, **values))


def problem_key(exc: UserError) -> str:
    if isinstance(exc, CatalogMissing):
        return "no_catalog"
    if isinstance(exc, CatalogEmpty):
        return "empty_catalog"
    if isinstance(exc, EmptyQuery):
        return "empty_query"
    return "rebuilding"  # model mismatch, schema too new, model not loadable


def _throttled(svc: Services, update: Update) -> tuple[bool, bool]:
    user = update.effective_user
    chat = update.effective_chat
    key = user.id if user is not None else (chat.id if chat is not None else 0)
    allowed, warn = svc.throttle.take(key)
    return not allowed, warn


async def answer_query(update: Update, context: Context, raw: str) -> None:
    """Search ``raw`` and send the album, or say why not."""
    svc, lang = services(context), language_of(update)
    chat = update.effective_chat
    assert chat is not None
    if await refuse_if_throttled(update, context):
        return
    try:
        cleaned = clean_query(raw)
    except EmptyQuery:
        await say(context, chat.id, "empty_query", lang)
        return
    svc.background(chat_action(context.bot, chat.id), "chat-action")
    await send_results(update, context, cleaned)


async def refuse_if_throttled(update: Update, context: Context) -> bool:
    """True when this user is over their query rate (told so once, then silence)."""
    blocked, warn = _throttled(services(context), update)
    chat = update.effective_chat
    if blocked and warn and chat is not None:
        await say(context, chat.id, "slow_down", language_of(update))
    return blocked


async def send_results(
    update: Update, context: Context, label: str, vector: np.ndarray | None = None
) -> None:
    """Search (the text ``label``, or ``vector`` for a photo), send the album and the
    "More" prompt; a catalog problem or no hits becomes one friendly line."""
    svc, lang = services(context), language_of(update)
    chat = update.effective_chat
    assert chat is not None
    k = svc.settings.results_per_album
    try:
        hits = await svc.search.search(Query(label, k, vector=vector))
    except UserError as exc:
        await say(context, chat.id, problem_key(exc), lang)
        return
    if not hits:
        await say(context, chat.id, "no_hits", lang)
        return
    if not await send_hits(context.bot, svc.require_state(), chat.id, hits):
        await say(context, chat.id, "images_unavailable", lang)
        return
    if len(hits) >= k:
        user = update.effective_user
        qid = await svc.require_state().new_page(
            chat.id, user.id if user else None, label, [h.id for h in hits], lang, vector
        )
        await _more_prompt(context, chat.id, qid, 1, len(hits), lang)


async def chat_action(bot: Bot, chat_id: int) -> None:
    """ "Sending a photo…" while we search; its failure does not matter to the user."""
    try:
        await bot.send_chat_action(chat_id, ChatAction.UPLOAD_PHOTO)
    except TelegramError as exc:
        log.debug("chat action failed: %s", exc)


async def _more_prompt(
    context: Context, chat_id: int, qid: str, start: int, end: int, lang: str
) -> None:
    button = InlineKeyboardButton(text("more_button", lang), callback_data=MORE_PREFIX + qid)
    await context.bot.send_message(
        chat_id,
        text("more_prompt", lang, start=start, end=end),
        reply_markup=InlineKeyboardMarkup([[button]]),
    )


async def on_more(update: Update, context: Context) -> None:
    """ "More" pressed: the next page for the stored query; the callback is always answered."""
    cq = update.callback_query
    assert cq is not None
    svc, lang = services(context), language_of(update)
    state = svc.require_state()
    answered = False
    try:
        qid = (cq.data or "")[len(MORE_PREFIX) :]
        page = await state.page(qid, svc.settings.more_ttl_hours * 3600)
        if page is None:
            await cq.answer(text("more_expired", lang))
            answered = True
            return
        blocked, _ = _throttled(svc, update)
        if blocked:
            await cq.answer(text("slow_down", lang))
            answered = True
            return
        k = svc.settings.results_per_album
        try:
            hits = await svc.search.search(Query(page.query, k, page.shown_ids, vector=page.vector))
        except UserError as exc:
            await cq.answer(text(problem_key(exc), lang))
            answered = True
            return
        await cq.answer(None if hits else text("more_done", lang))
        answered = True
        await _drop_button(cq.message)
        if not hits:
            return
        chat_id = cq.message.chat.id if cq.message is not None else page.chat_id
        svc.background(chat_action(context.bot, chat_id), "chat-action")
        await send_hits(context.bot, state, chat_id, hits)
        await state.extend_page(page.qid, [h.id for h in hits])
        if len(hits) >= k:
            start = len(page.shown_ids) + 1
            await _more_prompt(context, chat_id, page.qid, start, start + len(hits) - 1, lang)
    finally:
        if not answered:
            await _answer_quietly(cq)


async def _drop_button(message: Any) -> None:
    """Remove the old "More" button so only the newest page has one."""
    if not isinstance(message, Message):
        return
    try:
        await message.edit_reply_markup(None)
    except BadRequest as exc:
        log.debug("could not remove the old button: %s", exc)


async def _answer_quietly(cq: Any) -> None:
    try:
        await cq.answer()
    except TelegramError as exc:
        log.debug("callback answer failed: %s", exc)


async def on_stale_button(update: Update, context: Context) -> None:
    """A button this bot version does not know: say so instead of leaving a spinner."""
    if update.callback_query is not None:
        await update.callback_query.answer(text("more_expired", language_of(update)))


async def on_other(update: Update, context: Context) -> None:
    """Stickers, voice, files, photos…: a short hint in private chats, silence in groups."""
    chat = update.effective_chat
    if chat is None or chat.type != ChatType.PRIVATE:
        return
    if await refuse_if_throttled(update, context):
        return
    await say(context, chat.id, "hint", language_of(update))


# --- errors -----------------------------------------------------------------------------------
async def on_error(update: object, context: Context) -> None:
    """Log with the traceback; tell the user briefly, in their language, when there is a chat."""
    log.error("error while handling an update: %s", context.error, exc_info=context.error)
    if not isinstance(update, Update):
        return
    if update.callback_query is not None:
        await _answer_quietly(update.callback_query)
    chat = update.effective_chat
    if chat is None:
        return
    try:
        await context.bot.send_message(chat.id, text("apology", language_of(update)))
    except TelegramError as exc:
        log.warning("could not send the apology: %s", exc)
