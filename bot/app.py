"""Wiring: ``build_application(settings)`` → a python-telegram-bot ``Application``.

Dependencies come in as arguments (tests pass a Searcher factory over a fake catalog);
resources are opened in ``post_init`` and closed in ``post_shutdown``, so building the
application is cheap and touches neither the network nor the disk.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    InlineQueryHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import handlers, inline, logs, photos
from bot.access import AllowList, UserThrottle
from bot.health import heartbeat
from bot.http import AiohttpRequest
from bot.image_server import ImageServer
from bot.image_urls import ImageUrls, url_secret
from bot.ratelimit import RetryingRateLimiter
from bot.search_service import SearcherFactory, SearchService
from bot.services import KEY, Services
from bot.state import BotState
from bot.texts import LANGUAGES, text
from bot.warmup import StorageWarmup
from search.engine import Searcher
from search.settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.INLINE_QUERY,
]
PICTURES = filters.PHOTO | filters.Document.ALL  # non-image documents get a one-line answer
OTHER_CONTENT = (
    filters.Sticker.ALL
    | filters.VOICE
    | filters.AUDIO
    | filters.VIDEO
    | filters.VIDEO_NOTE
    | filters.ANIMATION
    | filters.LOCATION
    | filters.CONTACT
    | filters.POLL
    | filters.Dice.ALL
)


def _default_factory(settings: Settings) -> Searcher:
    return Searcher(settings)


def build_application(
    settings: Settings,
    searcher_factory: SearcherFactory = _default_factory,
    *,
    batching: bool = True,
    heartbeat_every_s: float = 30.0,
) -> Application[Any, Any, Any, Any, Any, Any]:
    """The bot's Application; ``run_polling``/``run_webhook`` (or tests) start it."""
    if settings.bot_token is None or not settings.bot_token.get_secret_value().strip():
        raise ValueError("T2I_BOT_TOKEN is not set")
    logs.protect([settings.bot_token.get_secret_value().strip()])
    pool = settings.concurrent_updates + 4  # one per concurrent update + chat actions
    request = AiohttpRequest(
        connection_pool_size=pool,
        connect_timeout=10.0,
        read_timeout=20.0,
        write_timeout=20.0,
        pool_timeout=10.0,
        media_write_timeout=60.0,
    )
    # Long polling holds its connection open; PTB adds the poll timeout to read_timeout.
    # Two connections: PTB's final getUpdates at shutdown must not wait for the cancelled
    # long poll's connection (with one, shutdown hung on a SIGINT during a long poll).
    updates_request = AiohttpRequest(
        connection_pool_size=2, connect_timeout=10.0, read_timeout=10.0, pool_timeout=5.0
    )
    builder = (
        ApplicationBuilder()
        .token(settings.bot_token.get_secret_value().strip())
        .request(request)
        .get_updates_request(updates_request)
        .rate_limiter(RetryingRateLimiter(overall_per_s=settings.telegram_rate_limit_per_s))
        .concurrent_updates(settings.concurrent_updates)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if settings.telegram_api_url:
        builder = builder.base_url(settings.telegram_api_url)
    if settings.telegram_file_url:
        builder = builder.base_file_url(settings.telegram_file_url)
    app = builder.build()
    app.bot_data[KEY] = Services(
        settings=settings,
        search=SearchService(settings, searcher_factory, batching=batching),
        access=AllowList(settings.allowed_user_ids, settings.allowed_chat_ids),
        throttle=UserThrottle(settings.user_burst, settings.user_queries_per_minute),
    )
    app.bot_data["t2i_heartbeat_every_s"] = heartbeat_every_s
    _add_handlers(app)
    return app


def _add_handlers(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    messages = filters.UpdateType.MESSAGE | filters.UpdateType.EDITED_MESSAGE
    app.add_handler(TypeHandler(Update, handlers.gate), group=-1)
    app.add_handler(CommandHandler("start", handlers.on_start))
    app.add_handler(CommandHandler("help", handlers.on_help))
    app.add_handler(MessageHandler(messages & filters.TEXT & ~filters.COMMAND, handlers.on_text))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & PICTURES, photos.on_picture))
    app.add_handler(MessageHandler(filters.UpdateType.MESSAGE & OTHER_CONTENT, handlers.on_other))
    app.add_handler(InlineQueryHandler(inline.on_inline_query))
    app.add_handler(CallbackQueryHandler(handlers.on_more, pattern=f"^{handlers.MORE_PREFIX}"))
    app.add_handler(CallbackQueryHandler(handlers.on_stale_button))
    app.add_error_handler(handlers.on_error)


