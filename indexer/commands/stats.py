"""``stats``: what the catalog holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from search.catalog import Catalog
from search.engine import index_params
from search.settings import Settings
from search.vectors import VectorIndex, published_stamps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stats", help="what the catalog holds")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def collect(settings: Settings) -> dict[str, Any]:
    with Catalog.open_readonly(settings.data_dir) as catalog:
        image_model, text_model, dim = catalog.models()
        generation, count = catalog.generation, catalog.count()
        index = VectorIndex.load(settings.index_dir, generation, count, index_params(settings))
        return {
            "images": count,
            "failures": catalog.failure_count(),
            "image_model": image_model,
            "text_model": text_model,
            "dim": dim,
            "index_type": index.kind if index else None,
            "generation": generation,
            "index_published": index is not None,
            "published_indexes": [f"g{g}-n{n}" for g, n in published_stamps(settings.index_dir)],
            "catalog": str(catalog.path),
            "recent_failures": [
                {"source": s, "path": p, "reason": r} for s, p, r in catalog.failures(10)
            ],
        }


def run(args: argparse.Namespace, settings: Settings) -> int:
    stats = collect(settings)
    if args.json:
        print(json.dumps(stats, ensure_ascii=False))
        return 0
    print(f"catalog      {stats['catalog']}")
    print(f"images       {stats['images']}")
    print(f"failures     {stats['failures']}")
    print(f"image model  {stats['image_model']}")
    print(f"text model   {stats['text_model']}")
    print(f"dimensions   {stats['dim']}")
    print(
        f"index        {stats['index_type'] or 'not published'} (generation {stats['generation']})"
    )
    for failure in stats["recent_failures"]:
        print(f"  failed: {failure['path']}: {failure['reason']}")
    return 0
