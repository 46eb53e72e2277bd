"""The resources handlers share, kept in ``application.bot_data`` under one key."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import CallbackContext

from bot.access import AllowList, UserThrottle
from bot.search_service import SearchService
from bot.state import BotState
from search.settings import Settings

if TYPE_CHECKING:
    from bot.image_server import ImageServer
    from bot.image_urls import ImageUrls
    from bot.warmup import StorageWarmup

log = logging.getLogger(__name__)

KEY = "t2i_services"


@dataclass
class Services:
    settings: Settings
    search: SearchService
    access: AllowList
    throttle: UserThrottle
    state: BotState | None = None  # opened in post_init
    # Inline mode (see bot/inline.py): set up in post_init when configured.
    warmup: StorageWarmup | None = None
    image_urls: ImageUrls | None = None
    image_server: ImageServer | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def background(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """Run ``coro`` as a task we keep a reference to (and cancel on shutdown)."""
        task = asyncio.create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    def require_state(self) -> BotState:
        if self.state is None:
            raise RuntimeError("bot state is not open (post_init has not run)")
        return self.state


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    found = context.bot_data[KEY]
    assert isinstance(found, Services)
    return found
