"""Incremental indexing: what a user sees when the folder changes between builds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from indexer.commands.build import build
from indexer.commands.verify import problems
from indexer.sources.folder import FolderSource
from search.catalog import Catalog
from search.engine import Searcher
from search.errors import ModelMismatch, SourceError
from search.settings import Settings
from tests.fakes.color_encoder import PALETTE, ColorEncoder


def _build(settings: Settings, folder: Path, encoder: ColorEncoder | None = None):
    encoder = encoder or ColorEncoder()
    summary = build(settings, FolderSource(folder), encoder)
    assert problems(settings) == [], "catalog and FAISS index must agree after every build"
    return summary, encoder


def _embedded(encoder: ColorEncoder) -> int:
    return sum(n for kind, n in encoder.calls if kind == "images")


def _top(settings: Settings, text: str, k: int = 1) -> list[str]:
    searcher = Searcher(settings, text_encoder=ColorEncoder())
    try:
        return [Path(h.path).stem for h in searcher.search_text(text, k=k)]
    finally:
        searcher.close()


def test_first_build_indexes_every_image_and_finds_colours_in_several_languages(
    color_settings: Settings, palette_dir: Path
) -> None:
    summary, encoder = _build(color_settings, palette_dir)
    assert summary.added == len(PALETTE) and summary.failed == 0
    assert _embedded(encoder) == len(PALETTE)
    assert _top(color_settings, "a red dress") == ["red"]
    assert _top(color_settings, "красное платье") == ["red"]
    assert _top(color_settings, "grüne Wiese") == ["green"]
    assert _top(color_settings, "ciel bleu") == ["blue"]


def test_second_build_of_unchanged_folder_does_no_model_work(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    summary, encoder = _build(color_settings, palette_dir)
    assert encoder.calls == []
    assert (summary.added, summary.unchanged, summary.removed) == (0, len(PALETTE), 0)


def test_touched_file_with_same_content_is_not_embedded_again(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    red = palette_dir / "red.jpg"
    os.utime(red, ns=(1_000_000_000, 1_000_000_000))
    summary, encoder = _build(color_settings, palette_dir)
    assert encoder.calls == []
    assert summary.added == 0 and summary.updated == 0


def test_modified_file_gets_new_vector_and_new_id(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    with Catalog.open_readonly(color_settings.data_dir) as catalog:
        old_ids = set(catalog.all_ids().tolist())
    Image.new("RGB", (100, 100), PALETTE["blue"]).save(palette_dir / "red.jpg")  # now blue
    summary, encoder = _build(color_settings, palette_dir)
    assert summary.updated == 1 and _embedded(encoder) == 1
    keep_duplicates = color_settings.model_copy(update={"duplicate_threshold": 1.0})
    assert set(_top(keep_duplicates, "blue", k=2)) == {"blue", "red"}
    with Catalog.open_readonly(color_settings.data_dir) as catalog:
        new_ids = set(catalog.all_ids().tolist())
    assert len(new_ids - old_ids) == 1, "changed content must not keep its old id"


def test_deleted_file_is_removed_and_never_served(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    (palette_dir / "red.jpg").unlink()
    summary, _ = _build(color_settings, palette_dir)
    assert summary.removed == 1
    assert "red" not in _top(color_settings, "red", k=10)


def test_rename_and_copy_reuse_the_stored_vector(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    (palette_dir / "red.jpg").rename(palette_dir / "crimson.jpg")
    (palette_dir / "sub").mkdir()
    shutil.copy(palette_dir / "green.jpg", palette_dir / "sub" / "green-copy.jpg")
    summary, encoder = _build(color_settings, palette_dir)
    assert encoder.calls == []
    assert (summary.added, summary.reused, summary.removed) == (2, 2, 1)
    assert _top(color_settings, "red") == ["crimson"]


def test_two_folders_share_one_catalog_without_deleting_each_other(
    color_settings: Settings, tmp_path: Path
) -> None:
    from tests.conftest import write_palette_images

    a, b = tmp_path / "a", tmp_path / "b"
    write_palette_images(a)
    Image.new("RGB", (64, 64), PALETTE["red"]).save(b / "x.png") if b.mkdir() is None else None
    _build(color_settings, a)
    summary, _ = _build(color_settings, b)
    assert summary.removed == 0
    with Catalog.open_readonly(color_settings.data_dir) as catalog:
        assert catalog.count() == len(PALETTE) + 1


def test_catalog_built_with_other_models_is_refused(
    color_settings: Settings, palette_dir: Path
) -> None:
    _build(color_settings, palette_dir)
    other = color_settings.model_copy(update={"text_model": "color:v2"})
    with pytest.raises(ModelMismatch, match="rebuild"):
        build(other, FolderSource(palette_dir), ColorEncoder())
    with pytest.raises(ModelMismatch):
        Searcher(other, text_encoder=ColorEncoder())


def test_empty_and_missing_folders_are_user_errors(
    color_settings: Settings, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="no such folder"):
        FolderSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(SourceError, match="no images found"):
        build(color_settings, FolderSource(tmp_path / "empty"), ColorEncoder())


def test_walk_is_case_insensitive_and_survives_symlink_loops(
    color_settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    (folder / "deep").mkdir(parents=True)
    Image.new("RGB", (50, 50), PALETTE["red"]).save(folder / "A.JPG")
    Image.new("RGB", (50, 50), PALETTE["blue"]).save(folder / "deep" / "b.Png")
    Image.new("RGB", (50, 50), PALETTE["green"]).save(folder / "c.webp")
    (folder / "deep" / "loop").symlink_to(folder)  # a loop back to the top
    summary, _ = _build(color_settings, folder)
    assert summary.added == 3


def test_bad_files_are_recorded_counted_and_retried_only_when_changed(
    color_settings: Settings, palette_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = (palette_dir / "red.jpg").read_bytes()
    (palette_dir / "zero.jpg").write_bytes(b"")
    (palette_dir / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (palette_dir / "text.png").write_text("this is not a picture")
    (palette_dir / "dangling.jpg").symlink_to(palette_dir / "missing-target.jpg")
    locked = palette_dir / "locked.jpg"
    locked.write_bytes(good[:-10] + b"locked....")
    locked.chmod(0)
    if os.access(locked, os.R_OK):  # root reads anything: make the read fail as it would
        real_read_bytes = Path.read_bytes

        def read_bytes(self: Path) -> bytes:
            if self.name == "locked.jpg":
                raise PermissionError(13, "Permission denied")
            return real_read_bytes(self)

        monkeypatch.setattr(Path, "read_bytes", read_bytes)
    summary, encoder = _build(color_settings, palette_dir)
    assert summary.added == len(PALETTE)
    with Catalog.open_readonly(color_settings.data_dir) as catalog:
        reasons = {Path(p).name: r for _, p, r in catalog.failures()}
    assert reasons["zero.jpg"] == "empty file"
    assert reasons["text.png"] == "not an image (unrecognised format)"
    assert reasons["truncated.jpg"].startswith("corrupt or truncated image")
    assert reasons["dangling.jpg"].startswith("cannot read")
    assert reasons["locked.jpg"] == "cannot read: Permission denied"
    assert all("\n" not in r for r in reasons.values())
    failed_first = summary.failed
    assert failed_first >= 5

    # unchanged bad files are not retried...
    summary, encoder = _build(color_settings, palette_dir)
    assert encoder.calls == [] and summary.failed == failed_first
    # ...a fixed one is.
    (palette_dir / "zero.jpg").write_bytes(good)
    os.utime(palette_dir / "zero.jpg", ns=(5_000_000_000, 5_000_000_000))
    summary, _ = _build(color_settings, palette_dir)
    assert summary.failed == failed_first - 1
    assert summary.reused == 1  # same bytes as red.jpg: no model work either


def test_huge_dimensions_are_refused_before_decoding(
    color_settings: Settings, palette_dir: Path
) -> None:
    settings = color_settings.model_copy(update={"max_image_pixels": 100_000})
    Image.new("RGB", (1000, 1000), PALETTE["red"]).save(palette_dir / "huge.png")
    summary, _ = _build(settings, palette_dir)
    with Catalog.open_readonly(settings.data_dir) as catalog:
        reasons = {Path(p).name: r for _, p, r in catalog.failures()}
    assert reasons["huge.png"].startswith("image too large: 1000x1000")
    assert summary.failed == 1


def test_batches_commit_separately(color_settings: Settings, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    colours = list(PALETTE.values())
    for i in range(25):
        Image.new("RGB", (40, 30), colours[i % len(colours)]).save(folder / f"{i:02d}.png")
        # make every file distinct so none is reused
        Image.new("RGB", (40 + i, 30), colours[i % len(colours)]).save(folder / f"{i:02d}.png")
    settings = color_settings.model_copy(update={"batch_size": 4})
    summary, encoder = _build(settings, folder)
    assert summary.added == 25
    assert max(n for _, n in encoder.calls) <= 4
    with Catalog.open_readonly(settings.data_dir) as catalog:
        assert catalog.generation >= 7  # one generation per committed batch


@pytest.mark.parametrize(("cores", "expected"), [(1, 1), (2, 2), (16, 16), (96, 16)])
def test_decode_workers_default_to_the_cores_we_may_use(
    monkeypatch: pytest.MonkeyPatch, cores: int, expected: int
) -> None:
    import os

    from search.settings import Settings

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    assert Settings(_env_file=None).decode_workers == expected
    assert Settings(_env_file=None, decode_workers=3).decode_workers == 3
