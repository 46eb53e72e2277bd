"""scan → skip unchanged → read + hash + decode (threads) → embed (batches) → commit.

SQLite is written one batch per transaction, so a kill loses at most the batch in flight
and the next run carries on. Files are recognised by (size, mtime), then by content hash:
a rename or a copy reuses the stored vector, an unchanged folder costs no model work.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from indexer.decode import Decoded, DecodeError, decode_image
from indexer.progress import Progress
from indexer.sources.base import IMAGE_SUFFIXES, ImageRecord, Source
from search.catalog import Catalog, Known, NewImage
from search.encoders import Encoder
from search.errors import SourceError
from search.settings import Settings
from search.vectors import IndexParams, VectorIndex

log = logging.getLogger(__name__)


@dataclass
class BuildSummary:
    """What a build did; printed at the end and returned by ``--json``."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    reused: int = 0  # vectors copied from identical content (renames, copies)
    embedded: int = 0  # images that went through the model
    seconds: float = 0.0
    images_total: int = 0
    generation: int = 0
    problems: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def images_per_s(self) -> float:
        return self.embedded / self.seconds if self.seconds > 0 else 0.0


@dataclass
class _Prepared:
    """One file after the worker thread: hashed and, unless its content is known, decoded."""

    record: ImageRecord
    size: int
    mtime_ns: int
    known: Known | None  # the catalog row for this key when planned, if any
    content_hash: str = ""
    decoded: Decoded | None = None
    error: str | None = None


@dataclass
class _Planned:
    record: ImageRecord
    size: int
    mtime_ns: int
    known: Known | None


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=20).hexdigest()


