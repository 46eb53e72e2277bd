"""The bot's Bot API client: CPU per request, PTB's HTTPXRequest vs bot/http.AiohttpRequest.

    python benchmarks/http_client.py [--requests 600] [--in-flight 16] [--json]

A real ``telegram.Bot`` sends ``sendMessage`` and ``sendChatAction`` calls to the fake Bot
API (tests/fakes/telegram_api.py), which runs in a separate process so that the CPU time
measured here (``time.process_time`` of this process) is the client's alone: PTB's own
work plus the HTTP client's. ``--in-flight`` calls run concurrently, as under load in the
bot (``T2I_CONCURRENT_UPDATES``); the pool holds concurrent-updates + 4 connections, as
bot/app.py sets it. Both clients run in the same invocation; the ratio is the result.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, machine

TOKEN = "7000000001:AAbenchmarkTokenNotSecretAtAll"


def _serve(ready: Any) -> None:
    from tests.fakes.telegram_api import FakeBotApi

    async def main() -> None:
        async with FakeBotApi(token=TOKEN) as api:
            ready.put(api.base_url)
            await asyncio.Event().wait()

    asyncio.run(main())


async def _measure(kind: str, base_url: str, requests: int, in_flight: int) -> dict[str, float]:
    from telegram import Bot
    from telegram.request import BaseRequest, HTTPXRequest

    from bot.http import AiohttpRequest

    pool = 32 + 4
    request: BaseRequest = (
        HTTPXRequest(connection_pool_size=pool) if kind == "httpx"
        else AiohttpRequest(connection_pool_size=pool)
    )
    gate = asyncio.Semaphore(in_flight)

    async def call(bot: Bot, i: int) -> None:
        async with gate:
            if i % 2:
                await bot.send_chat_action(chat_id=100 + i % 32, action="upload_photo")
            else:
                await bot.send_message(chat_id=100 + i % 32, text=f"result page {i}")

    async with Bot(TOKEN, base_url=base_url, request=request) as bot:
        await asyncio.gather(*(call(bot, i) for i in range(100)))  # warm-up: connections open
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(call(bot, i) for i in range(requests)))
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"cpu_ms_per_request": round(1000 * cpu / requests, 3),
            "requests_per_s": round(requests / wall, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=600)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=_serve, args=(ready,), daemon=True)
    server.start()
    try:
        base_url = ready.get(timeout=60)
        results = {kind: asyncio.run(_measure(kind, base_url, args.requests, args.in_flight))
                   for kind in ("httpx", "aiohttp")}
    finally:
        server.kill()
    ratio = results["httpx"]["cpu_ms_per_request"] / results["aiohttp"]["cpu_ms_per_request"]
    emit({
        "benchmark": "http_client", "machine": machine(), "requests": args.requests,
        "in_flight": args.in_flight, "baseline_httpx": results["httpx"],
        "aiohttp": results["aiohttp"], "cpu_ratio_httpx_over_aiohttp": round(ratio, 2),
    }, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
