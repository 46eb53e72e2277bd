"""The random-weight model stand-ins load and behave like the hub models they replace."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from huggingface_hub import is_offline_mode
from PIL import Image
from sentence_transformers import SentenceTransformer
from transformers import AutoConfig, AutoTokenizer

from tests.fakes.tiny_models import (
    MARKER_NAME,
    build_full_size_clip,
    build_full_size_multilingual_text,
    build_tiny_clip,
    build_tiny_multilingual_text,
)

TEXTS = [
    "a red dress",
    "красное платье на белом фоне",
    "ein rotes Kleid",
    "红色的连衣裙",
    "🐶👗🌅",
    "",
    "   ",
    "?!",
    "слово " * 2000,
]


def load(path: Path) -> SentenceTransformer:
    assert is_offline_mode(), "HF_HUB_OFFLINE must be set before huggingface_hub is imported"
    return SentenceTransformer(str(path), device="cpu")


def images() -> list[Image.Image]:
    return [
        Image.new("RGB", (640, 480), (200, 30, 30)),
        Image.new("RGB", (20, 300), (30, 30, 200)),
        Image.new("L", (64, 64), 128),
        Image.new("RGBA", (50, 50), (0, 255, 0, 100)),
        Image.new("RGB", (1, 1), (255, 255, 255)),
    ]


@pytest.fixture(scope="session")
def clip(tiny_model_dirs: dict[str, Path]) -> SentenceTransformer:
    return load(tiny_model_dirs["image"])


@pytest.fixture(scope="session")
def multilingual(tiny_model_dirs: dict[str, Path]) -> SentenceTransformer:
    return load(tiny_model_dirs["text"])


def test_tiny_clip_has_the_hub_layout(tiny_model_dirs: dict[str, Path]) -> None:
    root = tiny_model_dirs["image"]
    modules = json.loads((root / "modules.json").read_text())
    assert modules == [
        {
            "idx": 0,
            "name": "0",
            "path": "0_CLIPModel",
            "type": "sentence_transformers.models.CLIPModel",
        }
    ]
    assert (root / "config_sentence_transformers.json").is_file()
    for name in ("config.json", "vocab.json", "merges.txt", "preprocessor_config.json"):
        assert (root / "0_CLIPModel" / name).is_file(), name


def test_tiny_multilingual_has_the_hub_layout(tiny_model_dirs: dict[str, Path]) -> None:
    root = tiny_model_dirs["text"]
    modules = json.loads((root / "modules.json").read_text())
    assert [(m["path"], m["type"].rsplit(".", 1)[-1]) for m in modules] == [
        ("", "Transformer"),
        ("1_Pooling", "Pooling"),
        ("2_Dense", "Dense"),
    ]
    dense = json.loads((root / "2_Dense" / "config.json").read_text())
    assert dense["bias"] is False
    assert dense["activation_function"] == "torch.nn.modules.linear.Identity"
    assert json.loads((root / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"]


@pytest.mark.parametrize("which", ["image", "text"])
def test_loads_offline_without_warnings(
    tiny_model_dirs: dict[str, Path], which: str, capfd: pytest.CaptureFixture[str]
) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load(tiny_model_dirs[which])
    noisy = [
        line for line in capfd.readouterr().err.splitlines() if "arn" in line or "eprec" in line
    ]
    assert [str(w.message) for w in caught] == []
    assert noisy == []


def test_tiny_clip_encodes_images_and_texts_into_one_space(clip: SentenceTransformer) -> None:
    image_vectors = clip.encode(images())
    text_vectors = clip.encode(TEXTS)
    assert image_vectors.shape == (5, 16)
    assert text_vectors.shape == (len(TEXTS), 16)
    assert clip.get_embedding_dimension() == 16
    assert np.isfinite(image_vectors).all() and np.isfinite(text_vectors).all()
    assert not np.allclose(image_vectors[0], image_vectors[1])
    assert not np.allclose(text_vectors[0], text_vectors[1])


def test_multilingual_text_matches_the_clip_dimension(
    clip: SentenceTransformer, multilingual: SentenceTransformer
) -> None:
    vectors = multilingual.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), clip.get_embedding_dimension())
    assert multilingual.get_embedding_dimension() == 16
    assert np.isfinite(vectors).all()
    assert not np.allclose(vectors[1], vectors[2])


@pytest.mark.parametrize(("which", "limit"), [("image", 77), ("text", 128)])
def test_long_texts_are_truncated_to_the_model_limit(
    tiny_model_dirs: dict[str, Path],
    clip: SentenceTransformer,
    multilingual: SentenceTransformer,
    which: str,
    limit: int,
) -> None:
    model = clip if which == "image" else multilingual
    assert model.max_seq_length == limit
    long, longer = model.encode(["red dress " * 200, "red dress " * 300])
    np.testing.assert_allclose(long, longer, rtol=1e-5, atol=1e-6)
    root = tiny_model_dirs[which]
    if which == "image":
        root = root / "0_CLIPModel"
        positions = AutoConfig.from_pretrained(root).text_config.max_position_embeddings
        assert AutoTokenizer.from_pretrained(root).model_max_length == positions


def tokenizer_of(tiny_model_dirs: dict[str, Path], which: str) -> Any:
    root = tiny_model_dirs[which]
    return AutoTokenizer.from_pretrained(root / "0_CLIPModel" if which == "image" else root)


@pytest.mark.parametrize("which", ["image", "text"])
def test_known_words_in_other_scripts_stay_whole(
    tiny_model_dirs: dict[str, Path], which: str
) -> None:
    tokenizer = tokenizer_of(tiny_model_dirs, which)
    for text in ["красное платье", "ein rotes Kleid", "собака бежит по пляжу"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text.split()), tokenizer.convert_ids_to_tokens(ids)


def test_unseen_words_fall_back_to_pieces_not_unknown(tiny_model_dirs: dict[str, Path]) -> None:
    tokenizer = tokenizer_of(tiny_model_dirs, "text")
    for text in ["红色的连衣裙", "Katzenkleider", "платьице", "größte Straße"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tokenizer.unk_token_id not in ids, tokenizer.convert_ids_to_tokens(ids)
        assert len(ids) > len(text.split())


def test_same_seed_gives_identical_embeddings(tmp_path: Path) -> None:
    picture = images()[:1]
    first = load(build_tiny_clip(tmp_path / "a", seed=3))
    second = load(build_tiny_clip(tmp_path / "b", seed=3))
    other = load(build_tiny_clip(tmp_path / "c", seed=4))
    np.testing.assert_array_equal(first.encode(picture), second.encode(picture))
    np.testing.assert_array_equal(first.encode(TEXTS[:5]), second.encode(TEXTS[:5]))
    assert not np.allclose(first.encode(picture), other.encode(picture))

    text_a = load(build_tiny_multilingual_text(tmp_path / "ta", dim=8, seed=3))
    text_b = load(build_tiny_multilingual_text(tmp_path / "tb", dim=8, seed=3))
    vectors = text_a.encode(TEXTS[:5])
    np.testing.assert_array_equal(vectors, text_b.encode(TEXTS[:5]))
    assert vectors.shape == (5, 8)


def test_complete_build_is_reused_and_mismatches_are_refused(tmp_path: Path) -> None:
    dest = build_tiny_clip(tmp_path / "clip", dim=8)
    marker_written = (dest / MARKER_NAME).stat().st_mtime_ns
    assert build_tiny_clip(tmp_path / "clip", dim=8) == dest
    assert (dest / MARKER_NAME).stat().st_mtime_ns == marker_written
    with pytest.raises(FileExistsError):
        build_tiny_clip(tmp_path / "clip", dim=16)

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "keep.jpg").write_bytes(b"not a model")
    with pytest.raises(FileExistsError):
        build_tiny_multilingual_text(foreign)
    assert [p.name for p in foreign.iterdir()] == ["keep.jpg"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip", "photos"]  # no partial left


@pytest.mark.slow
def test_full_size_pair_shares_a_512_dim_space(tmp_path: Path) -> None:
    clip = load(build_full_size_clip(tmp_path / "clip"))
    text = load(build_full_size_multilingual_text(tmp_path / "text"))
    assert clip.encode(images()[:2]).shape == (2, 512)
    assert clip.encode(TEXTS).shape == (len(TEXTS), 512)
    assert text.encode(TEXTS).shape == (len(TEXTS), 512)
    assert (clip.max_seq_length, text.max_seq_length) == (77, 128)
    assert sum(p.numel() for p in clip.parameters()) == pytest.approx(151.3e6, rel=0.01)
    assert sum(p.numel() for p in text.parameters()) == pytest.approx(135.5e6, rel=0.01)
    image_processor: Any = clip[0].processor.image_processor  # type: ignore[union-attr]
    assert image_processor.crop_size["height"] == 224
    assert image_processor.size["shortest_edge"] == 224
