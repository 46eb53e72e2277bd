"""Shared fixtures. Tests never reach the network: only loopback connections are allowed."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
# Settings read .env: keep a developer's own .env out of the tests.
os.environ.setdefault("T2I_BOT_TOKEN", "")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_local(address: object) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX paths
        return True
    host = address[0] if isinstance(address, tuple) else address
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network (tried {address!r})")
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _is_local(address):
        raise ConnectionRefusedError(f"tests may not reach the network (tried {address!r})")
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's T2I_* environment or .env file."""
    for name in list(os.environ):
        if name.startswith("T2I_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(autouse=True, scope="session")
def _color_encoder_registered() -> None:
    from tests.fakes.color_encoder import register

    register()


# --- images --------------------------------------------------------------------------------
def write_palette_images(folder: Path, size: tuple[int, int] = (320, 240)) -> dict[str, Path]:
    """One JPEG per palette colour; returns colour → path."""
    from tests.fakes.color_encoder import PALETTE

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, rgb in PALETTE.items():
        path = folder / f"{name}.jpg"
        Image.new("RGB", size, rgb).save(path, quality=90)
        paths[name] = path
    return paths


@pytest.fixture
def palette_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    write_palette_images(folder)
    return folder


@pytest.fixture
def color_settings(tmp_path: Path) -> Iterator[object]:
    """Settings using the deterministic colour encoder for both towers."""
    from search.settings import Settings

    yield Settings(
        data_dir=tmp_path / "data",
        image_model="color:v1",
        text_model="color:v1",
        _env_file=None,
    )


@pytest.fixture
def color_catalog(color_settings: object, palette_dir: Path) -> object:
    """A built catalog of the six palette colours; returns its Settings."""
    from indexer.commands.build import build
    from indexer.sources.folder import FolderSource
    from tests.fakes.color_encoder import ColorEncoder

    build(color_settings, FolderSource(palette_dir), ColorEncoder())  # type: ignore[arg-type]
    return color_settings


# --- tiny real models (built once per test session) ----------------------------------------
@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.fakes.tiny_models import build_tiny_clip, build_tiny_multilingual_text

    root = tmp_path_factory.mktemp("models")
    return {
        "image": build_tiny_clip(root / "tiny-clip"),
        "text": build_tiny_multilingual_text(root / "tiny-multilingual"),
    }
