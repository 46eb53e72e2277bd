"""Query syntax (negative and weighted terms) and near-duplicate collapsing, as users see it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from indexer.commands.build import build
from indexer.sources.folder import FolderSource
from search.engine import Searcher
from search.query import Term, parse_query
from search.settings import Settings
from tests.fakes.color_encoder import PALETTE, ColorEncoder


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("red dress", [Term("red dress", 1.0)]),
        ("cat -dog", [Term("cat", 1.0), Term("dog", -1.0)]),
        ("2:sunset beach", [Term("sunset", 2.0), Term("beach", 1.0)]),
        ('3:"red dress" -0.5:people', [Term("red dress", 3.0), Term("people", -0.5)]),
        ("красное -синее", [Term("красное", 1.0), Term("синее", -1.0)]),
        # things that only look like syntax stay text
        ("T-shirt blue", [Term("T-shirt blue", 1.0)]),
        ("-5 degrees", [Term("-5 degrees", 1.0)]),
        ("2:30 pm", [Term("2:30 pm", 1.0)]),
        ("-dog", [Term("-dog", 1.0)]),
    ],
)
def test_parse_query(text: str, terms: list[Term]) -> None:
    assert parse_query(text) == terms


@pytest.fixture
def searcher(tmp_path: Path) -> Searcher:
    folder = tmp_path / "images"
    folder.mkdir()
    for name, rgb in PALETTE.items():
        Image.new("RGB", (120, 90), rgb).save(folder / f"{name}.png")
    Image.new("RGB", (120, 90), (235, 125, 30)).save(folder / "orange.png")  # red + yellow
    settings = Settings(data_dir=tmp_path / "data", image_model="color:v1",
                        text_model="color:v1", _env_file=None)
    build(settings, FolderSource(folder), ColorEncoder())
    return Searcher(settings, text_encoder=ColorEncoder())


def _names(searcher: Searcher, text: str, k: int = 7) -> list[str]:
    return [Path(h.path).stem for h in searcher.search_text(text, k=k)]


def test_negative_term_pushes_its_colour_down(searcher: Searcher) -> None:
    plain = _names(searcher, "red")
    negated = _names(searcher, "red -yellow")
    assert plain[:2] == ["red", "orange"]
    assert negated[0] == "red"
    assert negated.index("orange") > plain.index("orange")
    assert negated.index("yellow") == len(negated) - 1


def test_weights_decide_between_two_terms(searcher: Searcher) -> None:
    assert _names(searcher, "3:red yellow")[0] == "red"
    assert _names(searcher, "red 3:yellow")[0] == "yellow"


def test_plain_text_ranks_exactly_as_before(searcher: Searcher) -> None:
    direct = searcher.search_vectors(searcher.encode_texts(["rotes Kleid"]), k=7)[0]
    assert [h.id for h in searcher.search_text("rotes Kleid", k=7)] == [h.id for h in direct]


@pytest.fixture
def duplicates(tmp_path: Path) -> tuple[Settings, Path]:
    folder = tmp_path / "dups"
    folder.mkdir()
    for name, rgb in PALETTE.items():
        Image.new("RGB", (120, 90), rgb).save(folder / f"{name}.png")
    shutil.copy(folder / "red.png", folder / "red-copy.png")  # identical bytes
    Image.new("RGB", (300, 200), PALETTE["red"]).save(folder / "red-big.jpg")  # near-identical
    Image.new("RGB", (300, 200), PALETTE["blue"]).save(folder / "blue-big.jpg")
    settings = Settings(data_dir=tmp_path / "data", image_model="color:v1",
                        text_model="color:v1", _env_file=None)
    build(settings, FolderSource(folder), ColorEncoder())
    return settings, folder


def test_album_never_shows_the_same_picture_twice(duplicates) -> None:
    settings, _ = duplicates
    searcher = Searcher(settings, text_encoder=ColorEncoder())
    hits = searcher.search_text("red", k=6)
    stems = [Path(h.path).stem for h in hits]
    assert sum(s.startswith("red") for s in stems) == 1
    assert len(hits) == 6  # the six distinct colours fill the page


def test_next_page_continues_without_repeats(duplicates) -> None:
    settings, _ = duplicates
    searcher = Searcher(settings, text_encoder=ColorEncoder())
    vector = searcher.query_vectors(["red"])
    first = searcher.search_vectors(vector, k=3)[0]
    by_offset = searcher.search_vectors(vector, k=3, offset=3)[0]
    by_exclude = searcher.search_vectors(vector, k=3, exclude_ids=[h.id for h in first])[0]
    seen = [Path(h.path).stem.split("-")[0] for h in first + by_offset]
    assert len(seen) == len(set(seen)) == 6
    assert [h.id for h in by_offset] == [h.id for h in by_exclude]


def test_threshold_one_keeps_near_duplicates_but_not_identical_files(duplicates) -> None:
    settings, _ = duplicates
    keep = settings.model_copy(update={"duplicate_threshold": 1.0})
    searcher = Searcher(keep, text_encoder=ColorEncoder())
    stems = [Path(h.path).stem for h in searcher.search_text("red", k=3)]
    assert sorted(stems[:2]) == ["red", "red-big"] or sorted(stems[:2]) == ["red-big",
                                                                              "red-copy"]
    assert not {"red", "red-copy"} <= set(stems)
