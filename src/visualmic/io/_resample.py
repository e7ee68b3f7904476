"""Anti-aliased downsampling of frames (``--downsample``): separable Lanczos-3 weights."""

from __future__ import annotations

import numpy as np

__all__ = ["Resampler"]


class Resampler:
    """Anti-aliased shrinking of frame blocks ``(t, H, W) -> (t, Ho, Wo)`` (float32).

    Each axis is filtered with a Lanczos-3 kernel stretched by the shrink factor
    (the kernel PIL and ImageMagick use to shrink images), which low-passes the
    frame below the new Nyquist frequency before sampling, so fine texture is
    attenuated instead of aliased into coarse texture.  Weights are renormalised
    where the kernel overhangs the frame edge (no wrap-around, constant frames
    stay constant).  The operator is precomputed once as banded matrices and
    applied to a whole block with matrix products.
    """

    lobes = 3

    def __init__(self, in_shape: tuple[int, int], out_shape: tuple[int, int]):
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self._rows = self._axis(in_shape[0], out_shape[0])
        self._cols = self._axis(in_shape[1], out_shape[1])

    @classmethod
    def weights(cls, n_in: int, n_out: int) -> np.ndarray:
        """Dense ``(n_out, n_in)`` resampling matrix for one axis (rows sum to 1)."""
        scale = n_in / n_out
        centres = (np.arange(n_out) + 0.5) * scale - 0.5
        offsets = (np.arange(n_in)[None, :] - centres[:, None]) / max(scale, 1.0)
        a = cls.lobes
        w = np.sinc(offsets) * np.sinc(offsets / a) * (np.abs(offsets) < a)
        return w / w.sum(axis=1, keepdims=True)

    @classmethod
    def _axis(cls, n_in: int, n_out: int, block: int = 64):
        """Split the banded matrix into (out_lo, out_hi, in_lo, in_hi, dense block) pieces."""
        full = cls.weights(n_in, n_out).astype(np.float32)
        if n_in <= 4 * block:
            return [(0, n_out, 0, n_in, full)]
        pieces = []
        for o0 in range(0, n_out, block):
            o1 = min(o0 + block, n_out)
            nz = np.flatnonzero(np.any(full[o0:o1] != 0, axis=0))
            i0, i1 = int(nz[0]), int(nz[-1]) + 1
            pieces.append((o0, o1, i0, i1, np.ascontiguousarray(full[o0:o1, i0:i1])))
        return pieces

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t, h, w = x.shape
        ho, wo = self.out_shape
        # Along columns: (t*h, w) @ (w, wo), one matrix product per band block.
        flat = x.reshape(t * h, w)
        cols = np.empty((t * h, wo), np.float32)
        for o0, o1, i0, i1, m in self._cols:
            np.matmul(flat[:, i0:i1], m.T, out=cols[:, o0:o1])
        # Along rows: bring rows first, (ho, h) @ (h, t*wo).
        rows_first = np.ascontiguousarray(cols.reshape(t, h, wo).transpose(1, 0, 2)).reshape(
            h, t * wo)
        out = np.empty((ho, t * wo), np.float32)
        for o0, o1, i0, i1, m in self._rows:
            np.matmul(m, rows_first[i0:i1], out=out[o0:o1])
        return np.ascontiguousarray(out.reshape(ho, t, wo).transpose(1, 0, 2))
