"""Fetch + build + search end to end on tiny datasets served from 127.0.0.1, through the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from indexer.commands.build import build
from indexer.fetch import PARTIAL_DIR
from indexer.sources.fashion import FashionSource
from indexer.sources.manifest import ManifestSource
from indexer.sources.unsplash import UnsplashSource
from search.engine import Searcher
from search.settings import Settings
from tests.fakes.color_encoder import PALETTE, ColorEncoder
from tests.fakes.dataset_files import (
    UNSPLASH_COLUMNS,
    fashion_line,
    unsplash_row,
    write_styles_csv,
    write_unsplash_tsv,
)
from tests.fakes.image_server import Fault, ImageServer

ROOT = Path(__file__).resolve().parents[1]
COLOURS = list(PALETTE)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "indexer", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=ROOT)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _unsplash_dataset(server: ImageServer, folder: Path, count: int = 24) -> dict[str, str]:
    """``count`` good photos (palette colours, descriptions naming them) plus bad rows;
    returns photo_id → colour of the good ones."""
    good: dict[str, str] = {}
    rows = []
    for i in range(count):
        colour = COLOURS[i % len(COLOURS)]
        photo_id = f"{colour}{i:02d}"
        server.add_image(f"/photo-{photo_id}", PALETTE[colour], size=(80, 60))
        described = i % 2 == 0
        rows.append(unsplash_row(
            photo_id, server.url(f"/photo-{photo_id}") + "?ixid=abc&w=9000",
            description=f"a {colour} thing" if described else "",
            ai_description=f"{colour} ai thing", first="Ann", last=f"Lee{i}",
        ))
        good[photo_id] = colour
    server.inject("/photo-gone", Fault("status", status=404))
    server.inject("/photo-html", Fault("html"))
    server.inject("/photo-huge", Fault("oversize", size=300_000))
    server.add_image("/photo-flaky", PALETTE["red"])
    server.inject("/photo-flaky", Fault("status", status=502), times=1)
    good["flaky"] = "red"
    for bad in ("gone", "html", "huge", "flaky"):
        rows.append(unsplash_row(bad, server.url(f"/photo-{bad}"), description=f"{bad} photo"))
    rows.append(unsplash_row("ftp", "ftp://example.org/photo.jpg"))
    rows.append(unsplash_row(COLOURS[0] + "00", server.url("/dup"), description="duplicate"))
    write_unsplash_tsv(folder / "photos.tsv000", rows)
    return good


def test_unsplash_fetch_build_search_via_the_cli(server: ImageServer, tmp_path: Path,
                                                 color_settings: Settings) -> None:
    good = _unsplash_dataset(server, tmp_path / "lite")
    dest = tmp_path / "unsplash"
    args = ("fetch", "unsplash", "--tsv", str(tmp_path / "lite"), "--dest", str(dest),
            "--width", "320", "--max-bytes", "100000", "--retries", "2", "--json")

    first = run_cli(*args)
    assert first.returncode == 0, first.stderr
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert (summary["downloaded"], summary["skipped"], summary["failed"]) == (len(good), 0, 4)
    assert summary["reasons"] == {
        "HTTP 404": 1, "not an image (text/html)": 1, "too large (over 100000 bytes)": 1,
        "refused: scheme 'ftp' is not http or https": 1,
    }
    assert server.queries["/photo-red00"] == "ixid=abc&w=320&q=80&fm=jpg"
    assert any("duplicate photo_id 'red00'" in p for p in summary["problems"])
    assert sorted(p.stem for p in dest.glob("*.jpg")) == sorted(good)

    again = run_cli(*args[:-1])  # human output this time
    assert again.returncode == 0, again.stderr
    assert f"downloaded 0, skipped {len(good)} (already there), failed 4" in again.stdout
    assert "1 × HTTP 404" in again.stdout

    result = build(color_settings, UnsplashSource(dest, tsv=tmp_path / "lite"), ColorEncoder())
    assert result.added == len(good) and result.failed == 0
    assert any("4 photo(s) in the TSV have no image" in p for p in result.problems)

    searcher = Searcher(color_settings)
    try:
        hits = searcher.search_text("синий", k=4)  # Russian "blue"
        assert good[hits[0].row.key] == "blue"  # identical blue files collapse to one hit
        rows = {r.key: r for r in searcher.rows(catalog_ids(color_settings)).values()}
        assert rows["blue02"].caption == "a blue thing"
        assert rows["blue02"].metadata["photographer_name"] == "Ann Lee2"
        assert rows["blue02"].metadata["photo_url"] == "https://unsplash.com/photos/blue02"
        assert rows["green01"].caption == "green ai thing"
    finally:
        searcher.close()


def catalog_ids(settings: Settings) -> list[int]:
    from search.catalog import Catalog

    with Catalog.open_readonly(settings.data_dir) as catalog:
        return [int(i) for i in catalog.all_ids()]


def test_fetch_exit_codes_for_user_mistakes_and_total_failure(server: ImageServer,
                                                              tmp_path: Path) -> None:
    columns = [c for c in UNSPLASH_COLUMNS if c != "photo_id"]
    write_unsplash_tsv(tmp_path / "bad" / "photos.tsv000", [], columns=columns)
    missing_column = run_cli("fetch", "unsplash", "--tsv", str(tmp_path / "bad"),
                             "--dest", str(tmp_path / "out"))
    assert missing_column.returncode == 2
    assert missing_column.stderr.strip().splitlines() == [
        missing_column.stderr.strip()
    ] and "missing column 'photo_id'" in missing_column.stderr

    no_file = run_cli("fetch", "unsplash", "--tsv", str(tmp_path / "nope"), "--dest", "x")
    assert no_file.returncode == 2 and "Traceback" not in no_file.stderr

    bad_option = run_cli("fetch", "unsplash", "--tsv", "x", "--dest", "y", "--width", "0")
    assert bad_option.returncode == 2

    write_unsplash_tsv(tmp_path / "dead" / "photos.tsv000",
                       [unsplash_row(f"d{i}", server.url(f"/none{i}")) for i in range(3)])
    all_failed = run_cli("fetch", "unsplash", "--tsv", str(tmp_path / "dead"),
                         "--dest", str(tmp_path / "out"))
    assert all_failed.returncode == 1
    assert "3 × HTTP 404" in all_failed.stdout


def test_fashion_build_via_the_cli_and_search(tmp_path: Path, color_settings: Settings) -> None:
    root = tmp_path / "fashion"
    (root / "images").mkdir(parents=True)
    lines = []
    for i, colour in enumerate(COLOURS * 4):
        product = 10000 + i
        lines.append(fashion_line(product, colour.title(), f"Brand {colour} shirt, size {i}"))
        Image.new("RGB", (60, 80), PALETTE[colour]).save(root / "images" / f"{product}.jpg")
    lines += ["99,Men", fashion_line(10000, "Red", "duplicate")]
    write_styles_csv(root / "styles.csv", lines, bom=True)

    env_args = ("-c", "import sys; from tests.fakes.color_encoder import register; register(); "
                "from indexer.cli import main; sys.exit(main(sys.argv[1:]))")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "T2I_DATA_DIR": str(color_settings.data_dir),
           "T2I_IMAGE_MODEL": "color:v1", "T2I_TEXT_MODEL": "color:v1"}
    done = subprocess.run([sys.executable, *env_args, "build", str(root), "--source", "fashion",
                           "--json"], capture_output=True, text=True, timeout=120, env=env,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["added"] == 24
    problems = "\n".join(summary["problems"])
    assert "styles.csv line 26: 2 fields, expected 10; row skipped" in problems
    assert "styles.csv line 27: duplicate id '10000'" in problems

    searcher = Searcher(color_settings)
    try:
        hits = searcher.search_text("gelbe", k=4)  # German "yellow"
        hits = hits[:1]  # identical yellow files collapse into one hit; the rest are others
        assert all(h.row.metadata["baseColour"] == "Yellow" for h in hits)
        assert all(h.caption and h.caption.startswith("Brand yellow shirt, size") for h in hits)
    finally:
        searcher.close()
    assert FashionSource(root).owns("10000")


def test_manifest_with_urls_builds_and_searches(server: ImageServer, tmp_path: Path,
                                               color_settings: Settings) -> None:
    manifest = tmp_path / "m.csv"
    lines = ["url,caption,shop"]
    for colour in COLOURS:
        server.add_image(f"/{colour}.jpg", PALETTE[colour])
        lines.append(f"{server.url(f'/{colour}.jpg')},a {colour} mug,shop-{colour}")
    lines.append("file:///etc/passwd,sneaky,x")
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")

    fetched = run_cli("fetch", "manifest", str(manifest), "--json")
    assert fetched.returncode == 0, fetched.stderr
    summary = json.loads(fetched.stdout.strip().splitlines()[-1])
    assert (summary["downloaded"], summary["failed"]) == (len(COLOURS), 1)
    assert summary["reasons"] == {"refused: scheme 'file' is not http or https": 1}

    source = ManifestSource(manifest)
    result = build(color_settings, source, ColorEncoder())
    assert result.added == len(COLOURS)
    assert any("refused: scheme 'file'" in p for p in result.problems)

    searcher = Searcher(color_settings)
    try:
        [hit] = searcher.search_text("rouge", k=1)  # French "red"
        assert (hit.caption, hit.row.metadata) == ("a red mug", {"shop": "shop-red"})
    finally:
        searcher.close()
    again = build(color_settings, ManifestSource(manifest), ColorEncoder())
    assert (again.added, again.unchanged) == (0, len(COLOURS))
    assert sum(server.requests[f"/{c}.jpg"] for c in COLOURS) == len(COLOURS)  # not refetched


@pytest.mark.slow
def test_kill_9_mid_fetch_then_resume_leaves_only_complete_images(tmp_path: Path) -> None:
    count = 60
    with ImageServer(latency_s=0.15, split_body=True) as server:
        bodies = {}
        rows = []
        for i in range(count):
            photo_id = f"k{i:03d}"
            # noisy photos (~210 KB) so half a body is more than the fetcher's 64 KiB chunk
            # and a stalled download has already opened its .tmp file
            bodies[photo_id] = server.add_image(f"/k/{photo_id}", (i * 4, 80, 160),
                                                size=(640, 480), noise=True)
            rows.append(unsplash_row(photo_id, server.url(f"/k/{photo_id}")))
        write_unsplash_tsv(tmp_path / "photos.tsv000", rows)
        # One download hangs mid-body until the kill, so the kill always catches a .tmp file
        # (timing alone raced: every in-flight download could finish between check and kill).
        stalled = "k002"
        server.inject(f"/k/{stalled}", Fault("stall"), times=1)
        dest = tmp_path / "dest"
        args = [sys.executable, "-m", "indexer", "fetch", "unsplash", "--tsv",
                str(tmp_path / "photos.tsv000"), "--dest", str(dest), "--concurrency", "4",
                "--json"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = list(dest.glob("*.jpg")) if dest.exists() else []
                temps = list((dest / PARTIAL_DIR).glob("*.tmp")) if dest.exists() else []
                if len(done) >= 8 and any(stalled in p.name for p in temps):
                    break
                time.sleep(0.01)
            else:
                pytest.fail("the fetch never got going")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
            server.release()
        assert proc.returncode == -signal.SIGKILL
        complete_before = sorted(p.stem for p in dest.glob("*.jpg"))
        assert 8 <= len(complete_before) < count
        assert list((dest / PARTIAL_DIR).glob("*.tmp")), "the kill should catch a download"
        for stem in complete_before:  # whatever carries a final name is whole
            assert (dest / f"{stem}.jpg").read_bytes() == bodies[stem]

        resumed = run_cli(*args[3:-1], "--json")
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout.strip().splitlines()[-1])
        assert summary["skipped"] == len(complete_before)
        assert summary["downloaded"] == count - len(complete_before)
        assert summary["failed"] == 0

    assert sorted(p.stem for p in dest.iterdir() if p.suffix == ".jpg") == sorted(bodies)
    for stem, body in bodies.items():
        assert (dest / f"{stem}.jpg").read_bytes() == body
    assert [p.name for p in (dest / PARTIAL_DIR).iterdir()] == [".lock"]
    assert not [p for p in dest.iterdir() if p.suffix == ".tmp"]
