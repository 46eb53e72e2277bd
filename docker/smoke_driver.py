"""Host side of ``scripts/docker-smoke.sh``: a fake Bot API on 127.0.0.1 that plays one user.

The bot runs inside the image (``buildah run``, host network) and talks to this server. We wait
for its start-up calls (``getMe``, ``setMyCommands``), send one text message as a user and check
the reply: an album or photo when the catalog has images (``--expect photos``), or a message
containing ``--expect-text`` (e.g. the "no catalog yet, build it with ..." notice).

Prints ``READY <base_url>``, ``CALL <method> <seconds since READY>`` per request and one final
``RESULT ok|fail <detail>`` line, then keeps serving until SIGTERM so the bot is stopped first.
Run from the repository root with the project's virtual environment (needs ``tests.fakes``).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.telegram_api import FakeBotApi
from tests.fakes.telegram_protocol import Call

REPLY_METHODS = ("sendMediaGroup", "sendPhoto", "sendMessage")


async def _first_reply(api: FakeBotApi, after: int, limit_s: float) -> Call:
    """The first reply-like call made after the first ``after`` calls."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for call in api.calls[after:]:
            if call.method in REPLY_METHODS:
                return call
        await asyncio.sleep(0.1)
    raise TimeoutError(f"no reply within {limit_s:.0f} s")


async def _play(api: FakeBotApi, args: argparse.Namespace) -> str:
    """Run the scenario; returns the RESULT detail or raises AssertionError/TimeoutError."""
    await api.wait_for("getMe", timeout=args.timeout)
    await api.wait_for("setMyCommands", timeout=args.timeout)
    seen = len(api.calls)
    api.send_text(args.query)
    reply = await _first_reply(api, seen, args.timeout)
    if args.expect == "photos":
        if reply.method == "sendMessage":
            raise AssertionError(f"expected photos, got message {reply.params.get('text')!r}")
        count = len(reply.params.get("media", [])) or 1
        return f"{reply.method} with {count} photo(s)"
    text = str(reply.params.get("text", reply.params.get("caption", "")))
    if args.expect_text.lower() not in text.lower():
        raise AssertionError(f"reply {reply.method} {text!r} lacks {args.expect_text!r}")
    return f"{reply.method}: {text!r}"


async def _main(args: argparse.Namespace) -> int:
    ready_at = time.monotonic()

    def log_call(call: Call) -> None:
        print(f"CALL {call.method} {call.time - ready_at:.2f}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with FakeBotApi(port=args.port, on_call=log_call) as api:
        ready_at = time.monotonic()
        print(f"READY {api.base_url}", flush=True)
        try:
            detail = await _play(api, args)
            print(f"RESULT ok {detail}", flush=True)
        except (AssertionError, TimeoutError) as exc:
            print(f"RESULT fail {exc}", flush=True)
        await stop.wait()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: a free port")
    parser.add_argument("--query", default="a red dress")
    parser.add_argument("--expect", choices=["photos", "text"], default="photos")
    parser.add_argument("--expect-text", default="indexer build")
    parser.add_argument("--timeout", type=float, default=180.0)
    return asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
