"""Reading dataset metadata tables (CSV, TSV, JSONL) by column name, without ever aborting.

Real dataset files are messy: a BOM before the header, unquoted commas inside product
names, duplicate ids, lines that are not JSON. A bad row becomes one line in ``problems``
(with its line number) and the rest of the file is still read; only an unusable file
(missing, or lacking a required column) is a ``SourceError``.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from search.errors import SourceError

# Descriptions can be long; the csv module's default field limit (128 KiB) is not the point.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

MAX_LISTED = 50  # problems of one kind listed one by one before they are summarised


@dataclass(frozen=True)
class Row:
    line: int  # 1-based line number where the row ends in its file
    values: dict[str, str]


class ProblemLog:
    """Collects one-line problems, listing the first ``MAX_LISTED`` of each kind."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        self._counts: dict[str, int] = {}

    def add(self, kind: str, line: str) -> None:
        count = self._counts.get(kind, 0) + 1
        self._counts[kind] = count
        if count <= MAX_LISTED:
            self.problems.append(line)

    def finish(self) -> None:
        for kind, count in self._counts.items():
            if count > MAX_LISTED:
                self.problems.append(f"… and {count - MAX_LISTED} more: {kind}")


def read_delimited(
    path: Path,
    delimiter: str,
    required: Sequence[str],
    log: ProblemLog,
    join_extra_into: str | None = None,
) -> Iterator[Row]:
    """Rows of a CSV/TSV file as dicts keyed by the header's column names.

    ``join_extra_into``: the table's last column holds free text whose unquoted commas make
    extra fields; they are joined back into it (the row is still reported). Rows with too
    few fields, or extra fields otherwise, are reported and skipped.
    """
    try:
        handle = open(path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle, delimiter=delimiter)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise SourceError(f"{path.name} is empty") from None
        except csv.Error as exc:
            raise SourceError(f"{path.name}: unreadable header: {exc}") from None
        missing = [name for name in required if name not in header]
        if missing:
            raise SourceError(
                f"{path.name}: missing column {missing[0]!r} (columns found: "
                f"{', '.join(header[:12]) or 'none'})"
            )
        width = len(header)
        can_join = join_extra_into is not None and header[-1] == join_extra_into
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                log.add(
                    "unreadable line", f"{path.name} line {reader.line_num}: unreadable ({exc})"
                )
                continue
            line = reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue  # blank line
            if len(fields) > width and can_join:
                log.add(
                    "extra fields joined",
                    f"{path.name} line {line}: {len(fields)} fields, "
                    f"expected {width}; extra commas kept in {join_extra_into}",
                )
                fields = [*fields[: width - 1], ",".join(fields[width - 1 :])]
            if len(fields) != width:
                log.add(
                    "wrong field count",
                    f"{path.name} line {line}: {len(fields)} fields, expected {width}; row skipped",
                )
                continue
            yield Row(
                line, {name: value.strip() for name, value in zip(header, fields, strict=True)}
            )


def read_jsonl(path: Path, log: ProblemLog) -> Iterator[Row]:
    """One JSON object per line; other lines are reported and skipped."""
    try:
        handle = open(path, encoding="utf-8-sig", errors="replace")  # noqa: SIM115
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None
    with handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                log.add("bad json", f"{path.name} line {number}: not JSON ({exc.msg})")
                continue
            if not isinstance(value, dict):
                log.add("bad json", f"{path.name} line {number}: not a JSON object")
                continue
            yield Row(number, {str(k): _as_text(v) for k, v in value.items() if v is not None})


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, ensure_ascii=False)


class FirstSeen:
    """Keeps the first row per id; later duplicates are reported (once per id)."""

    def __init__(self, log: ProblemLog, file_name: str, column: str) -> None:
        self._first: dict[str, int] = {}
        self._reported: set[str] = set()
        self._log = log
        self._file = file_name
        self._column = column

    def first(self, key: str, line: int) -> bool:
        if key not in self._first:
            self._first[key] = line
            return True
        if key not in self._reported:
            self._reported.add(key)
            self._log.add(
                "duplicate id",
                f"{self._file} line {line}: duplicate {self._column} "
                f"{key!r} (first on line {self._first[key]}); kept the first",
            )
        return False

    def __contains__(self, key: object) -> bool:
        return key in self._first


def report_orphans(
    log: ProblemLog, folder: Path, suffix: str, known: FirstSeen, table: str
) -> None:
    """Image files in ``folder`` that no table row mentions."""
    if not folder.is_dir():
        return
    for path in sorted(folder.iterdir()):
        if (
            path.suffix.lower() == suffix
            and not path.name.startswith(".")
            and path.stem not in known
        ):
            log.add("image without row", f"{path.name}: image has no row in {table}; skipped")
