"""The downloader against a local server with injected faults: what a user would see."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from indexer.fetch import PARTIAL_DIR, FetchJob, FetchOptions, backoff_delay, fetch, refusal
from indexer.sources.unsplash import sized_url
from search.errors import UserError
from tests.fakes.image_server import Fault, ImageServer

FAST = FetchOptions(concurrency=4, timeout_s=0.5, retries=2, backoff_s=0.01, max_bytes=100_000)


@pytest.fixture
def server() -> Iterator[ImageServer]:
    with ImageServer() as srv:
        yield srv


def _job(server: ImageServer, name: str) -> FetchJob:
    return FetchJob(server.url(f"/img/{name}"), f"{name}.jpg")


def _files(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir() if not p.name.startswith("."))


def _leftovers(dest: Path) -> list[str]:
    partial = dest / PARTIAL_DIR
    return sorted(p.name for p in partial.iterdir() if p.name != ".lock") \
        if partial.exists() else []


def test_downloads_complete_images_and_skips_them_next_time(server: ImageServer,
                                                            tmp_path: Path) -> None:
    bodies = {f"p{i}": server.add_image(f"/img/p{i}", (10 * i, 100, 200)) for i in range(8)}
    jobs = [_job(server, name) for name in bodies]

    first = fetch(jobs, tmp_path / "dest", FAST)
    assert (first.downloaded, first.skipped, first.failed) == (8, 0, 0)
    for name, body in bodies.items():
        assert (tmp_path / "dest" / f"{name}.jpg").read_bytes() == body
    assert _leftovers(tmp_path / "dest") == []

    second = fetch(jobs, tmp_path / "dest", FAST)
    assert (second.downloaded, second.skipped, second.failed) == (0, 8, 0)
    assert all(count == 1 for count in server.requests.values())  # nothing asked twice


def test_404_fails_at_once_without_retries(server: ImageServer, tmp_path: Path) -> None:
    summary = fetch([_job(server, "gone")], tmp_path, FAST)
    assert summary.failures == [("gone.jpg", server.url("/img/gone"), "HTTP 404")]
    assert server.requests["/img/gone"] == 1
    assert _files(tmp_path) == []


def test_transient_500_and_429_are_retried_until_they_work(server: ImageServer,
                                                           tmp_path: Path) -> None:
    server.add_image("/img/flaky")
    server.inject("/img/flaky", Fault("status", status=503), times=2)
    server.add_image("/img/busy")
    server.inject("/img/busy", Fault("status", status=429, retry_after=0), times=1)
    summary = fetch([_job(server, "flaky"), _job(server, "busy")], tmp_path, FAST)
    assert (summary.downloaded, summary.failed, summary.retries) == (2, 0, 3)
    assert server.requests["/img/flaky"] == 3
    assert _files(tmp_path) == ["busy.jpg", "flaky.jpg"]


def test_persistent_500_gives_up_after_the_retries(server: ImageServer, tmp_path: Path) -> None:
    server.add_image("/img/down")
    server.inject("/img/down", Fault("status", status=500))
    summary = fetch([_job(server, "down")], tmp_path, FAST)
    assert summary.reasons() == {"HTTP 500 (after 3 attempts)": 1}
    assert server.requests["/img/down"] == 3


def test_timeouts_are_retried_then_reported(server: ImageServer, tmp_path: Path) -> None:
    server.add_image("/img/slow")
    server.inject("/img/slow", Fault("delay", seconds=1.5))
    server.add_image("/img/once-slow")
    server.inject("/img/once-slow", Fault("delay", seconds=1.5), times=1)
    summary = fetch([_job(server, "slow"), _job(server, "once-slow")], tmp_path,
                    FetchOptions(timeout_s=0.3, retries=1, backoff_s=0.01))
    assert summary.reasons() == {"timeout (after 2 attempts)": 1}
    assert _files(tmp_path) == ["once-slow.jpg"]


def test_connection_resets_and_truncated_bodies_are_retried(server: ImageServer,
                                                             tmp_path: Path) -> None:
    reset_body = server.add_image("/img/reset", (1, 2, 3))
    server.inject("/img/reset", Fault("reset"), times=1)
    cut_body = server.add_image("/img/cut", (4, 5, 6), size=(300, 200))
    server.inject("/img/cut", Fault("truncate"), times=1)
    server.add_image("/img/always-reset")
    server.inject("/img/always-reset", Fault("reset"))
    summary = fetch([_job(server, n) for n in ("reset", "cut", "always-reset")], tmp_path, FAST)
    assert (tmp_path / "reset.jpg").read_bytes() == reset_body
    assert (tmp_path / "cut.jpg").read_bytes() == cut_body  # never the half body
    [(name, _, reason)] = summary.failures
    assert name == "always-reset.jpg"
    assert reason.startswith("connection error (")
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["html", "html_as_image"])
def test_html_instead_of_an_image_is_a_failure_not_a_file(server: ImageServer, tmp_path: Path,
                                                          kind: str) -> None:
    server.inject("/img/page", Fault(kind))  # type: ignore[arg-type]
    summary = fetch([_job(server, "page")], tmp_path, FAST)
    assert summary.failed == 1
    assert summary.failures[0][2].startswith("not an image")
    assert server.requests["/img/page"] == 1  # not retried
    assert _files(tmp_path) == [] and _leftovers(tmp_path) == []


@pytest.mark.parametrize("kind", ["oversize", "oversize_stream"])
def test_a_body_over_the_limit_is_aborted(server: ImageServer, tmp_path: Path,
                                          kind: str) -> None:
    server.inject("/img/huge", Fault(kind, size=2_000_000))  # type: ignore[arg-type]
    summary = fetch([_job(server, "huge")], tmp_path, FAST)
    assert summary.reasons() == {"too large (over 100000 bytes)": 1}
    assert _files(tmp_path) == [] and _leftovers(tmp_path) == []


def test_a_body_that_is_not_a_decodable_image_is_rejected(server: ImageServer,
                                                          tmp_path: Path) -> None:
    server.add_file("/img/fake", b"\xff\xd8\xff\xe0" + b"garbage" * 20, "image/jpeg")
    whole = server.add_image("/img/whole", size=(320, 240))
    server.add_file("/img/cut-file", whole[: len(whole) * 2 // 3], "image/jpeg")
    summary = fetch([_job(server, "fake"), _job(server, "cut-file")], tmp_path, FAST)
    assert summary.reasons() == {"not a readable image": 2}
    assert _files(tmp_path) == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/a.jpg",
                                 "javascript:alert(1)", "http:///no-host.jpg"])
def test_non_http_urls_are_refused_without_a_request(tmp_path: Path, url: str) -> None:
    summary = fetch([FetchJob(url, "x.jpg")], tmp_path, FAST)
    [(_, _, reason)] = summary.failures
    assert reason.startswith("refused:")
    assert reason == refusal(url)


def test_stale_temp_files_of_a_killed_run_are_removed(server: ImageServer,
                                                      tmp_path: Path) -> None:
    partial = tmp_path / PARTIAL_DIR
    partial.mkdir()
    (partial / "p0.jpg.deadbeef.tmp").write_bytes(b"\xff\xd8half")
    server.add_image("/img/p0")
    summary = fetch([_job(server, "p0")], tmp_path, FAST)
    assert summary.downloaded == 1
    assert _leftovers(tmp_path) == []
    Image.open(tmp_path / "p0.jpg").load()


def test_two_runs_on_one_folder_are_refused(tmp_path: Path) -> None:
    from indexer.fetch import _DestLock

    with _DestLock(tmp_path), pytest.raises(UserError, match="another fetch"):
        fetch([], tmp_path, FAST)


def test_duplicate_names_are_fetched_once(server: ImageServer, tmp_path: Path) -> None:
    server.add_image("/img/a")
    summary = fetch([_job(server, "a"), _job(server, "a")], tmp_path, FAST)
    assert summary.downloaded == 1 and server.requests["/img/a"] == 1


def test_width_is_merged_into_the_existing_query() -> None:
    url = sized_url("https://images.unsplash.com/photo-1?ixid=abc&w=4000&fm=png", 640)
    assert url == "https://images.unsplash.com/photo-1?ixid=abc&w=640&q=80&fm=jpg"
    assert sized_url("https://images.unsplash.com/photo-2", 320) == \
        "https://images.unsplash.com/photo-2?w=320&q=80&fm=jpg"


def test_back_off_grows_has_jitter_and_honours_retry_after() -> None:
    options = FetchOptions(backoff_s=1.0, max_backoff_s=8.0)
    delays = [backoff_delay(attempt, options) for attempt in range(6)]
    assert 0.5 <= delays[0] <= 1.5 and 2.0 <= delays[2] <= 6.0
    assert max(delays) <= 12.0  # capped (8 s ± jitter)
    assert len({round(backoff_delay(3, options), 6) for _ in range(20)}) > 1
    assert backoff_delay(0, options, retry_after=5.0) >= 5.0
