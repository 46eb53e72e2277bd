"""Model presets: each one's architecture loads through the production encoder path, the
settings resolve a preset into models, and a catalog refuses a preset it was not built with."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError

from indexer.commands.build import build
from indexer.sources.folder import FolderSource
from search.encoders import SentenceTransformerEncoder
from search.engine import Searcher
from search.errors import ModelMismatch
from search.presets import PRESETS, tune_loaded_model
from search.settings import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Settings
from tests.cli_helpers import indexer_env, run_indexer
from tests.fakes.color_encoder import ColorEncoder
from tests.fakes.tiny_multimodal import SIGLIP_TEXT_LENGTH, build_tiny_altclip, build_tiny_siglip

TEXTS = ["a red dress", "красное платье на белом фоне", "赤いドレス", "🐶 am Strand"]


@pytest.fixture(scope="session")
def stand_ins(
    tmp_path_factory: pytest.TempPathFactory, tiny_model_dirs: dict[str, Path]
) -> dict[str, tuple[Path, Path]]:
    """Preset name → (image model dir, text model dir) of tiny models of the same classes."""
    root = tmp_path_factory.mktemp("presets")
    siglip = build_tiny_siglip(root / "siglip")
    altclip = build_tiny_altclip(root / "altclip")
    return {
        "clip-b32-multilingual": (tiny_model_dirs["image"], tiny_model_dirs["text"]),
        "siglip2-base": (siglip, siglip),
        "altclip-m18": (altclip, altclip),
    }


def test_every_preset_has_a_stand_in(stand_ins: dict[str, tuple[Path, Path]]) -> None:
    assert set(stand_ins) == set(PRESETS)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_preset_stand_in_loads_through_the_production_path(
    preset: str, stand_ins: dict[str, tuple[Path, Path]]
) -> None:
    image_dir, text_dir = stand_ins[preset]
    image_model = SentenceTransformerEncoder(str(image_dir), device="cpu", precision="fp32")
    text_model = SentenceTransformerEncoder(str(text_dir), device="cpu", precision="fp32")
    images = [Image.new("RGB", (48, 40), (200, 20, 20)), Image.new("RGB", (20, 60), "blue")]
    image_vectors = image_model.encode_images(images)
    text_vectors = text_model.encode_texts(TEXTS)
    assert image_vectors.shape == (2, image_model.dim)
    assert text_vectors.shape == (len(TEXTS), image_model.dim)  # one space for both
    for vectors in (image_vectors, text_vectors):
        assert vectors.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert len({v.tobytes() for v in text_vectors}) == len(TEXTS)  # scripts tokenize apart
    if PRESETS[preset].routable:  # the image model's own text tower: the English route
        assert image_model.encode_texts(TEXTS).shape == text_vectors.shape


def test_siglip_texts_are_padded_to_the_length_it_was_trained_with(
    stand_ins: dict[str, tuple[Path, Path]],
) -> None:
    from transformers import AutoModel, AutoProcessor

    path = stand_ins["siglip2-base"][0]
    from sentence_transformers import SentenceTransformer

    plain = SentenceTransformer(str(path), device="cpu")  # as loaded without the tuning
    untuned = torch.nn.functional.normalize(
        plain.encode(TEXTS, convert_to_tensor=True), dim=-1
    ).numpy()
    encoder = SentenceTransformerEncoder(str(path), device="cpu", precision="fp32")
    tuned = encoder.encode_texts(TEXTS)  # the production path applies tune_loaded_model
    model, processor = AutoModel.from_pretrained(path).eval(), AutoProcessor.from_pretrained(path)
    inputs = processor(text=TEXTS, padding="max_length", max_length=SIGLIP_TEXT_LENGTH,
                       return_tensors="pt")
    with torch.inference_mode():
        reference = model.get_text_features(**inputs)
    reference = getattr(reference, "pooler_output", reference)
    expected = torch.nn.functional.normalize(reference, dim=-1).numpy()
    np.testing.assert_allclose(tuned, expected, atol=1e-5)
    assert np.abs(untuned - expected).max() > 1e-3  # what the fix is for


def test_tuning_leaves_other_architectures_alone(
    stand_ins: dict[str, tuple[Path, Path]],
) -> None:
    encoder = SentenceTransformerEncoder(str(stand_ins["altclip-m18"][1]), device="cpu")
    before = encoder.encode_texts(TEXTS)
    tune_loaded_model(encoder.model)
    np.testing.assert_array_equal(encoder.encode_texts(TEXTS), before)


# --- settings ---------------------------------------------------------------------------
def test_a_preset_fills_both_models() -> None:
    settings = Settings(model_preset="siglip2-base", _env_file=None)
    assert settings.image_model == settings.text_model == "google/siglip2-base-patch16-224"
    default = Settings(model_preset="clip-b32-multilingual", _env_file=None)
    assert (default.image_model, default.text_model) == (DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL)


def test_custom_preset_uses_the_explicit_models() -> None:
    settings = Settings(model_preset="custom", image_model="/models/clip", _env_file=None)
    assert (settings.image_model, settings.text_model) == ("/models/clip", DEFAULT_TEXT_MODEL)


def test_an_explicit_model_that_contradicts_the_preset_is_refused() -> None:
    with pytest.raises(ValidationError, match="conflicts with T2I_MODEL_PRESET=siglip2-base"):
        Settings(model_preset="siglip2-base", text_model=DEFAULT_TEXT_MODEL, _env_file=None)
    agreeing = Settings(model_preset="altclip-m18", image_model="BAAI/AltCLIP-m18",
                        _env_file=None)
    assert agreeing.text_model == "BAAI/AltCLIP-m18"


def test_an_unknown_preset_is_one_line_naming_the_known_ones(tmp_path: Path) -> None:
    env = indexer_env(tmp_path / "data", T2I_MODEL_PRESET="clip-huge")
    done = run_indexer(["stats"], env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "T2I_MODEL_PRESET" in done.stderr and "siglip2-base" in done.stderr


# --- switching presets on a built catalog -----------------------------------------------
@pytest.fixture
def default_catalog(tmp_path: Path, palette_dir: Path) -> Settings:
    """A catalog recorded as built with the default pair (colour vectors stand in)."""
    settings = Settings(data_dir=tmp_path / "data", model_preset="clip-b32-multilingual",
                        _env_file=None)
    build(settings, FolderSource(palette_dir), ColorEncoder())
    return settings


def test_switching_presets_on_a_built_catalog_is_refused(default_catalog: Settings) -> None:
    switched = Settings(data_dir=default_catalog.data_dir, model_preset="siglip2-base",
                        _env_file=None)
    with pytest.raises(ModelMismatch, match="--rebuild"):
        Searcher(switched)


def test_the_cli_refuses_a_switched_preset_with_the_rebuild_command(
    default_catalog: Settings,
) -> None:
    env = indexer_env(default_catalog.data_dir, T2I_MODEL_PRESET="altclip-m18")
    for name in ("T2I_IMAGE_MODEL", "T2I_TEXT_MODEL"):
        env.pop(name)
    done = run_indexer(["search", "red dress"], env)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "BAAI/AltCLIP-m18" in done.stderr and "python -m indexer build" in done.stderr
