"""Shared machinery of the camera-file readers: bit unpacking and a streaming frame source.

High-speed cameras store frames uncompressed, one after another, in 8 or 16
bits per pixel or *bit-packed*: 12-bit pixels two in three bytes (Photron
MRAW, Phantom "P12L"), 10-bit pixels four in five bytes (Phantom "P10").  In
both packings the bits of consecutive pixels follow each other most
significant bit first (a big-endian bit stream)::

    12 bit:  byte0 = p0[11:4]   byte1 = p0[3:0] p1[11:8]   byte2 = p1[7:0]
    10 bit:  byte0 = p0[9:2]    byte1 = p0[1:0] p1[9:4]    byte2 = p1[3:0] p2[9:6]
             byte3 = p2[5:0] p3[9:8]                       byte4 = p3[7:0]

This is the layout pyMRAW documents for Photron 12-bit files (first pixel =
``byte0 << 4 | byte1 >> 4``) and the one pycine uses for Phantom packed files.

:class:`FrameFileSource` streams such frames in blocks of consecutive frames
read with ordinary file reads (``seek`` + ``readinto``): memory is bounded by
the block size whatever the file's size, and nothing is read twice.  Its
subclasses (:mod:`._photron`, :mod:`._cine`) parse a header and say where each
frame's pixels are.  The source follows the interface of
:class:`visualmic.io.video.VideoReader`'s sources (``frames``/``blocks`` and
the metadata attributes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from .._errors import VideoError

__all__ = ["unpack12", "unpack10", "PixelLayout", "FrameFileSource", "LUMA_BGR"]

#: Luminance weights (ITU-R BT.601) for B, G, R samples (BMP/CINE byte order).
LUMA_BGR = np.array([0.114, 0.587, 0.299])


def unpack12(raw: np.ndarray) -> np.ndarray:
    """Unpack 12-bit pixels stored two in three bytes, most significant bit first.

    Parameters
    ----------
    raw : np.ndarray [shape=(..., 3 n), dtype=uint8]
        Packed bytes (the last axis is a whole number of byte triplets).

    Returns
    -------
    np.ndarray [shape=(..., 2 n), dtype=uint16]
        Pixel values 0..4095.

    Examples
    --------
    >>> [hex(v) for v in unpack12(np.array([0xAB, 0xCD, 0xEF], np.uint8))]
    ['0xabc', '0xdef']
    """
    trip = raw.reshape(raw.shape[:-1] + (-1, 3)).astype(np.uint16)
    out = np.empty(trip.shape[:-1] + (2,), np.uint16)
    out[..., 0] = (trip[..., 0] << 4) | (trip[..., 1] >> 4)
    out[..., 1] = ((trip[..., 1] & 0x0F) << 8) | trip[..., 2]
    return out.reshape(raw.shape[:-1] + (-1,))


def unpack10(raw: np.ndarray) -> np.ndarray:
    """Unpack 10-bit pixels stored four in five bytes, most significant bit first.

    Parameters
    ----------
    raw : np.ndarray [shape=(..., 5 n), dtype=uint8]
        Packed bytes (the last axis is a whole number of 5-byte groups).

    Returns
    -------
    np.ndarray [shape=(..., 4 n), dtype=uint16]
        Pixel values 0..1023.

    Examples
    --------
    >>> unpack10(np.array([0xFF, 0xC0, 0x00, 0x00, 0x01], np.uint8)).tolist()
    [1023, 0, 0, 1]
    """
    grp = raw.reshape(raw.shape[:-1] + (-1, 5)).astype(np.uint16)
    out = np.empty(grp.shape[:-1] + (4,), np.uint16)
    out[..., 0] = (grp[..., 0] << 2) | (grp[..., 1] >> 6)
    out[..., 1] = ((grp[..., 1] & 0x3F) << 4) | (grp[..., 2] >> 4)
    out[..., 2] = ((grp[..., 2] & 0x0F) << 6) | (grp[..., 3] >> 2)
    out[..., 3] = ((grp[..., 3] & 0x03) << 8) | grp[..., 4]
    return out.reshape(raw.shape[:-1] + (-1,))


class PixelLayout:
    """How one frame's pixels are stored.

    Parameters
    ----------
    kind : {"u8", "u16le", "u16be", "p10", "p12", "bgr24", "bgr48"}
        8-bit, 16-bit little- or big-endian, packed 10- or 12-bit grey; or
        interleaved 8- or 16-bit B, G, R colour (reduced to luminance).
    shape : tuple of int
        ``(H, W)`` in pixels.
    bottom_up : bool
        Rows are stored last row first (BMP convention); they are flipped.
    """

    _BITS = {"u8": 8, "u16le": 16, "u16be": 16, "p10": 10, "p12": 12, "bgr24": 24, "bgr48": 48}

    def __init__(self, kind: str, shape: tuple[int, int], *, bottom_up: bool = False):
        self.kind, self.shape, self.bottom_up = kind, (int(shape[0]), int(shape[1])), bottom_up
        bits = self._BITS[kind] * self.shape[0] * self.shape[1]
        if bits % 8:
            raise VideoError(
                f"a {self.shape[1]}x{self.shape[0]} frame of {self._BITS[kind]}-bit pixels is not a "
                "whole number of bytes; this frame size is not supported"
            )
        self.frame_bytes = bits // 8

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Turn ``(t, frame_bytes)`` uint8 into ``(t, H, W)`` grey levels (as stored)."""
        t = raw.shape[0]
        h, w = self.shape
        kind = self.kind
        if kind == "u8":
            pix = raw
        elif kind in ("u16le", "u16be"):
            pix = raw.view("<u2" if kind == "u16le" else ">u2")
        elif kind == "p12":
            pix = unpack12(raw)
        elif kind == "p10":
            pix = unpack10(raw)
        else:  # interleaved colour -> float64 luminance
            dtype = np.uint8 if kind == "bgr24" else np.dtype("<u2")
            pix = raw.view(dtype).reshape(t, h * w, 3) @ LUMA_BGR
        pix = pix.reshape(t, h, w)
        return pix[:, ::-1] if self.bottom_up else pix


