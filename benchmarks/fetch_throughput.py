"""Download throughput: the fetcher at its default concurrency vs one connection.

    python benchmarks/fetch_throughput.py [--images 400] [--single-images 60]
                                          [--latency 0.05] [--json]

A local image server (tests/fakes/image_server.py, 127.0.0.1) adds ``--latency`` seconds to
every request, standing in for a CDN's round trip. It serves photo-like 640x427 JPEGs of
about 100 kB (Unsplash's ``w=640&q=80`` size). Each run is a fresh ``indexer.fetch.fetch``
into an empty folder, in its own subprocess so that peak RSS is per run; the server lives in
this process. The baseline is the same fetcher with one connection. Target: at least 8x.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit, machine, peak_rss_mb

DISTINCT = 16  # distinct bodies; paths are distinct so every request is a real download


def photo_jpeg(seed: int) -> bytes:
    from PIL import Image

    rng = random.Random(seed)
    small = Image.frombytes("RGB", (160, 107), rng.randbytes(160 * 107 * 3))
    out = io.BytesIO()
    small.resize((640, 427), Image.Resampling.BICUBIC).save(out, "JPEG", quality=80)
    return out.getvalue()


def worker(url_file: Path, dest: Path, concurrency: int) -> None:
    """One measured run (in a subprocess): prints one JSON line."""
    from indexer.fetch import FetchJob, FetchOptions, fetch

    urls = url_file.read_text().split()
    rss_before = peak_rss_mb()
    cpu_before = _cpu_s()
    summary = fetch([FetchJob(u, f"{i}.jpg") for i, u in enumerate(urls)], dest,
                    FetchOptions(concurrency=concurrency))
    print(json.dumps({
        "concurrency": concurrency, "downloaded": summary.downloaded,
        "failed": summary.failed, "seconds": round(summary.seconds, 3),
        "images_per_s": round(summary.images_per_s, 2),
        "mb_per_s": round(summary.bytes / 1e6 / max(summary.seconds, 1e-9), 2),
        "client_cpu_ms_per_image": round(
            1000 * (_cpu_s() - cpu_before) / max(summary.downloaded, 1), 2),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_before_fetch_mb": round(rss_before, 1),
    }))


def _cpu_s() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(server_urls: list[str], concurrency: int, work: Path) -> dict[str, Any]:
    url_file = work / f"urls-{concurrency}.txt"
    url_file.write_text("\n".join(server_urls))
    dest = work / f"dest-{concurrency}"
    server_cpu = _cpu_s()
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(url_file), str(dest), str(concurrency)],
        capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["server_cpu_ms_per_image"] = round(
        1000 * (_cpu_s() - server_cpu) / max(result["downloaded"], 1), 2)
    result["rss_growth_per_connection_mb"] = round(
        (result["peak_rss_mb"] - result["rss_before_fetch_mb"]) / concurrency, 2)
    return result


def main() -> None:
    from indexer.fetch import FetchOptions
    from tests.fakes.image_server import ImageServer

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=400, help="images at default concurrency")
    parser.add_argument("--single-images", type=int, default=60,
                        help="images for the one-connection baseline")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=FetchOptions().concurrency)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    bodies = [photo_jpeg(seed) for seed in range(DISTINCT)]
    with ImageServer(latency_s=args.latency) as server, \
            tempfile.TemporaryDirectory() as tmp:
        for i in range(args.images + args.single_images):
            server.add_file(f"/photo-{i}", bodies[i % DISTINCT], "image/jpeg")
        urls = [server.url(f"/photo-{i}") for i in range(args.images + args.single_images)]
        single = measure(urls[: args.single_images], 1, Path(tmp))
        default = measure(urls[args.single_images:], args.concurrency, Path(tmp))

    ratio = default["images_per_s"] / single["images_per_s"] if single["images_per_s"] else 0.0
    result = {
        "benchmark": "fetch_throughput",
        "latency_s": args.latency,
        "image_bytes_mean": sum(map(len, bodies)) // len(bodies),
        "default": default,
        "baseline_one_connection": single,
        "ratio": round(ratio, 2),
        "target_ratio": 8.0,
        "meets_target": ratio >= 8.0,
        "machine": {**machine(), "load_avg_1m_after": round(os.getloadavg()[0], 2)},
        "random_weights": None,  # no model involved
    }
    if not args.json:
        print(f"one connection: {single['images_per_s']:.1f} images/s; "
              f"concurrency {args.concurrency}: {default['images_per_s']:.1f} images/s "
              f"({ratio:.1f}x); peak RSS {default['peak_rss_mb']:.0f} MB")
    emit(result, args.json)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))
    else:
        main()
