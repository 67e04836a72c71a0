"""The crops' PNGs hold pixels and nothing else, and their size says nothing of the content."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from robustbench_liver.turing.png import chunk_types, decode_gray, encode_gray


def test_round_trip_through_our_decoder_and_pil():
    pixels = np.arange(12 * 7, dtype=np.uint8).reshape(7, 12) * 3
    png = encode_gray(pixels)
    assert np.array_equal(decode_gray(png), pixels)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "L" and image.size == (12, 7)
        assert np.array_equal(np.asarray(image), pixels)
        assert image.info == {}  # no text, no dpi, no gamma, no software name


def test_only_the_critical_chunks():
    png = encode_gray(np.zeros((5, 5), dtype=np.uint8))
    assert chunk_types(png) == [b"IHDR", b"IDAT", b"IEND"]
    for text in (b"tEXt", b"iTXt", b"zTXt", b"pHYs", b"tIME", b"Software", b"matplotlib"):
        assert text not in png


def test_the_byte_size_depends_on_the_image_size_only():
    rng = np.random.default_rng(0)
    flat = np.full((64, 64), 128, dtype=np.uint8)
    noisy = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    assert len(encode_gray(flat)) == len(encode_gray(noisy))


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 3), np.uint8)])
def test_refuses_what_it_cannot_write(bad):
    with pytest.raises(ValueError):
        encode_gray(bad)
