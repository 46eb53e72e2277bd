"""English queries go to the image model's text tower, all others to the multilingual model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from indexer.commands.build import build
from indexer.sources.folder import FolderSource
from search.catalog import Catalog
from search.encoders import register_encoder, unregister_encoder
from search.engine import Searcher
from search.routing import (
    RoutingTextEncoder,
    allowed_text_encoders,
    build_text_encoder,
    routing_allowed,
)
from search.settings import DEFAULT_IMAGE_MODEL, DEFAULT_TEXT_MODEL, Settings
from tests.fakes.color_encoder import ColorEncoder


class SpyEncoder(ColorEncoder):
    """The colour encoder, remembering every text batch it was asked to encode."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.texts: list[list[str]] = []

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.append(list(texts))
        return super().encode_texts(texts)

    @property
    def seen(self) -> list[str]:
        return [text for batch in self.texts for text in batch]


ENGLISH = "a woman in a long red dress"
RUSSIAN = "красное вечернее платье"
GERMAN = "ein rotes Kleid für den Abend"
MIXED = "red платье"


@pytest.fixture
def spies() -> Iterator[dict[str, SpyEncoder]]:
    """``spy:image`` and ``spy:text`` model names load these two shared spies."""
    towers = {"spy:image": SpyEncoder("spy:image"), "spy:text": SpyEncoder("spy:text")}
    register_encoder("spy", lambda name: towers[name])
    yield towers
    unregister_encoder("spy")


def test_one_call_per_tower_and_rows_back_in_order(spies: dict[str, SpyEncoder]) -> None:
    english, multilingual = spies["spy:image"], spies["spy:text"]
    router = RoutingTextEncoder(english, multilingual, lambda t: t.isascii())
    texts = [RUSSIAN, "red car", GERMAN, "blue sky", MIXED]
    vectors = router.encode_texts(texts)
    assert english.texts == [["red car", "blue sky"]]
    assert multilingual.texts == [[RUSSIAN, GERMAN, MIXED]]
    expected = ColorEncoder().encode_texts(texts)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert vectors.dtype == np.float32 and vectors.shape == (5, router.dim)


def test_a_batch_for_one_tower_never_calls_the_other(spies: dict[str, SpyEncoder]) -> None:
    router = RoutingTextEncoder(spies["spy:image"], spies["spy:text"], lambda t: False)
    router.encode_texts([GERMAN, RUSSIAN])
    assert spies["spy:image"].texts == []
    assert router.encode_texts([]).shape == (0, router.dim)


@pytest.fixture
def routed_catalog(tmp_path: Path, palette_dir: Path, spies: dict[str, SpyEncoder]) -> Settings:
    """A palette catalog whose record lets the image model's text tower query it."""
    settings = Settings(data_dir=tmp_path / "data", image_model="spy:image",
                        text_model="spy:text", _env_file=None)
    build(settings, FolderSource(palette_dir), ColorEncoder())
    with Catalog.create_or_open(settings.data_dir) as catalog:
        catalog.record_text_encoders(["spy:text", "spy:image"])  # as build does for CLIP
    return settings


def test_searcher_routes_by_language(
    routed_catalog: Settings, spies: dict[str, SpyEncoder]
) -> None:
    searcher = Searcher(routed_catalog)
    try:
        for query in (ENGLISH, RUSSIAN, GERMAN, MIXED):
            top = searcher.search_text(query, k=1)[0]
            assert Path(top.path).stem == "red"
    finally:
        searcher.close()
    assert spies["spy:image"].seen == [ENGLISH]
    assert spies["spy:text"].seen == [RUSSIAN, GERMAN, MIXED]


def test_with_routing_off_every_query_goes_to_the_text_model(
    routed_catalog: Settings, spies: dict[str, SpyEncoder]
) -> None:
    settings = routed_catalog.model_copy(update={"route_english": False})
    searcher = Searcher(settings)
    try:
        for query in (ENGLISH, RUSSIAN, GERMAN, MIXED):
            assert Path(searcher.search_text(query, k=1)[0].path).stem == "red"
    finally:
        searcher.close()
    assert spies["spy:image"].seen == []
    assert spies["spy:text"].seen == [ENGLISH, RUSSIAN, GERMAN, MIXED]


def test_a_catalog_that_does_not_allow_the_image_tower_is_never_routed(
    tmp_path: Path, palette_dir: Path, spies: dict[str, SpyEncoder]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", image_model="spy:image",
                        text_model="spy:text", _env_file=None)
    build(settings, FolderSource(palette_dir), ColorEncoder())
    with Catalog.open_readonly(settings.data_dir) as catalog:
        assert catalog.text_encoders() == ["spy:text"]  # not a pair known to share a space
    searcher = Searcher(settings)
    try:
        searcher.search_text(ENGLISH, k=1)
    finally:
        searcher.close()
    assert spies["spy:image"].seen == []


def test_build_records_both_towers_for_the_default_pair(
    tmp_path: Path, palette_dir: Path
) -> None:
    settings = Settings(data_dir=tmp_path / "data", _env_file=None)
    build(settings, FolderSource(palette_dir), ColorEncoder())  # real names, fake vectors
    with Catalog.open_readonly(settings.data_dir) as catalog:
        assert catalog.text_encoders() == [DEFAULT_TEXT_MODEL, DEFAULT_IMAGE_MODEL]
    image_tower = ColorEncoder(DEFAULT_IMAGE_MODEL)
    searcher = Searcher(settings, image_encoder=image_tower)  # nothing is loaded yet
    try:
        assert isinstance(searcher.text_encoder, RoutingTextEncoder)
        assert searcher.text_encoder.english is image_tower  # CLIP loaded once, both uses
        assert searcher.text_encoder.multilingual.name == DEFAULT_TEXT_MODEL
    finally:
        searcher.close()


def test_routing_is_offered_only_for_pairs_that_share_a_space() -> None:
    default = Settings(_env_file=None)
    assert routing_allowed(default)
    assert isinstance(build_text_encoder(default, ColorEncoder()), RoutingTextEncoder)
    assert not routing_allowed(default.model_copy(update={"route_english": False}))
    assert not routing_allowed(default, allowed=[DEFAULT_TEXT_MODEL])
    other = Settings(image_model="some/clip", text_model=DEFAULT_TEXT_MODEL, _env_file=None)
    assert not routing_allowed(other)
    single = Settings(model_preset="siglip2-base", _env_file=None)
    assert not routing_allowed(single)
    assert allowed_text_encoders(single.image_model, single.text_model) == [single.text_model]


def test_routed_encoder_encodes_images_with_the_image_model(
    spies: dict[str, SpyEncoder],
) -> None:
    router = RoutingTextEncoder(spies["spy:image"], spies["spy:text"], lambda t: True)
    router.encode_images([Image.new("RGB", (16, 16), (220, 30, 30))])
    assert spies["spy:image"].calls == [("images", 1)]
    assert spies["spy:text"].calls == []
