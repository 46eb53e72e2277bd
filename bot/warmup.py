"""Background upload of catalog images to a storage chat, so inline mode has file_ids.

Inline answers show photos as ``InlineQueryResultCachedPhoto``, which needs a file_id this
bot owns, and a file_id only exists once the photo was sent somewhere. The operator names a
chat for that (``T2I_STORAGE_CHAT_ID``: a private channel or group the bot can post to).
This task walks the catalog and uploads each image without a file_id there once, at a
bounded rate, storing every file_id as soon as Telegram answers: a restart resumes where it
stopped, and inline queries use whatever is cached at that moment instead of waiting.
The cache is shared with albums sent to users, so images already sent there are skipped.

A chat the bot cannot post to stops the task with one clear error line (inline mode then
explains itself); a file that vanished from disk is skipped for this process; network
trouble backs off and retries, so the task never dies of it.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import logging
import warnings
from collections.abc import Callable

from telegram import Bot, InputFile
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    RetryAfter,
    TelegramError,
)
from telegram.warnings import PTBDeprecationWarning

from bot.media import ImageUnavailable, prepare_jpeg
from bot.state import BotState
from search.engine import Searcher

log = logging.getLogger(__name__)

BACKOFF_START_S = 5.0  # first wait after a network failure; doubles up to ``idle_s``
ROWS_CHUNK = 64  # catalog rows read per query; the catalog may be swapped between chunks
PROGRESS_EVERY_S = 600.0  # a long pass (a big catalog at 20/min) says how far it got
# Telegram's wording (lower-cased) when the chat itself refuses the bot; Forbidden always is.
_CHAT_ERRORS = (
    "chat not found",
    "not enough rights",
    "need administrator rights",
    "chat_write_forbidden",
    "have no rights to send",
    "chat_send_photos_forbidden",
    "chat_admin_required",
    "channel_private",
    "peer_id_invalid",
    "bot is not a member",
    "bot was kicked",
)


def _chat_refused(exc: TelegramError) -> bool:
    """Whether ``exc`` says the storage chat is unusable (rather than one photo is bad)."""
    if isinstance(exc, Forbidden | ChatMigrated):
        return True
    return isinstance(exc, BadRequest) and any(m in exc.message.lower() for m in _CHAT_ERRORS)


def _retry_after_s(exc: Exception) -> float:
    """Seconds a 429 asked to wait (0 for other errors), read without PTB's deprecation noise."""
    if not isinstance(exc, RetryAfter):
        return 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dtm.timedelta) else float(value)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class StorageWarmup:
    """Fills the file_id cache by uploading catalog images to the storage chat."""

    def __init__(
        self,
        bot: Bot,
        state: BotState,
        storage_chat_id: int,
        searcher: Callable[[], Searcher | None],
        per_minute: float,
        idle_s: float = 60.0,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self._bot = bot
        self._state = state
        self._chat_id = storage_chat_id
        self._searcher = searcher
        self._interval_s = 60.0 / per_minute
        self._idle_s = idle_s
        self._usable = True
        self._failed: set[int] = set()  # vanished or refused images: not retried this process
        self._next_upload_at = 0.0  # event-loop time of the next allowed upload
        self._uploaded_total = 0
        self._last_problem: str | None = None

    @property
    def usable(self) -> bool:
        """False once the storage chat turned out to be unusable."""
        return self._usable

    async def run_forever(self) -> None:
        """Warm the cache pass after pass until cancelled or the storage chat is unusable."""
        first_backoff = min(BACKOFF_START_S, self._idle_s)
        backoff = first_backoff
        while self._usable:
            if self._searcher() is None:  # no catalog served yet
                await asyncio.sleep(self._idle_s)
                continue
            before = self._uploaded_total
            try:
                await self.run_once()
            except Exception as exc:  # noqa: BLE001 - the task must outlive any one failure
                if self._uploaded_total > before:  # it was working until now
                    backoff = first_backoff
                wait = max(backoff, _retry_after_s(exc))
                self._report(exc, wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, max(self._idle_s, first_backoff))
                continue
            backoff = first_backoff
            self._last_problem = None
            if self._usable:
                await asyncio.sleep(self._idle_s)

    def _report(self, exc: Exception, wait: float) -> None:
        """Log a failed pass; the same problem again (a long outage) only at DEBUG."""
        problem = f"{type(exc).__name__}: {exc}"
        if problem == self._last_problem:
            log.debug("warm-up: still failing (%s); retrying in %.1f s", problem, wait)
        elif isinstance(exc, TelegramError):
            log.warning("warm-up: Telegram call failed (%s); retrying in %.1f s", problem, wait)
        else:
            log.exception("warm-up pass failed; retrying in %.1f s", wait)
        self._last_problem = problem

    async def run_once(self) -> int:
        """Upload every catalog image that has no file_id yet; return how many were uploaded.

        Network errors propagate (``run_forever`` backs off); what was uploaded before them
        is already cached, so the next pass resumes there.
        """
        searcher = self._searcher()
        if not self._usable or searcher is None:
            return 0
        todo = await self._missing(searcher)
        if not todo:
            return 0
        log.info(
            "warm-up: %d image(s) to upload to storage chat %d (about %s at %g/min)",
            len(todo),
            self._chat_id,
            _duration(len(todo) * self._interval_s),
            60.0 / self._interval_s,
        )
        uploaded = skipped = handled = 0
        loop = asyncio.get_running_loop()
        progress_at = loop.time() + PROGRESS_EVERY_S
        try:
            for start in range(0, len(todo), ROWS_CHUNK):
                chunk = todo[start : start + ROWS_CHUNK]
                searcher = self._searcher()  # the served catalog may have changed meanwhile
                if searcher is None:
                    break
                rows = await asyncio.to_thread(searcher.rows, chunk)
                for image_id in chunk:
                    row = rows.get(image_id)  # None: gone after a reindex, needs no file_id
                    if row is not None and await self._upload(image_id, row.path):
                        uploaded += 1
                    elif image_id in self._failed:
                        skipped += 1
                    if not self._usable:
                        return uploaded
                    handled += 1
                    if loop.time() >= progress_at:
                        progress_at = loop.time() + PROGRESS_EVERY_S
                        log.info("warm-up: uploaded %d of %d so far", uploaded, len(todo))
        finally:
            log.info(
                "warm-up: uploaded %d, skipped %d, %d left",
                uploaded,
                skipped,
                len(todo) - handled,
            )
        return uploaded

    async def _missing(self, searcher: Searcher) -> list[int]:
        ids = await asyncio.to_thread(searcher.all_ids)
        cached = await self._state.cached_image_ids(self._bot.id)
        return [i for i in ids if i not in cached and i not in self._failed]

    async def _upload(self, image_id: int, path: str) -> bool:
        """Upload one image and cache its file_id; False when skipped."""
        if await self._state.file_ids(self._bot.id, [image_id]):
            return False  # an album sent to a user cached it during this pass
        try:
            data = await asyncio.to_thread(prepare_jpeg, path)
        except ImageUnavailable as exc:
            log.warning("warm-up: image %d skipped: %s", image_id, exc)
            self._failed.add(image_id)
            return False
        await self._pace()
        try:
            message = await self._bot.send_photo(
                self._chat_id,
                InputFile(data, filename=f"{image_id}.jpg"),
                disable_notification=True,
            )
        except (BadRequest, Forbidden, ChatMigrated) as exc:
            if _chat_refused(exc):
                self._give_up(exc)
            else:
                log.warning("warm-up: Telegram refused image %d (%s): skipped", image_id, exc)
                self._failed.add(image_id)
            return False
        if not message.photo:
            log.warning("warm-up: Telegram answered image %d without a photo: skipped", image_id)
            self._failed.add(image_id)
            return False
        await self._state.store_file_ids(self._bot.id, {image_id: message.photo[-1].file_id})
        self._uploaded_total += 1
        return True

    async def _pace(self) -> None:
        """Wait for the next upload slot (``per_minute`` spread evenly)."""
        loop = asyncio.get_running_loop()
        wait = self._next_upload_at - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        self._next_upload_at = loop.time() + self._interval_s

    def _give_up(self, exc: TelegramError) -> None:
        """Stop for good, with one line that tells the operator what to change."""
        self._usable = False
        if isinstance(exc, ChatMigrated):
            fix = (
                f"the group became the supergroup {exc.new_chat_id}: set "
                f"T2I_STORAGE_CHAT_ID={exc.new_chat_id}"
            )
        else:
            fix = (
                "add the bot to that chat as a member that can post photos (in a channel: an "
                "administrator allowed to post messages), or fix T2I_STORAGE_CHAT_ID"
            )
        log.error(
            "inline warm-up stopped: the bot cannot post to storage chat %d (%s); %s, then "
            "restart the bot. Until then inline mode shows only images already cached.",
            self._chat_id,
            exc,
            fix,
        )
