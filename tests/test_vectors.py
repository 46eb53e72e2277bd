"""The FAISS index: exact for small catalogs, approximate above a threshold, same answers."""

from __future__ import annotations

import numpy as np

from search.encoders import l2_normalise
from search.vectors import IndexParams, VectorIndex, published_stamps


def _clustered(n: int, dim: int, clusters: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim))
    labels = rng.integers(0, clusters, size=n)
    return l2_normalise(centres[labels] + 0.35 * rng.normal(size=(n, dim)))


def test_approximate_index_agrees_with_exact_on_top1() -> None:
    vectors = _clustered(6000, 32, 40)
    ids = np.arange(10, 10 + len(vectors), dtype=np.int64)
    exact = VectorIndex.build(ids, vectors, 1, IndexParams(exact_search_max=100_000))
    approx = VectorIndex.build(ids, vectors, 1, IndexParams(exact_search_max=100))
    assert exact.kind == "flat" and approx.kind == "ivf"
    queries = _clustered(200, 32, 40, seed=1)
    _, exact_ids = exact.search(queries, 1)
    _, approx_ids = approx.search(queries, 1)
    agreement = float(np.mean(exact_ids[:, 0] == approx_ids[:, 0]))
    assert agreement >= 0.95


def test_factory_string_is_honoured() -> None:
    vectors = _clustered(500, 16, 5)
    ids = np.arange(len(vectors), dtype=np.int64)
    hnsw = VectorIndex.build(
        ids, vectors, 3, IndexParams(exact_search_max=10, factory="HNSW16,Flat")
    )
    assert hnsw.kind == "hnsw"
    _, found = hnsw.search(vectors[:5], 1)
    assert found[:, 0].tolist() == [0, 1, 2, 3, 4]


def test_saved_index_is_stamped_and_old_generations_are_removed(tmp_path) -> None:
    vectors = _clustered(50, 8, 3)
    ids = np.arange(len(vectors), dtype=np.int64)
    params = IndexParams()
    VectorIndex.build(ids, vectors, 1, params).save(tmp_path)
    VectorIndex.build(ids[:40], vectors[:40], 2, params).save(tmp_path)
    assert published_stamps(tmp_path) == [(2, 40)]
    assert VectorIndex.load(tmp_path, 1, 50, params) is None
    loaded = VectorIndex.load(tmp_path, 2, 40, params)
    assert loaded is not None and loaded.size == 40 and loaded.generation == 2
    assert VectorIndex.load(tmp_path, 2, 41, params) is None  # row count must match too
