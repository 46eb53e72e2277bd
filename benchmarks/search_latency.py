"""Search latency: text query → ranked ids, at 25 000 and 1 000 000 vectors.

    python benchmarks/search_latency.py [--queries 200] [--large 1000000] [--json]

Text encoder: the full-size multilingual DistilBERT architecture (+ mean pooling + dense
768→512) with RANDOM weights (real weights cannot be downloaded here; the compute is the
same). Vectors are synthetic but clustered like real image embeddings.

- 25k: the whole ``Searcher`` path (encode, FAISS, SQLite row lookup) over a real catalog
  file holding 25 000 synthetic rows: exact search, as configured by default.
- 1M: encode + the automatically chosen approximate index (IVF), against exact search
  (the baseline) in the same run: latency of both and recall@10 of IVF vs exact. Recall
  is measured with in-distribution query vectors (random-weight text vectors are not
  meaningful neighbours of anything).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, full_size_models, machine, peak_rss_mb

QUERIES = [
    "a dog on the beach", "красное платье", "Sonnenuntergang am Meer", "chat noir sur un toit",
    "montañas nevadas al amanecer", "海辺の夕日", "一只在草地上的猫", "foggy forest path",
    "zapatillas deportivas blancas", "blaue Jeans", "женская сумка из кожи", "city at night",
]


def clustered(n: int, dim: int, clusters: int, seed: int) -> np.ndarray:
    from search.encoders import l2_normalise

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 100_000):  # in chunks: bounded temporary memory
        size = min(100_000, n - start)
        labels = rng.integers(0, clusters, size=size)
        noise = rng.normal(size=(size, dim)).astype(np.float32)
        out[start : start + size] = l2_normalise(centres[labels] + 0.6 * noise)
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2),
            "p99_ms": round(p99 * 1000, 2)}


def make_catalog(data_dir: Path, vectors: np.ndarray, model: str) -> None:
    from indexer.pipeline import publish_index
    from search.catalog import Catalog, NewImage
    from search.settings import Settings

    with Catalog.create_or_open(data_dir) as catalog:
        catalog.record_models(model, model, vectors.shape[1])
        with catalog.transaction():
            for i, vector in enumerate(vectors):
                catalog.insert(NewImage(
                    source="folder", key=f"/synthetic/{i}.jpg", path=f"/synthetic/{i}.jpg",
                    content_hash=f"{i:040x}", size=1, mtime_ns=0, width=640, height=480,
                    vector=vector, caption=f"synthetic image {i}",
                ))
            catalog.bump_generation()
        publish_index(catalog, Settings(data_dir=data_dir, _env_file=None))


def bench_small(text_model: Path, queries: list[str], size: int) -> dict[str, Any]:
    from search.encoders import SentenceTransformerEncoder
    from search.engine import Searcher
    from search.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="bench-search-"))
    make_catalog(data, clustered(size, 512, 200, seed=1), str(text_model))
    settings = Settings(data_dir=data, image_model=str(text_model), text_model=str(text_model),
                        device="cpu", _env_file=None)
    encoder = SentenceTransformerEncoder(str(text_model), "cpu", settings.precision)
    searcher = Searcher(settings, text_encoder=encoder)
    searcher.search_text("warm-up", k=10)
    samples = []
    for query in queries:
        started = time.perf_counter()
        hits = searcher.search_text(query, k=10)
        samples.append(time.perf_counter() - started)
        assert len(hits) == 10
    encode_only = []
    for query in queries[:50]:
        started = time.perf_counter()
        encoder.encode_texts([query])
        encode_only.append(time.perf_counter() - started)
    searcher.close()
    return {"vectors": size, "index_type": "flat", **percentiles(samples),
            "encode_only": percentiles(encode_only), "precision": encoder.precision}


def bench_large(text_model: Path, queries: list[str], size: int) -> dict[str, Any]:
    from search.encoders import SentenceTransformerEncoder
    from search.vectors import IndexParams, VectorIndex

    vectors = clustered(size, 512, 2000, seed=2)
    ids = np.arange(size, dtype=np.int64)
    started = time.perf_counter()
    approx = VectorIndex.build(ids, vectors, 1, IndexParams(exact_search_max=50_000))
    build_s = time.perf_counter() - started
    exact = VectorIndex.build(ids, vectors, 1, IndexParams(exact_search_max=size))
    encoder = SentenceTransformerEncoder(str(text_model), "cpu", "auto")
    encoder.encode_texts(["warm-up"])

    def timed(index: VectorIndex) -> list[float]:
        samples = []
        for query in queries:
            t0 = time.perf_counter()
            index.search(encoder.encode_texts([query]), 10)
            samples.append(time.perf_counter() - t0)
        return samples

    approx_samples, exact_samples = timed(approx), timed(exact)
    rng = np.random.default_rng(3)
    probes = vectors[rng.choice(size, 200, replace=False)]
    probes = probes + 0.3 * rng.normal(size=probes.shape).astype(np.float32)
    _, truth = exact.search(probes, 10)
    _, found = approx.search(probes, 10)
    recall = float(np.mean([len(set(t) & set(f)) / 10 for t, f in zip(truth, found,
                                                                      strict=True)]))
    return {"vectors": size, "index_type": approx.kind, "build_s": round(build_s, 1),
            **percentiles(approx_samples), "recall_at_10": round(recall, 4),
            "exact_baseline": percentiles(exact_samples)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--small", type=int, default=25_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    queries = [f"{QUERIES[i % len(QUERIES)]} {i}" for i in range(args.queries)]
    text_model = full_size_models()["text"]
    print("full-size multilingual DistilBERT, RANDOM weights", file=sys.stderr)
    small = bench_small(text_model, queries, args.small)
    print(f"{args.small}: p50 {small['p50_ms']} ms, p99 {small['p99_ms']} ms", file=sys.stderr)
    large = bench_large(text_model, queries, args.large)
    print(f"{args.large}: p50 {large['p50_ms']} ms, recall@10 {large['recall_at_10']}",
          file=sys.stderr)
    emit({
        "benchmark": "search_latency", "random_weights": True, "queries": args.queries,
        "small": small, "large": large,
        "large_vs_exact_p50": round(large["exact_baseline"]["p50_ms"] / large["p50_ms"], 2),
        "peak_rss_mb": round(peak_rss_mb(), 1), "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
