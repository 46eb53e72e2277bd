"""The indexer CLI as a user runs it: exit codes, one-line errors, JSON outputs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from tests.cli_helpers import indexer_env, run_indexer


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return indexer_env(tmp_path / "data")


def _one_line_error(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_build_search_stats_verify_round_trip(env: dict[str, str], palette_dir: Path) -> None:
    built = run_indexer(["build", str(palette_dir), "--json"], env)
    assert built.returncode == 0, built.stderr
    summary = json.loads(built.stdout.strip().splitlines()[-1])
    assert summary["added"] == 6 and summary["failed"] == 0

    found = run_indexer(["search", "rotes Auto", "-k", "3", "--json"], env)
    assert found.returncode == 0, found.stderr
    hits = json.loads(found.stdout)
    assert [set(h) for h in hits] == [{"id", "path", "score", "caption"}] * 3
    assert Path(hits[0]["path"]).name == "red.jpg"
    assert hits[0]["score"] >= hits[1]["score"] >= hits[2]["score"]

    plain = run_indexer(["search", "blue", "-k", "1"], env)
    assert "blue.jpg" in plain.stdout

    stats = run_indexer(["stats", "--json"], env)
    data = json.loads(stats.stdout)
    assert data["images"] == 6 and data["failures"] == 0
    assert data["image_model"] == "color:v1" and data["text_model"] == "color:v1"
    assert data["dim"] == 7 and data["index_type"] == "flat" and data["generation"] >= 1

    verified = run_indexer(["verify"], env)
    assert verified.returncode == 0 and verified.stdout.startswith("ok")


def test_missing_folder_is_a_one_line_user_error(env: dict[str, str], tmp_path: Path) -> None:
    result = run_indexer(["build", str(tmp_path / "nope")], env)
    assert result.returncode == 2
    assert "no such folder" in _one_line_error(result)


def test_empty_folder_is_a_one_line_user_error(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_indexer(["build", str(tmp_path / "empty")], env)
    assert result.returncode == 2
    assert "no images found" in _one_line_error(result)


def test_search_without_catalog_says_how_to_build(env: dict[str, str]) -> None:
    result = run_indexer(["search", "cat"], env)
    assert result.returncode == 2
    assert "python -m indexer build" in _one_line_error(result)


def test_empty_query_is_refused(env: dict[str, str], palette_dir: Path) -> None:
    run_indexer(["build", str(palette_dir)], env)
    result = run_indexer(["search", "  \u200b "], env)
    assert result.returncode == 2
    assert "empty" in _one_line_error(result)


def test_other_models_are_refused_with_the_rebuild_command(
    env: dict[str, str], palette_dir: Path
) -> None:
    assert run_indexer(["build", str(palette_dir)], env).returncode == 0
    other = {**env, "T2I_TEXT_MODEL": "color:other"}
    for args in (["search", "red"], ["build", str(palette_dir)], ["verify"]):
        result = run_indexer(args, other)
        assert result.returncode == 2
        assert "--rebuild" in _one_line_error(result)
    rebuilt = run_indexer(["build", str(palette_dir), "--rebuild", "--json"], other)
    assert rebuilt.returncode == 0
    assert json.loads(rebuilt.stdout.splitlines()[-1])["added"] == 6


def test_catalog_from_a_newer_schema_is_refused(
    env: dict[str, str], palette_dir: Path, tmp_path: Path
) -> None:
    run_indexer(["build", str(palette_dir)], env)
    with sqlite3.connect(tmp_path / "data" / "catalog.sqlite3") as conn:
        conn.execute("PRAGMA user_version = 99")
    for args in (["search", "red"], ["build", str(palette_dir)]):
        result = run_indexer(args, env)
        assert result.returncode == 2
        assert "newer" in _one_line_error(result)


def test_bad_option_and_bad_setting_are_one_line(env: dict[str, str]) -> None:
    result = run_indexer(["search", "x", "-k", "many"], env)
    assert result.returncode == 2 and "invalid int value" in _one_line_error(result)
    result = run_indexer(["stats"], {**env, "T2I_BATCH_SIZE": "zero"})
    assert result.returncode == 2 and "T2I_BATCH_SIZE" in _one_line_error(result)


def test_verify_detects_an_index_that_disagrees(
    env: dict[str, str], palette_dir: Path, tmp_path: Path
) -> None:
    run_indexer(["build", str(palette_dir)], env)
    for index_file in (tmp_path / "data" / "index").iterdir():
        index_file.unlink()
    result = run_indexer(["verify"], env)
    assert result.returncode == 1 and "no index" in result.stderr
