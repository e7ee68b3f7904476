"""Multi-page TIFF stacks: one file, many frames, read with tifffile.

Lab software (ImageJ/Fiji, camera viewers, microscopy) often saves a
recording as one TIFF file of many pages.  The file's first series
(:attr:`tifffile.TiffFile.series`) gives the frames: every axis before the
image axes ``YX`` (and samples ``S``) counts frames.  Uncompressed contiguous
series are memory-mapped; others are decoded page by page, so memory stays
bounded by one block of frames.  Grey levels are kept as stored (10- or
12-bit data in 16-bit pages keeps its range); RGB pages are reduced to
luminance.  The frame rate is taken from ImageJ's frame interval
(``finterval``, with its time unit) when present; ImageJ's ``fps`` field is
an animation playback speed and is ignored.  Otherwise give ``fps`` (``-s``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._errors import VideoError

__all__ = ["TiffStackSource", "TIFF_SUFFIXES"]

#: File-name suffixes read as TIFF stacks.
TIFF_SUFFIXES = (".tif", ".tiff")

_LUMA = np.array([0.299, 0.587, 0.114])
_TIME_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3, "msec": 1e-3,
               "us": 1e-6, "µs": 1e-6, "\u03bcs": 1e-6, "microsecond": 1e-6, "ns": 1e-9}
_LOSSY = ("JPEG", "WEBP", "LERC", "JPEGXL", "JPEGXR", "JPEG2000")


class TiffStackSource:
    """Frames of a (multi-page) TIFF file; the interface of the other video sources."""

    path: Path | None = None
    check_finite = False

    def __init__(self, path: Path, warn):
        import tifffile

        self._warn = warn
        self.path = path = Path(path)
        try:
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                page = series.pages[0] if series.pages else tif.pages[0]
                shape, axes = tuple(series.shape), series.axes
                dtype = np.dtype(series.dtype)
                offset = series.dataoffset
                byteorder = tif.byteorder
                compression = getattr(page.compression, "name", str(page.compression))
                bits = int(getattr(page, "bitspersample", dtype.itemsize * 8) or 0)
                meta = tif.imagej_metadata or {}
        except VideoError:
            raise
        except Exception as exc:  # noqa: BLE001 - tifffile raises many types on corrupt files
            raise VideoError(f"cannot read {path.name} as a TIFF: {exc}; the file is corrupt or "
                             "not a TIFF") from exc
        if dtype.kind not in "uif":
            raise VideoError(f"{path.name} holds {dtype} pixels; give integer or float grey levels")
        # Split the axes: frames (leading), image (Y, X) and samples (S, trailing).
        colour = axes.endswith("S") and shape[-1] in (3, 4)
        img = 3 if axes.endswith("S") else 2
        if len(shape) < img or axes[-img:][:2] != "YX":
            raise VideoError(f"{path.name} has axes {axes!r} of shape {shape}; give frames as "
                             "pages of grey or RGB images")
        lead = dict(zip(axes[:-img], shape[:-img]))
        if lead.get("C", 1) > 1:
            raise VideoError(f"{path.name} holds {lead['C']} channels per frame; save one channel "
                             "(or an RGB stack) as the video")
        self._frame_shape = shape[-img:]
        self.input_shape = (int(shape[-img]), int(shape[-img + 1]))
        self.exact_count = self.frame_count_hint = int(np.prod(shape[:-img], dtype=np.int64))
        self._colour = colour
        self.codec = "tiff"
        self.lossless = not any(k in compression.upper() for k in _LOSSY)
        self.bit_depth = None if dtype.kind == "f" else (
            bits if 0 < bits <= 16 and dtype.itemsize <= 2 else
            8 * dtype.itemsize if dtype.itemsize <= 2 else None)
        self.check_finite = dtype.kind == "f"
        self.source_fps = _imagej_rate(meta)
        self._memmap = None
        announced = int(meta.get("images", 0) or 0)
        if announced > self.exact_count and offset is not None and self.exact_count == 1:
            # ImageJ stacks store every frame contiguously after the first page; when the
            # file is cut, tifffile falls back to that page alone: map the announced frames.
            self.exact_count = self.frame_count_hint = announced
        if offset is not None and compression.upper() in ("NONE", "1"):
            self._memmap = self._map(dtype.newbyteorder(byteorder), offset, shape)

    def _map(self, dtype: np.dtype, offset: int, shape: tuple) -> np.ndarray:
        """Memory-map a contiguous series; warn and keep the complete frames of a truncated file."""
        frame_bytes = int(np.prod(self._frame_shape)) * dtype.itemsize
        have = max(0, (self.path.stat().st_size - offset) // frame_bytes)
        if have < self.exact_count:
            if have == 0:
                raise VideoError(f"{self.path.name} holds no complete frame; the file is truncated")
            self._warn(f"{self.path.name} holds {have} complete frames but its header announces "
                       f"{self.exact_count}; the file is truncated: using frames 0-{have - 1}")
            self.exact_count = have
        return np.memmap(self.path, dtype=dtype, mode="r", offset=offset,
                         shape=(self.exact_count,) + tuple(self._frame_shape))

    def _grey(self, arr: np.ndarray) -> np.ndarray:
        arr = arr.reshape(self._frame_shape)
        if self._colour:
            return arr[..., :3] @ _LUMA
        return arr[..., 0] if arr.ndim == 3 else arr

    def frames(self, start, end, rows, cols):
        """Yield 2-D cropped frames ``start <= i < end``."""
        for block in self.blocks(start, end, rows, cols, 1):
            yield block[0]

    def blocks(self, start, end, rows, cols, size):
        """Yield float32 blocks ``(t <= size, h, w)`` of consecutive frames."""
        stop = self.exact_count if end is None else min(end, self.exact_count)
        if self._memmap is not None:
            for t0 in range(start, stop, size):
                t1 = min(t0 + size, stop)
                if self._colour:
                    yield np.stack([self._grey(self._memmap[t])[rows, cols]
                                    for t in range(t0, t1)]).astype(np.float32)
                else:
                    yield np.array(self._memmap[t0:t1, rows, cols], dtype=np.float32)
            return
        yield from self._page_blocks(start, stop, rows, cols, size)

    def _page_blocks(self, start, stop, rows, cols, size):
        import tifffile

        with tifffile.TiffFile(self.path) as tif:
            pages = tif.series[0].pages
            block: list[np.ndarray] = []
            for t in range(start, stop):
                try:
                    arr = pages[t].asarray()
                except Exception as exc:  # noqa: BLE001 - corrupt or truncated page
                    if t == start:
                        raise VideoError(f"cannot read page {t} of {self.path.name}: {exc}; the "
                                         "file is corrupt or truncated") from exc
                    self._warn(f"{self.path.name}: reading stopped at page {t} ({exc}); the file "
                               f"is corrupt or truncated, using frames {start}-{t - 1}")
                    break
                block.append(np.asarray(self._grey(arr)[rows, cols], dtype=np.float32))
                if len(block) == size:
                    yield np.stack(block)
                    block = []
            if block:
                yield np.stack(block)


def _imagej_rate(meta: dict) -> float | None:
    """Frame rate from ImageJ's ``finterval`` (seconds or ``tunit``), else None."""
    try:
        interval = float(meta.get("finterval", 0) or 0)
    except (TypeError, ValueError):
        return None
    unit = str(meta.get("tunit", "s")).strip().lower() or "s"
    scale = _TIME_UNITS.get(unit)
    if not (interval > 0 and np.isfinite(interval)) or scale is None:
        return None
    return 1.0 / (interval * scale)
