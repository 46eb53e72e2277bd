"""A deterministic encoder whose meaning we control: colour words ↔ colour images.

Images map to their closeness to a small palette; texts map to the palette colours they
name, in several languages. So "red dress", "красное платье" and "rotes Kleid" all find
the red pictures — a ranking we can assert on without real model weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from search.encoders import l2_normalise, register_encoder

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "black": (10, 10, 10),
    "white": (245, 245, 245),
}
COLOURS = list(PALETTE)

WORDS: dict[str, str] = {}
for colour, words in {
    "red": "red красный красное красная красные rot rote rotes roten rouge rojo roja 赤 红",
    "green": "green зелёный зеленый зелёное зеленое grün grüne vert verte verde 緑 绿",
    "blue": "blue синий синее синяя голубой blau blaue bleu azul 青 蓝",
    "yellow": "yellow жёлтый желтый жёлтое gelb gelbe jaune amarillo 黄",
    "black": "black чёрный черный чёрное schwarz noir negro 黒 黑",
    "white": "white белый белое weiß weiss blanc blanco 白",
}.items():
    for word in words.split():
        WORDS[word] = colour

DIM = len(COLOURS) + 1  # one spare dimension carries "no colour mentioned"


class ColorEncoder:
    def __init__(self, name: str = "color:v1") -> None:
        self.name = name
        self.calls: list[tuple[str, int]] = []  # ("texts"|"images", batch size) per call

    @property
    def dim(self) -> int:
        return DIM

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(("texts", len(texts)))
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in text.lower().replace(",", " ").split():
                colour = WORDS.get(token.strip(".!?"))
                if colour is not None:
                    out[row, COLOURS.index(colour)] += 1.0
            out[row, -1] = 0.05  # keeps colourless queries non-zero
        return l2_normalise(out)

    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        self.calls.append(("images", len(images)))
        out = np.zeros((len(images), DIM), dtype=np.float32)
        for row, image in enumerate(images):
            mean = np.asarray(image.convert("RGB").resize((8, 8)), dtype=np.float32)
            mean = mean.reshape(-1, 3).mean(axis=0)
            for col, rgb in enumerate(PALETTE.values()):
                distance = float(np.linalg.norm(mean - np.asarray(rgb, dtype=np.float32)))
                out[row, col] = np.exp(-distance / 40.0)
        return l2_normalise(out)


def register() -> None:
    """Make ``color:...`` model names load this encoder, like real hub names load ST models."""
    register_encoder("color", ColorEncoder)
