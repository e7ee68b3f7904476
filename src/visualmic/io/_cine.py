"""Phantom (Vision Research) ``.cine`` files, unpacked and bit-packed.

Layout (little-endian; Vision Research "Cine File Format"):

* ``CINEFILEHEADER`` (44 bytes at 0): ``"CI"``, header size, ``Compression``
  (0 grey or interpolated colour, 1 JPEG, 2 raw Bayer), version 1, first image
  number, image counts, and the offsets of the three structures below;
* ``BITMAPINFOHEADER`` (40 bytes): width, height, bits per pixel and
  ``biCompression``: 0 unpacked (8 or 16 bit grey, 24 or 48 bit BGR colour),
  256 packed 10 bit ("P10", four pixels in five bytes), 1024 packed 12 bit
  ("P12L", two pixels in three bytes), both most significant bit first;
* ``SETUP``: ``"ST"`` mark at byte 140, its length at 142, the vertical flip
  flag at 760, ``FrameRate`` (integer fps) at 768, the colour filter array
  code at 808, ``RealBPP`` (bits used) at 896 and, in files of software 751
  or later (length >= 13480), ``dFrameRate`` (a double) at 13472;
* the image offsets table: one 64-bit file offset per image;
* at each offset, the image's annotation: ``AnnotationSize`` (4 bytes,
  counting itself and the image size field), annotation data, ``ImageSize``
  (4 bytes), then the pixels.

Rows are stored bottom-up unless the flip flag says otherwise; packed images
the other way round (as FFmpeg's demuxer reads them).  Grey levels are kept
as stored: 16-bit images keep their ``RealBPP`` range (no black/white level
rescaling), and packed 10-bit pixels keep the camera's 10-bit codes (Phantom
compands 12-bit light levels into them with a fixed monotonic table; a
fixed monotonic mapping of grey levels does not move the texture, so motion
is unchanged).  Interpolated colour (24/48 bit) is reduced to luminance;
raw Bayer and JPEG cines raise a clear error.

Why not pycine-lite
-------------------
pycine-lite (LGPL, 20 kB, numpy only) reads the same headers, but rescales
every frame to the black/white levels with ``np.interp`` and truncation
(grey levels no longer as stored), skips the per-image annotation wrongly
when it is longer than 8 bytes, and does not detect truncated files.  This
small reader needs nothing but NumPy, streams frames in blocks, and is
tested against FFmpeg's cine demuxer on unpacked files.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from .._errors import VideoError
from ._camera import FrameFileSource, PixelLayout

__all__ = ["CineSource"]

_HEADER = struct.Struct("<2sHHHiIiIIII8s")  # CINEFILEHEADER, 44 bytes
_BITMAP = struct.Struct("<IiiHHIIiiII")  # BITMAPINFOHEADER, 40 bytes
_SETUP_MIN = 900  # up to RealBPP
_BI_PACKED10, _BI_PACKED12 = 256, 1024


def _u32(buf: bytes, offset: int) -> int:
    return struct.unpack_from("<I", buf, offset)[0]


class CineSource(FrameFileSource):
    """Frames of a Phantom ``.cine`` file."""

    def __init__(self, path: Path, warn):
        super().__init__(warn)
        self.path = path = Path(path)
        name = path.name
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(_HEADER.size)
            if len(head) < _HEADER.size or head[:2] != b"CI":
                raise VideoError(f"{name} is not a Phantom .cine file (no 'CI' header); give a "
                                 ".cine file saved by PCC or another video")
            (_, hsize, compression, version, _first, _total, _first_no, count, off_bmp,
             off_setup, off_offsets, _trig) = _HEADER.unpack(head)
            if hsize < _HEADER.size or version != 1 or not (
                    0 < off_bmp < size and 0 < off_setup < size and 0 < off_offsets <= size):
                raise VideoError(f"{name}: corrupt CINEFILEHEADER (version {version}, offsets "
                                 f"{off_bmp}/{off_setup}/{off_offsets} in a {size}-byte file)")
            if compression == 1:
                raise VideoError(f"{name} is a JPEG-compressed cine: lossy and not supported; "
                                 "save the cine uncompressed (RAW) in PCC")
            if count < 1:
                raise VideoError(f"{name} holds no images (ImageCount {count})")
            f.seek(off_bmp)
            bmp = f.read(_BITMAP.size)
            f.seek(off_setup)
            setup = f.read(14000)
            layout = self._layout(name, bmp, setup, compression)
            self.layout = layout
            self._offsets = self._read_offsets(f, name, off_offsets, count, size)
            self.exact_count = self._complete_frames(f, name, count, size)
        self._parse_setup(setup)
        self.input_shape = layout.shape
        self.frame_count_hint = count
        self.lossless = True

    # ------------------------------------------------------------------ header

    def _layout(self, name: str, bmp: bytes, setup: bytes, compression: int) -> PixelLayout:
        if len(bmp) < _BITMAP.size or len(setup) < _SETUP_MIN or setup[140:142] != b"ST":
            raise VideoError(f"{name}: the image or SETUP header is missing or corrupt; the file "
                             "is truncated or not a .cine file")
        (_bsize, width, height, _planes, bitcount, bicompr, _simg, _xp, _yp, _cu,
         _ci) = _BITMAP.unpack(bmp)
        length = struct.unpack_from("<H", setup, 142)[0]
        if width < 1 or height == 0 or length < _SETUP_MIN:
            raise VideoError(f"{name}: corrupt header (image {width}x{height}, SETUP length "
                             f"{length})")
        flip_v = _u32(setup, 760) != 0
        packed = bicompr in (_BI_PACKED10, _BI_PACKED12)
        bottom_up = (height > 0) and (flip_v == packed)  # FFmpeg's rule
        shape = (abs(height), width)
        if compression == 2:
            raise VideoError(f"{name} holds raw colour (Bayer) images, which are not supported; "
                             "save it from PCC as an interpolated colour or grey cine")
        if bicompr == _BI_PACKED10:
            kind = "p10"
        elif bicompr == _BI_PACKED12:
            kind = "p12"
        elif bicompr == 0 and bitcount in (8, 16, 24, 48):
            kind = {8: "u8", 16: "u16le", 24: "bgr24", 48: "bgr48"}[bitcount]
        else:
            raise VideoError(f"{name}: {bitcount}-bit images with compression {bicompr} are not "
                             "supported (8, 16, packed 10 or 12-bit grey; 24 or 48-bit colour)")
        self.codec = "cine-" + kind
        self._bits = {"u8": 8, "u16le": 16, "p10": 10, "p12": 12, "bgr24": 8, "bgr48": 16}[kind]
        return PixelLayout(kind, shape, bottom_up=bottom_up)

    def _parse_setup(self, setup: bytes) -> None:
        length = struct.unpack_from("<H", setup, 142)[0]
        rate = float(_u32(setup, 768))
        if length >= 13480 and len(setup) >= 13480:
            precise = struct.unpack_from("<d", setup, 13472)[0]
            if np.isfinite(precise) and precise > 0:
                rate = precise
        self.source_fps = rate if rate > 0 else None
        real = _u32(setup, 896)
        self.bit_depth = real if 0 < real <= self._bits else self._bits
        if self.layout.kind.startswith("bgr"):
            self.check_finite = False

    def _read_offsets(self, f, name: str, at: int, count: int, size: int) -> np.ndarray:
        have = min(count, max(0, (size - at) // 8))
        if have == 0:
            raise VideoError(f"{name}: the image offsets table is missing; the file is truncated")
        f.seek(at)
        offsets = np.frombuffer(f.read(8 * have), "<i8")
        if np.any(offsets <= 0) or np.any(np.diff(offsets) <= 0):
            raise VideoError(f"{name}: the image offsets table is corrupt (offsets not increasing)")
        return offsets

    def _frame_end(self, f, i: int, size: int) -> int | None:
        """File offset just past image ``i``'s pixels, or None when its header is unreadable."""
        off = int(self._offsets[i])
        if off + 8 > size:
            return None
        f.seek(off)
        asize = _u32(f.read(4), 0)
        if asize < 8 or off + asize > size:
            return None
        f.seek(off + asize - 4)
        isize = _u32(f.read(4), 0)
        if isize < self.layout.frame_bytes:
            raise VideoError(f"{self.path.name}: image {i} holds {isize} bytes, less than a "
                             f"{self.layout.frame_bytes}-byte frame; the header is corrupt")
        return off + asize + self.layout.frame_bytes

    def _complete_frames(self, f, name: str, count: int, size: int) -> int:
        """Images wholly in the file (binary search: offsets increase); warn when fewer than announced."""
        n = len(self._offsets)
        end = self._frame_end(f, n - 1, size)
        if end is not None and end <= size:
            have = n
        else:
            lo, hi = 0, n  # frames [0, lo) complete, [hi, n) not
            while lo < hi:
                mid = (lo + hi) // 2
                e = self._frame_end(f, mid, size)
                if e is not None and e <= size:
                    lo = mid + 1
                else:
                    hi = mid
            have = lo
        if have == 0:
            raise VideoError(f"{name}: not one complete image in the file; it is truncated or "
                             "corrupt")
        if have < count:
            self._warn(f"{name} holds {have} complete images but its header announces {count}; "
                       f"the file is truncated: using frames 0-{have - 1}")
        return have

    # ------------------------------------------------------------------ frames

    def _read(self, f, t0: int, t1: int, out: np.ndarray) -> None:
        for k, i in enumerate(range(t0, t1)):
            off = int(self._offsets[i])
            f.seek(off)
            asize = _u32(f.read(4), 0)
            f.seek(off + asize)
            got = f.readinto(memoryview(out[k]).cast("B"))
            if got != out.shape[1]:
                raise VideoError(f"{self.path.name}: the file ended inside image {i}; it was "
                                 "truncated while being read")
