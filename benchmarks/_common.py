"""Shared helpers for the benchmark scripts: machine facts, peak memory, model stand-ins."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "benchmarks" / "results" / "cache"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    import torch

    return {
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu": _cpu_model(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def full_size_models() -> dict[str, Path]:
    """Full-size architectures with random weights: real weights cannot be downloaded here.

    The compute cost is the same as with the real weights, so speed figures carry over;
    quality figures do not.
    """
    from tests.fakes.tiny_models import build_full_size_clip, build_full_size_multilingual_text

    CACHE.mkdir(parents=True, exist_ok=True)
    return {
        "image": build_full_size_clip(CACHE / "full-clip-vit-b32"),
        "text": build_full_size_multilingual_text(CACHE / "full-multilingual-distilbert"),
    }


def emit(result: dict[str, Any], as_json: bool) -> None:
    """Human-readable lines, and with --json one JSON object as the last line."""
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(json.dumps(result, ensure_ascii=False, indent=2))
