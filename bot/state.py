"""The bot's own small SQLite file: Telegram file_id cache and "More" pages.

Kept apart from the catalog on purpose: the catalog may sit on a read-only volume and the
indexer writes it concurrently. The file is ``bot-state.sqlite3`` in ``state_dir`` (or the
data directory); when that place is not writable the bot logs one warning and keeps the
state in memory, so it still works (file ids are re-learnt, "More" buttons expire on restart).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiosqlite
import numpy as np

log = logging.getLogger(__name__)

STATE_FILE = "bot-state.sqlite3"
SCHEMA = """
CREATE TABLE IF NOT EXISTS file_ids (
    bot_id     INTEGER NOT NULL,
    image_id   INTEGER NOT NULL,
    file_id    TEXT NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (bot_id, image_id)
);
CREATE TABLE IF NOT EXISTS pages (
    qid        TEXT PRIMARY KEY,
    chat_id    INTEGER NOT NULL,
    user_id    INTEGER,
    query      TEXT NOT NULL,
    shown_ids  TEXT NOT NULL,
    lang       TEXT NOT NULL,
    created_at REAL NOT NULL,
    vector     BLOB
);
"""
# Columns added after the first release, for state files created before them.
ADDED_COLUMNS = {"pages": {"vector": "BLOB"}}


@dataclass(frozen=True)
class Page:
    """What a "More" button needs: the query and the images already shown for it."""

    qid: str
    chat_id: int
    user_id: int | None
    query: str
    shown_ids: tuple[int, ...]
    lang: str
    created_at: float
    vector: np.ndarray | None = None  # a photo query's vector; None: ``query`` is the text


class BotState:
    """Async access to the state file over one aiosqlite connection."""

    def __init__(self, conn: aiosqlite.Connection, path: Path | None) -> None:
        self._conn = conn
        self.path = path  # None: in memory

    @classmethod
    async def open(cls, directory: Path) -> BotState:
        """Open (creating) the state file in ``directory``, or fall back to memory."""
        path = directory / STATE_FILE
        try:
            await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, timeout=10)
            async with conn.execute("PRAGMA journal_mode=WAL"):
                pass
            # A cache: losing the last commits in a power cut is harmless, an fsync per
            # query is not (it serialises every album behind the disk).
            async with conn.execute("PRAGMA synchronous=NORMAL"):
                pass
            await conn.executescript(SCHEMA)
            await _add_missing_columns(conn)
            await conn.commit()
        except (OSError, aiosqlite.Error) as exc:
            log.warning(
                "bot state cannot be stored in %s (%s): keeping it in memory; set "
                "T2I_STATE_DIR to a writable directory to keep it across restarts",
                directory,
                exc,
            )
            conn = await aiosqlite.connect(":memory:")
            await conn.executescript(SCHEMA)
            return cls(conn, None)
        return cls(conn, path)

    async def close(self) -> None:
        await self._conn.close()

    async def _write(self, sql: str, rows: Sequence[Sequence[object]]) -> int:
        """Run one statement per row and commit; return the number of rows changed.

        The cursor is closed on aiosqlite's worker thread (``async with``): left to the
        garbage collector, it would be finalised on the event loop's thread while the worker
        runs another statement, which SQLite reports as "bad parameter or other API misuse"
        (seen under load with 32 concurrent albums).
        """
        async with self._conn.executemany(sql, rows) as cursor:
            changed = cursor.rowcount
        await self._conn.commit()
        return changed

    # --- file ids ---------------------------------------------------------------------------
    async def file_ids(self, bot_id: int, image_ids: Sequence[int]) -> dict[int, str]:
        """Cached Telegram file_ids of these images for this bot."""
        if not image_ids:
            return {}
        marks = ",".join("?" * len(image_ids))
        # Fetched in one call: a cursor read lazily across awaits would interleave with other
        # coroutines' writes on the shared connection ("bad parameter or other API misuse").
        records = await self._conn.execute_fetchall(
            f"SELECT image_id, file_id FROM file_ids WHERE bot_id = ? AND image_id IN ({marks})",
            (bot_id, *image_ids),
        )
        return {int(image_id): str(file_id) for image_id, file_id in records}

    async def cached_image_ids(self, bot_id: int) -> set[int]:
        """Ids of every image this bot has a file_id for."""
        records = await self._conn.execute_fetchall(
            "SELECT image_id FROM file_ids WHERE bot_id = ?", (bot_id,)
        )
        return {int(image_id) for (image_id,) in records}

    async def store_file_ids(self, bot_id: int, mapping: dict[int, str]) -> None:
        if not mapping:
            return
        now = time.time()
        await self._write(
            "INSERT OR REPLACE INTO file_ids (bot_id, image_id, file_id, updated_at) "
            "VALUES (?, ?, ?, ?)",
            [(bot_id, image_id, file_id, now) for image_id, file_id in mapping.items()],
        )

    async def forget_file_ids(self, bot_id: int, image_ids: Iterable[int]) -> None:
        ids = list(image_ids)
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        await self._write(
            f"DELETE FROM file_ids WHERE bot_id = ? AND image_id IN ({marks})", [(bot_id, *ids)]
        )

    # --- "More" pages -------------------------------------------------------------------------
    async def new_page(
        self,
        chat_id: int,
        user_id: int | None,
        query: str,
        shown_ids: Sequence[int],
        lang: str,
        vector: np.ndarray | None = None,
    ) -> str:
        """Remember a query and what it showed; return the short id for ``callback_data``."""
        qid = secrets.token_urlsafe(9)  # 12 characters, well inside 64 bytes
        blob = None if vector is None else np.asarray(vector, dtype=np.float32).tobytes()
        row = (qid, chat_id, user_id, query, json.dumps(list(shown_ids)), lang, time.time(), blob)
        await self._write(
            "INSERT INTO pages (qid, chat_id, user_id, query, shown_ids, lang, created_at, "
            "vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [row],
        )
        return qid

    async def page(self, qid: str, max_age_s: float) -> Page | None:
        """The page for ``qid``, or None when unknown or older than ``max_age_s``."""
        records = list(
            await self._conn.execute_fetchall(
                "SELECT qid, chat_id, user_id, query, shown_ids, lang, created_at, vector "
                "FROM pages WHERE qid = ?",
                (qid,),
            )
        )
        record = records[0] if records else None
        if record is None or time.time() - float(record[6]) > max_age_s:
            return None
        return Page(
            qid=str(record[0]),
            chat_id=int(record[1]),
            user_id=None if record[2] is None else int(record[2]),
            query=str(record[3]),
            shown_ids=tuple(int(i) for i in json.loads(record[4])),
            lang=str(record[5]),
            created_at=float(record[6]),
            vector=None if record[7] is None else np.frombuffer(record[7], dtype=np.float32),
        )

    async def extend_page(self, qid: str, more_ids: Sequence[int]) -> None:
        """Add the images a "More" press showed, so the next press continues after them."""
        page = await self.page(qid, max_age_s=float("inf"))
        if page is None:
            return
        shown = list(page.shown_ids) + [i for i in more_ids if i not in page.shown_ids]
        await self._write(
            "UPDATE pages SET shown_ids = ? WHERE qid = ?", [(json.dumps(shown), qid)]
        )

    async def expire_pages(self, max_age_s: float) -> int:
        """Delete pages older than ``max_age_s``; return how many."""
        return await self._write(
            "DELETE FROM pages WHERE created_at < ?", [(time.time() - max_age_s,)]
        )


async def _add_missing_columns(conn: aiosqlite.Connection) -> None:
    """Bring a state file written by an older version up to the current columns."""
    for table, columns in ADDED_COLUMNS.items():
        records = await conn.execute_fetchall(f"PRAGMA table_info({table})")
        have = {str(record[1]) for record in records}
        for name, kind in columns.items():
            if name not in have:
                async with conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}"):
                    pass
