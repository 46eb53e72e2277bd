"""``eval CAPTIONS``: text→image Recall@K and MRR of the configured models, per language.

CAPTIONS is a TSV, CSV or JSONL file with the columns image (a path, relative to --images
or to the captions file, or a catalog key), lang and caption. With ``--images DIR`` the
catalog in T2I_DATA_DIR is built or updated from that folder first (use a data dir of its
own for comparable figures). The gallery is the set of images the captions name; queries go
through the same text encoder as the bot's (English routing included, T2I_ROUTE_ENGLISH).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from indexer.evaluation import (
    DEFAULT_KS,
    CaptionRow,
    first_relevant_ranks,
    group_queries,
    read_captions,
    summarise,
)
from search.catalog import Catalog, ImageRow
from search.engine import Searcher, clean_query
from search.errors import EmptyQuery, UserError
from search.routing import RoutingTextEncoder
from search.settings import Settings

QUERY_BATCH = 256


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "eval", help="text→image Recall@K and MRR on a captioned image set"
    )
    parser.add_argument("captions", type=Path, help="TSV/CSV/JSONL with image, lang, caption")
    parser.add_argument(
        "--images", type=Path, help="image folder: build or update the catalog from it first"
    )
    parser.add_argument(
        "-k",
        type=int,
        nargs="+",
        default=list(DEFAULT_KS),
        help="cut-offs for Recall@K (default 1 5 10)",
    )
    parser.add_argument(
        "--whole-catalog",
        action="store_true",
        help="rank against every catalogued image, not only those captioned",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    if any(k < 1 for k in args.k):
        raise UserError("-k values must be at least 1")
    ks = sorted(set(args.k))
    rows = read_captions(args.captions)
    if args.images is not None:
        _build(settings, args.images, quiet=args.json)
    bases = [args.images] if args.images else []
    report = evaluate(
        settings,
        rows,
        ks,
        base_dirs=[*bases, args.captions.parent],
        whole_catalog=args.whole_catalog,
    )
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print_table(report, ks)
    return 0


def _build(settings: Settings, images: Path, quiet: bool) -> None:
    from indexer.commands.build import build
    from indexer.sources.folder import FolderSource
    from search.encoders import load_encoder

    encoder = load_encoder(
        settings.image_model, settings.device, settings.precision, settings.model_cache_dir
    )
    build(settings, FolderSource(images), encoder, progress=None if quiet else True)


def _lookup(rows: dict[int, ImageRow]) -> dict[str, int]:
    """Every name an image may go by in a captions file → its catalog id.

    Keys, stored paths and resolved paths always; a bare file name only where it is unique
    in the catalog (dataset caption files often name images by file name alone).
    """
    names: dict[str, int] = {}
    basenames: dict[str, list[int]] = {}
    for image_id, row in rows.items():
        names.setdefault(row.key, image_id)
        names.setdefault(row.path, image_id)
        names.setdefault(str(Path(row.path).resolve()), image_id)
        basenames.setdefault(Path(row.path).name, []).append(image_id)
    for basename, ids in basenames.items():
        if len(ids) == 1:
            names.setdefault(basename, ids[0])
    return names


def _resolve(name: str, names: dict[str, int], base_dirs: list[Path]) -> int | None:
    if name in names:
        return names[name]
    for base in base_dirs:
        candidate = Path(name) if Path(name).is_absolute() else base / name
        found = names.get(str(candidate.resolve()))
        if found is not None:
            return found
    return None


def evaluate(
    settings: Settings,
    rows: list[CaptionRow],
    ks: list[int],
    base_dirs: list[Path],
    whole_catalog: bool = False,
) -> dict[str, Any]:
    """Resolve images, encode captions, rank exactly against the gallery, summarise."""
    with Catalog.open_readonly(settings.data_dir) as catalog:
        catalogued = catalog.rows(catalog.all_ids().tolist())
        names = _lookup(catalogued)
        found: list[tuple[CaptionRow, int]] = []
        missing: list[str] = []
        for row in rows:
            image_id = _resolve(row.image, names, base_dirs)
            if image_id is None:
                missing.append(row.image)
                continue
            try:
                found.append((CaptionRow(row.image, row.lang, clean_query(row.caption)), image_id))
            except EmptyQuery:
                missing.append(f"{row.image} (empty caption)")
        if not found:
            raise UserError(
                "none of the captioned images is in the catalog: pass --images DIR, or check "
                f"the image column (first one: {rows[0].image!r})"
            )
        gallery_ids = sorted(catalogued) if whole_catalog else sorted({i for _, i in found})
        stored = catalog.vectors(gallery_ids)
    position = {image_id: p for p, image_id in enumerate(gallery_ids)}
    gallery = np.vstack([stored[i] for i in gallery_ids]).astype(np.float32)
    queries = group_queries((r.lang, r.caption, position[i]) for r, i in found)

    searcher = Searcher(settings)
    try:
        texts = [q.caption for q in queries]
        ranks = np.concatenate(
            [
                first_relevant_ranks(
                    searcher.encode_texts(texts[start : start + QUERY_BATCH]) @ gallery.T,
                    [q.relevant for q in queries[start : start + QUERY_BATCH]],
                )
                for start in range(0, len(queries), QUERY_BATCH)
            ]
        )
        encoder = searcher.text_encoder
        english = (
            encoder.routes(texts)
            if isinstance(encoder, RoutingTextEncoder)
            else [False] * len(texts)
        )
    finally:
        searcher.close()
    report: dict[str, Any] = summarise(queries, ranks, ks)
    for lang, figures in report["per_language"].items():
        chosen = [e for q, e in zip(queries, english, strict=True) if q.lang == lang]
        figures["english_tower_share"] = round(sum(chosen) / len(chosen), 3)
    report.update(
        captions=len(rows),
        skipped=len(missing),
        skipped_examples=missing[:5],
        gallery=len(gallery_ids),
        image_model=settings.image_model,
        text_model=settings.text_model,
        routing=isinstance(encoder, RoutingTextEncoder),
    )
    return report


def print_table(report: dict[str, Any], ks: list[int]) -> None:
    columns = [f"R@{k}" for k in ks] + ["MRR", "queries"]
    print(
        f"models: {report['image_model']} + {report['text_model']}"
        f"{' (English routed to the image model)' if report['routing'] else ''}"
    )
    skipped = f", {report['skipped']} skipped" if report["skipped"] else ""
    print(f"gallery {report['gallery']} images, {report['captions']} captions{skipped}")
    print(f"{'lang':<10}" + "".join(f"{c:>9}" for c in columns))
    lines = [*report["per_language"].items(), ("all", report["overall"])]
    for lang, figures in lines:
        print(f"{lang:<10}" + "".join(_cell(c, figures[c]) for c in columns))
    mean = report["mean_of_languages"]
    print(f"{'lang-mean':<10}" + "".join(_cell(c, mean[c]) for c in columns[:-1]))
    for example in report["skipped_examples"]:
        print(f"  skipped: {example}")


def _cell(column: str, value: float) -> str:
    if column == "queries":
        return f"{int(value):>9d}"
    return f"{value:>9.4f}" if column == "MRR" else f"{value:>9.2f}"
