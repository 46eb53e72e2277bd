"""The catalog's schema as numbered migrations; ``PRAGMA user_version`` says how many ran.

Append a new string to change the schema; never edit one that has shipped.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: initial schema
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE images (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        source       TEXT NOT NULL,
        key          TEXT NOT NULL,
        path         TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        size         INTEGER NOT NULL,
        mtime_ns     INTEGER NOT NULL,
        width        INTEGER NOT NULL,
        height       INTEGER NOT NULL,
        caption      TEXT,
        metadata     TEXT NOT NULL DEFAULT '{}',
        vector       BLOB NOT NULL,
        indexed_at   REAL NOT NULL,
        UNIQUE (source, key)
    );
    CREATE INDEX images_by_hash ON images (content_hash);
    CREATE TABLE failures (
        source    TEXT NOT NULL,
        key       TEXT NOT NULL,
        path      TEXT NOT NULL,
        size      INTEGER,
        mtime_ns  INTEGER,
        reason    TEXT NOT NULL,
        failed_at REAL NOT NULL,
        PRIMARY KEY (source, key)
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
