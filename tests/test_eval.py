"""``python -m indexer eval``: Recall@K and MRR from known ranks.

The catalog is hand-made for the colour encoder: four reds fading into grey (red100 is pure
red, red25 mostly grey), a blue and a green. A query naming red ranks them by redness, a
query naming blue or green puts its colour first and then the greyest red first, and a
query naming no colour ties every image (ties count against the query: rank 6 of 6).
A white image that no caption names stays out of the gallery unless ``--whole-catalog``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.evaluation import (
    CaptionRow,
    first_relevant_ranks,
    group_queries,
    metrics,
    read_captions,
    summarise,
)
from search.errors import UserError
from tests.cli_helpers import indexer_env, run_indexer
from tests.fakes.color_encoder import PALETTE

# (image, lang, caption, rank the best relevant image gets for that caption)
CAPTIONS = [
    ("red50.png", "en", "red", 3),  # behind red100 and red75
    ("blue.png", "en", "blue", 1),
    ("red75.png", "en", "green", 4),  # green, red25, red50, red75
    ("red25.png", "de", "rot", 2),  # the same caption for two images: red75 at 2 counts
    ("red75.png", "de", "rot", 2),
    ("red100.png", "de", "blau", 6),  # red100 is the least blue of all
    ("red100.png", "ru", "красный", 1),  # several captions for one image
    ("red100.png", "ru", "ничего", 6),  # no colour: a six-way tie, counted last
    ("green.png", "fr", "vert", 1),
]
EXPECTED = {
    "en": {"R@1": 33.33, "R@5": 100.0, "R@10": 100.0, "MRR": 0.5278, "queries": 3},
    "de": {"R@1": 0.0, "R@5": 50.0, "R@10": 100.0, "MRR": 0.3333, "queries": 2},
    "ru": {"R@1": 50.0, "R@5": 50.0, "R@10": 100.0, "MRR": 0.5833, "queries": 2},
    "fr": {"R@1": 100.0, "R@5": 100.0, "R@10": 100.0, "MRR": 1.0, "queries": 1},
}
OVERALL = {"R@1": 37.5, "R@5": 75.0, "R@10": 100.0, "MRR": 0.5521, "queries": 8}


def write_graded_images(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    red, grey = np.array(PALETTE["red"]), np.array([128, 128, 128])
    for share in (100, 75, 50, 25):
        rgb = tuple(int(v) for v in red * share / 100 + grey * (100 - share) / 100)
        Image.new("RGB", (64, 48), rgb).save(folder / f"red{share}.png")
    for name in ("blue", "green", "white"):  # white is captioned by no one
        Image.new("RGB", (64, 48), PALETTE[name]).save(folder / f"{name}.png")
    return folder


def write_tsv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    lines = ["image\tlang\tcaption", *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def eval_set(tmp_path: Path) -> tuple[Path, Path]:
    images = write_graded_images(tmp_path / "images")
    rows = [row[:3] for row in CAPTIONS] + [("missing.png", "en", "red")]
    return images, write_tsv(tmp_path / "captions.tsv", rows)


# --- pure arithmetic ------------------------------------------------------------------------
def test_rank_is_that_of_the_best_relevant_image_and_ties_count_against() -> None:
    scores = np.array([
        [0.9, 0.8, 0.7, 0.1],
        [0.9, 0.8, 0.7, 0.1],
        [0.5, 0.5, 0.5, 0.5],
        [0.2, 0.3, 0.9, 0.9],
    ])
    relevant = [frozenset({0}), frozenset({3, 1}), frozenset({0}), frozenset({2})]
    assert first_relevant_ranks(scores, relevant).tolist() == [1, 2, 4, 2]


def test_metrics_from_known_ranks() -> None:
    assert metrics([1, 2, 6, 20], ks=(1, 5, 10)) == {
        "R@1": 25.0, "R@5": 50.0, "R@10": 75.0, "MRR": round((1 + 0.5 + 1 / 6 + 0.05) / 4, 4),
        "queries": 4,
    }


def test_identical_captions_merge_into_one_query_with_all_their_images() -> None:
    queries = group_queries([("de", "rot", 3), ("de", "rot", 1), ("en", "rot", 2),
                             ("de", "rot", 1)])
    assert [(q.lang, q.caption, sorted(q.relevant)) for q in queries] == [
        ("de", "rot", [1, 3]), ("en", "rot", [2])]


def test_summary_gives_each_language_and_their_mean() -> None:
    queries = group_queries([("en", "a", 0), ("en", "b", 1), ("de", "c", 0)])
    report = summarise(queries, [1, 3, 11], ks=(1, 10))
    assert report["per_language"] == {
        "de": {"R@1": 0.0, "R@10": 0.0, "MRR": round(1 / 11, 4), "queries": 1},
        "en": {"R@1": 50.0, "R@10": 100.0, "MRR": round(2 / 3, 4), "queries": 2},
    }
    assert report["mean_of_languages"] == {"R@1": 25.0, "R@10": 50.0,
                                           "MRR": round((2 / 3 + 1 / 11) / 2, 4)}


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl"])
def test_captions_are_read_from_tsv_csv_and_jsonl(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"captions{suffix}"
    rows = [("a/1.jpg", "EN", "a red dress, long"), ("2.jpg", "ru", "платье")]
    if suffix == ".jsonl":
        records = [dict(zip(("image", "lang", "caption"), r, strict=True)) for r in rows]
        path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records),
                        encoding="utf-8")
    elif suffix == ".csv":
        path.write_text('image,lang,caption\na/1.jpg,EN,"a red dress, long"\n2.jpg,ru,платье\n',
                        encoding="utf-8")
    else:
        write_tsv(path, rows)
    assert read_captions(path) == [CaptionRow("a/1.jpg", "en", "a red dress, long"),
                                   CaptionRow("2.jpg", "ru", "платье")]


def test_a_captions_file_without_a_needed_column_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "c.tsv"
    path.write_text("image\tcaption\n1.jpg\tred\n", encoding="utf-8")
    with pytest.raises(UserError, match="missing 'lang'"):
        read_captions(path)


# --- the command ----------------------------------------------------------------------------
def test_eval_builds_the_catalog_and_reports_known_figures(
    tmp_path: Path, eval_set: tuple[Path, Path]
) -> None:
    images, captions = eval_set
    env = indexer_env(tmp_path / "data")
    done = run_indexer(["eval", str(captions), "--images", str(images), "--json"], env)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    figures = {lang: {k: v for k, v in f.items() if k != "english_tower_share"}
               for lang, f in report["per_language"].items()}
    assert figures == EXPECTED
    assert report["overall"] == OVERALL
    assert report["gallery"] == 6  # white.png is captioned by no one
    assert report["skipped"] == 1 and report["skipped_examples"] == ["missing.png"]
    assert report["routing"] is False

    # Second run: the catalog is reused, the whole of it can be the gallery, table output.
    again = run_indexer(["eval", str(captions), "--whole-catalog", "-k", "1", "2"], env)
    assert again.returncode == 0, again.stderr
    table = again.stdout
    assert "gallery 7 images" in table and "1 skipped" in table
    en_line = next(line for line in table.splitlines() if line.startswith("en "))
    assert en_line.split() == ["en", "33.33", "33.33", "0.5278", "3"]


def test_eval_of_an_unknown_file_is_a_one_line_user_error(tmp_path: Path) -> None:
    done = run_indexer(["eval", str(tmp_path / "nope.tsv")], indexer_env(tmp_path / "data"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no such captions file" in done.stderr
