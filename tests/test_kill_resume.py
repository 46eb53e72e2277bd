"""A ``kill -9`` in the middle of a build loses at most the batch in flight."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.cli_helpers import indexer_env, popen_indexer, run_indexer

pytestmark = pytest.mark.slow

COUNT = 120


def _write_distinct_pngs(folder: Path, count: int) -> None:
    """Large-ish PNGs (slow enough to decode that a kill lands mid-run), all distinct."""
    folder.mkdir()
    ramp = np.tile((np.arange(700) % 251).astype(np.uint8)[None, :], (700, 1))
    buffer = io.BytesIO()
    Image.fromarray(np.stack([ramp, ramp.T, 255 - ramp], axis=2)).save(buffer, format="PNG")
    for i in range(count):  # bytes after IEND are ignored by decoders but change the hash
        (folder / f"{i:04d}.png").write_bytes(buffer.getvalue() + f"copy {i}".encode())


def _rows(catalog: Path) -> int:
    if not catalog.exists():
        return 0
    try:
        with sqlite3.connect(f"{catalog.as_uri()}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM images").fetchone()[0])
    except sqlite3.OperationalError:  # not created yet, or locked for a moment
        return 0


def test_kill_9_mid_build_then_resume_and_verify(tmp_path: Path, tiny_model_dirs) -> None:
    images = tmp_path / "images"
    _write_distinct_pngs(images, COUNT)
    env = indexer_env(
        tmp_path / "data",
        T2I_BATCH_SIZE="4",
        # the pictures are pixel-identical: keep them all in results
        T2I_DUPLICATE_THRESHOLD="1.0",
        T2I_IMAGE_MODEL=str(tiny_model_dirs["image"]),
        T2I_TEXT_MODEL=str(tiny_model_dirs["text"]),
    )
    catalog = tmp_path / "data" / "catalog.sqlite3"

    process = popen_indexer(["build", str(images), "--json"], env)
    deadline = time.monotonic() + 120
    while _rows(catalog) < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert process.poll() is None, "the build finished before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    committed = _rows(catalog)
    assert 8 <= committed < COUNT

    # The half-built catalog is consistent, and searchable before the resume.
    interim = run_indexer(["search", "a photo", "-k", "3", "--json"], env)
    assert interim.returncode == 0, interim.stderr
    assert len(json.loads(interim.stdout)) == 3

    resumed = run_indexer(["build", str(images), "--json"], env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.splitlines()[-1])
    assert summary["added"] == COUNT - committed  # nothing committed was embedded again
    assert summary["unchanged"] == committed and summary["failed"] == 0

    verified = run_indexer(["verify"], env)
    assert verified.returncode == 0, verified.stderr
