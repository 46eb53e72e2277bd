"""What routing English queries to CLIP's own text tower costs per query and in memory.

    python benchmarks/query_overhead.py [--rounds 20] [--json]

Routing adds one language detection per query (py3langid, restricted to the multilingual
model's languages) and keeps a second text tower in memory: CLIP ViT-B/32, which the bot
loads anyway as soon as someone sends a photo. Measured here:

* detection latency per query (p50/p99) over the 122 short real queries of
  tests/test_language.py — the added latency; target ≤ 2 ms p50;
* one-query encode latency of each text tower (the baseline a query costs anyway);
* resident memory (RSS) growth: detector, multilingual text model, then CLIP as well.

The models are the full-size architectures with RANDOM weights (tests/fakes/tiny_models.py):
compute and memory match the real checkpoints, embeddings are meaningless.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

import psutil
from _common import emit, full_size_models, machine

from search.encoders import Encoder


def rss_mb() -> float:
    return psutil.Process().memory_info().rss / 2**20


def timed_ms(action: Callable[[str], object], inputs: list[str]) -> list[float]:
    """Milliseconds per call of ``action`` on each input, one call at a time."""
    samples = []
    for item in inputs:
        start = time.perf_counter()
        action(item)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def _encode_one(tower: Encoder) -> Callable[[str], object]:
    return lambda query: tower.encode_texts([query])


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered), 4),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 4),
        "n": len(ordered),
    }


def run(rounds: int) -> dict[str, Any]:
    from search.encoders import SentenceTransformerEncoder
    from search.language import LanguageDetector
    from search.routing import RoutingTextEncoder
    from tests.test_language import QUERIES

    paths = full_size_models()
    queries = [q for _, q in QUERIES]
    memory = {"after_imports_mb": round(rss_mb(), 1)}

    start = time.perf_counter()
    detector = LanguageDetector()
    detector.is_english("warm up", 0.5)
    detector_load_s = time.perf_counter() - start
    memory["detector_mb"] = round(rss_mb() - memory["after_imports_mb"], 1)

    before = rss_mb()
    multilingual = SentenceTransformerEncoder(str(paths["text"]), device="cpu", precision="fp32")
    multilingual.encode_texts(["warm up"])
    memory["multilingual_text_model_mb"] = round(rss_mb() - before, 1)

    before = rss_mb()
    clip = SentenceTransformerEncoder(str(paths["image"]), device="cpu", precision="fp32")
    clip.encode_texts(["warm up"])
    memory["clip_model_mb"] = round(rss_mb() - before, 1)
    memory["total_mb"] = round(rss_mb(), 1)

    def is_english(text: str) -> bool:
        return detector.is_english(text, 0.5)

    detection = timed_ms(is_english, queries * rounds)
    router = RoutingTextEncoder(clip, multilingual, is_english)
    sample_queries = queries[:: max(1, len(queries) // 40)]
    towers: dict[str, Encoder] = {"multilingual": multilingual, "clip_text_tower": clip,
                                  "routed": router}
    encode = {name: timed_ms(_encode_one(tower), sample_queries) for name, tower in towers.items()}
    english_share = sum(detector.is_english(q, 0.5) for q in queries) / len(queries)
    detect = percentiles(detection)
    baseline = percentiles(encode["multilingual"])
    return {
        "benchmark": "query_overhead",
        "added_latency_detection": detect,
        "target_p50_ms": 2.0,
        "meets_target": detect["p50_ms"] <= 2.0,
        "baseline_encode_multilingual": baseline,
        "encode_clip_text_tower": percentiles(encode["clip_text_tower"]),
        "encode_routed": percentiles(encode["routed"]),
        "ratio_detection_to_baseline_p50": round(detect["p50_ms"] / baseline["p50_ms"], 4),
        "share_of_test_queries_routed_to_clip": round(english_share, 3),
        "detector_load_s": round(detector_load_s, 3),
        "memory_rss": memory,
        "machine": machine(),
        "random_weights": True,
        "weights": "random: full-size CLIP ViT-B/32 and multilingual DistilBERT architectures "
                   "(real weights cannot be downloaded here); speed and memory carry over, "
                   "embeddings do not",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20,
                        help="passes over the query set for the detection timing")
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    args = parser.parse_args()
    emit(run(args.rounds), args.json)


if __name__ == "__main__":
    main()
