"""``fetch unsplash|manifest``: download a dataset's images, resumably.

Exit code 0 when the run completed, even with some failed downloads (they are listed and the
next run retries them); 1 when every download failed (the server or network is down); 2 for
a user mistake (missing file or column, bad option).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from indexer.fetch import FetchJob, FetchOptions, FetchSummary, fetch
from indexer.progress import Progress
from indexer.sources.manifest import images_dir, read_manifest
from indexer.sources.unsplash import fetch_jobs
from search.settings import Settings

_DEFAULTS = FetchOptions()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("fetch", help="download a dataset's images (resumable)")
    datasets = parser.add_subparsers(dest="dataset", required=True)

    unsplash = datasets.add_parser("unsplash", help="Unsplash Lite photos from photos.tsv000")
    unsplash.add_argument(
        "--tsv",
        type=Path,
        required=True,
        help="photos.tsv000, or the folder of the unpacked dataset",
    )
    unsplash.add_argument("--dest", type=Path, required=True, help="folder for the images")
    unsplash.add_argument(
        "--width", type=_positive, default=640, help="image width in pixels (default 640)"
    )
    unsplash.add_argument("--limit", type=_positive, help="only the first N photos")
    _common(unsplash)
    unsplash.set_defaults(func=run_unsplash)

    manifest = datasets.add_parser("manifest", help="the http(s) URLs of a CSV/JSONL manifest")
    manifest.add_argument("file", type=Path, help="manifest file (.csv, .tsv or .jsonl)")
    manifest.add_argument(
        "--dest",
        type=Path,
        help="folder for the images (default: FILE.images beside it, "
        "where `build --source manifest` looks)",
    )
    _common(manifest)
    manifest.set_defaults(func=run_manifest)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=_positive,
        default=_DEFAULTS.concurrency,
        help=f"parallel connections (default {_DEFAULTS.concurrency})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=_DEFAULTS.timeout_s,
        help=f"seconds per request (default {_DEFAULTS.timeout_s:g})",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=_DEFAULTS.retries,
        help=f"retries of transient failures (default {_DEFAULTS.retries})",
    )
    parser.add_argument(
        "--max-bytes",
        type=_positive,
        default=_DEFAULTS.max_bytes,
        help=f"largest image accepted (default {_DEFAULTS.max_bytes})",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON summary last")


def _options(args: argparse.Namespace) -> FetchOptions:
    return FetchOptions(
        concurrency=args.concurrency,
        timeout_s=args.timeout,
        retries=max(0, args.retries),
        max_bytes=args.max_bytes,
    )


def run_unsplash(args: argparse.Namespace, settings: Settings) -> int:
    problems: list[str] = []
    jobs = fetch_jobs(args.tsv, problems, args.width, args.limit)
    return _run(jobs, args.dest, args, problems)


def run_manifest(args: argparse.Namespace, settings: Settings) -> int:
    problems: list[str] = []
    dest = args.dest or images_dir(args.file)
    entries = read_manifest(args.file, problems, dest)
    jobs = [FetchJob(e.url, e.path.name) for e in entries if e.url]
    return _run(jobs, dest, args, problems)


def _run(jobs: list[FetchJob], dest: Path, args: argparse.Namespace, problems: list[str]) -> int:
    progress: list[Progress] = []

    def on_start(total: int) -> None:
        progress.append(Progress(total, enabled=False if args.json else None))

    def on_done(outcome: str) -> None:
        progress[0].update(1)

    summary = fetch(jobs, dest, _options(args), on_start, on_done)
    if progress:
        progress[0].close()
    print_summary(summary, problems, args.json)
    return 1 if summary.failed and not summary.downloaded and not summary.skipped else 0


def print_summary(summary: FetchSummary, problems: list[str], as_json: bool) -> None:
    if as_json:
        data = summary.as_json()
        data["problems"] = problems
        print(json.dumps(data, ensure_ascii=False))
        return
    print(
        f"downloaded {summary.downloaded}, skipped {summary.skipped} (already there), "
        f"failed {summary.failed}; {summary.bytes / 1e6:.1f} MB in {summary.seconds:.1f} s, "
        f"{summary.images_per_s:.1f} images/s, {summary.retries} retries"
    )
    for reason, count in summary.reasons().items():
        examples = [u for _, u, r in summary.failures if r == reason][:3]
        print(f"  failed: {count} × {reason}, e.g. {', '.join(examples)}")
    for line in problems[:20]:
        print(f"  problem: {line}")
    if len(problems) > 20:
        print(f"  … and {len(problems) - 20} more problems")
