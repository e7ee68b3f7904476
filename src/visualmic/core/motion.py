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

from collections.abc import Iterable, Iterator

import numpy as np
import scipy.fft as sfft

from .._errors import ParameterError
from .cells import CellGrid
from .pyramid import SteerablePyramid

_FFT_WORKERS = -1  # every core for the FFTs
_BATCH = 32  # frames per inner batch (cache-sized)

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
    cell : int or None, optional
        Cell size in frame pixels for :meth:`cell_signals` (see
        :class:`visualmic.core.cells.CellGrid` and
        :func:`visualmic.core.cells.default_cell`). ``None`` (default): band signals
        only, at no extra cost.

    Attributes
    ----------
    weights_sum : np.ndarray [shape=(n_bands,)]
        ``sum_x |q_ref|**2`` per band (band energy of the reference).
    plan : list of BandPlan
        Per band, the spectral box it is evaluated on and its mask.
    ref_conj : list of np.ndarray [shape=(hb, wb), complex]
        Conjugate reference coefficients of each band.
    ref_power : list of np.ndarray [shape=(hb, wb)]
        ``|q_ref|**2`` of each band (the weights of the phase differences).
    cell_grid : list of tuple
        ``(x, y, w, h)`` of each cell in frame pixels, row-major (only with ``cell``).
    cell_weights : np.ndarray [shape=(n_bands, n_cells)]
        Share of each band's reference energy ``|q_ref|**2`` in each cell (rows sum
        to 1; only with ``cell``).
    """

    def __init__(self, pyramid: SteerablePyramid, reference: np.ndarray, *, compact: bool = True,
                 cell: int | None = None):
        ref = np.asarray(reference, dtype=pyramid.dtype)
        if ref.shape != pyramid.shape:
            raise ParameterError(
                f"reference frame shape {ref.shape} does not match the pyramid {pyramid.shape}"
            )
        self.pyramid = pyramid
        self.compact = compact
        self.plan = self._make_plan()
        self.ref_conj = []
        self.ref_power = []
        for q in self._bands(self._spectrum(ref[None])):
            q = q[0]
            w = (q.real**2 + q.imag**2).astype(pyramid.dtype)
            self.ref_conj.append(np.conj(q))
            self.ref_power.append(w)
        self.weights_sum = np.array([float(w.sum(dtype=np.float64)) for w in self.ref_power])
        if not np.all(self.weights_sum > 0):
            raise ParameterError(
                "the reference frame has no texture in some pyramid bands (a flat or empty "
                "region); choose an --roi on a textured surface or fewer --scales"
            )
        self.cells = None
        if cell is not None:
            self._setup_cells(cell)

    # -- spatial cells (only with ``cell``) ------------------------------------------------
    def _setup_cells(self, cell: int) -> None:
        self.cells = CellGrid(self.pyramid.shape, cell)
        self.tile_maps = [self.cells.tile_maps(p.shape) for p in self.plan]
        self.cell_weights = np.stack([
            (rows.T @ w.astype(np.float64) @ cols).reshape(-1) for (rows, cols), w in
            zip(self.tile_maps, self.ref_power)
        ]) / self.weights_sum[:, None]

    def require_cells(self) -> CellGrid:
        """The cell grid; raises ParameterError if built without ``cell``."""
        if self.cells is None:
            raise ParameterError("this estimator was built without cells; pass cell=PX "
                                 "(e.g. cell=16) to get cell signals")
        return self.cells

    @property
    def cell_grid(self) -> list:
        """``(x, y, w, h)`` of each cell in processed-frame pixels, row-major."""
        return list(self.require_cells().boxes)

    @property
    def n_cells(self) -> int:
        """Number of cells (0 without ``cell``)."""
        return 0 if self.cells is None else self.cells.n_cells

    def cell_signals(self, frames: np.ndarray) -> np.ndarray:
        """Per-cell band signals of a chunk of frames.

        For each band, the amplitude²-weighted phase differences are summed over the
        band samples lying in each cell (on the band's own grid) and divided by the
        band's total ``weights_sum``, so that ``cell_signals(f).sum(axis=1)`` equals
        ``self(f)`` up to float rounding.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, n_cells, t), dtype=float64]
            Cell signals in radians (of the band's whole-frame signal).
        """
        return self._cell_sums(frames, linear=False)

    def linear_cell_signals(self, frames: np.ndarray) -> np.ndarray:
        """Cell signals of the first-order statistic ``sum Im(q_t conj q_ref)``.

        The linear estimator's cells computed on the band grids (used by
        :class:`visualmic.core.linear.FastMotion` when its kernel matrix would be too
        large). Not cubic-corrected. Shape and units as :meth:`cell_signals`.
        """
        return self._cell_sums(frames, linear=True)

    def _cell_sums(self, frames: np.ndarray, *, linear: bool) -> np.ndarray:
        grid = self.require_cells()
        frames = self.pyramid._check(frames)
        t = len(frames)
        out = np.empty((self.n_bands, grid.n_cells, t), dtype=np.float64)
        for t0 in range(0, t, _BATCH):
            rspec = self._spectrum(frames[t0 : t0 + _BATCH])
            tb = rspec.shape[0]
            for i, q in enumerate(self._bands(rspec)):
                np.multiply(q, self.ref_conj[i], out=q)
                if linear:
                    x = q.imag.astype(np.float64)
                else:
                    x = np.arctan2(q.imag, q.real)
                    x *= self.ref_power[i]
                rows, cols = self.tile_maps[i]
                out[i, :, t0 : t0 + tb] = (rows.T @ (x @ cols)).reshape(tb, -1).T
        out /= self.weights_sum[:, None, None]
        return out

    def _make_plan(self) -> list[BandPlan]:
        """Per band: the spectral box it is evaluated on, its mask, and how to gather it."""
        pyr = self.pyramid
        plan = []
        for level in pyr.levels:
            rows, cols, masks = pyr.level_masks(level)
            h, w = masks.shape[1:]
            for k in range(pyr.orientations):
                m = masks[k]
                if not self.compact:
                    plan.append(BandPlan(rows, cols, m, pyr.shape))
                    continue
                # Work in the level's shifted layout to find a centred support box.
                ms = sfft.fftshift(m)
                e = np.abs(ms) ** 2
                r_sel = _box(_support(e.sum(axis=1)), h)
                c_sel = _box(_support(e.sum(axis=0)), w)
                # Indices into the level's shifted grid -> level unshifted -> full spectrum.
                # The box is kept in its natural (cyclic) order: reordering it would only
                # multiply the band by a fixed carrier, which phase differences and
                # amplitudes ignore.
                lr = (r_sel - h // 2) % h
                lc = (c_sel - w // 2) % w
                plan.append(BandPlan(rows[lr], cols[lc], ms[np.ix_(r_sel, c_sel)], pyr.shape))
        return plan

    def _spectrum(self, frames: np.ndarray) -> np.ndarray:
        """Half spectrum ``rfft2`` of frames ``(t, H, W)`` (the bands gather from it)."""
        frames = self.pyramid._check(frames)
        return sfft.rfft2(frames, axes=(-2, -1), workers=_FFT_WORKERS)

    def _bands(self, rspec: np.ndarray) -> Iterator[np.ndarray]:
        for band in self.plan:
            yield sfft.ifft2(band.gather(rspec), axes=(-2, -1), workers=_FFT_WORKERS,
                             overwrite_x=True)

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return len(self.plan)

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
        frames = self.pyramid._check(frames)
        out = np.empty((self.n_bands, len(frames)), dtype=np.float64)
        # Small batches keep each band's working set in cache (several times faster
        # than whole chunks for the gather, the inverse FFTs and the phase).
        for t0 in range(0, len(frames), _BATCH):
            rspec = self._spectrum(frames[t0 : t0 + _BATCH])
            for i, q in enumerate(self._bands(rspec)):
                np.multiply(q, self.ref_conj[i], out=q)
                dphi = np.arctan2(q.imag, q.real)
                out[i, t0 : t0 + _BATCH] = np.einsum("tij,ij->t", dphi, self.ref_power[i],
                                                     dtype=np.float64)
        out /= self.weights_sum[:, None]
        return out


class BandPlan:
    """How one band's spectral box is gathered from a half spectrum and masked.

    The box is given by the full-spectrum row and column of each of its entries
    (``rows`` ``(hb,)``, ``cols`` ``(wb,)``) and its mask ``(hb, wb)``. Entries in the
    left half-plane are read from the ``rfft2`` half spectrum by Hermitian symmetry,
    ``F(r, c) = conj(F(-r, -c))``. The gather is precomputed as a few rectangular
    block copies (strided slices, no fancy indexing), each fused with the mask product.
    """

    def __init__(self, rows: np.ndarray, cols: np.ndarray, mask: np.ndarray, shape: tuple):
        H, W = shape
        self.rows = np.asarray(rows, dtype=np.intp)
        self.cols = np.asarray(cols, dtype=np.intp)
        self.mask = np.ascontiguousarray(mask)
        self.shape = self.mask.shape
        half = W // 2
        direct = self.cols <= half
        src_cols = np.where(direct, self.cols, W - self.cols)
        self.blocks = []
        for c0, c1, cs, conj in _runs(src_cols, direct):
            src_rows = (-self.rows) % H if conj else self.rows
            for r0, r1, rs, _ in _runs(src_rows, np.full(len(src_rows), not conj)):
                self.blocks.append((slice(r0, r1), slice(c0, c1), rs, cs, conj))

    def gather(self, rspec: np.ndarray) -> np.ndarray:
        """Return the masked box ``(t, hb, wb)`` from a half spectrum ``(t, H, W//2+1)``."""
        buf = np.empty((rspec.shape[0],) + self.shape, dtype=np.result_type(rspec, self.mask))
        m = self.mask
        for dr, dc, sr, sc, conj in self.blocks:
            src = rspec[:, sr, sc]
            dst = buf[:, dr, dc]
            if conj:
                np.conjugate(src, out=dst)
                np.multiply(dst, m[dr, dc], out=dst)
            else:
                np.multiply(src, m[dr, dc], out=dst)
        return buf


def _runs(src: np.ndarray, forward: np.ndarray) -> list[tuple[int, int, slice, bool]]:
    """Split a destination -> source index map into runs of consecutive sources.

    ``forward[i]`` says whether entry ``i`` is read directly (sources ascending) or
    mirrored (sources descending, conjugated). Returns ``(dst_start, dst_stop,
    src_slice, mirrored)`` per run.
    """
    out = []
    n = len(src)
    i = 0
    while i < n:
        step = 1 if forward[i] else -1
        j = i + 1
        while j < n and forward[j] == forward[i] and src[j] == src[j - 1] + step:
            j += 1
        s0, length = int(src[i]), j - i
        stop = s0 + step * length
        out.append((i, j, slice(s0, stop if stop >= 0 else None, step), not forward[i]))
        i = j
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
    # 5-smooth lengths: pocketfft is several times slower on larger prime factors.
    size = min(sfft.next_fast_len(hi - lo + 1, real=True), n)
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
        Pyramid size (see :class:`visualmic.core.pyramid.SteerablePyramid`).
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
