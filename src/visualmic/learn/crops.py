"""Where the crops of a frame pair are taken (:class:`CropPlan`)."""

from __future__ import annotations

import math

import numpy as np

from .._errors import ParameterError
from .pair_config import PairConfig

__all__ = ["CropPlan", "area_matrix"]

# --------------------------------------------------------------------------- crops


class CropPlan:
    """Where the ``S x S`` halves of the pairs are cut from a frame.

    Parameters
    ----------
    frame_shape : tuple (H, W)
        Size of the frames (after any ROI).
    config : PairConfig
        Crop mode and size.
    rng : np.random.Generator, optional
        For ``crop="random"``.

    Notes
    -----
    :meth:`positions` gives the crop corners for a block of frames;
    :meth:`cut` extracts the halves.  ``"resize"`` uses a separable area
    average (exact box anti-aliasing for integer factors).
    """

    def __init__(self, frame_shape: tuple[int, int], config: PairConfig,
                 rng: np.random.Generator | None = None) -> None:
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.config = config
        self.rng = rng if rng is not None else np.random.default_rng(0)
        s = config.input_size
        h, w = self.shape
        if config.crop != "resize" and (h < s or w < s):
            raise ParameterError(
                f"frames of {h}x{w} px are smaller than input_size={s}; use crop='resize', "
                "a smaller input size or a larger ROI"
            )
        if config.crop == "resize":
            self._ry = area_matrix(h, s)
            self._rx = area_matrix(w, s)

    @property
    def per_frame(self) -> int:
        """Samples cut from each frame."""
        c = self.config
        if c.crop == "random":
            return c.crops_per_frame
        if c.crop == "grid":
            return len(self.grid())
        return 1

    def grid(self) -> list[tuple[int, int]]:
        """Corners ``(y, x)`` of every non-overlapping tile, centred in the frame."""
        s = self.config.input_size
        h, w = self.shape
        ny, nx = h // s, w // s
        y0, x0 = (h - ny * s) // 2, (w - nx * s) // 2
        return [(y0 + i * s, x0 + j * s) for i in range(ny) for j in range(nx)]

    def positions(self, n_frames: int) -> np.ndarray:
        """Crop corners for ``n_frames`` frames.

        Returns
        -------
        np.ndarray [shape=(n_frames, per_frame, 2)], int
            ``(y, x)`` of each crop (``-1`` for ``crop="resize"``).
        """
        c = self.config
        s = c.input_size
        h, w = self.shape
        k = self.per_frame
        if c.crop == "random":
            ys = self.rng.integers(0, h - s + 1, size=(n_frames, k))
            xs = self.rng.integers(0, w - s + 1, size=(n_frames, k))
            return np.stack([ys, xs], -1)
        if c.crop == "grid":
            g = np.array(self.grid(), dtype=np.int64)
            return np.broadcast_to(g, (n_frames, *g.shape)).copy()
        if c.crop == "center":
            return np.broadcast_to(np.array([[(h - s) // 2, (w - s) // 2]]), (n_frames, 1, 2)).copy()
        return np.full((n_frames, 1, 2), -1, dtype=np.int64)

    def cut(self, frames: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Cut the crops of each frame.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames (or one reference frame broadcast to ``t``).
        pos : np.ndarray [shape=(t, k, 2)]
            Corners from :meth:`positions`.

        Returns
        -------
        np.ndarray [shape=(t, k, S, S)], float32
        """
        s = self.config.input_size
        frames = np.asarray(frames, dtype=np.float32)
        t, k = pos.shape[:2]
        if self.config.crop == "resize":
            small = np.einsum("ih,thw,jw->tij", self._ry, frames, self._rx, optimize=True)
            return small[:, None].astype(np.float32)
        out = np.empty((t, k, s, s), np.float32)
        if self.config.crop == "random":
            for i in range(t):
                for j in range(k):
                    y, x = pos[i, j]
                    out[i, j] = frames[i, y:y + s, x:x + s]
        else:  # the same positions in every frame
            for j in range(k):
                y, x = pos[0, j]
                out[:, j] = frames[:, y:y + s, x:x + s]
        return out


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights averaging the input cells each output cell covers."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = edges[i], edges[i + 1]
        for j in range(int(math.floor(lo)), min(n_in, int(math.ceil(hi)))):
            m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(1, keepdims=True)