class Pipeline:
    """Index one source into one catalog."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        encoder: Encoder,
        progress: Callable[[int], Progress] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.encoder = encoder
        self._progress = progress or (lambda total: Progress(total, enabled=False))

    def run(self, source: Source) -> BuildSummary:
        started = time.perf_counter()
        summary = BuildSummary()
        planned, seen_keys = self._plan(source, summary)
        if planned:
            self._ensure_models_recorded()
            self._process(planned, summary)
        self._remove_missing(source, seen_keys, summary)
        summary.problems = list(source.problems)
        t_index = time.perf_counter()
        summary.generation = publish_index(self.catalog, self.settings)
        summary.stage_seconds["index"] = time.perf_counter() - t_index
        summary.images_total = self.catalog.count()
        summary.failures = [f"{path}: {reason}" for _, path, reason in self.catalog.failures()]
        summary.seconds = time.perf_counter() - started
        return summary

    # --- planning: decide per file without reading it -----------------------------------------
    def _plan(self, source: Source, summary: BuildSummary) -> tuple[list[_Planned], set[str]]:
        t0 = time.perf_counter()
        known = self.catalog.known(source.kind)
        failures = self.catalog.known_failures(source.kind)
        planned: list[_Planned] = []
        seen: set[str] = set()
        touched: list[tuple[Known, ImageRecord, int, int]] = []
        for record in source.records():
            if record.key in seen:
                continue
            seen.add(record.key)
            try:
                info = os.stat(record.path)
            except OSError as exc:
                self._fail(record, None, None, f"cannot read: {exc.strerror or exc}")
                summary.failed += 1
                continue
            size, mtime_ns = info.st_size, info.st_mtime_ns
            old = known.get(record.key)
            if old is not None and (old.size, old.mtime_ns) == (size, mtime_ns):
                if _describes_differently(old, record):
                    touched.append((old, record, size, mtime_ns))
                summary.unchanged += 1
                continue
            failure = failures.get(record.key)
            if failure is not None and (failure.size, failure.mtime_ns) == (size, mtime_ns):
                summary.failed += 1  # same bad file as last time: not retried
                continue
            planned.append(_Planned(record, size, mtime_ns, old))
        if touched:
            with self.catalog.transaction():
                for old, record, size, mtime_ns in touched:
                    self.catalog.touch(
                        old.id, size, mtime_ns, str(record.path), record.caption, record.metadata
                    )
                self.catalog.bump_generation()
        if not seen:
            where = getattr(source, "root", "the source")
            raise SourceError(
                f"no images found in {where} (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        summary.stage_seconds["scan"] = time.perf_counter() - t0
        return planned, seen

    def _ensure_models_recorded(self) -> None:
        image_model, _, _ = self.catalog.models()
        if image_model is None:
            self.catalog.record_models(
                self.settings.image_model, self.settings.text_model, self.encoder.dim
            )

    # --- the read/decode → embed → commit loop ------------------------------------------
    def _process(self, planned: list[_Planned], summary: BuildSummary) -> None:
        known_hashes = self.catalog.content_hashes()
        batch: list[_Prepared] = []
        progress = self._progress(len(planned))
        workers = self.settings.decode_workers
        window = max(2 * self.settings.batch_size, 4 * workers)
        with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
            for prepared in _bounded_map(
                pool, lambda p: self._prepare(p, known_hashes), planned, window
            ):
                batch.append(prepared)
                if sum(1 for p in batch if p.decoded is not None) >= self.settings.batch_size:
                    self._commit(batch, known_hashes, summary)
                    progress.update(len(batch))
                    batch = []
            if batch:
                self._commit(batch, known_hashes, summary)
                progress.update(len(batch))
        progress.close()

    def _prepare(self, planned: _Planned, known_hashes: set[str]) -> _Prepared:
        prepared = _Prepared(planned.record, planned.size, planned.mtime_ns, planned.known)
        try:
            data = Path(planned.record.path).read_bytes()
        except OSError as exc:
            prepared.error = f"cannot read: {exc.strerror or exc}"
            return prepared
        prepared.content_hash = content_hash(data)
        if planned.known is not None and planned.known.content_hash == prepared.content_hash:
            return prepared  # touched, same content
        if prepared.content_hash in known_hashes:
            return prepared  # a copy or rename of something already embedded
        try:
            prepared.decoded = decode_image(
                data, self.settings.decode_min_side, self.settings.max_image_pixels
            )
        except DecodeError as exc:
            prepared.error = str(exc)
        return prepared

    def _commit(
        self, batch: list[_Prepared], known_hashes: set[str], summary: BuildSummary
    ) -> None:
        to_embed = [p for p in batch if p.decoded is not None]
        t0 = time.perf_counter()
        vectors = (
            self.encoder.encode_images([p.decoded.image for p in to_embed if p.decoded])
            if to_embed
            else np.zeros((0, 0), dtype=np.float32)
        )
        summary.stage_seconds["embed"] = summary.stage_seconds.get("embed", 0.0) + (
            time.perf_counter() - t0
        )
        summary.embedded += len(to_embed)
        fresh = dict(zip((id(p) for p in to_embed), vectors, strict=True))
        with self.catalog.transaction():
            for prepared in batch:
                self._store(prepared, fresh.get(id(prepared)), summary)
            self.catalog.bump_generation()
        known_hashes.update(p.content_hash for p in batch if p.content_hash and not p.error)

    def _store(
        self,
        p: _Prepared,
        vector: np.ndarray | None,
        summary: BuildSummary,
    ) -> None:
        record = p.record
        if p.error is not None:
            self._fail(record, p.size, p.mtime_ns, p.error)
            summary.failed += 1
            return
        old = p.known
        if old is not None and old.content_hash == p.content_hash:
            self.catalog.touch(
                old.id, p.size, p.mtime_ns, str(record.path), record.caption, record.metadata
            )
            self.catalog.forget_failures(record.source, [record.key])
            summary.unchanged += 1
            return
        width = height = 0
        if vector is None:
            reused = self.catalog.vector_for_hash(p.content_hash)
            if reused is None:  # cannot happen unless the copy vanished mid-run
                self._fail(record, p.size, p.mtime_ns, "content vanished during indexing")
                summary.failed += 1
                return
            vector, width, height = reused
            summary.reused += 1
        elif p.decoded is not None:
            width, height = p.decoded.width, p.decoded.height
        if old is not None:
            self.catalog.delete([old.id])  # new content gets a new id, never a reused one
            summary.updated += 1
        else:
            summary.added += 1
        self.catalog.insert(
            NewImage(
                source=record.source,
                key=record.key,
                path=str(record.path),
                content_hash=p.content_hash,
                size=p.size,
                mtime_ns=p.mtime_ns,
                width=width,
                height=height,
                vector=vector,
                caption=record.caption,
                metadata=record.metadata,
            )
        )

    def _fail(
        self, record: ImageRecord, size: int | None, mtime_ns: int | None, reason: str
    ) -> None:
        log.warning("skipped %s: %s", record.path, reason)
        with self.catalog.transaction():
            self.catalog.record_failure(
                record.source, record.key, str(record.path), size, mtime_ns, reason
            )

    def _remove_missing(self, source: Source, seen: set[str], summary: BuildSummary) -> None:
        known = self.catalog.known(source.kind)
        gone = [k for k in known if k not in seen and source.owns(k)]
        failed_gone = [
            k for k in self.catalog.known_failures(source.kind) if k not in seen and source.owns(k)
        ]
        if not gone and not failed_gone:
            return
        with self.catalog.transaction():
            self.catalog.delete(known[k].id for k in gone)
            self.catalog.forget_failures(source.kind, failed_gone)
            if gone:
                self.catalog.bump_generation()
        summary.removed += len(gone)


def publish_index(catalog: Catalog, settings: Settings) -> int:
    """Build the FAISS index for the current generation unless it is already published."""
    from search.engine import index_params

    params: IndexParams = index_params(settings)
    generation, count = catalog.generation, catalog.count()
    if VectorIndex.load(settings.index_dir, generation, count, params) is None:
        VectorIndex.from_catalog(catalog, params).save(settings.index_dir)
    return generation


def _describes_differently(old: Known, record: ImageRecord) -> bool:
    import json

    new_meta = json.dumps(record.metadata, ensure_ascii=False, sort_keys=True)
    return (
        old.caption != record.caption
        or old.metadata_json != new_meta
        or old.path != str(record.path)
    )


def _bounded_map(
    pool: ThreadPoolExecutor,
    fn: Callable[[_Planned], _Prepared],
    items: list[_Planned],
    window: int,
) -> Iterator[_Prepared]:
    """``pool.map`` in order, with at most ``window`` items decoded ahead (bounded memory)."""
    pending: deque[Future[_Prepared]] = deque()
    for item in items:
        pending.append(pool.submit(fn, item))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()