def services_of(app: Application[Any, Any, Any, Any, Any, Any]) -> Services:
    found = app.bot_data[KEY]
    assert isinstance(found, Services)
    return found


async def _post_init(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Open the state file and the catalog, start the reload and heartbeat tasks."""
    svc = services_of(app)
    settings = svc.settings
    svc.state = await BotState.open(settings.state_dir or settings.data_dir)
    expired = await svc.state.expire_pages(settings.more_ttl_hours * 3600)
    if expired:
        log.info('forgot %d expired "More" pages', expired)
    await svc.search.open()
    svc.background(svc.search.reload_forever(settings.reload_interval_s), "catalog-reload")
    every = float(app.bot_data.get("t2i_heartbeat_every_s", 30.0))
    svc.background(heartbeat(settings.heartbeat_file, every), "heartbeat")
    await _start_inline_support(app, svc)
    await _set_commands(app)
    log.info("bot @%s is up", app.bot.username)


async def _start_inline_support(
    app: Application[Any, Any, Any, Any, Any, Any], svc: Services
) -> None:
    """The storage-chat warm-up and/or the image server, as configured (bot/inline.py)."""
    settings = svc.settings
    if settings.storage_chat_id is not None:
        svc.warmup = StorageWarmup(
            app.bot,
            svc.require_state(),
            settings.storage_chat_id,
            lambda: svc.search.searcher,
            settings.warmup_per_minute,
            idle_s=settings.reload_interval_s,
        )
        svc.background(svc.warmup.run_forever(), "storage-warmup")
    if settings.public_base_url is not None:
        assert settings.bot_token is not None
        svc.image_urls = ImageUrls(
            settings.public_base_url, url_secret(settings.bot_token.get_secret_value().strip())
        )
        svc.image_server = ImageServer(svc.image_urls, svc.search.image_path)
        await svc.image_server.start(settings.image_server_listen, settings.image_server_port)
        log.info(
            "serving catalog images for inline mode on %s:%d (public URL %s)",
            settings.image_server_listen,
            svc.image_server.port,
            settings.public_base_url,
        )
    if svc.warmup is None and svc.image_urls is None:
        log.info(
            "inline mode answers with an explanation: set T2I_STORAGE_CHAT_ID or "
            "T2I_PUBLIC_BASE_URL to enable it (docs/bot.md)"
        )


async def _set_commands(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """The command menu, per language; a failure here only costs the menu."""
    try:
        for lang in LANGUAGES:
            commands = [
                BotCommand("start", text("cmd_start", lang)),
                BotCommand("help", text("cmd_help", lang)),
            ]
            await app.bot.set_my_commands(commands, language_code=None if lang == "en" else lang)
    except TelegramError as exc:
        log.warning("could not set the command menu: %s", exc)


async def _post_shutdown(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop background tasks and close what post_init opened."""
    svc = services_of(app)
    tasks = list(svc.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    if svc.image_server is not None:
        await svc.image_server.stop()
        svc.image_server = None
    await svc.search.close()
    if svc.state is not None:
        await svc.state.close()
        svc.state = None


@asynccontextmanager
async def running(
    app: Application[Any, Any, Any, Any, Any, Any],
    *,
    poll_timeout: float = 10.0,
    webhook: dict[str, Any] | None = None,
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    """Run ``app`` inside the caller's event loop (tests, benchmarks).

    The same steps and order as ``run_polling``/``run_webhook`` (which own their loop):
    initialize, post_init, start the updater, start; in reverse on exit, then
    post_shutdown. ``webhook`` holds ``Updater.start_webhook`` arguments (listen, port,
    url_path, webhook_url, secret_token); without it the app long-polls.
    """
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        assert app.updater is not None
        if webhook is not None:
            await app.updater.start_webhook(allowed_updates=ALLOWED_UPDATES, **webhook)
        else:
            await app.updater.start_polling(
                poll_interval=0.0, timeout=int(poll_timeout), allowed_updates=ALLOWED_UPDATES
            )
        await app.start()
        try:
            yield app
        finally:
            if app.updater.running:
                await app.updater.stop()
            await app.stop()
    finally:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
