"""The searcher: a query (text or image) → ranked hits with their catalog rows.

Thread-safe: the bot calls it from worker threads. The index and the generation it was
built for are swapped together as one snapshot, and every hit is looked up in SQLite, so
an id whose row is gone is never served.
"""

from __future__ import annotations

import logging
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from search.catalog import Catalog, ImageRow
from search.encoders import Encoder, l2_normalise, load_encoder
from search.errors import CatalogEmpty, EmptyQuery
from search.query import query_vectors
from search.routing import build_text_encoder
from search.settings import Settings
from search.vectors import IndexParams, VectorIndex

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

# Far beyond any text encoder's token limit (CLIP: 77 tokens, DistilBERT here: 128); the
# tokenizer truncates to its own limit, this only bounds the work on absurd inputs.
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True)
class _Shown:
    """Images already shown to the user (excluded ids): their duplicates are dropped too."""

    ids: set[int]
    hashes: set[str]
    vectors: list[np.ndarray]


@dataclass(frozen=True)
class Hit:
    """One result: the catalog row and how well it matched (cosine similarity)."""

    row: ImageRow
    score: float

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def path(self) -> str:
        return self.row.path

    @property
    def caption(self) -> str | None:
        return self.row.caption

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "path": self.path,
            "score": round(self.score, 6),
            "caption": self.caption,
        }


def clean_query(text: str) -> str:
    """Visible text of a query: control and zero-width characters dropped, spaces folded."""
    kept = "".join(
        ch if not unicodedata.category(ch).startswith("C") else " "
        for ch in unicodedata.normalize("NFC", text)
    )
    cleaned = " ".join(kept.split())[:MAX_QUERY_CHARS]
    if not cleaned:
        raise EmptyQuery("the query is empty: type a few words that describe the picture")
    return cleaned


def index_params(settings: Settings) -> IndexParams:
    return IndexParams(
        exact_search_max=settings.exact_search_max,
        factory=settings.index_factory,
        ivf_nprobe=settings.ivf_nprobe,
        hnsw_ef_search=settings.hnsw_ef_search,
    )