class FrameFileSource:
    """Frames of one size stored uncompressed or bit-packed in one file, streamed in blocks.

    Subclasses set the metadata attributes (as the other video sources do), a
    :class:`PixelLayout` in ``self.layout`` and ``self.exact_count``, and
    implement :meth:`_read` (or keep the contiguous default: frame ``i`` at
    ``self.data_offset + i * frame_bytes``).
    """

    path: Path | None = None
    input_shape: tuple[int, int] = (0, 0)
    codec: str | None = None
    lossless: bool | None = True
    bit_depth: int | None = None
    frame_count_hint: int = 0
    source_fps: float | None = None
    exact_count: int | None = None
    check_finite: bool = False
    data_offset: int = 0
    layout: PixelLayout

    def __init__(self, warn: Callable[[str], None]):
        self._warn = warn

    def _read(self, f, t0: int, t1: int, out: np.ndarray) -> None:
        """Fill ``out`` (``(t1 - t0, frame_bytes)`` uint8) with the bytes of frames ``[t0, t1)``."""
        f.seek(self.data_offset + t0 * self.layout.frame_bytes)
        got = f.readinto(memoryview(out).cast("B"))
        if got != out.nbytes:
            raise VideoError(
                f"{self.path.name}: the file ended inside frame {t0 + got // self.layout.frame_bytes}; "
                "it was truncated while being read"
            )

    def frames(self, start: int, end: int | None, rows: slice, cols: slice) -> Iterator[np.ndarray]:
        """Yield 2-D cropped frames ``start <= i < end``."""
        for block in self.blocks(start, end, rows, cols, 1):
            yield block[0]

    def blocks(self, start: int, end: int | None, rows: slice, cols: slice,
               size: int) -> Iterator[np.ndarray]:
        """Yield float32 blocks ``(t <= size, h, w)`` of consecutive frames, read chunk by chunk."""
        stop = self.exact_count if end is None else min(end, self.exact_count)
        if start >= stop:
            return
        size = max(1, min(int(size), stop - start))
        buf = np.empty((size, self.layout.frame_bytes), np.uint8)
        with open(self.path, "rb") as f:
            for t0 in range(start, stop, size):
                t1 = min(t0 + size, stop)
                raw = buf[: t1 - t0]
                self._read(f, t0, t1, raw)
                yield np.asarray(self.layout.decode(raw)[:, rows, cols], dtype=np.float32)
