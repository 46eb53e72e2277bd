"""English queries through CLIP's own text tower, everything else through the multilingual one.

The default multilingual text model was distilled onto ``clip-ViT-B-32``'s text space, so
both text towers can query the same catalog; CLIP's own tower is markedly better on English
(Babel-ImageNet EN zero-shot 63.4 against 39.5, see docs/quality.md) and useless on other
languages. ``RoutingTextEncoder`` sends each query of a batch to one of them: confidently
English → the image model, anything else → the multilingual model, one call per tower and
the rows put back in the caller's order.

Routing is only offered where the catalog says both towers may query it (recorded by
``build`` for the default pair) or, for a catalog built before that record existed, where
the configured pair is one the presets mark as sharing a space.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from search.encoders import Encoder, load_encoder
from search.language import default_detector
from search.presets import routable_pair
from search.settings import Settings

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

IsEnglish = Callable[[str], bool]


class RoutingTextEncoder:
    """An ``Encoder`` over two text towers that share one vector space."""

    def __init__(self, english: Encoder, multilingual: Encoder, is_english: IsEnglish) -> None:
        self.english = english
        self.multilingual = multilingual
        self.is_english = is_english
        self.name = multilingual.name  # what the catalog records as its text model

    @property
    def dim(self) -> int:
        return self.multilingual.dim

    def routes(self, texts: Sequence[str]) -> list[bool]:
        """True where the query goes to the English (image model's) tower."""
        return [self.is_english(text) for text in texts]

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return self.multilingual.encode_texts([])
        english = self.routes(texts)
        out: np.ndarray | None = None
        for tower, wanted in ((self.english, True), (self.multilingual, False)):
            positions = [i for i, flag in enumerate(english) if flag is wanted]
            if not positions:
                continue
            vectors = tower.encode_texts([texts[i] for i in positions])
            if out is None:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[positions] = vectors
        assert out is not None  # texts is not empty, so one tower ran
        return out

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """Images belong to the image model, which is the English tower here."""
        return self.english.encode_images(images)


def allowed_text_encoders(image_model: str, text_model: str) -> list[str]:
    """The text encoders that may query a catalog built with these models (recorded by build)."""
    if image_model != text_model and routable_pair(image_model, text_model):
        return [text_model, image_model]
    return [text_model]


def routing_allowed(settings: Settings, allowed: Sequence[str] | None = None) -> bool:
    """Whether English queries may use the image model's text tower.

    ``allowed`` is the catalog's record of the text encoders that may query it; None (an
    older catalog, or none at hand) falls back to the presets' knowledge of the pair.
    """
    if not settings.route_english or settings.image_model == settings.text_model:
        return False
    if allowed is not None:
        return settings.image_model in allowed
    return routable_pair(settings.image_model, settings.text_model)


def build_text_encoder(
    settings: Settings,
    image_encoder: Encoder | None = None,
    allowed: Sequence[str] | None = None,
) -> Encoder:
    """The text encoder queries should use: routing where allowed, else the text model.

    Pass the searcher's ``image_encoder`` so that CLIP is loaded once for both its towers.
    Nothing heavy happens here: the encoders and the detector load on first use.
    """
    multilingual = load_encoder(
        settings.text_model,
        settings.device,
        settings.resolved_text_precision,
        settings.model_cache_dir,
    )
    if not routing_allowed(settings, allowed):
        return multilingual
    english = image_encoder or load_encoder(
        settings.image_model, settings.device, settings.precision, settings.model_cache_dir
    )
    detector = default_detector()
    threshold = settings.english_min_confidence
    log.debug("English queries go to %s (confidence >= %.2f)", english.name, threshold)
    return RoutingTextEncoder(
        english, multilingual, lambda text: detector.is_english(text, threshold)
    )
