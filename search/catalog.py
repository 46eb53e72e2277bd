"""The catalog: one SQLite file, the source of truth for rows and their vectors.

Schema changes are numbered migrations (``PRAGMA user_version``). The catalog records the
models it was built with, and a *generation* that grows with every committed change; the
FAISS index is derived from it and stamped with that generation.

Image ids are never reused (AUTOINCREMENT) and a row's content never changes under its id
(a modified file gets a new row), so an id from any index generation either means the same
picture or no picture at all.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from search.errors import CatalogMissing, ModelMismatch, SchemaTooNew
from search.migrations import MIGRATIONS, SCHEMA_VERSION, statements

CATALOG_FILE = "catalog.sqlite3"


@dataclass(frozen=True)
class ImageRow:
    """One catalogued image, as the searcher and the bot see it."""

    id: int
    source: str
    key: str
    path: str
    content_hash: str
    width: int
    height: int
    caption: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NewImage:
    """A row to insert: what the indexer learnt about one file."""

    source: str
    key: str
    path: str
    content_hash: str
    size: int
    mtime_ns: int
    width: int
    height: int
    vector: np.ndarray
    caption: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Known:
    """What the catalog holds for one (source, key): enough to skip unchanged files."""

    id: int
    size: int
    mtime_ns: int
    content_hash: str
    path: str
    caption: str | None
    metadata_json: str


@dataclass(frozen=True)
class KnownFailure:
    size: int | None
    mtime_ns: int | None
    reason: str


def _row(record: sqlite3.Row) -> ImageRow:
    return ImageRow(
        id=record["id"],
        source=record["source"],
        key=record["key"],
        path=record["path"],
        content_hash=record["content_hash"],
        width=record["width"],
        height=record["height"],
        caption=record["caption"],
        metadata=json.loads(record["metadata"] or "{}"),
    )


class Catalog:
    """Synchronous access to the catalog file. One instance per thread."""

    def __init__(self, conn: sqlite3.Connection, path: Path, readonly: bool) -> None:
        self._conn = conn
        self.path = path
        self.readonly = readonly

    # --- opening ------------------------------------------------------------------------
    @classmethod
    def create_or_open(cls, data_dir: Path) -> Catalog:
        """Open for writing, creating the file and applying migrations as needed."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / CATALOG_FILE
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        catalog = cls(conn, path, readonly=False)
        catalog._migrate()
        return catalog

    @classmethod
    def open_readonly(cls, data_dir: Path) -> Catalog:
        """Open for reading only; works on a read-only volume."""
        path = data_dir / CATALOG_FILE
        if not path.is_file():
            raise CatalogMissing(
                f"no catalog in {data_dir} yet: build one with `python -m indexer build IMAGES_DIR`"
            )
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )
        conn.row_factory = sqlite3.Row
        catalog = cls(conn, path, readonly=True)
        version = catalog.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the catalog in {data_dir} has schema {version}, newer than this program's "
                f"{SCHEMA_VERSION}: upgrade the program"
            )
        if version < SCHEMA_VERSION:
            raise CatalogMissing(
                f"the catalog in {data_dir} has an old schema ({version}): run "
                "`python -m indexer build` once to upgrade it"
            )
        return catalog

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        version = self.schema_version
        if version > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the catalog {self.path} has schema {version}, newer than this program's "
                f"{SCHEMA_VERSION}: upgrade the program"
            )
        for number in range(version, SCHEMA_VERSION):
            with self.transaction():
                for statement in statements(MIGRATIONS[number]):
                    self._conn.execute(statement)
                self._conn.execute(f"PRAGMA user_version = {number + 1}")
        if version == 0:
            with self.transaction():
                self._set_meta("generation", "0")
                self._set_meta("created_at", str(time.time()))

    # --- transactions -------------------------------------------------------------------
    def transaction(self) -> _Transaction:
        return _Transaction(self._conn)

    # --- meta ---------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        return {r["key"]: r["value"] for r in self._conn.execute("SELECT key, value FROM meta")}

    def get_meta(self, key: str) -> str | None:
        found = self._conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if found is None else str(found[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        """Call inside the transaction that changed rows."""
        generation = self.generation + 1
        self._set_meta("generation", str(generation))
        self._set_meta("updated_at", str(time.time()))
        return generation

    def models(self) -> tuple[str | None, str | None, int | None]:
        meta = self.meta()
        dim = meta.get("dim")
        return meta.get("image_model"), meta.get("text_model"), int(dim) if dim else None

    def record_models(self, image_model: str, text_model: str, dim: int) -> None:
        with self.transaction():
            self._set_meta("image_model", image_model)
            self._set_meta("text_model", text_model)
            self._set_meta("dim", str(dim))

    # Issue 7: which text encoders may query this catalog (JSON list in meta; None: not
    # recorded, a catalog built before the record existed).
    def text_encoders(self) -> list[str] | None:
        value = self.get_meta("text_encoders")
        return None if value is None else [str(name) for name in json.loads(value)]

    def record_text_encoders(self, names: Sequence[str]) -> None:
        with self.transaction():
            self._set_meta("text_encoders", json.dumps(list(names)))

    def check_models(self, image_model: str, text_model: str) -> None:
        """Refuse a catalog built with other models: its vectors would be garbage to them."""
        built_image, built_text, _ = self.models()
        if built_image is None:
            return
        if (built_image, built_text) != (image_model, text_model):
            raise ModelMismatch(
                f"the catalog in {self.path.parent} was built with image model {built_image!r} "
                f"and text model {built_text!r}, but {image_model!r} and {text_model!r} are "
                "configured: set T2I_IMAGE_MODEL/T2I_TEXT_MODEL back, or rebuild with "
                "`python -m indexer build IMAGES_DIR --rebuild`"
            )

    # --- reading ------------------------------------------------------------------------
    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def failure_count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM failures").fetchone()[0])

    def known(self, source: str) -> dict[str, Known]:
        cursor = self._conn.execute(
            "SELECT id, key, size, mtime_ns, content_hash, path, caption, metadata "
            "FROM images WHERE source = ?",
            (source,),
        )
        return {
            r["key"]: Known(
                r["id"],
                r["size"],
                r["mtime_ns"],
                r["content_hash"],
                r["path"],
                r["caption"],
                r["metadata"],
            )
            for r in cursor
        }

    def known_failures(self, source: str) -> dict[str, KnownFailure]:
        cursor = self._conn.execute(
            "SELECT key, size, mtime_ns, reason FROM failures WHERE source = ?", (source,)
        )
        return {r["key"]: KnownFailure(r["size"], r["mtime_ns"], r["reason"]) for r in cursor}

    def failures(self, limit: int = 1000) -> list[tuple[str, str, str]]:
        cursor = self._conn.execute(
            "SELECT source, path, reason FROM failures ORDER BY failed_at DESC LIMIT ?", (limit,)
        )
        return [(r[0], r[1], r[2]) for r in cursor]

    def vector_for_hash(self, content_hash: str) -> tuple[np.ndarray, int, int] | None:
        """The stored vector of identical content (a copy or rename): no model work needed."""
        found = self._conn.execute(
            "SELECT vector, width, height FROM images WHERE content_hash = ? LIMIT 1",
            (content_hash,),
        ).fetchone()
        if found is None:
            return None
        return np.frombuffer(found[0], dtype=np.float32).copy(), found[1], found[2]

    def content_hashes(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT DISTINCT content_hash FROM images")}

    def rows(self, ids: Sequence[int]) -> dict[int, ImageRow]:
        """Rows by id; ids without a row are simply absent."""
        result: dict[int, ImageRow] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(
                "SELECT id, source, key, path, content_hash, width, height, caption, metadata "
                f"FROM images WHERE id IN ({marks})",
                chunk,
            )
            result.update((r["id"], _row(r)) for r in cursor)
        return result

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        result: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), 500):
            chunk = [int(i) for i in ids[start : start + 500]]
            marks = ",".join("?" * len(chunk))
            cursor = self._conn.execute(
                f"SELECT id, vector FROM images WHERE id IN ({marks})", chunk
            )
            result.update((r[0], np.frombuffer(r[1], dtype=np.float32)) for r in cursor)
        return result

    def iter_vectors(self, chunk: int = 10_000) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids int64, vectors float32) in chunks, in id order."""
        last = -1
        while True:
            batch = self._conn.execute(
                "SELECT id, vector FROM images WHERE id > ? ORDER BY id LIMIT ?", (last, chunk)
            ).fetchall()
            if not batch:
                return
            ids = np.fromiter((r[0] for r in batch), dtype=np.int64, count=len(batch))
            vectors = np.vstack([np.frombuffer(r[1], dtype=np.float32) for r in batch])
            yield ids, vectors
            last = int(ids[-1])

    def all_ids(self) -> np.ndarray:
        cursor = self._conn.execute("SELECT id FROM images ORDER BY id")
        return np.fromiter((r[0] for r in cursor), dtype=np.int64)

    # --- writing (inside a transaction) ---------------------------------------------------
    def insert(self, image: NewImage) -> int:
        cursor = self._conn.execute(
            "INSERT INTO images (source, key, path, content_hash, size, mtime_ns, width, height,"
            " caption, metadata, vector, indexed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                image.source,
                image.key,
                image.path,
                image.content_hash,
                image.size,
                image.mtime_ns,
                image.width,
                image.height,
                image.caption,
                json.dumps(image.metadata, ensure_ascii=False, sort_keys=True),
                np.ascontiguousarray(image.vector, dtype=np.float32).tobytes(),
                time.time(),
            ),
        )
        self._conn.execute(
            "DELETE FROM failures WHERE source = ? AND key = ?", (image.source, image.key)
        )
        return int(cursor.lastrowid or 0)

    def touch(
        self,
        image_id: int,
        size: int,
        mtime_ns: int,
        path: str,
        caption: str | None,
        metadata: dict[str, Any],
    ) -> None:
        """Same content, new stat or description: no new vector, same id."""
        self._conn.execute(
            "UPDATE images SET size = ?, mtime_ns = ?, path = ?, caption = ?, metadata = ? "
            "WHERE id = ?",
            (
                size,
                mtime_ns,
                path,
                caption,
                json.dumps(metadata, ensure_ascii=False, sort_keys=True),
                image_id,
            ),
        )

    def delete(self, ids: Iterable[int]) -> None:
        self._conn.executemany("DELETE FROM images WHERE id = ?", [(int(i),) for i in ids])

    def record_failure(
        self,
        source: str,
        key: str,
        path: str,
        size: int | None,
        mtime_ns: int | None,
        reason: str,
    ) -> None:
        self._conn.execute(
            "INSERT INTO failures (source, key, path, size, mtime_ns, reason, failed_at) "
            "VALUES (?,?,?,?,?,?,?) ON CONFLICT(source, key) DO UPDATE SET path = excluded.path,"
            " size = excluded.size, mtime_ns = excluded.mtime_ns, reason = excluded.reason,"
            " failed_at = excluded.failed_at",
            (source, key, path, size, mtime_ns, reason, time.time()),
        )

    def forget_failures(self, source: str, keys: Iterable[str]) -> None:
        self._conn.executemany(
            "DELETE FROM failures WHERE source = ? AND key = ?", [(source, k) for k in keys]
        )

    def clear(self) -> None:
        """Drop every row (a rebuild with other models)."""
        self._conn.execute("DELETE FROM images")
        self._conn.execute("DELETE FROM failures")
        self._conn.execute(
            "DELETE FROM meta WHERE key IN ('image_model', 'text_model', 'dim', 'text_encoders')"
        )

    def integrity_problems(self) -> list[str]:
        result = self._conn.execute("PRAGMA quick_check").fetchall()
        return [r[0] for r in result if r[0] != "ok"]


class _Transaction:
    """``with catalog.transaction():`` BEGIN IMMEDIATE … COMMIT, ROLLBACK on error.

    Nested use joins the transaction already open.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._own = False

    def __enter__(self) -> None:
        if not self._conn.in_transaction:
            self._conn.execute("BEGIN IMMEDIATE")
            self._own = True

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if self._own:
            self._conn.execute("ROLLBACK" if exc_type else "COMMIT")
