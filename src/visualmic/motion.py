"""Local motion from phase: per-band, amplitude²-weighted phase differences to a reference.

For each oriented band ``b`` with complex coefficients ``q_t(x)`` at frame ``t`` and
``q_ref(x)`` at the reference, the local phase difference
``dphi_t(x) = angle(q_t(x) * conj(q_ref(x)))`` is proportional to the local motion
along the band's orientation; the band signal is its average weighted by the
reference amplitude squared (Davis et al. 2014, eq. 2)::

    s_b(t) = sum_x |q_ref(x)|**2 * dphi_t(x) / sum_x |q_ref(x)|**2

which is, for small motion, the matched-filter (maximum-likelihood) estimate of the
band's phase shift under white sensor noise.

References
----------
.. [1] A. Davis, M. Rubinstein, N. Wadhwa, G. J. Mysore, F. Durand and W. T. Freeman,
   "The visual microphone: passive recovery of sound from video", ACM TOG 33(4), 2014.
   https://doi.org/10.1145/2601097.2601119
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import scipy.fft as sfft

from ._errors import ParameterError
from .pyramid import SteerablePyramid

__all__ = ["PhaseMotion", "band_signals"]


class PhaseMotion:
    """Band motion signals of frames against a fixed reference frame.

    The pyramid's masks and the reference's band coefficients and weights are
    computed once; :meth:`__call__` then turns each chunk of frames into
    ``(n_bands, t)`` band signals.

    Parameters
    ----------
    pyramid : SteerablePyramid
        Pyramid built for the frame shape.
    reference : np.ndarray [shape=(H, W)]
        Reference frame in grey levels (e.g. the first frame, or the mean of the
        first ``k`` frames).
    compact : bool, optional
        If True (default), each band is evaluated on the smallest grid its spectral
        support allows (its spectrum cropped to the box holding all but a 1e-4
        fraction of the mask's energy, then a smaller inverse FFT). Phase
        differences are unaffected by the carrier this removes, and the weighted
        sum is, by Parseval, the same statistic; it is about twice as fast.
        If False, bands are the full pyramid bands (as pyrtools computes them).

    Attributes
    ----------
    weights_sum : np.ndarray [shape=(n_bands,)]
        ``sum_x |q_ref|**2`` per band (band energy of the reference).
    """

    def __init__(self, pyramid: SteerablePyramid, reference: np.ndarray, *, compact: bool = True):
        ref = np.asarray(reference, dtype=pyramid.dtype)
        if ref.shape != pyramid.shape:
            raise ParameterError(
                f"reference frame shape {ref.shape} does not match the pyramid {pyramid.shape}"
            )
        self.pyramid = pyramid
        self.compact = compact
        self._plan = self._make_plan()
        spec = pyramid.spectrum(ref[None])
        self._ref_conj = []
        self._w = []
        for q in self._bands(spec):
            q = q[0]
            w = (q.real**2 + q.imag**2).astype(pyramid.dtype)
            self._ref_conj.append(np.conj(q))
            self._w.append(w)
        self.weights_sum = np.array([float(w.sum(dtype=np.float64)) for w in self._w])
        if not np.all(self.weights_sum > 0):
            raise ParameterError(
                "the reference frame has no texture in some pyramid bands (a flat or empty "
                "region); choose an --roi on a textured surface or fewer --scales"
            )

    def _make_plan(self):
        """Per band: (rows, cols, mask) gathering a compact spectral box, or the full level."""
        pyr = self.pyramid
        H, W = pyr.shape
        plan = []
        for level in pyr.levels:
            rows, cols, masks = pyr.level_masks(level)
            h, w = masks.shape[1:]
            for k in range(pyr.orientations):
                m = masks[k]
                if not self.compact:
                    plan.append((rows, cols, m))
                    continue
                # Work in the level's shifted layout to find a centred support box.
                ms = sfft.fftshift(m)
                e = np.abs(ms) ** 2
                r_idx = _support(e.sum(axis=1))
                c_idx = _support(e.sum(axis=0))
                r_sel = _box(r_idx, h)
                c_sel = _box(c_idx, w)
                sub = ms[np.ix_(r_sel, c_sel)]
                # Indices into the level's shifted grid -> level unshifted -> full spectrum.
                lr = (r_sel - h // 2) % h
                lc = (c_sel - w // 2) % w
                # Reorder the box to unshifted order of the box's own grid.
                hb, wb = len(r_sel), len(c_sel)
                rr = np.roll(np.arange(hb), -(hb // 2))
                cc = np.roll(np.arange(wb), -(wb // 2))
                plan.append((rows[lr][rr], cols[lc][cc], sub[np.ix_(rr, cc)]))
        return plan

    def _bands(self, spec: np.ndarray) -> Iterator[np.ndarray]:
        for rows, cols, m in self._plan:
            sub = spec[:, rows[:, None], cols[None, :]]
            sub *= m
            yield sfft.ifft2(sub, axes=(-2, -1), workers=-1, overwrite_x=True)

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return len(self._plan)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals of a chunk of frames.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, t), dtype=float64]
            Amplitude²-weighted mean phase difference to the reference, in radians.
        """
        spec = self.pyramid.spectrum(frames)
        out = np.empty((self.n_bands, spec.shape[0]), dtype=np.float64)
        for i, q in enumerate(self._bands(spec)):
            q *= self._ref_conj[i]
            dphi = np.angle(q)
            out[i] = np.einsum("tij,ij->t", dphi, self._w[i], dtype=np.float64) / self.weights_sum[i]
        return out


def _support(energy: np.ndarray, tol: float = 1e-4) -> np.ndarray:
    """Indices (shifted layout) holding all but ``tol`` of a 1-D energy profile."""
    total = energy.sum()
    order = np.argsort(energy)
    cum = np.cumsum(energy[order])
    drop = order[cum <= tol * total]
    keep = np.ones(len(energy), bool)
    keep[drop] = False
    idx = np.nonzero(keep)[0]
    return idx


def _box(idx: np.ndarray, n: int) -> np.ndarray:
    """A contiguous index range covering ``idx``, grown to a fast FFT length (<= n)."""
    lo, hi = int(idx.min()), int(idx.max())
    size = hi - lo + 1
    size = min(sfft.next_fast_len(size), n)
    # Keep the box even-sized when possible (cheaper FFTs, symmetric centring).
    start = lo - (size - (hi - lo + 1)) // 2
    start = min(max(start, 0), n - size)
    return np.arange(start, start + size)


def band_signals(
    frames: Iterable[np.ndarray] | np.ndarray,
    *,
    reference: np.ndarray,
    scales: int | None = None,
    orientations: int = 4,
    compact: bool = True,
    highpass: bool = True,
) -> np.ndarray:
    """Band motion signals of a frame sequence (convenience wrapper of :class:`PhaseMotion`).

    Parameters
    ----------
    frames : np.ndarray [shape=(T, H, W)] or iterable of such chunks
        Frames in grey levels.
    reference : np.ndarray [shape=(H, W)]
        Reference frame.
    scales, orientations : int
        Pyramid size (see :class:`visualmic.pyramid.SteerablePyramid`).
    compact : bool
        See :class:`PhaseMotion`.

    Returns
    -------
    np.ndarray [shape=(n_bands, T)]
        Band signals in radians.
    """
    reference = np.asarray(reference)
    pyr = SteerablePyramid(reference.shape, scales=scales, orientations=orientations, highpass=highpass)
    pm = PhaseMotion(pyr, reference, compact=compact)
    if isinstance(frames, np.ndarray):
        frames = [frames]
    return np.concatenate([pm(c) for c in frames], axis=1)
