"""Model presets: coherent (image model, text model) sets picked by one name.

A preset only names models that sentence-transformers loads natively through
``SentenceTransformer(name_or_path)`` (no ``trust_remote_code``, no extra package), so the
production encoder path is the same for all of them. Each one's architecture was checked
offline with a tiny random model of the same class (``tests/test_presets.py``); published
quality, size and speed figures are in docs/quality.md.

``routable`` says that the image model's own text tower shares the vector space of the
multilingual text model, so English queries may be sent there (``search.routing``).
"""

from __future__ import annotations

from dataclasses import dataclass

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
            "siglip-base-multilingual",
            image_model="google/siglip-base-patch16-256-multilingual",
            text_model="google/siglip-base-patch16-256-multilingual",
            routable=False,
            summary="mSigLIP B/16 at 256 px, SigLIP trained on multilingual WebLI",
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


def routable_pair(image_model: str, text_model: str) -> bool:
    """Whether English queries may use the image model's text tower for this pair."""
    return any(
        p.routable and (p.image_model, p.text_model) == (image_model, text_model)
        for p in PRESETS.values()
    )
