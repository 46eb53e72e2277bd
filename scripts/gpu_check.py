"""Check the CUDA path of the encoders and the indexer on a machine with an NVIDIA GPU.

    python scripts/gpu_check.py            # on the GPU machine; not part of CI
    python scripts/gpu_check.py --cpu      # the same checks on the CPU (a dry run)

Uses the full-size CLIP ViT-B/32 and multilingual DistilBERT architectures with RANDOM
weights (built on disk by benchmarks/_common.py), loaded through the production path
(``search.encoders.load_encoder``). Prints one line per check and exits 1 if any fails:

- ``T2I_DEVICE=auto`` picks CUDA, and ``T2I_PRECISION=auto`` picks bf16 autocast there
  when the GPU supports bf16;
- vectors come back as L2-normalised float32 NumPy arrays, close to fp32 on the GPU and to
  fp32 on the CPU;
- ``int8`` (a CPU-only quantisation) is refused on CUDA with a clear error;
- ``indexer build`` and a ``Searcher`` query work end to end with ``T2I_DEVICE=auto``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

FAILED: list[str] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"{'PASS' if ok else 'FAIL'} {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.min(np.sum(a * b, axis=1)))


def pictures(count: int) -> list:  # type: ignore[type-arg]
    from PIL import Image

    rng = np.random.default_rng(0)
    out = []
    for _ in range(count):
        field = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        out.append(Image.fromarray(field).resize((320, 240), Image.Resampling.BICUBIC))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="dry run on the CPU")
    args = parser.parse_args()

    import torch
    from _common import full_size_models

    from search.encoders import load_encoder
    from search.errors import ModelLoadError

    expected = "cpu" if args.cpu else "cuda"
    if not args.cpu and not torch.cuda.is_available():
        print("no CUDA device here", file=sys.stderr)
        return 2
    models = full_size_models()
    images, texts = pictures(16), ["a red dress", "красное платье", "Sonnenuntergang am Meer"]

    auto = load_encoder(str(models["image"]), "cpu" if args.cpu else "auto", "auto")
    got = auto.encode_images(images)
    bf16 = not args.cpu and torch.cuda.is_bf16_supported()
    check("device auto", auto.device.startswith(expected), auto.device)  # type: ignore[attr-defined]
    check(
        "precision auto",
        auto.precision == ("bf16" if bf16 else "fp32"),  # type: ignore[attr-defined]
        auto.precision,  # type: ignore[attr-defined]
    )
    norms = np.linalg.norm(got, axis=1)
    check(
        "vectors are unit float32 NumPy",
        isinstance(got, np.ndarray) and got.dtype == np.float32 and np.allclose(norms, 1, 1e-3),
        f"{type(got).__name__} {got.dtype} norms {norms.min():.4f}..{norms.max():.4f}",
    )
    fp32_here = load_encoder(str(models["image"]), expected, "fp32").encode_images(images)
    fp32_cpu = load_encoder(str(models["image"]), "cpu", "fp32").encode_images(images)
    check("auto vs fp32 here (cosine)", min_cosine(got, fp32_here) > 0.99,
          f"{min_cosine(got, fp32_here):.5f}")
    check("fp32 here vs fp32 CPU (cosine)", min_cosine(fp32_here, fp32_cpu) > 0.999,
          f"{min_cosine(fp32_here, fp32_cpu):.6f}")
    text = load_encoder(str(models["text"]), "cpu" if args.cpu else "auto", "auto")
    encoded = text.encode_texts(texts)
    check("multilingual text on the device", encoded.shape == (3, 512), str(encoded.shape))
    if not args.cpu:
        try:
            load_encoder(str(models["image"]), "cuda", "int8").encode_images(images[:1])
            check("int8 refused on CUDA", False, "it loaded")
        except ModelLoadError as exc:
            check("int8 refused on CUDA", "CPU only" in str(exc), str(exc))
    end_to_end(models["image"], "cpu" if args.cpu else "auto", images)
    print("ALL PASSED" if not FAILED else f"FAILED: {', '.join(FAILED)}")
    return 1 if FAILED else 0


def end_to_end(model: Path, device: str, images: list) -> None:  # type: ignore[type-arg]
    """``indexer build`` on a folder, then a text query through the ``Searcher``."""
    from indexer.commands.build import build
    from indexer.sources.folder import FolderSource
    from search.encoders import load_encoder
    from search.engine import Searcher
    from search.settings import Settings

    root = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    (root / "images").mkdir()
    for i, image in enumerate(images):
        image.save(root / "images" / f"{i}.jpg", quality=90)
    settings = Settings(data_dir=root / "data", image_model=str(model), text_model=str(model),
                        device=device, route_english=False, _env_file=None,
                        # Random-weight vectors of these pictures are near-identical.
                        duplicate_threshold=1.0)
    encoder = load_encoder(str(model), device, "auto")
    summary = build(settings, FolderSource(root / "images"), encoder, progress=False)
    check("indexer build", summary.added == len(images) and summary.failed == 0,
          f"added {summary.added}, failed {summary.failed}")
    searcher = Searcher(settings)
    hits = searcher.search_text("a red dress", k=5)
    check("Searcher query", len(hits) == 5, f"{len(hits)} hits, top score {hits[0].score:.3f}")
    searcher.close()


if __name__ == "__main__":
    sys.exit(main())
