"""The FAISS index: derived from the catalog, stamped with its generation and row count.

Small catalogs get exact inner-product search; above ``exact_search_max`` rows an
approximate index is built (IVF sized to the catalog by default, or any FAISS factory
string). Files are written to a temporary name and renamed, so a reader never sees half
an index; the name carries the stamp: ``index-g<generation>-n<rows>.faiss``.
"""

from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from search.catalog import Catalog

log = logging.getLogger(__name__)

_STAMP = re.compile(r"^index-g(\d+)-n(\d+)\.faiss$")


@dataclass(frozen=True)
class IndexParams:
    exact_search_max: int = 50_000
    factory: str = "auto"
    ivf_nprobe: int = 32
    hnsw_ef_search: int = 128


class VectorIndex:
    """A searchable FAISS index over catalog ids, for one catalog generation."""

    def __init__(self, index: faiss.Index, generation: int, params: IndexParams) -> None:
        self.index = index
        self.generation = generation
        self._tune(params)

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    @property
    def kind(self) -> str:
        base = faiss.downcast_index(self.index.index) if hasattr(self.index, "index") else None
        name = type(base or self.index).__name__
        return {"IndexFlatIP": "flat", "IndexIVFFlat": "ivf", "IndexHNSWFlat": "hnsw"}.get(
            name, name
        )

    def _tune(self, params: IndexParams) -> None:
        try:
            ivf = faiss.extract_index_ivf(self.index)
        except RuntimeError:
            ivf = None
        if ivf is not None:
            ivf.nprobe = min(params.ivf_nprobe, ivf.nlist)
        base = faiss.downcast_index(self.index.index) if hasattr(self.index, "index") else None
        if base is not None and hasattr(base, "hnsw"):
            base.hnsw.efSearch = params.hnsw_ef_search

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (len(queries), k); missing slots have id -1."""
        k = max(1, min(k, max(self.size, 1)))
        if self.size == 0:
            empty = np.full((len(queries), k), -1, dtype=np.int64)
            return np.zeros((len(queries), k), dtype=np.float32), empty
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return scores, ids

    # --- building -------------------------------------------------------------------------
    @classmethod
    def build(
        cls, ids: np.ndarray, vectors: np.ndarray, generation: int, params: IndexParams
    ) -> VectorIndex:
        count, dim = (vectors.shape[0], vectors.shape[1]) if vectors.ndim == 2 else (0, 0)
        index = _make_index(count, dim, params)
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if not index.is_trained:
            sample = _training_sample(vectors, index)
            log.info("training %s on %d vectors", type(index).__name__, len(sample))
            index.train(sample)
        if count:
            index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))
        return cls(index, generation, params)

    @classmethod
    def from_catalog(cls, catalog: Catalog, params: IndexParams) -> VectorIndex:
        generation = catalog.generation
        _, _, dim = catalog.models()
        parts = list(catalog.iter_vectors())
        if parts:
            ids = np.concatenate([p[0] for p in parts])
            vectors = np.vstack([p[1] for p in parts])
        else:
            ids = np.zeros(0, dtype=np.int64)
            vectors = np.zeros((0, dim or 1), dtype=np.float32)
        return cls.build(ids, vectors, generation, params)

    # --- files ----------------------------------------------------------------------------
    def save(self, index_dir: Path) -> Path:
        """Publish atomically, then remove older generations."""
        index_dir.mkdir(parents=True, exist_ok=True)
        final = index_dir / stamp_name(self.generation, self.size)
        temporary = index_dir / f".{final.name}.{os.getpid()}.tmp"
        faiss.write_index(self.index, str(temporary))
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, final)
        for other in index_dir.iterdir():
            if other != final and (_STAMP.match(other.name) or other.name.endswith(".tmp")):
                other.unlink(missing_ok=True)
        return final

    @classmethod
    def load(
        cls, index_dir: Path, generation: int, count: int, params: IndexParams
    ) -> VectorIndex | None:
        """The index for exactly this generation and row count, or None if there is none."""
        path = index_dir / stamp_name(generation, count)
        if not path.is_file():
            return None
        index = faiss.read_index(str(path))
        if index.ntotal != count:
            log.warning("index %s holds %d vectors, expected %d", path, index.ntotal, count)
            return None
        return cls(index, generation, params)


def stamp_name(generation: int, count: int) -> str:
    return f"index-g{generation}-n{count}.faiss"


def published_stamps(index_dir: Path) -> list[tuple[int, int]]:
    if not index_dir.is_dir():
        return []
    found = (_STAMP.match(p.name) for p in index_dir.iterdir())
    return sorted((int(m.group(1)), int(m.group(2))) for m in found if m)


def _make_index(count: int, dim: int, params: IndexParams) -> faiss.Index:
    dim = max(dim, 1)
    if count <= params.exact_search_max:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    factory = params.factory
    if factory == "auto":
        # sqrt(n) lists keeps training cheap on a small CPU and ~n/sqrt(n) vectors per list;
        # nprobe then buys back recall (measured in benchmarks/search_latency.py).
        nlist = max(64, int(math.sqrt(count)))
        factory = f"IVF{nlist},Flat"
    base = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    try:
        faiss.extract_index_ivf(base)
        return base  # IVF indexes carry ids themselves
    except RuntimeError:
        return faiss.IndexIDMap2(base)


def _training_sample(vectors: np.ndarray, index: faiss.Index) -> np.ndarray:
    try:
        nlist = faiss.extract_index_ivf(index).nlist
    except RuntimeError:
        nlist = 256
    size = min(len(vectors), max(50 * nlist, 10_000))
    if size >= len(vectors):
        return vectors
    rng = np.random.default_rng(0)
    return vectors[np.sort(rng.choice(len(vectors), size, replace=False))]
