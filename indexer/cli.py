"""Command-line edge: parse, call the core, print, exit code. Nothing else lives here.

Exit codes: 0 success, 2 user error (one line, no traceback), 1 anything else.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from search.errors import SearchError
from search.settings import Settings

# Each module registers one sub-command: ``register(subparsers)`` sets ``func(args, settings)``.
COMMAND_MODULES = [
    "indexer.commands.build",
    "indexer.commands.search",
    "indexer.commands.stats",
    "indexer.commands.verify",
    "indexer.commands.models",
    "indexer.commands.fetch",
    "indexer.commands.eval",
]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m indexer", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue  # optional command not present in this build
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("httpx", "sentence_transformers", "transformers", "faiss", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "T2I_" + "_".join(str(p) for p in first["loc"]).upper()
        print(f"error: bad setting {name}: {first['msg']}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args, settings) or 0)
    except SearchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted; the next run continues where this one stopped", file=sys.stderr)
        return 130
