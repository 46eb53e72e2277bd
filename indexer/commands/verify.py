"""``verify``: the catalog and its FAISS index agree, and the models match the settings."""

from __future__ import annotations

import argparse

import faiss
import numpy as np

from search.catalog import Catalog
from search.engine import index_params
from search.errors import SearchError
from search.settings import Settings
from search.vectors import VectorIndex, stamp_name


class VerifyFailed(SearchError):
    """The catalog is inconsistent; the message says how."""


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="check catalog, index and models agree")
    parser.set_defaults(func=run)


def index_ids(index: faiss.Index) -> np.ndarray:
    """Every id stored in a flat/HNSW (IDMap) or IVF index."""
    if hasattr(index, "id_map"):
        return faiss.vector_to_array(index.id_map).astype(np.int64)
    ivf = faiss.extract_index_ivf(index)
    invlists = ivf.invlists
    assert invlists is not None
    parts = []
    for list_no in range(ivf.nlist):
        size = invlists.list_size(list_no)
        if size:
            ptr = invlists.get_ids(list_no)
            parts.append(faiss.rev_swig_ptr(ptr, size).copy())
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def problems(settings: Settings) -> list[str]:
    found: list[str] = []
    with Catalog.open_readonly(settings.data_dir) as catalog:
        catalog.check_models(settings.image_model, settings.text_model)
        found.extend(f"sqlite: {line}" for line in catalog.integrity_problems())
        generation, count = catalog.generation, catalog.count()
        _, _, dim = catalog.models()
        for ids, vectors in catalog.iter_vectors():
            if dim is not None and vectors.shape[1] != dim:
                found.append(f"vectors of dimension {vectors.shape[1]}, catalog says {dim}")
                break
            norms = np.linalg.norm(vectors, axis=1)
            bad = ids[np.abs(norms - 1.0) > 1e-3]
            if len(bad):
                found.append(f"{len(bad)} vectors are not unit length (e.g. id {bad[0]})")
        index = VectorIndex.load(settings.index_dir, generation, count, index_params(settings))
        if index is None:
            found.append(
                f"no index {stamp_name(generation, count)} for catalog generation {generation} "
                f"({count} rows): run `python -m indexer build` to publish it"
            )
        else:
            stored = np.sort(index_ids(index.index))
            expected = catalog.all_ids()
            if not np.array_equal(stored, expected):
                missing = np.setdiff1d(expected, stored)
                extra = np.setdiff1d(stored, expected)
                found.append(
                    f"index and catalog disagree: {len(missing)} rows not indexed, "
                    f"{len(extra)} indexed ids without a row"
                )
    return found


def run(args: argparse.Namespace, settings: Settings) -> int:
    found = problems(settings)
    if found:
        raise VerifyFailed("; ".join(found))
    print("ok: catalog, index and models agree")
    return 0
