"""A manifest: a CSV or JSONL file listing images by local path or http(s) URL.

Columns: ``path`` (or ``url``/``image``/``image_url``), optional ``caption``, anything else
kept as metadata. Relative paths are relative to the manifest's folder. URLs are downloaded
(like Unsplash images: concurrent, retried, verified, resumable) into ``<manifest>.images/``
beside the manifest, named by a hash of the URL, when the build reads the manifest.

Keys are the path or URL as written. ``owns`` claims every ``manifest`` key: one manifest
collection per catalog (a second manifest built into the same catalog replaces the first).
"""

from __future__ import annotations

import csv
import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from indexer.fetch import FetchJob, FetchOptions, fetch
from indexer.sources.base import IMAGE_SUFFIXES, ImageRecord
from indexer.sources.tables import FirstSeen, ProblemLog, Row, read_delimited, read_jsonl
from search.errors import SourceError

log = logging.getLogger(__name__)

LOCATION_COLUMNS = ("path", "url", "image", "image_url")
CAPTION = "caption"


@dataclass(frozen=True)
class Entry:
    key: str  # as written in the manifest
    line: int
    path: Path  # the local file (for URLs: where the download goes)
    url: str | None
    caption: str | None
    metadata: dict[str, str]


def images_dir(manifest: Path) -> Path:
    return manifest.parent / f"{manifest.name}.images"


def url_file_name(url: str) -> str:
    """A stable file name for a URL: a hash, with the URL's image suffix if it has one."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        suffix = ".jpg"
    return hashlib.sha1(url.encode("utf-8")).hexdigest()[:24] + suffix


def read_manifest(manifest: Path, problems: list[str], images: Path | None = None) -> list[Entry]:
    if not manifest.is_file():
        raise SourceError(f"no such manifest file: {manifest}")
    plog = ProblemLog(problems)
    rows: Iterator[Row]
    if manifest.suffix.lower() in (".jsonl", ".ndjson"):
        rows = read_jsonl(manifest, plog)
        column = None
    else:
        column = _location_column(manifest)
        delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
        rows = read_delimited(manifest, delimiter, (column,), plog)
    base = manifest.parent.resolve()
    downloads = (images or images_dir(manifest)).resolve()
    seen = FirstSeen(plog, manifest.name, column or "path")
    entries: list[Entry] = []
    for row in rows:
        name = column or next((c for c in LOCATION_COLUMNS if row.values.get(c)), None)
        where = row.values.get(name, "") if name else ""
        if not where:
            plog.add("no location", f"{manifest.name} line {row.line}: no path or url; row skipped")
            continue
        if not seen.first(where, row.line):
            continue
        url = where if "://" in where else None
        path = downloads / url_file_name(where) if url else (base / where)
        metadata = {k: v for k, v in row.values.items() if k not in (name, CAPTION) and v}
        entries.append(Entry(where, row.line, path, url, row.values.get(CAPTION) or None, metadata))
    plog.finish()
    return entries


def _location_column(manifest: Path) -> str:
    """The header's location column; a missing one is a one-line SourceError."""
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    try:
        with open(manifest, encoding="utf-8-sig", errors="replace") as handle:
            first = next(csv.reader([handle.readline()], delimiter=delimiter), [])
            header = [c.strip() for c in first]
    except OSError as exc:
        raise SourceError(f"cannot read {manifest}: {exc.strerror or exc}") from None
    for column in LOCATION_COLUMNS:
        if column in header:
            return column
    raise SourceError(
        f"{manifest.name}: missing column 'path' (or 'url'); columns found: "
        f"{', '.join(header[:12]) or 'none'}"
    )


def download(
    entries: list[Entry],
    dest: Path,
    options: FetchOptions | None = None,
    problems: list[str] | None = None,
) -> int:
    """Fetch the URL entries not downloaded yet; returns how many failed."""
    jobs = [FetchJob(e.url, e.path.name) for e in entries if e.url]
    if not jobs:
        return 0
    summary = fetch(jobs, dest, options)
    if summary.downloaded:
        log.info("downloaded %d image(s) into %s", summary.downloaded, dest)
    if problems is not None:
        for _, url, reason in summary.failures:
            problems.append(f"{url}: {reason}")
    return summary.failed


class ManifestSource:
    """Images listed in a manifest; URLs are downloaded when ``records()`` runs."""

    kind = "manifest"

    def __init__(
        self,
        manifest: Path,
        tsv: Path | None = None,
        images: Path | None = None,
        fetch_options: FetchOptions | None = None,
        **_: object,
    ) -> None:
        self.manifest = tsv or manifest
        if self.manifest.is_dir():
            raise SourceError(
                f"{self.manifest} is a folder: give the manifest file (.csv, .tsv or .jsonl)"
            )
        if not self.manifest.is_file():
            raise SourceError(f"no such manifest file: {self.manifest}")
        self.images = images or images_dir(self.manifest)
        self.fetch_options = fetch_options
        self.problems: list[str] = []

    def owns(self, key: str) -> bool:
        return True

    def records(self) -> Iterator[ImageRecord]:
        entries = read_manifest(self.manifest, self.problems, self.images)
        failed = download(entries, self.images, self.fetch_options, self.problems)
        if failed:
            log.warning("%d download(s) failed; a rerun retries them", failed)
        for entry in entries:
            if not entry.path.is_file():
                if entry.url is None:
                    self.problems.append(
                        f"{self.manifest.name} line {entry.line}: no such "
                        f"file {entry.key}; row skipped"
                    )
                continue  # a failed download, already reported
            yield ImageRecord(self.kind, entry.key, entry.path, entry.caption, entry.metadata)
