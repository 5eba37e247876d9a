"""A small PNG reader for the chart tests (no imaging library is pinned): zlib + numpy.

Reads 8-bit non-interlaced grayscale/RGB/RGBA (what Chromium writes) into an array of shape
(height, width, channels), undoing the five PNG row filters (RFC 2083 section 6).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # colour type -> samples per pixel


def read_png(data: bytes) -> np.ndarray:
    """Pixels of an 8-bit PNG; raises ValueError for anything malformed or unsupported."""
    if not data.startswith(SIGNATURE):
        raise ValueError("not a PNG: bad signature")
    pos, chunks, idat = len(SIGNATURE), {}, bytearray()
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"bad CRC in {kind!r} chunk")
        if kind == b"IDAT":
            idat += body
        chunks.setdefault(kind, body)
        pos += 12 + length
        if kind == b"IEND":
            break
    width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    if depth != 8 or ctype not in _CHANNELS or interlace:
        raise ValueError(
            f"unsupported PNG: depth {depth}, colour type {ctype}, interlace {interlace}"
        )
    bpp = _CHANNELS[ctype]
    raw = np.frombuffer(zlib.decompress(bytes(idat)), dtype=np.uint8)
    stride = width * bpp
    rows = raw.reshape(height, stride + 1)
    out = np.zeros((height, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.uint8)
    for y in range(height):
        kind, line = rows[y, 0], rows[y, 1:]
        if kind == 0:
            cur = line.copy()
        elif kind == 1:  # Sub: running sum per channel
            cur = _sub(line, bpp)
        elif kind == 2:  # Up
            cur = line + prev
        elif kind in (3, 4):  # Average, Paeth: sequential along the row
            cur = _sequential(line, prev, bpp, paeth=kind == 4)
        else:
            raise ValueError(f"bad filter type {kind} in row {y}")
        out[y] = cur
        prev = cur
    return out.reshape(height, width, bpp)


def _sub(line: np.ndarray, bpp: int) -> np.ndarray:
    lanes = line.reshape(-1, bpp).astype(np.uint64)
    return (np.cumsum(lanes, axis=0) % 256).astype(np.uint8).reshape(-1)


def _sequential(line: np.ndarray, prev: np.ndarray, bpp: int, *, paeth: bool) -> np.ndarray:
    cur = bytearray(line.tobytes())
    up = prev.tobytes()
    for i in range(len(cur)):
        a = cur[i - bpp] if i >= bpp else 0
        b = up[i]
        if paeth:
            c = up[i - bpp] if i >= bpp else 0
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        else:
            pred = (a + b) // 2
        cur[i] = (cur[i] + pred) & 0xFF
    return np.frombuffer(bytes(cur), dtype=np.uint8)
