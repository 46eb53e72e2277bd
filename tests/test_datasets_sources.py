"""Reading Unsplash, Fashion and manifest metadata: messy files are read, never fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from indexer.sources import open_source
from indexer.sources.fashion import FashionSource
from indexer.sources.manifest import ManifestSource, url_file_name
from indexer.sources.unsplash import UnsplashSource, fetch_jobs
from search.errors import SourceError
from tests.fakes.dataset_files import (
    UNSPLASH_COLUMNS,
    fashion_line,
    unsplash_row,
    write_styles_csv,
    write_unsplash_tsv,
)
from tests.fakes.image_server import Fault, ImageServer


def _jpeg(path: Path, rgb: tuple[int, int, int] = (200, 20, 20)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (40, 30), rgb).save(path)
    return path


# --- Unsplash ------------------------------------------------------------------------------
def test_unsplash_captions_attribution_and_reported_gaps(tmp_path: Path) -> None:
    rows = [
        unsplash_row("a1", "https://img/a1", description="A red barn", first="Ann",
                     last="Lee", username="annlee", location="Oslo, Norway"),
        unsplash_row("b2", "https://img/b2", ai_description="green forest at dawn",
                     username="bob"),
        unsplash_row("c3", "https://img/c3", description="not downloaded"),
        unsplash_row("a1", "https://img/dup", description="a duplicate"),
    ]
    write_unsplash_tsv(tmp_path / "meta" / "photos.tsv000", rows, bom=True)
    for key in ("a1", "b2", "orphan"):
        _jpeg(tmp_path / "photos" / f"{key}.jpg")

    source = open_source("unsplash", tmp_path / "photos", tsv=tmp_path / "meta")
    records = {r.key: r for r in source.records()}

    assert set(records) == {"a1", "b2"}
    assert records["a1"].caption == "A red barn"
    assert records["a1"].metadata == {
        "photographer_name": "Ann Lee", "photographer_username": "annlee",
        "photo_url": "https://unsplash.com/photos/a1", "location": "Oslo, Norway",
    }
    assert records["b2"].caption == "green forest at dawn"  # AI description as fallback
    assert records["b2"].metadata["photographer_name"] == "bob"  # no name: the username
    text = "\n".join(source.problems)
    assert "line 5: duplicate photo_id 'a1' (first on line 2)" in text
    assert "1 photo(s) in the TSV have no image" in text and "c3" in text
    assert "orphan.jpg: image has no row" in text
    assert source.owns("anything")


def test_unsplash_tolerates_missing_optional_columns(tmp_path: Path) -> None:
    write_unsplash_tsv(tmp_path / "photos.tsv000",
                       [{"photo_id": "x", "photo_image_url": "https://img/x"}],
                       columns=["photo_id", "photo_image_url"])
    _jpeg(tmp_path / "x.jpg")
    [record] = UnsplashSource(tmp_path).records()  # the TSV beside the images
    assert (record.key, record.caption) == ("x", None)
    assert record.metadata == {}


def test_unsplash_missing_required_column_is_one_line(tmp_path: Path) -> None:
    columns = [c for c in UNSPLASH_COLUMNS if c != "photo_id"]
    write_unsplash_tsv(tmp_path / "photos.tsv000", [], columns=columns)
    with pytest.raises(SourceError, match="missing column 'photo_id'") as info:
        list(UnsplashSource(tmp_path).records())
    assert "\n" not in str(info.value)
    columns = [c for c in UNSPLASH_COLUMNS if c != "photo_image_url"]
    write_unsplash_tsv(tmp_path / "photos.tsv000", [], columns=columns)
    with pytest.raises(SourceError, match="missing column 'photo_image_url'"):
        fetch_jobs(tmp_path, [], width=640)


def test_unsplash_without_a_table_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"no photos\.tsv000"):
        UnsplashSource(tmp_path)
    with pytest.raises(SourceError, match="no such folder"):
        UnsplashSource(tmp_path / "nope", tsv=tmp_path)


def test_unsplash_fetch_jobs_respect_limit_and_width(tmp_path: Path) -> None:
    rows = [unsplash_row(f"p{i}", f"https://images.unsplash.com/photo-{i}?ixid=z")
            for i in range(5)] + [unsplash_row("noimg", "")]
    write_unsplash_tsv(tmp_path / "photos.tsv000", rows)
    problems: list[str] = []
    jobs = fetch_jobs(tmp_path / "photos.tsv000", problems, width=320, limit=3)
    assert [j.name for j in jobs] == ["p0.jpg", "p1.jpg", "p2.jpg"]
    assert jobs[0].url == "https://images.unsplash.com/photo-0?ixid=z&w=320&q=80&fm=jpg"
    all_jobs = fetch_jobs(tmp_path / "photos.tsv000", problems, width=320)
    assert len(all_jobs) == 5
    assert any("noimg" in p and "no photo_image_url" in p for p in problems)


# --- Fashion -------------------------------------------------------------------------------
def test_fashion_reads_malformed_csv_with_bom_and_reports_line_numbers(tmp_path: Path) -> None:
    lines = [
        fashion_line(15970, "Navy Blue", "Turtle Check Men Navy Blue Shirt"),  # line 2
        fashion_line(39386, "Blue", "Peter England Men Party Blue Jeans"),  # line 3
        fashion_line(59263, "Silver", "Titan Women Silver Watch, Steel, Analog"),  # line 4
        "12345,Men,Apparel",  # line 5: too few fields
        fashion_line("abc", "Red", "Bad id"),  # line 6
        fashion_line(15970, "Red", "Duplicate of line 2"),  # line 7
        fashion_line(21379, "Black", "No image for this one"),  # line 8
        "",  # line 9: blank
        '53759,Men,Apparel,Topwear,Tshirts,Grey,Summer,2012,Casual,"Puma Men Grey, T-shirt"',
    ]
    write_styles_csv(tmp_path / "styles.csv", lines, bom=True)
    for key in (15970, 39386, 59263, 53759, 99999):
        _jpeg(tmp_path / "images" / f"{key}.jpg")

    source = FashionSource(tmp_path)
    records = {r.key: r for r in source.records()}

    assert set(records) == {"15970", "39386", "59263", "53759"}
    assert records["15970"].caption == "Turtle Check Men Navy Blue Shirt"
    assert records["15970"].metadata == {
        "gender": "Men", "masterCategory": "Apparel", "subCategory": "Topwear",
        "articleType": "Tshirts", "baseColour": "Navy Blue", "season": "Summer",
        "year": "2012", "usage": "Casual",
        "productDisplayName": "Turtle Check Men Navy Blue Shirt",
    }
    assert records["59263"].caption == "Titan Women Silver Watch, Steel, Analog"
    assert records["53759"].caption == "Puma Men Grey, T-shirt"
    text = "\n".join(source.problems)
    assert "styles.csv line 4: 12 fields, expected 10; extra commas kept" in text
    assert "styles.csv line 5: 3 fields, expected 10; row skipped" in text
    assert "styles.csv line 6: id 'abc' is not a number" in text
    assert "styles.csv line 7: duplicate id '15970' (first on line 2)" in text
    assert "styles.csv line 8: no image images/21379.jpg" in text
    assert "99999.jpg: image has no row in styles.csv" in text
    assert "line 9" not in text  # a blank line is not a problem


def test_fashion_needs_its_layout(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"styles\.csv and images/"):
        FashionSource(tmp_path)
    write_styles_csv(tmp_path / "myntradataset" / "styles.csv", [fashion_line(1, "Red", "R")])
    _jpeg(tmp_path / "myntradataset" / "images" / "1.jpg")
    assert [r.key for r in FashionSource(tmp_path).records()] == ["1"]


# --- Manifest ------------------------------------------------------------------------------
def test_manifest_csv_local_paths_urls_and_refusals(tmp_path: Path) -> None:
    _jpeg(tmp_path / "pics" / "local.jpg")
    with ImageServer() as server:
        body = server.add_image("/remote.png")
        server.inject("/broken.jpg", Fault("status", status=404))
        remote, broken = server.url("/remote.png"), server.url("/broken.jpg")
        manifest = tmp_path / "list.csv"
        manifest.write_text(
            "\ufeffpath,caption,author\n"
            "pics/local.jpg,a local picture,me\n"
            f"{remote},a remote picture,\"Doe, Jane\"\n"
            f"{broken},never there,x\n"
            "ftp://example.org/a.jpg,refused,x\n"
            "pics/missing.jpg,no file,x\n"
            "pics/local.jpg,duplicate,x\n",
            encoding="utf-8",
        )
        source = open_source("manifest", manifest)
        records = {r.key: r for r in source.records()}

    assert set(records) == {"pics/local.jpg", remote}
    assert records["pics/local.jpg"].caption == "a local picture"
    assert records[remote].metadata == {"author": "Doe, Jane"}
    assert records[remote].path.read_bytes() == body
    assert records[remote].path.name == url_file_name(remote)
    assert records[remote].path.parent == (tmp_path / "list.csv.images").resolve()
    text = "\n".join(source.problems)
    assert f"{broken}: HTTP 404" in text
    assert "ftp://example.org/a.jpg: refused: scheme 'ftp' is not http or https" in text
    assert "line 6: no such file pics/missing.jpg" in text
    assert "line 7: duplicate path 'pics/local.jpg'" in text


def test_manifest_jsonl_keeps_other_fields_as_metadata(tmp_path: Path) -> None:
    _jpeg(tmp_path / "a.jpg")
    manifest = tmp_path / "list.jsonl"
    manifest.write_text(
        json.dumps({"path": "a.jpg", "caption": "Ein rotes Bild", "tags": ["x", "y"]}) + "\n"
        "{not json\n"
        + json.dumps({"caption": "no path"}) + "\n",
        encoding="utf-8",
    )
    source = ManifestSource(manifest)
    [record] = source.records()
    assert record.caption == "Ein rotes Bild"
    assert record.metadata == {"tags": '["x", "y"]'}
    assert any("line 2: not JSON" in p for p in source.problems)
    assert any("line 3: no path or url" in p for p in source.problems)


def test_manifest_without_a_location_column_is_one_line(tmp_path: Path) -> None:
    manifest = tmp_path / "list.csv"
    manifest.write_text("file_name,caption\na.jpg,x\n", encoding="utf-8")
    with pytest.raises(SourceError, match="missing column 'path'"):
        list(ManifestSource(manifest).records())
    with pytest.raises(SourceError, match="no such manifest"):
        ManifestSource(tmp_path / "nope.csv")
