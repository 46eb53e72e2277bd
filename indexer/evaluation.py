"""Text→image retrieval metrics: Recall@K and MRR, per language and overall.

The protocol follows XTD10 / Crossmodal-3600 style evaluations: every caption is a query,
the gallery is the set of evaluated images, a query scores a hit at K if *any* of its
relevant images is among the top K. Identical captions (same language and text) become one
query whose relevant set is the union of their images, so a caption shared by several
images is not counted several times against itself. Ranks are exact (all gallery scores
compared, no approximate index) and ties count against the query: a relevant image tied
with an irrelevant one is ranked behind it, so figures are never flattered by ties.

Everything here is pure: rows in, numbers out. ``indexer/commands/eval.py`` does the I/O.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from search.errors import UserError

DEFAULT_KS = (1, 5, 10)
COLUMNS = ("image", "lang", "caption")


@dataclass(frozen=True)
class CaptionRow:
    """One line of the captions file: an image (path or catalog key), a language, a caption."""

    image: str
    lang: str
    caption: str


@dataclass(frozen=True)
class Query:
    """One distinct caption and the gallery positions of every image it describes."""

    lang: str
    caption: str
    relevant: frozenset[int]


def read_captions(path: Path) -> list[CaptionRow]:
    """Rows of a TSV, CSV or JSONL file with the columns image, lang, caption."""
    if not path.is_file():
        raise UserError(f"no such captions file: {path}")
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="") as handle:
        if suffix in (".jsonl", ".ndjson", ".json"):
            records: list[Mapping[str, object]] = []
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise UserError(f"{path.name} line {number}: not JSON ({exc.msg})") from None
                if not isinstance(record, dict):
                    raise UserError(f"{path.name} line {number}: not a JSON object")
                records.append(record)
        elif suffix in (".tsv", ".csv", ".txt"):
            delimiter = "," if suffix == ".csv" else "\t"
            records = list(csv.DictReader(handle, delimiter=delimiter))
        else:
            raise UserError(f"{path.name}: use a .tsv, .csv or .jsonl captions file")
    rows = []
    for number, record in enumerate(records, 1):
        missing = [c for c in COLUMNS if not str(record.get(c) or "").strip()]
        if missing:
            raise UserError(
                f"{path.name} row {number}: missing {missing[0]!r} "
                f"(columns needed: {', '.join(COLUMNS)})"
            )
        rows.append(
            CaptionRow(
                str(record["image"]).strip(),
                str(record["lang"]).strip().lower(),
                str(record["caption"]).strip(),
            )
        )
    if not rows:
        raise UserError(f"{path.name} holds no captions")
    return rows


def group_queries(pairs: Iterable[tuple[str, str, int]]) -> list[Query]:
    """(lang, caption, gallery position) triples → one query per distinct (lang, caption)."""
    relevant: dict[tuple[str, str], set[int]] = {}
    for lang, caption, position in pairs:
        relevant.setdefault((lang, caption), set()).add(position)
    return [Query(lang, caption, frozenset(ids)) for (lang, caption), ids in relevant.items()]


def first_relevant_ranks(scores: np.ndarray, relevant: Sequence[frozenset[int]]) -> np.ndarray:
    """1-based rank of the best relevant image for each query row of ``scores`` (m, n).

    Rank = 1 + the number of irrelevant images scoring at least as high as the best relevant
    one (ties count against the query).
    """
    ranks = np.empty(len(relevant), dtype=np.int64)
    for row, wanted in enumerate(relevant):
        if not wanted:
            raise ValueError("a query needs at least one relevant image")
        line = scores[row]
        positions = np.fromiter(wanted, dtype=np.int64)
        best = line[positions].max()
        irrelevant = np.ones(line.shape[0], dtype=bool)
        irrelevant[positions] = False
        ranks[row] = 1 + int(np.count_nonzero(line[irrelevant] >= best))
    return ranks


def metrics(ranks: Sequence[int] | np.ndarray, ks: Sequence[int] = DEFAULT_KS) -> dict[str, float]:
    """Recall@K (percent, like the papers) and MRR (0–1) of these ranks."""
    values = np.asarray(ranks, dtype=np.float64)
    if values.size == 0:
        return {**{f"R@{k}": 0.0 for k in ks}, "MRR": 0.0, "queries": 0}
    result: dict[str, float] = {f"R@{k}": round(100.0 * float(np.mean(values <= k)), 2) for k in ks}
    result["MRR"] = round(float(np.mean(1.0 / values)), 4)
    result["queries"] = int(values.size)
    return result


def summarise(
    queries: Sequence[Query], ranks: Sequence[int] | np.ndarray, ks: Sequence[int] = DEFAULT_KS
) -> dict[str, object]:
    """Metrics overall and per language; the overall figure also as the mean of languages.

    Multilingual benchmarks (XTD10, XM3600) report the mean over languages, which weighs each
    language equally whatever its number of captions; both are given.
    """
    ranks = np.asarray(ranks)
    per_language: dict[str, dict[str, float]] = {}
    for lang in sorted({q.lang for q in queries}):
        chosen = [i for i, q in enumerate(queries) if q.lang == lang]
        per_language[lang] = metrics(ranks[chosen], ks)
    keys = [f"R@{k}" for k in ks] + ["MRR"]
    mean_of_languages = (
        {
            key: round(
                float(np.mean([m[key] for m in per_language.values()])), 4 if key == "MRR" else 2
            )
            for key in keys
        }
        if per_language
        else {}
    )
    return {
        "overall": metrics(ranks, ks),
        "mean_of_languages": mean_of_languages,
        "per_language": per_language,
    }
