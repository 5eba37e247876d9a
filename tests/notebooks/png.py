"""A tiny PNG reader for the tests (no imaging library in the environment): the header's size
and whether the image has content (many distinct byte values in its pixel data)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_info(path: Path) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the decompressed image data); raises
    AssertionError when the file is not a well-formed PNG (chunk CRCs checked)."""
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, f"{path} is not a PNG"
    pos, width, height, idat = 8, 0, 0, b""
    seen_end = False
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in {kind!r}"
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            seen_end = True
        pos += 12 + length
    assert seen_end and width and height, f"{path}: truncated PNG"
    pixels = zlib.decompress(idat)
    return width, height, len(set(pixels))
