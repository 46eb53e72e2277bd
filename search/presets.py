"""Model presets: coherent (image model, text model) sets picked by one name.

A preset only names models that sentence-transformers loads natively through
``SentenceTransformer(name_or_path)`` (no ``trust_remote_code``, no extra package), so the
production encoder path is the same for all of them. Each one's architecture was checked
offline with a tiny random model of the same class (``tests/test_presets.py``); published
quality, size and speed figures are in docs/quality.md. SigLIP checkpoints also need their
texts padded to a fixed length: ``tune_loaded_model`` sets that on a loaded model.

``routable`` says that the image model's own text tower shares the vector space of the
multilingual text model, so English queries may be sent there (``search.routing``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.errors import UserError

CUSTOM = "custom"


@dataclass(frozen=True)
class Preset:
    """One coherent model set. ``text_model == image_model`` for single two-tower models."""

    name: str
    image_model: str
    text_model: str
    routable: bool
    summary: str


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset(
            "clip-b32-multilingual",
            image_model="sentence-transformers/clip-ViT-B-32",
            text_model="sentence-transformers/clip-ViT-B-32-multilingual-v1",
            routable=True,
            summary="the default: CLIP ViT-B/32 images, multilingual DistilBERT text (50+ "
            "languages); English queries may use CLIP's own text tower",
        ),
        Preset(
            "siglip2-base",
            image_model="google/siglip2-base-patch16-224",
            text_model="google/siglip2-base-patch16-224",
            routable=False,
            summary="SigLIP 2 B/16 at 224 px, one multilingual two-tower model (Gemma "
            "tokenizer, 256k vocabulary)",
        ),
        Preset(
            "altclip-m18",
            image_model="BAAI/AltCLIP-m18",
            text_model="BAAI/AltCLIP-m18",
            routable=False,
            summary="AltCLIP: CLIP ViT-L/14 images with an XLM-RoBERTa-large text tower, "
            "18 languages",
        ),
    )
}

DEFAULT_PRESET = "clip-b32-multilingual"


def preset_names() -> list[str]:
    return [*PRESETS, CUSTOM]


def get_preset(name: str) -> Preset | None:
    """The preset called ``name``; None for ``custom`` (explicit model settings)."""
    if name == CUSTOM:
        return None
    try:
        return PRESETS[name]
    except KeyError:
        raise UserError(
            f"unknown model preset {name!r}: choose one of {', '.join(preset_names())}"
        ) from None


# SigLIP's text tower was trained on texts padded to 64 tokens and reads its embedding from
# the last position, so padding to the longest text in the batch (sentence-transformers'
# default) changes every text vector. Measured on a tiny SigLIP: up to 0.45 per component.
FIXED_TEXT_LENGTH = {"siglip": 64}


def tune_loaded_model(model: Any) -> None:
    """Processing a checkpoint needs beyond ``SentenceTransformer(path)``; call after loading.

    Keyed by architecture (``model_type``), not by name, so a custom path of the same
    architecture gets the same treatment.
    """
    modules = list(model) if hasattr(model, "__iter__") else []
    if not modules or not hasattr(modules[0], "processing_kwargs"):
        return
    first: Any = modules[0]
    config = getattr(getattr(first, "model", None), "config", None)
    length = FIXED_TEXT_LENGTH.get(str(getattr(config, "model_type", "")))
    if length is None:
        return
    text = dict(first.processing_kwargs.get("text") or {})
    text.update(padding="max_length", max_length=length, truncation=True)
    first.processing_kwargs = {**first.processing_kwargs, "text": text}


def routable_pair(image_model: str, text_model: str) -> bool:
    """Whether English queries may use the image model's text tower for this pair."""
    return any(
        p.routable and (p.image_model, p.text_model) == (image_model, text_model)
        for p in PRESETS.values()
    )
