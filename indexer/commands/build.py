"""``build PATH``: index or update the catalog from a source."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from indexer.pipeline import BuildSummary, Pipeline
from indexer.progress import Progress
from indexer.sources import open_source, source_kinds
from search.catalog import Catalog
from search.encoders import Encoder, load_encoder
from search.routing import allowed_text_encoders
from search.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help="index or update the catalog from a source")
    parser.add_argument("path", type=Path, help="image folder or dataset directory")
    parser.add_argument("--source", default="folder", choices=source_kinds())
    parser.add_argument("--tsv", type=Path, help="Unsplash: photos.tsv file or its folder")
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="drop the catalog's rows first (needed after changing models)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    options = {"tsv": args.tsv} if args.tsv else {}
    source = open_source(args.source, args.path, **options)
    encoder = load_encoder(
        settings.image_model, settings.device, settings.precision, settings.model_cache_dir
    )
    summary = build(
        settings, source, encoder, rebuild=args.rebuild, progress=None if args.json else True
    )
    print_summary(summary, as_json=args.json)
    return 0


def build(
    settings: Settings,
    source: object,
    encoder: Encoder,
    rebuild: bool = False,
    progress: bool | None = None,
) -> BuildSummary:
    with Catalog.create_or_open(settings.data_dir) as catalog:
        if rebuild:
            with catalog.transaction():
                catalog.clear()
                catalog.bump_generation()
        catalog.check_models(settings.image_model, settings.text_model)
        pipeline = Pipeline(
            settings,
            catalog,
            encoder,
            progress=lambda total: Progress(total, enabled=None if progress else False),
        )
        summary = pipeline.run(source)  # type: ignore[arg-type]
        if catalog.models()[0] is not None:
            # Issue 7: record which text encoders may query this catalog (search/routing.py).
            catalog.record_text_encoders(
                allowed_text_encoders(settings.image_model, settings.text_model)
            )
        return summary


def print_summary(summary: BuildSummary, as_json: bool) -> None:
    if as_json:
        data = asdict(summary)
        data["images_per_s"] = round(summary.images_per_s, 3)
        data["seconds"] = round(summary.seconds, 3)
        print(json.dumps(data, ensure_ascii=False))
        return
    print(
        f"added {summary.added}, updated {summary.updated}, unchanged {summary.unchanged}, "
        f"removed {summary.removed}, failed {summary.failed} "
        f"(reused {summary.reused} vectors); {summary.images_total} images in the catalog; "
        f"{summary.seconds:.1f} s, {summary.images_per_s:.1f} images/s"
    )
    for line in summary.problems[:20]:
        print(f"  problem: {line}")
    if len(summary.problems) > 20:
        print(f"  … and {len(summary.problems) - 20} more problems")
    if summary.failed:
        for line in summary.failures[:20]:
            print(f"  failed: {line}")
        if len(summary.failures) > 20:
            print(f"  … and {len(summary.failures) - 20} more (python -m indexer stats)")
