"""Search latency: text query → ranked ids, at 25 000 and 1 000 000 vectors.

    python benchmarks/search_latency.py [--queries 200] [--large 1000000] [--json]

Text encoder: the full-size multilingual DistilBERT architecture (+ mean pooling + dense
768→512) with RANDOM weights (real weights cannot be downloaded here; the compute is the
same). Vectors are synthetic but clustered like real image embeddings.

- 25k: the whole ``Searcher`` path (encode, FAISS, SQLite row lookup) over a real catalog
  file holding 25 000 synthetic rows: exact search, as configured by default.
- 1M: encode + the automatically chosen approximate index (IVF), against exact search
  (the baseline) in the same run: latency of both and recall@10 of IVF vs exact, for
  queries near catalog vectors and for random-direction queries (see ``bench_large``), with
  an nprobe sweep.
- Each text-model precision given (``--precisions fp32,int8``) is timed in the same run;
  int8 is compared with fp32 by the overlap of their top-10 results on the 25k catalog.
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


def bench_small(
    text_model: Path, queries: list[str], size: int, precisions: tuple[str, ...]
) -> dict[str, Any]:
    """The whole Searcher path over a 25k catalog, once per text-model precision."""
    from search.encoders import SentenceTransformerEncoder
    from search.engine import Searcher
    from search.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="bench-search-"))
    make_catalog(data, clustered(size, 512, 200, seed=1), str(text_model))
    out: dict[str, Any] = {"vectors": size, "index_type": "flat"}
    ranked: dict[str, np.ndarray] = {}
    for precision in precisions:
        settings = Settings(data_dir=data, image_model=str(text_model), text_model=str(text_model),
                            device="cpu", text_precision=precision, _env_file=None)
        encoder = SentenceTransformerEncoder(str(text_model), "cpu", precision)
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
        # Top-10 ids of every query, to compare precisions on the same catalog.
        vectors = searcher.query_vectors(queries)
        ranked[precision] = np.array(
            [[h.id for h in hits] for hits in searcher.search_vectors(vectors, k=10)]
        )
        searcher.close()
        out[precision] = {**percentiles(samples), "encode_only": percentiles(encode_only)}
    if "fp32" in ranked:
        for precision, ids in ranked.items():
            if precision != "fp32":
                out[f"top10_agreement_{precision}_vs_fp32"] = round(float(np.mean(
                    [len(set(a) & set(b)) / 10 for a, b in zip(ids, ranked["fp32"], strict=True)]
                )), 4)
    return out


def probes(vectors: np.ndarray, noise: float, count: int, seed: int) -> np.ndarray:
    """Queries near catalog vectors: a random catalog vector plus noise of norm ``noise``."""
    from search.encoders import l2_normalise

    rng = np.random.default_rng(seed)
    sources = vectors[rng.choice(len(vectors), count, replace=False)]
    direction = rng.normal(size=sources.shape).astype(np.float32)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    return l2_normalise(sources + noise * direction)


def recall_at_10(exact: Any, approx: Any, queries: np.ndarray) -> float:
    _, truth = exact.search(queries, 10)
    _, found = approx.search(queries, 10)
    return round(float(np.mean(
        [len(set(t) & set(f)) / 10 for t, f in zip(truth, found, strict=True)]
    )), 4)


def bench_large(
    text_model: Path, queries: list[str], size: int, precisions: tuple[str, ...]
) -> dict[str, Any]:
    """Encode + the automatic approximate index at 1M, against exact search (fp32)."""
    import faiss

    from search.encoders import SentenceTransformerEncoder
    from search.vectors import IndexParams, VectorIndex

    vectors = clustered(size, 512, 2000, seed=2)
    ids = np.arange(size, dtype=np.int64)
    started = time.perf_counter()
    params = IndexParams(exact_search_max=50_000)
    approx = VectorIndex.build(ids, vectors, 1, params)
    build_s = time.perf_counter() - started
    exact = VectorIndex.build(ids, vectors, 1, IndexParams(exact_search_max=size))

    def timed(index: VectorIndex, encoder: SentenceTransformerEncoder) -> list[float]:
        samples = []
        for query in queries:
            t0 = time.perf_counter()
            index.search(encoder.encode_texts([query]), 10)
            samples.append(time.perf_counter() - t0)
        return samples

    out: dict[str, Any] = {"vectors": size, "index_type": approx.kind, "build_s": round(build_s, 1),
                           "nprobe": params.ivf_nprobe}
    for precision in precisions:
        encoder = SentenceTransformerEncoder(str(text_model), "cpu", precision)
        encoder.encode_texts(["warm-up"])
        out[precision] = percentiles(timed(approx, encoder))
        if precision == "fp32":
            out["exact_baseline_fp32"] = percentiles(timed(exact, encoder))
    # Recall against exact search, for two kinds of query vector (random-weight text vectors
    # are neighbours of nothing): "near" queries sit at cosine ~0.45 from a catalog vector
    # (a query that matches some pictures); "random-direction" ones at ~0.14 (noise of norm
    # 6.8 on unit vectors: a query matching nothing in particular, the worst case for IVF).
    near = probes(vectors, 2.0, 200, seed=3)
    anywhere = probes(vectors, 0.3 * float(np.sqrt(512)), 200, seed=4)
    ivf = faiss.extract_index_ivf(approx.index)
    sweep: dict[str, dict[str, float]] = {}
    # Timings first, with no batched search in between: FAISS's BLAS threads spinning after a
    # 200-query batch slowed the next single queries ~100x in an earlier version of this loop.
    for nprobe in (8, 16, 32, 64, 128, 256):
        ivf.nprobe = nprobe
        single = []
        for query in near[:50]:
            t0 = time.perf_counter()
            approx.search(query[None, :], 10)
            single.append(time.perf_counter() - t0)
        sweep[str(nprobe)] = {"search_only_p50_ms": percentiles(single)["p50_ms"]}
    for nprobe in (8, 16, 32, 64, 128, 256):
        ivf.nprobe = nprobe
        sweep[str(nprobe)]["recall_near"] = recall_at_10(exact, approx, near)
        sweep[str(nprobe)]["recall_random_direction"] = recall_at_10(exact, approx, anywhere)
    ivf.nprobe = params.ivf_nprobe
    out["recall_at_10_near"] = sweep[str(params.ivf_nprobe)]["recall_near"]
    out["recall_at_10_random_direction"] = sweep[str(params.ivf_nprobe)]["recall_random_direction"]
    out["nprobe_sweep"] = sweep
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--small", type=int, default=25_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--precisions", default="fp32,int8",
                        help="text-model precisions to time (T2I_TEXT_PRECISION values)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    precisions = tuple(p.strip() for p in args.precisions.split(",") if p.strip())
    queries = [f"{QUERIES[i % len(QUERIES)]} {i}" for i in range(args.queries)]
    text_model = full_size_models()["text"]
    print("full-size multilingual DistilBERT, RANDOM weights", file=sys.stderr)
    small = bench_small(text_model, queries, args.small, precisions)
    for precision in precisions:
        print(f"{args.small} ({precision}): p50 {small[precision]['p50_ms']} ms, "
              f"p99 {small[precision]['p99_ms']} ms, encode alone p50 "
              f"{small[precision]['encode_only']['p50_ms']} ms", file=sys.stderr)
    large = bench_large(text_model, queries, args.large, precisions)
    for precision in precisions:
        print(f"{args.large} ({precision}, {large['index_type']} nprobe {large['nprobe']}): "
              f"p50 {large[precision]['p50_ms']} ms", file=sys.stderr)
    print(f"{args.large}: recall@10 near {large['recall_at_10_near']}, random-direction "
          f"{large['recall_at_10_random_direction']}", file=sys.stderr)
    emit({
        "benchmark": "search_latency", "random_weights": True, "queries": args.queries,
        "small": small, "large": large,
        "large_vs_exact_p50_fp32": round(
            large["exact_baseline_fp32"]["p50_ms"] / large["fp32"]["p50_ms"], 2
        ) if "fp32" in large else None,
        "peak_rss_mb": round(peak_rss_mb(), 1), "machine": machine(),
    }, args.json)


if __name__ == "__main__":
    main()
