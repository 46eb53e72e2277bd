"""``download-models``: fetch the configured models into the cache (for offline start-up)."""

from __future__ import annotations

import argparse

from search.encoders import load_encoder
from search.settings import Settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "download-models",
        help="download and check the configured models (bake them into a Docker image)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    for name in dict.fromkeys([settings.image_model, settings.text_model]):
        encoder = load_encoder(name, "cpu", "fp32", settings.model_cache_dir)
        vector = encoder.encode_texts(["a photo of a dog"])
        print(f"ok: {name} ({vector.shape[1]} dimensions)")
    return 0
