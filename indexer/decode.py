"""Turn one image file into an RGB picture the encoder can take, or a one-line reason why not.

Big JPEGs are decoded at reduced scale (draft mode: the DCT skips detail CLIP never sees),
EXIF orientation is applied, palette/CMYK/16-bit/alpha images end up RGB on white, and
animations give their first frame. Dimensions are checked before any pixel is decoded.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

# Our own limit is checked explicitly (with a clear message); Pillow's global check would
# only duplicate it with a warning.
Image.MAX_IMAGE_PIXELS = None


class DecodeError(Exception):
    """The file is not a usable image; ``str()`` is the one-line reason."""


@dataclass(frozen=True)
class Decoded:
    image: Image.Image  # RGB, possibly reduced
    width: int  # original dimensions, after EXIF orientation
    height: int


def decode_image(data: bytes, min_side: int = 256, max_pixels: int = 100_000_000) -> Decoded:
    if not data:
        raise DecodeError("empty file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise DecodeError(
                    f"image too large: {width}x{height} pixels exceeds the limit of "
                    f"{max_pixels} (T2I_MAX_IMAGE_PIXELS)"
                )
            if (
                isinstance(image, ImageFile.ImageFile)
                and image.format == "JPEG"
                and min(width, height) > 2 * min_side
            ):
                scale = min_side / min(width, height)
                image.draft("RGB", (max(1, int(width * scale)), max(1, int(height * scale))))
            image.seek(0)  # first frame of an animation
            image.load()
            oriented = ImageOps.exif_transpose(image)
            if oriented is not None:
                image = oriented
    except DecodeError:
        raise
    except UnidentifiedImageError as exc:
        raise DecodeError("not an image (unrecognised format)") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        raise DecodeError(f"corrupt or truncated image: {_first_line(exc)}") from exc
    swapped = image.size[0] < image.size[1] and width > height
    if swapped or (image.size[0] > image.size[1] and width < height):
        width, height = height, width
    return Decoded(_shrink(to_rgb(image), min_side), width, height)


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB for any mode: transparency composited onto white, 16-bit scaled to 8-bit."""
    if image.mode == "RGB":
        return image
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        image = _to_8bit(image)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    import numpy as np

    pixels = np.asarray(image.convert("I") if image.mode != "F" else image, dtype=np.float64)
    low, high = float(pixels.min()), float(pixels.max())
    scaled = (pixels - low) * (255.0 / (high - low)) if high > low else np.zeros_like(pixels)
    return Image.fromarray(scaled.astype(np.uint8))


def _shrink(image: Image.Image, min_side: int) -> Image.Image:
    """Cheap integer reduction of big images; the encoder's own resize does the rest."""
    factor = min(image.size) // (2 * min_side)
    return image.reduce(factor) if factor >= 2 else image


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
