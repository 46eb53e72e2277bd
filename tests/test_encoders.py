"""Real models load through the production path (a tiny CLIP built on disk), offline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.commands.build import build
from indexer.sources.folder import FolderSource
from search.encoders import SentenceTransformerEncoder, load_encoder, resolve_precision
from search.engine import Searcher
from search.errors import ModelLoadError
from search.settings import Settings


def test_tiny_clip_encodes_images_and_texts_to_unit_float32(tiny_model_dirs) -> None:
    encoder = load_encoder(str(tiny_model_dirs["image"]), "cpu", "fp32")
    assert isinstance(encoder, SentenceTransformerEncoder)
    images = encoder.encode_images(
        [Image.new("RGB", (300, 200), "red"), Image.new("RGB", (40, 90), "blue")]
    )
    texts = encoder.encode_texts(["a red dress", "красное платье", "🐶"])
    for vectors in (images, texts):
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    assert images.shape[1] == texts.shape[1] == encoder.dim


def test_multilingual_text_model_shares_the_image_dimension(tiny_model_dirs) -> None:
    image = load_encoder(str(tiny_model_dirs["image"]), "cpu", "fp32")
    text = load_encoder(str(tiny_model_dirs["text"]), "cpu", "fp32")
    assert text.encode_texts(["Sonnenuntergang am Meer"]).shape == (1, image.dim)


def test_very_long_query_is_truncated_not_crashed(tiny_model_dirs) -> None:
    text = load_encoder(str(tiny_model_dirs["text"]), "cpu", "fp32")
    clip = load_encoder(str(tiny_model_dirs["image"]), "cpu", "fp32")
    long_query = "красное платье на пляже " * 400
    assert text.encode_texts([long_query]).shape[0] == 1
    assert clip.encode_texts([long_query]).shape[0] == 1


def test_bf16_is_selectable_and_close_to_fp32(tiny_model_dirs) -> None:
    images = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]
    fp32 = load_encoder(str(tiny_model_dirs["image"]), "cpu", "fp32").encode_images(images)
    bf16_encoder = load_encoder(str(tiny_model_dirs["image"]), "cpu", "bf16")
    bf16 = bf16_encoder.encode_images(images)
    assert bf16.dtype == np.float32
    assert float(np.min(np.sum(fp32 * bf16, axis=1))) > 0.98


def test_int8_is_selectable_and_close_to_fp32(tiny_model_dirs) -> None:
    images = [Image.new("RGB", (64, 64), c) for c in ("red", "green", "blue")]
    fp32 = load_encoder(str(tiny_model_dirs["image"]), "cpu", "fp32").encode_images(images)
    int8 = load_encoder(str(tiny_model_dirs["image"]), "cpu", "int8").encode_images(images)
    assert int8.dtype == np.float32
    assert float(np.min(np.sum(fp32 * int8, axis=1))) > 0.95


def test_auto_precision_is_fp32_without_native_bf16(monkeypatch: pytest.MonkeyPatch) -> None:
    import search.encoders as encoders

    monkeypatch.setattr(encoders, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(encoders, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", "cpu") == "bf16"
    assert resolve_precision("fp32", "cpu") == "fp32"


def test_unknown_model_offline_is_a_clear_error(tmp_path: Path) -> None:
    encoder = load_encoder("no-such-org/no-such-model", "cpu", "fp32", cache_dir=tmp_path)
    with pytest.raises(ModelLoadError, match="cannot load model 'no-such-org/no-such-model'"):
        encoder.encode_texts(["x"])


def test_full_stack_with_tiny_models_builds_and_searches(
    tiny_model_dirs, palette_dir: Path, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        image_model=str(tiny_model_dirs["image"]),
        text_model=str(tiny_model_dirs["text"]),
        device="cpu",
        precision="fp32",
        _env_file=None,
    )
    image_encoder = load_encoder(settings.image_model, "cpu", "fp32")
    summary = build(settings, FolderSource(palette_dir), image_encoder)
    assert summary.added == 6
    searcher = Searcher(settings)
    try:
        hits = searcher.search_text("красное платье", k=6)
    finally:
        searcher.close()
    assert len(hits) == 6 and len({h.id for h in hits}) == 6
    assert all(-1.0 <= h.score <= 1.0 for h in hits)


def test_text_precision_quantises_the_text_model_only(tiny_model_dirs) -> None:
    from search.routing import build_text_encoder

    settings = Settings(
        _env_file=None,
        image_model=str(tiny_model_dirs["image"]),
        text_model=str(tiny_model_dirs["text"]),
        device="cpu",
        precision="fp32",
        text_precision="int8",
        route_english=False,
    )
    text = build_text_encoder(settings)
    quantised = text.encode_texts(["a red dress", "красное платье"])
    plain = load_encoder(str(tiny_model_dirs["text"]), "cpu", "fp32")
    exact = plain.encode_texts(["a red dress", "красное платье"])
    assert isinstance(text, SentenceTransformerEncoder) and text.precision == "int8"
    assert float(np.min(np.sum(quantised * exact, axis=1))) > 0.95
    assert Settings(_env_file=None, precision="int8").resolved_text_precision == "int8"
