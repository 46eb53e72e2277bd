"""Fashion Product Images (Small): ``styles.csv`` plus ``images/<id>.jpg``.

The real ``styles.csv`` has rows whose ``productDisplayName`` (the last column) contains
unquoted commas; those are joined back (and reported), other malformed rows are skipped and
reported with their line numbers. Nothing in the table stops the build.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from indexer.sources.base import ImageRecord
from indexer.sources.tables import FirstSeen, ProblemLog, read_delimited, report_orphans
from search.errors import SourceError

ID = "id"
NAME = "productDisplayName"
COLUMNS = (
    "id",
    "gender",
    "masterCategory",
    "subCategory",
    "articleType",
    "baseColour",
    "season",
    "year",
    "usage",
    "productDisplayName",
)


def find_layout(root: Path, table: Path | None = None) -> tuple[Path, Path]:
    """(styles.csv, images folder); Kaggle's zip also nests a copy under ``myntradataset/``."""
    if not root.is_dir():
        raise SourceError(f"no such folder: {root}")
    for base in (root, root / "myntradataset"):
        csv_path = table or base / "styles.csv"
        if csv_path.is_file() and (base / "images").is_dir():
            return csv_path, base / "images"
    if table is not None and not table.is_file():
        raise SourceError(f"no such file: {table}")
    raise SourceError(
        f"{root} is not the Fashion Product Images layout (expected styles.csv and images/)"
    )


class FashionSource:
    """Products with an image; caption = product name, metadata = every other column.

    ``owns`` claims every ``fashion`` key: one Fashion collection per catalog.
    """

    kind = "fashion"

    def __init__(self, root: Path, tsv: Path | None = None, **_: object) -> None:
        self.table, self.images = find_layout(root, tsv)
        self.images = self.images.resolve()
        self.problems: list[str] = []

    def owns(self, key: str) -> bool:
        return True

    def records(self) -> Iterator[ImageRecord]:
        log = ProblemLog(self.problems)
        name = self.table.name
        seen = FirstSeen(log, name, ID)
        for row in read_delimited(self.table, ",", (ID,), log, join_extra_into=NAME):
            key = row.values[ID]
            if not key.isdigit():
                log.add(
                    "bad id", f"{name} line {row.line}: id {key!r} is not a number; row skipped"
                )
                continue
            if not seen.first(key, row.line):
                continue
            path = self.images / f"{key}.jpg"
            if not path.is_file():
                log.add(
                    "row without image",
                    f"{name} line {row.line}: no image images/{key}.jpg; row skipped",
                )
                continue
            caption = row.values.get(NAME) or None
            metadata = {k: v for k, v in row.values.items() if k != ID and v}
            yield ImageRecord(self.kind, key, path, caption, metadata)
        report_orphans(log, self.images, ".jpg", seen, name)
        log.finish()