class Searcher:
    """Search one catalog with the encoders it was built with."""

    def __init__(
        self,
        settings: Settings,
        text_encoder: Encoder | None = None,
        image_encoder: Encoder | None = None,
    ) -> None:
        self.settings = settings
        self._params = index_params(settings)
        self._catalog = Catalog.open_readonly(settings.data_dir)
        self._catalog.check_models(settings.image_model, settings.text_model)
        self._db_lock = threading.Lock()
        self._reload_lock = threading.Lock()
        self._image_encoder = image_encoder
        # Issue 7: English queries may go through the image model's own text tower (sharing
        # the loaded image model) where the catalog allows it; see search/routing.py.
        self.text_encoder = text_encoder or build_text_encoder(
            settings, self.image_encoder, self._catalog.text_encoders()
        )
        self._index = self._load_index()

    # --- index snapshots ------------------------------------------------------------------
    def _load_index(self) -> VectorIndex:
        with self._db_lock:
            generation, count = self._catalog.generation, self._catalog.count()
            published = VectorIndex.load(self.settings.index_dir, generation, count, self._params)
            if published is not None:
                return published
            log.warning(
                "no published index for catalog generation %d (%d rows): building it in memory",
                generation,
                count,
            )
            return VectorIndex.from_catalog(self._catalog, self._params)

    @property
    def generation(self) -> int:
        return self._index.generation

    @property
    def size(self) -> int:
        return self._index.size

    def refresh(self) -> bool:
        """Serve a newer catalog generation once the indexer has published its index.

        While a build is in progress the catalog generation runs ahead of the published
        index; the old snapshot keeps serving (ids that lost their row are filtered).
        """
        with self._reload_lock:
            with self._db_lock:
                self._catalog.check_models(self.settings.image_model, self.settings.text_model)
                generation, count = self._catalog.generation, self._catalog.count()
            if generation == self._index.generation:
                return False
            published = VectorIndex.load(self.settings.index_dir, generation, count, self._params)
            if published is None:
                return False
            self._index = published
            log.info("now serving catalog generation %d (%d images)", generation, count)
            return True

    # --- encoding -------------------------------------------------------------------------
    @property
    def image_encoder(self) -> Encoder:
        if self._image_encoder is None:
            s = self.settings
            self._image_encoder = load_encoder(
                s.image_model, s.device, s.precision, s.model_cache_dir
            )
        return self._image_encoder

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.text_encoder.encode_texts([clean_query(t) for t in texts])

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        return self.image_encoder.encode_images(images)

    # --- searching ------------------------------------------------------------------------
    def query_vectors(self, texts: Sequence[str]) -> np.ndarray:
        """Query texts (with the query syntax of ``search.query``) → one vector each."""
        cleaned = [clean_query(t) for t in texts]
        return query_vectors(cleaned, self.text_encoder.encode_texts)

    def search_text(self, text: str, k: int = 10, offset: int = 0) -> list[Hit]:
        return self.search_vectors(self.query_vectors([text]), k, offset)[0]

    def search_vectors(
        self,
        queries: np.ndarray,
        k: int = 10,
        offset: int = 0,
        exclude_ids: Sequence[int] = (),
    ) -> list[list[Hit]]:
        """Top ``k`` distinct hits after ``offset`` for each query vector.

        Near-duplicates (same content hash, or cosine ≥ ``duplicate_threshold`` to a better
        hit or to an excluded, i.e. already shown, image) are collapsed, so a page never
        shows the same picture twice and later pages do not repeat earlier ones.
        """
        snapshot = self._index
        if snapshot.size == 0:
            raise CatalogEmpty(
                "the catalog is empty: add images with `python -m indexer build IMAGES_DIR`"
            )
        queries = l2_normalise(queries)
        needed = offset + k
        shown = self._shown(exclude_ids)
        # Over-fetch: vanished rows and duplicates are dropped; fetch more only if needed.
        fetch = needed + len(shown.ids) + max(8, needed // 2)
        results: list[list[Hit]] = [[] for _ in range(len(queries))]
        pending = list(range(len(queries)))
        while pending:
            scores, ids = snapshot.search(queries[pending], fetch)
            candidates = sorted({int(i) for i in ids.ravel() if i >= 0})
            with self._db_lock:
                rows = self._catalog.rows(candidates)
                vectors = self._catalog.vectors(candidates) if self._dedupe_by_vector else {}
            still = []
            for query_index, query_scores, query_ids in zip(pending, scores, ids, strict=True):
                ranked = [
                    (int(i), float(sc))
                    for sc, i in zip(query_scores, query_ids, strict=True)
                    if i >= 0
                ]
                hits = self._distinct(ranked, rows, vectors, shown, needed)
                if len(hits) >= needed or fetch >= snapshot.size:
                    results[query_index] = hits[offset : offset + k]
                else:
                    still.append(query_index)
            pending, fetch = still, min(fetch * 2, snapshot.size)
        return results

    @property
    def _dedupe_by_vector(self) -> bool:
        return self.settings.duplicate_threshold < 1.0

    def _shown(self, ids: Sequence[int]) -> _Shown:
        if not ids:
            return _Shown(set(), set(), [])
        with self._db_lock:
            rows = self._catalog.rows(list(ids))
            vectors = self._catalog.vectors(list(ids)) if self._dedupe_by_vector else {}
        return _Shown(set(ids), {r.content_hash for r in rows.values()}, list(vectors.values()))

    def _distinct(
        self,
        ranked: list[tuple[int, float]],
        rows: dict[int, ImageRow],
        vectors: dict[int, np.ndarray],
        shown: _Shown,
        needed: int,
    ) -> list[Hit]:
        threshold = self.settings.duplicate_threshold
        hashes = set(shown.hashes)
        kept_vectors = list(shown.vectors)
        hits: list[Hit] = []
        for image_id, score in ranked:
            row = rows.get(image_id)
            if row is None or image_id in shown.ids or row.content_hash in hashes:
                continue
            vector = vectors.get(image_id)
            if (
                vector is not None
                and kept_vectors
                and (float(np.max(np.stack(kept_vectors) @ vector)) >= threshold)
            ):
                continue
            hits.append(Hit(row, score))
            hashes.add(row.content_hash)
            if vector is not None:
                kept_vectors.append(vector)
            if len(hits) >= needed:
                break
        return hits

    def rows(self, ids: Sequence[int]) -> dict[int, ImageRow]:
        with self._db_lock:
            return self._catalog.rows(ids)

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        with self._db_lock:
            return self._catalog.vectors(ids)

    def all_ids(self) -> list[int]:
        """Every image id in the catalog, ascending (the inline warm-up walks them)."""
        with self._db_lock:
            return sorted(int(i) for i in self._catalog.all_ids())

    def close(self) -> None:
        with self._db_lock:
            self._catalog.close()
