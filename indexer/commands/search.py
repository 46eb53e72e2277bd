"""``search "TEXT"``: query the catalog from the shell."""

from __future__ import annotations

import argparse
import json

from search.engine import Searcher
from search.errors import UserError
from search.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("search", help="search the catalog with a text query")
    parser.add_argument("text", help="what the picture shows, in any language")
    parser.add_argument("-k", type=int, default=10, help="how many results (default 10)")
    parser.add_argument(
        "--json", action="store_true", help='print a JSON list of {"id","path","score","caption"}'
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if args.k < 1:
        raise UserError("-k must be at least 1")
    searcher = Searcher(settings)
    try:
        hits = searcher.search_text(args.text, k=args.k)
    finally:
        searcher.close()
    if args.json:
        print(json.dumps([hit.as_json() for hit in hits], ensure_ascii=False))
        return 0
    if not hits:
        print("no results")
    for rank, hit in enumerate(hits, 1):
        caption = f"  {hit.caption}" if hit.caption else ""
        print(f"{rank:3d}. {hit.score:.4f}  {hit.path}{caption}")
    return 0
