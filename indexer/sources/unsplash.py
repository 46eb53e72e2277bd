"""Unsplash Lite: ``photos.tsv000`` metadata plus the images ``fetch unsplash`` downloaded.

Keys are ``photo_id``s; images are ``<DIR>/<photo_id>.jpg``. Captions come from the
photographer's description, falling back to Unsplash's AI description; the metadata carries
what the bot needs for attribution ("Photo by NAME on Unsplash", linking the photo page).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from indexer.fetch import FetchJob
from indexer.sources.base import ImageRecord
from indexer.sources.tables import FirstSeen, ProblemLog, read_delimited, report_orphans
from search.errors import SourceError

ID = "photo_id"
IMAGE_URL = "photo_image_url"


@dataclass(frozen=True)
class UnsplashPhoto:
    photo_id: str
    line: int
    image_url: str
    caption: str | None
    metadata: dict[str, str]


def find_tables(tsv: Path) -> list[Path]:
    """``photos.tsv000`` (and ``photos.tsv001`` … of the full dataset) in a folder, or the
    file itself."""
    if tsv.is_file():
        return [tsv]
    if tsv.is_dir():
        found = sorted(tsv.glob("photos.tsv*")) or sorted(tsv.glob("photos.csv*"))
        if found:
            return found
        raise SourceError(
            f"no photos.tsv000 in {tsv}: pass --tsv with the unpacked "
            "Unsplash Lite download (the file or its folder)"
        )
    raise SourceError(f"no such file or folder: {tsv}")


def read_photos(
    tsv: Path, problems: list[str], required: tuple[str, ...] = (ID,)
) -> Iterator[UnsplashPhoto]:
    """Every readable photo row, each ``photo_id`` once; bad rows go to ``problems``."""
    log = ProblemLog(problems)
    seen = FirstSeen(log, "photos", ID)
    for table in find_tables(tsv):
        delimiter = "," if ".csv" in table.name else "\t"
        for row in read_delimited(table, delimiter, required, log):
            photo_id = row.values[ID]
            if not photo_id:
                log.add("no id", f"{table.name} line {row.line}: empty {ID}; row skipped")
                continue
            if not seen.first(photo_id, row.line):
                continue
            yield _photo(photo_id, row.line, row.values)
    log.finish()


def _photo(photo_id: str, line: int, values: dict[str, str]) -> UnsplashPhoto:
    get = values.get
    caption = get("photo_description") or get("ai_description") or None
    username = get("photographer_username", "")
    full_name = " ".join(
        p for p in (get("photographer_first_name", ""), get("photographer_last_name", "")) if p
    )
    metadata = {
        "photographer_name": full_name or username,
        "photographer_username": username,
        "photo_url": get("photo_url", ""),
        "location": get("photo_location_name", ""),
    }
    return UnsplashPhoto(
        photo_id, line, get(IMAGE_URL, ""), caption, {k: v for k, v in metadata.items() if v}
    )


def sized_url(url: str, width: int, quality: int = 80) -> str:
    """The image URL at a given width (Unsplash's imgix parameters), existing query kept."""
    parts = urlsplit(url)
    query = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k not in ("w", "q", "fm")
    ]
    query += [("w", str(width)), ("q", str(quality)), ("fm", "jpg")]
    return urlunsplit(parts._replace(query=urlencode(query)))


def fetch_jobs(
    tsv: Path, problems: list[str], width: int, limit: int | None = None
) -> list[FetchJob]:
    """What ``fetch unsplash`` downloads: the first ``limit`` photos at ``width`` pixels."""
    jobs: list[FetchJob] = []
    for photo in read_photos(tsv, problems, required=(ID, IMAGE_URL)):
        if limit is not None and len(jobs) >= limit:
            break
        if not photo.image_url:
            problems.append(f"photo {photo.photo_id} (line {photo.line}): no {IMAGE_URL}")
            continue
        jobs.append(FetchJob(sized_url(photo.image_url, width), f"{photo.photo_id}.jpg"))
    return jobs


class UnsplashSource:
    """Downloaded Unsplash photos in ``root`` described by the TSV (``tsv=`` or in ``root``).

    ``owns`` claims every ``unsplash`` key: one Unsplash collection per catalog.
    """

    kind = "unsplash"

    def __init__(self, root: Path, tsv: Path | None = None, **_: object) -> None:
        if not root.is_dir():
            raise SourceError(f"no such folder: {root} (run `python -m indexer fetch unsplash`)")
        self.root = root.resolve()
        self.tsv = tsv if tsv is not None else root
        find_tables(self.tsv)  # fail now, with one line, if there is no table
        self.problems: list[str] = []

    def owns(self, key: str) -> bool:
        return True

    def records(self) -> Iterator[ImageRecord]:
        log = ProblemLog(self.problems)
        seen = FirstSeen(log, "photos", ID)
        missing: list[str] = []
        for photo in read_photos(self.tsv, self.problems):
            seen.first(photo.photo_id, photo.line)
            path = self.root / f"{photo.photo_id}.jpg"
            if not path.is_file():
                missing.append(photo.photo_id)
                continue
            yield ImageRecord(self.kind, photo.photo_id, path, photo.caption, photo.metadata)
        if missing:
            examples = ", ".join(missing[:5])
            self.problems.append(
                f"{len(missing)} photo(s) in the TSV have no image in "
                f"{self.root} (not downloaded yet?), e.g. {examples}"
            )
        report_orphans(log, self.root, ".jpg", seen, "the TSV")
        log.finish()
