"""Every kind of picture users have ends up RGB, upright, and small enough to be fast."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from indexer.decode import DecodeError, decode_image


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _centre(image: Image.Image) -> tuple[int, ...]:
    return tuple(int(c) for c in image.getpixel((image.width // 2, image.height // 2)))


def test_big_jpeg_is_decoded_at_reduced_size_keeping_original_dimensions() -> None:
    data = _encode(Image.new("RGB", (1600, 1067), (200, 10, 10)), "JPEG")
    decoded = decode_image(data, min_side=224)
    assert (decoded.width, decoded.height) == (1600, 1067)
    assert min(decoded.image.size) >= 224
    assert decoded.image.width <= 800  # draft mode skipped most of the pixels
    assert decoded.image.mode == "RGB"


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (400, 200), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise when shown
    decoded = decode_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert decoded.image.size[0] < decoded.image.size[1]
    assert (decoded.width, decoded.height) == (200, 400)


def test_transparent_png_goes_onto_white() -> None:
    rgba = Image.new("RGBA", (50, 50), (255, 0, 0, 0))
    decoded = decode_image(_encode(rgba, "PNG"))
    assert _centre(decoded.image) == (255, 255, 255)


@pytest.mark.parametrize("mode", ["P", "L", "1", "CMYK", "LA"])
def test_other_modes_become_rgb(mode: str) -> None:
    fmt = "TIFF" if mode == "CMYK" else "PNG"
    image = Image.new("RGB", (40, 40), (10, 200, 10)).convert(mode)
    decoded = decode_image(_encode(image, fmt))
    assert decoded.image.mode == "RGB"


def test_sixteen_bit_greyscale_is_scaled_to_eight_bits() -> None:
    ramp = np.tile(np.linspace(0, 65535, 64, dtype=np.uint16), (16, 1))
    image = Image.fromarray(ramp)
    decoded = decode_image(_encode(image, "PNG"))
    pixels = np.asarray(decoded.image)
    assert decoded.image.mode == "RGB" and pixels.max() == 255 and pixels.min() == 0


def test_animation_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (30, 30), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    decoded = decode_image(buffer.getvalue())
    r, _, b = _centre(decoded.image)
    assert r > 200 and b < 50


def test_bad_inputs_give_one_line_reasons() -> None:
    with pytest.raises(DecodeError, match=r"^empty file$"):
        decode_image(b"")
    with pytest.raises(DecodeError, match="not an image"):
        decode_image(b"<html>nope</html>")
    with pytest.raises(DecodeError, match="image too large"):
        decode_image(_encode(Image.new("L", (2000, 2000)), "PNG"), max_pixels=1_000_000)
