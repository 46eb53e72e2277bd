"""Run ``python -m indexer`` in a subprocess, with the colour encoder registered like a plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_BOOT = (
    "import sys; from tests.fakes.color_encoder import register; register(); "
    "from indexer.cli import main; sys.exit(main(sys.argv[1:]))"
)


def indexer_env(data_dir: Path, model: str = "color:v1", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("T2I_")}
    env.update(
        T2I_DATA_DIR=str(data_dir),
        T2I_IMAGE_MODEL=model,
        T2I_TEXT_MODEL=model,
        PYTHONPATH=str(ROOT),
        HF_HUB_OFFLINE="1",
    )
    env.update(extra)
    return env


def run_indexer(
    args: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _BOOT, *args],
        env=env,
        cwd=cwd or ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def popen_indexer(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _BOOT, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
