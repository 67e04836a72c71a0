"""Grayscale PNGs with nothing in them but pixels, all of one byte size for one image size.

Written by hand rather than with PIL or matplotlib so that no ancillary chunk (tEXt, iTXt,
pHYs, gAMA, tIME, software names) can slip in, and stored without compression (deflate
"stored" blocks), so that the file size depends on the width and height only: a compressed
PNG is smaller when the image is smoother, and real and synthetic crops may differ in
smoothness, which a reader could read off the page source.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CRITICAL = (b"IHDR", b"IDAT", b"IEND")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_gray(pixels: np.ndarray) -> bytes:
    """An 8-bit grayscale PNG of a 2-D uint8 array (rows top to bottom)."""
    array = np.asarray(pixels)
    if array.ndim != 2 or array.dtype != np.uint8 or 0 in array.shape:
        raise ValueError(f"expected a non-empty 2-D uint8 array, got {array.dtype} {array.shape}")
    height, width = array.shape
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray, no interlace
    rows = np.zeros((height, width + 1), dtype=np.uint8)  # filter byte 0 (None) on each row
    rows[:, 1:] = array
    data = zlib.compress(rows.tobytes(), level=0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", data) + _chunk(b"IEND", b"")


def chunk_types(png: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order (to check that nothing but pixels is in it)."""
    if not png.startswith(SIGNATURE):
        raise ValueError("not a PNG (bad signature)")
    kinds = []
    at = len(SIGNATURE)
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        kinds.append(png[at + 4 : at + 8])
        at += 12 + length
    return kinds


def decode_gray(png: bytes) -> np.ndarray:
    """The pixels of a PNG written by `encode_gray` (for tests and checks)."""
    if chunk_types(png) != list(CRITICAL):
        raise ValueError(f"unexpected chunks {chunk_types(png)}")
    at = len(SIGNATURE)
    width, height = struct.unpack(">II", png[at + 8 : at + 16])
    at += 12 + 13
    (length,) = struct.unpack(">I", png[at : at + 4])
    raw = zlib.decompress(png[at + 8 : at + 8 + length])
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        raise ValueError("row filters other than None are not written by encode_gray")
    return rows[:, 1:].copy()
