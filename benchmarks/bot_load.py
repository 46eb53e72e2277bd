"""Load test of the bot: N simulated users querying it through the fake Bot API.

What it measures, per N (1, 8, 32 concurrent users) and with micro-batching on and off:
answered queries/s, p50/p99 time from "update delivered" (queued at the fake server) to
"album received" (sendMediaGroup arrives), the longest event-loop stall of the bot
process (a probe task that sleeps 5 ms and records how late it wakes), peak RSS of the bot
process, and the encoder batch sizes.

Set-up: the full-size multilingual text encoder architecture (DistilBERT 119547 vocab, 6
layers, 768 wide, Dense 768→512) with RANDOM weights — real compute cost, meaningless
rankings — over a synthetic 25 000-row catalog (random unit vectors; paths point at a few
small real JPEGs). The bot runs in its own process (so its loop and RSS are its own),
with outgoing pacing off (T2I_TELEGRAM_RATE_LIMIT_PER_S=0) and flood control relaxed;
users run closed loops (send, wait for the album, send the next).

    python benchmarks/bot_load.py [--json] [--seconds 8] [--users 1,8,32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "7000000001:AAbenchmarkTokenNotSecretAtAll"
ROWS = 25_000
DIM = 512
QUERIES = [
    "red dress", "a dog running on the beach", "закат над морем", "чёрная кошка на диване",
    "rotes Auto in der Stadt", "un chat noir", "montañas con nieve", "東京の夜景",
    "蓝色的大海", "bowl of fresh fruit", "old wooden house in the forest", "🌸 spring flowers",
    "мужская кожаная куртка", "children playing football", "vintage bicycle", "café en París",
]


# --- preparation (run once, cached in the work directory) ------------------------------------
def prepare(work: Path) -> tuple[Path, Path]:
    """The random-weight full-size text model and the 25 000-row catalog; reused if present."""
    from PIL import Image

    from tests.fakes.tiny_models import build_full_size_multilingual_text

    model = build_full_size_multilingual_text(work / "full-size-multilingual-text")
    data = work / "data"
    if (data / "ready").exists():
        return model, data
    import numpy as np

    from search.catalog import Catalog, NewImage
    from search.settings import Settings
    from search.vectors import VectorIndex

    images = work / "images"
    images.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(24):
        path = images / f"img{i:02d}.jpg"
        hue = (i * 37 % 255, i * 91 % 255, i * 53 % 255)
        Image.new("RGB", (480, 360), hue).save(path, quality=85)
        paths.append(path)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((ROWS, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    settings = Settings(_env_file=None, data_dir=data, text_model=str(model),
                        image_model="bench:image")
    with Catalog.create_or_open(data) as catalog:
        catalog.record_models("bench:image", str(model), DIM)
        with catalog.transaction():
            for i in range(ROWS):
                path = paths[i % len(paths)]
                catalog.insert(NewImage(
                    source="bench", key=f"row{i}", path=str(path), content_hash=f"h{i}",
                    size=1, mtime_ns=0, width=480, height=360, vector=vectors[i],
                    caption=f"synthetic image {i}",
                ))
            catalog.bump_generation()
        from search.engine import index_params

        VectorIndex.from_catalog(catalog, index_params(settings)).save(settings.index_dir)
    (data / "ready").write_text("ok")
    return model, data


# --- the bot process ---------------------------------------------------------------------------
async def _probe(lags: list[tuple[float, float]]) -> None:
    """Sleep 5 ms again and again; record (wall time, lateness) when more than 2 ms late."""
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(0.005)
        late = loop.time() - start - 0.005
        if late > 0.002:
            lags.append((time.time(), late))


async def _control(report: str) -> None:
    """An idle process running only the probe: how much the machine itself stalls a loop."""
    lags: list[tuple[float, float]] = []
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    task = asyncio.create_task(_probe(lags))
    print("READY", flush=True)
    await stop.wait()
    task.cancel()
    await asyncio.to_thread(Path(report).write_text, json.dumps({"lags": lags}))


async def _serve(args: argparse.Namespace) -> None:
    """Run the bot with a loop-lag probe; on SIGTERM write the report and exit."""
    from bot.app import build_application, running, services_of
    from search.settings import Settings

    settings = Settings(_env_file=None)
    app = build_application(settings, batching=args.batching == "on")
    lags: list[tuple[float, float]] = []  # (wall time, lateness in s) above 2 ms
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async with running(app, poll_timeout=5.0):
        task = asyncio.create_task(_probe(lags))
        print("READY", flush=True)
        await stop.wait()
        task.cancel()
        stats = services_of(app).search.batcher.stats
        report = {
            "lags": lags,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "batches": stats.batches, "items": stats.items, "largest_batch": stats.largest,
            "batch_sizes": stats.sizes[-2000:],
        }
    await asyncio.to_thread(Path(args.report).write_text, json.dumps(report))


# --- the driver (fake Bot API + simulated users) -----------------------------------------------
async def _user(api: Any, user_id: int, until: float, latencies: list[float],
                arrivals: dict[int, asyncio.Queue[float]], index: int) -> None:
    n = index
    while time.monotonic() < until:
        queue = arrivals[user_id]
        started = time.monotonic()
        api.send_text(QUERIES[n % len(QUERIES)], user_id=user_id)
        n += 1
        try:
            arrived = await asyncio.wait_for(queue.get(), 30)
        except TimeoutError:
            print(f"user {user_id}: no album within 30 s", file=sys.stderr)
            return
        latencies.append(arrived - started)


async def _drive(args: argparse.Namespace, mode: str, env: dict[str, str]) -> dict[str, Any]:
    from tests.fakes.telegram_api import FakeBotApi

    arrivals: dict[int, asyncio.Queue[float]] = {}

    def on_call(call: Any) -> None:
        if call.method.lower() == "sendmediagroup" and call.fault is None:
            queue = arrivals.get(int(call.params.get("chat_id", 0)))
            if queue is not None:
                queue.put_nowait(call.time)

    results: dict[str, Any] = {}
    async with FakeBotApi(token=TOKEN, on_call=on_call) as api:
        report = Path(tempfile.mkstemp(suffix=".json")[1])
        state_dir = tempfile.mkdtemp(prefix="t2i-bot-state-")
        # A fresh state file per run: file_ids cached against an earlier fake server are
        # unknown to this one, so albums would be rejected and re-uploaded, and the
        # rejected sendMediaGroup calls would count as answers here.
        env = {**env, "T2I_TELEGRAM_API_URL": api.base_url,
               "T2I_TELEGRAM_FILE_URL": api.base_file_url,
               "T2I_STATE_DIR": state_dir}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", "--batching", mode, "--report", str(report),
            env=env, cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        )
        control_report = Path(tempfile.mkstemp(suffix=".json")[1])
        control = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--control", "--report", str(control_report),
            cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None and control.stdout is not None
        await control.stdout.readline()
        started = time.monotonic()
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if b"READY" not in line:
            raise RuntimeError("the bot process did not start")
        ready_s = time.monotonic() - started
        # Warm-up: the model's first calls, and the photos' first uploads (file ids after).
        arrivals.update({u: asyncio.Queue() for u in range(1, 33)})
        warm: list[float] = []
        await asyncio.gather(*(_user(api, u, time.monotonic() + 2.0, warm, arrivals, u)
                               for u in range(1, 9)))
        for users in args.users:
            for q in arrivals.values():
                while not q.empty():
                    q.get_nowait()
            latencies: list[float] = []
            t0, w0 = time.monotonic(), time.time()
            await asyncio.gather(*(
                _user(api, 1000 + users * 100 + u, t0 + args.seconds, latencies, arrivals, u)
                for u in range(users)
                if arrivals.setdefault(1000 + users * 100 + u, asyncio.Queue()) is not None
            ))
            elapsed = time.monotonic() - t0
            results[str(users)] = {
                "answered": len(latencies),
                "queries_per_s": round(len(latencies) / elapsed, 2),
                "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
                "p99_ms": round(1000 * _pct(latencies, 0.99), 1) if latencies else None,
                "window": (w0, time.time()),
            }
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 60)
        control.send_signal(signal.SIGTERM)
        await asyncio.wait_for(control.wait(), 30)
        bot = json.loads(await asyncio.to_thread(report.read_text))
        idle = json.loads(await asyncio.to_thread(control_report.read_text))
        for path in (report, control_report):
            await asyncio.to_thread(path.unlink)
        await asyncio.to_thread(shutil.rmtree, state_dir, True)
    for stats in results.values():
        w0, w1 = stats.pop("window")
        in_window = [lag for t, lag in bot["lags"] if w0 <= t <= w1]
        stats["max_loop_stall_ms"] = round(1000 * max(in_window, default=0.0), 1)
        idle_window = [lag for t, lag in idle["lags"] if w0 <= t <= w1]
        # The same probe in an idle process meanwhile: stalls the machine alone causes.
        stats["idle_process_max_stall_ms"] = round(1000 * max(idle_window, default=0.0), 1)
    sizes = bot["batch_sizes"]
    return {
        "per_users": results, "peak_rss_mb": round(bot["peak_rss_mb"], 1),
        "largest_batch": bot["largest_batch"],
        "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else None,
        "startup_s": round(ready_s, 1),
    }


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0, help="per N and mode")
    parser.add_argument("--users", default="1,8,32")
    parser.add_argument("--concurrent-updates", type=int, default=32)
    parser.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "t2i-bot-bench"))
    parser.add_argument("--torch-threads", type=int, default=0,
                        help="OMP/torch threads in the bot process (0: torch's default)")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--control", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--batching", default="on", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args))
        return 0
    if args.control:
        asyncio.run(_control(args.report))
        return 0
    args.users = [int(u) for u in args.users.split(",")]
    work = Path(args.work)
    t = time.monotonic()
    model, data = prepare(work)
    prep_s = time.monotonic() - t
    env = {
        **os.environ, "T2I_BOT_TOKEN": TOKEN, "T2I_DATA_DIR": str(data),
        "T2I_TEXT_MODEL": str(model), "T2I_IMAGE_MODEL": "bench:image", "T2I_DEVICE": "cpu",
        "T2I_TELEGRAM_RATE_LIMIT_PER_S": "0",
        "T2I_USER_BURST": "100", "T2I_USER_QUERIES_PER_MINUTE": "100000",
        "T2I_CONCURRENT_UPDATES": str(args.concurrent_updates),
        "T2I_HEARTBEAT_FILE": str(work / "heartbeat"), "T2I_LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    }
    if args.torch_threads:
        env["OMP_NUM_THREADS"] = str(args.torch_threads)
    load_before = os.getloadavg()[0]
    modes = {mode: asyncio.run(_drive(args, mode, env)) for mode in ("off", "on")}
    import torch

    top = str(max(args.users))
    on, off = modes["on"]["per_users"][top], modes["off"]["per_users"][top]
    summary = {
        "benchmark": "bot_load",
        "weights": "random (full-size multilingual DistilBERT architecture, 512-dim output)",
        "catalog_rows": ROWS,
        "machine": {"cores": os.cpu_count(),
                    "torch_threads": args.torch_threads or torch.get_num_threads(),
                    "cpu": platform.processor() or platform.machine(),
                    # Other work on the machine skews timings: the 1-min load average.
                    "load_avg_before": round(load_before, 2),
                    "load_avg_after": round(os.getloadavg()[0], 2)},
        "concurrent_updates": args.concurrent_updates,
        "seconds_per_run": args.seconds,
        "prepare_s": round(prep_s, 1),
        "baseline": modes["off"], "batching": modes["on"],
        f"throughput_ratio_at_{top}": round(on["queries_per_s"] / off["queries_per_s"], 2)
        if off["queries_per_s"] else None,
        "targets": {"ratio_ge_3": None, "p99_le_1000ms": on["p99_ms"] is not None
                    and on["p99_ms"] <= 1000, "stall_le_100ms": max(
                        s["max_loop_stall_ms"] for m in modes.values()
                        for s in m["per_users"].values()) <= 100,
                    "rss_le_1536mb": modes["on"]["peak_rss_mb"] <= 1536},
    }
    ratio = summary[f"throughput_ratio_at_{top}"]
    summary["targets"]["ratio_ge_3"] = ratio is not None and ratio >= 3
    if not args.json:
        print("weights are RANDOM: timings are real, rankings meaningless")
        for mode, result in modes.items():
            for users, s in result["per_users"].items():
                print(f"batching {mode:3} N={users:>2}: {s['queries_per_s']:6.1f} q/s  "
                      f"p50 {s['p50_ms']} ms  p99 {s['p99_ms']} ms  "
                      f"max stall {s['max_loop_stall_ms']} ms "
                      f"(idle process: {s['idle_process_max_stall_ms']} ms)")
            print(f"batching {mode:3}: peak RSS {result['peak_rss_mb']} MB, "
                  f"largest batch {result['largest_batch']}, mean {result['mean_batch']}")
    print(json.dumps(summary, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
