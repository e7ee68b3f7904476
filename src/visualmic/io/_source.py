"""The frame-source interface that every input format implements.

A source knows its metadata (frame size, codec, bit depth, frame rate, exact frame
count when it has one) and yields cropped 2-D luminance frames; :class:`Source.blocks`
packs them into float32 blocks ``(t, h, w)``. :class:`visualmic.io.video.VideoReader`
adds the range, ROI, downsampling and chunking on top.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["Source", "luminance", "LUMA_WEIGHTS"]

#: Luminance weights (ITU-R BT.601) applied to R, G, B.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def luminance(arr: np.ndarray) -> np.ndarray:
    """Reduce ``(..., H, W, C)`` colour to float64 luminance; pass grey through."""
    if arr.ndim >= 3 and arr.shape[-1] in (3, 4):
        return arr[..., :3] @ LUMA_WEIGHTS
    if arr.ndim >= 3 and arr.shape[-1] == 1:
        return arr[..., 0]
    return arr


class Source:
    """A sequence of frames; subclasses fill in the metadata and the frame iterator."""

    path: Path | None = None
    input_shape: tuple[int, int] = (0, 0)
    codec: str | None = None
    lossless: bool | None = None
    bit_depth: int | None = None
    frame_count_hint: int = 0
    source_fps: float | None = None
    exact_count: int | None = None  # known exactly (arrays, folders), else None
    check_finite: bool = False

    def __init__(self, warn: Callable[[str], None]):
        self._warn = warn

    def frames(self, start: int, end: int | None, rows: slice, cols: slice) -> Iterator[np.ndarray]:
        """Yield 2-D cropped luminance frames ``start <= i < end``."""
        raise NotImplementedError

    def blocks(self, start: int, end: int | None, rows: slice, cols: slice,
               size: int) -> Iterator[np.ndarray]:
        """Yield float32 blocks ``(t <= size, h, w)`` of consecutive frames."""
        h = len(range(*rows.indices(self.input_shape[0])))
        w = len(range(*cols.indices(self.input_shape[1])))
        buf = np.empty((size, h, w), np.float32)
        n = 0
        gen = self.frames(start, end, rows, cols)
        try:
            for frame in gen:
                buf[n] = frame
                n += 1
                if n == size:
                    yield buf
                    buf = np.empty((size, h, w), np.float32)
                    n = 0
        finally:
            gen.close()
        if n:
            yield buf[:n]
