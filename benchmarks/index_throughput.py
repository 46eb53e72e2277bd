"""Indexing throughput: the full pipeline vs a naive baseline vs the model alone.

    python benchmarks/index_throughput.py [--images 300] [--json]
    python benchmarks/index_throughput.py --device cuda --decode-workers 16   # a GPU machine

Inputs: photo-like 1600x1067 JPEGs generated once (smooth colour fields + sensor-like
noise, quality 90). Model: the full-size CLIP ViT-B/32 architecture with RANDOM weights
(real weights cannot be downloaded here; the compute is the same). Each measurement runs
in its own subprocess, so peak RSS is per stage.

- baseline: PIL-open every file at full size, ``SentenceTransformer.encode`` on lists of
  PIL images, fp32 — what a first version would do.
- model_only: the encoder alone on pictures already decoded the way the pipeline decodes
  them, at the pipeline's precision — the ceiling for the pipeline.
- pipeline: ``python -m indexer build`` on the folder (fresh catalog).
- bf16 vs fp32 agreement: top-10 neighbour overlap of the two precisions' image vectors.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import CACHE, ROOT, emit, full_size_models, machine, peak_rss_mb


def make_photos(folder: Path, count: int) -> Path:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(42)
    for i in range(count):
        path = folder / f"photo-{i:04d}.jpg"
        if path.exists():
            continue
        field = rng.integers(0, 256, size=(11, 16, 3), dtype=np.uint8)
        base = Image.fromarray(field).resize((1600, 1067), Image.Resampling.BICUBIC)
        noise = rng.normal(0, 8, size=(1067, 1600, 3))
        pixels = np.clip(np.asarray(base, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
    return folder


# --- stages (each runs in a fresh subprocess) -------------------------------------------
def stage_baseline(photos: Path, model: Path, batch: int, device: str) -> dict[str, Any]:
    from PIL import Image
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model), device=device)
    files = sorted(photos.glob("*.jpg"))
    st.encode([Image.new("RGB", (224, 224))], batch_size=1)  # warm-up
    started = time.perf_counter()
    for start in range(0, len(files), batch):
        images = [Image.open(f).convert("RGB") for f in files[start : start + batch]]
        st.encode(images, batch_size=batch, convert_to_numpy=True)
    seconds = time.perf_counter() - started
    return {"images_per_s": len(files) / seconds, "seconds": seconds}


def stage_model_only(photos: Path, model: Path, batch: int, precision: str, device: str,
                     save: Path | None = None) -> dict[str, Any]:
    import numpy as np

    from indexer.decode import decode_image
    from search.encoders import SentenceTransformerEncoder
    from search.settings import Settings

    settings = Settings(_env_file=None)
    encoder = SentenceTransformerEncoder(str(model), device, precision, batch_size=batch)
    files = sorted(photos.glob("*.jpg"))
    images = [decode_image(f.read_bytes(), settings.decode_min_side).image for f in files]
    encoder.encode_images(images[:2])  # warm-up (and the lazy load)
    started = time.perf_counter()
    vectors = [encoder.encode_images(images[s : s + batch]) for s in range(0, len(images), batch)]
    seconds = time.perf_counter() - started
    if save is not None:
        np.save(save, np.vstack(vectors))
    return {"images_per_s": len(files) / seconds, "seconds": seconds,
            "precision": encoder.precision}


def stage_pipeline(photos: Path, model: Path, batch: int, precision: str, device: str,
                   decode_workers: int) -> dict[str, Any]:
    from indexer.commands.build import build
    from indexer.sources.folder import FolderSource
    from search.encoders import SentenceTransformerEncoder
    from search.settings import Settings

    data = Path(tempfile.mkdtemp(prefix="bench-catalog-"))
    settings = Settings(data_dir=data, image_model=str(model), text_model=str(model),
                        precision=precision, device=device, batch_size=batch,
                        decode_workers=decode_workers, _env_file=None)
    encoder = SentenceTransformerEncoder(str(model), device, precision, batch_size=batch)
    encoder.encode_texts(["warm-up"])  # the load is not indexing work
    summary = build(settings, FolderSource(photos), encoder)
    shutil.rmtree(data, ignore_errors=True)
    return {"images_per_s": summary.embedded / summary.seconds, "seconds": summary.seconds,
            "added": summary.added, "stage_seconds": summary.stage_seconds}


def _run_stage(name: str, *args: str) -> dict[str, Any]:
    command = [sys.executable, __file__, "--stage", name, *args]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(output.stdout.strip().splitlines()[-1])


def _top10_agreement(a: Path, b: Path) -> float:
    import numpy as np

    va, vb = np.load(a), np.load(b)
    ka = np.argsort(-(va @ va.T), axis=1)[:, 1:11]
    kb = np.argsort(-(vb @ vb.T), axis=1)[:, 1:11]
    return float(np.mean([len(set(x) & set(y)) / 10 for x, y in zip(ka, kb, strict=True)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16", "int8"])
    parser.add_argument("--skip-bf16", action="store_true",
                        help="skip the other precisions (bf16, int8) and their agreement")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--decode-workers", type=int, default=None,
                        help="pipeline decode threads (default: T2I_DECODE_WORKERS's default)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--photos", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode_workers is None:
        from search.settings import Settings

        args.decode_workers = Settings(_env_file=None).decode_workers

    if args.stage:
        if args.stage == "baseline":
            result = stage_baseline(args.photos, args.model, args.batch, args.device)
        elif args.stage == "model_only":
            result = stage_model_only(args.photos, args.model, args.batch, args.precision,
                                      args.device, args.save)
        else:
            result = stage_pipeline(args.photos, args.model, args.batch, args.precision,
                                    args.device, args.decode_workers)
        result["peak_rss_mb"] = round(peak_rss_mb(), 1)
        print(json.dumps(result))
        return

    from search.encoders import resolve_precision

    photos = make_photos(CACHE / "photos-1600x1067", args.images)
    if len(list(photos.glob("*.jpg"))) > args.images:
        photos = make_photos(Path(tempfile.mkdtemp(prefix="bench-photos-")), args.images)
        for extra in sorted((CACHE / "photos-1600x1067").glob("*.jpg"))[: args.images]:
            shutil.copy(extra, photos / extra.name)
    model = full_size_models()["image"]
    chosen = resolve_precision(args.precision, args.device)
    common = ["--photos", str(photos), "--model", str(model), "--batch", str(args.batch),
              "--device", args.device, "--decode-workers", str(args.decode_workers)]
    print(f"{args.images} photos 1600x1067; full-size ViT-B/32, RANDOM weights; "
          f"{args.device}, precision {chosen}, {args.decode_workers} decode workers",
          file=sys.stderr)
    baseline = _run_stage("baseline", *common)
    print(f"baseline   {baseline['images_per_s']:.1f} img/s", file=sys.stderr)
    vectors = {p: CACHE / f"vectors-{p}.npy" for p in ("fp32", "bf16", "int8")}
    model_only = _run_stage("model_only", *common, "--precision", chosen,
                            "--save", str(vectors[chosen]))
    print(f"model only {model_only['images_per_s']:.1f} img/s", file=sys.stderr)
    pipeline = _run_stage("pipeline", *common, "--precision", chosen)
    print(f"pipeline   {pipeline['images_per_s']:.1f} img/s", file=sys.stderr)
    result: dict[str, Any] = {
        "benchmark": "index_throughput",
        "images": args.images,
        "image_size": [1600, 1067],
        "random_weights": True,
        "model": "CLIP ViT-B/32 architecture (sentence-transformers layout)",
        "precision": chosen,
        "device": args.device,
        "decode_workers": args.decode_workers,
        "baseline": baseline,
        "model_only": model_only,
        "pipeline": pipeline,
        "pipeline_vs_baseline": round(pipeline["images_per_s"] / baseline["images_per_s"], 3),
        "pipeline_vs_model_only": round(
            pipeline["images_per_s"] / model_only["images_per_s"], 3
        ),
        "machine": machine(),
    }
    if not args.skip_bf16:
        # The other precisions: speed of the model alone, and how far their vectors drift
        # from fp32 (top-10 neighbour agreement on this image set).
        # int8 (dynamic quantisation) runs on the CPU only.
        others = ("fp32", "bf16", "int8") if args.device == "cpu" else ("fp32", "bf16")
        for other in (p for p in others if p != chosen):
            result[f"model_only_{other}"] = _run_stage(
                "model_only", *common, "--precision", other, "--save", str(vectors[other])
            )
            print(f"model only {other} {result[f'model_only_{other}']['images_per_s']:.1f} img/s",
                  file=sys.stderr)
        for other in (p for p in others if p != "fp32"):
            result[f"{other}_fp32_top10_agreement"] = round(
                _top10_agreement(vectors["fp32"], vectors[other]), 4
            )
        if chosen != "int8" and args.device == "cpu":
            int8 = _run_stage("pipeline", *common, "--precision", "int8")
            result["pipeline_int8"] = int8
            result["pipeline_int8_vs_baseline"] = round(
                int8["images_per_s"] / baseline["images_per_s"], 3
            )
    emit(result, args.json)


if __name__ == "__main__":
    main()
