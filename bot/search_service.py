"""The bot's view of the searcher: open it when the catalog exists, batch queries, reload.

The bot must start (and say something useful) before any catalog exists, and must not
crash-loop when the catalog was built with other models. So the ``Searcher`` is opened
lazily in a worker thread, its failure is remembered as the reason to give users, and the
periodic refresh retries. Queries go through a ``MicroBatcher``: one encoder call and one
FAISS call per batch, on one worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from indexer.decode import DecodeError, decode_image
from search.batching import MicroBatcher
from search.encoders import l2_normalise
from search.engine import Hit, Searcher
from search.errors import CatalogMissing, EmptyQuery, ModelMismatch, NotAnImage, UserError
from search.settings import Settings

log = logging.getLogger(__name__)

SearcherFactory = Callable[[Settings], Searcher]


@dataclass(frozen=True, eq=False)
class Query:
    """One search: cleaned text (or a ready vector, for a photo), how many hits, where the
    page starts (inline paging) and ids already shown (for "More")."""

    text: str
    k: int
    exclude: tuple[int, ...] = ()
    vector: np.ndarray | None = None  # set: search by this vector, ``text`` is a label
    offset: int = 0


class SearchService:
    """Owns the Searcher (maybe not yet open), the batcher and the reload loop."""

    def __init__(
        self, settings: Settings, factory: SearcherFactory, *, batching: bool = True
    ) -> None:
        self.settings = settings
        self._factory = factory
        self._searcher: Searcher | None = None
        self._problem: UserError = CatalogMissing("the catalog has not been opened yet")
        self._logged_problem: str | None = None
        self.batcher: MicroBatcher[Query, list[Hit]] = MicroBatcher(
            self._run_batch,
            window_ms=settings.batch_window_ms if batching else 0.0,
            max_batch=settings.batch_max if batching else 1,
            name="t2i-search",
        )

    @property
    def searcher(self) -> Searcher | None:
        return self._searcher

    async def open(self) -> bool:
        """Try to open the Searcher (in a thread); remember why not. True when ready."""
        try:
            searcher = await asyncio.to_thread(self._open_warm)
        except UserError as exc:
            self._set_problem(exc)
            return False
        self._searcher = searcher
        self._logged_problem = None
        log.info("serving catalog generation %d (%d images)", searcher.generation, searcher.size)
        return True

    def _open_warm(self) -> Searcher:
        """Worker thread: open the Searcher and run one query, so the model is loaded now
        rather than on the first user's query (tens of seconds for a big model)."""
        searcher = self._factory(self.settings)
        try:
            searcher.encode_texts(["warm-up"])
        except UserError:
            searcher.close()
            raise
        # The model and its libraries live as long as the process. Python's full (gen-2)
        # collections walk every tracked object: with the text model loaded, one took
        # 400 ms (470k objects) and, holding the GIL, stalled the event loop that long
        # (seen as 400-600 ms stalls in benchmarks/bot_load.py). Frozen, they are skipped.
        # No gc.collect() first: it would itself be such a stall, for ~1k garbage objects.
        gc.freeze()
        return searcher

    def _set_problem(self, exc: UserError) -> None:
        self._problem = exc
        message = str(exc)
        if message != self._logged_problem:  # one line per change, not one per retry
            level = logging.INFO if isinstance(exc, CatalogMissing) else logging.ERROR
            log.log(level, "catalog not available: %s", message)
            self._logged_problem = message

    async def refresh(self) -> None:
        """Open the catalog if it was missing, else serve a newer generation if published."""
        searcher = self._searcher
        if searcher is None:
            await self.open()
            return
        try:
            await asyncio.to_thread(searcher.refresh)
        except ModelMismatch as exc:
            # Rebuilt with other models: stop serving it, keep retrying until it matches.
            self._searcher = None
            self._set_problem(exc)
            await asyncio.to_thread(searcher.close)

    async def reload_forever(self, interval_s: float) -> None:
        """Call ``refresh`` every ``interval_s`` seconds until cancelled."""
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception:  # a failed reload must not end the loop; the next one retries
                log.exception("catalog reload failed; will retry")

    def image_path(self, image_id: int) -> str | None:
        """Blocking: the file of a catalog image, None when not in the served catalog."""
        searcher = self._searcher
        if searcher is None:
            return None
        row = searcher.rows([image_id]).get(image_id)
        return None if row is None else row.path

    async def search(self, query: Query) -> list[Hit]:
        """Hits for one query; raises the catalog problem (missing, mismatch, empty)."""
        if self._searcher is None:
            raise self._problem
        return await self.batcher.submit(query)

    async def photo_vector(self, data: bytes, caption: str | None = None) -> np.ndarray:
        """The query vector of a picture (plus its caption, if any); NotAnImage when the
        bytes are no usable image. Decoding and encoding run in a worker thread."""
        searcher = self._searcher
        if searcher is None:
            raise self._problem
        return await asyncio.to_thread(self._photo_vector, searcher, data, caption)

    def _photo_vector(self, searcher: Searcher, data: bytes, caption: str | None) -> np.ndarray:
        s = self.settings
        try:
            decoded = decode_image(data, s.decode_min_side, s.max_image_pixels)
        except DecodeError as exc:
            raise NotAnImage(str(exc)) from exc
        vector = searcher.encode_images([decoded.image])[0]
        if caption and caption.strip():
            try:
                words = searcher.query_vectors([caption])[0]
            except EmptyQuery:  # a caption of only emoji or spaces: the picture alone
                return vector
            # Both are unit vectors in the same space: their normalised mean sits between
            # them, so "this, but red" finds pictures like the photo that also match the words.
            return l2_normalise((vector + words)[None, :])[0]
        return vector

    def _run_batch(self, queries: list[Query]) -> list[list[Hit]]:
        """Worker thread: encode all texts at once, then one FAISS search per group of
        queries that share a page start and excluded ids (new text queries: one search)."""
        searcher = self._searcher
        if searcher is None:
            raise self._problem
        texts = [q.text for q in queries if q.vector is None]
        encoded = iter(searcher.query_vectors(texts) if texts else [])
        vectors = np.stack([q.vector if q.vector is not None else next(encoded) for q in queries])
        groups: dict[tuple[int, tuple[int, ...]], list[int]] = {}
        for position, query in enumerate(queries):
            groups.setdefault((query.offset, query.exclude), []).append(position)
        results: list[list[Hit]] = [[] for _ in queries]
        for (offset, exclude), positions in groups.items():
            k = max(queries[p].k for p in positions)
            found = searcher.search_vectors(
                vectors[positions], k=k, offset=offset, exclude_ids=exclude
            )
            for position, hits in zip(positions, found, strict=True):
                results[position] = hits[: queries[position].k]
        return results

    async def close(self) -> None:
        await self.batcher.close()
        if self._searcher is not None:
            searcher, self._searcher = self._searcher, None
            await asyncio.to_thread(searcher.close)
