"""Fast motion estimation: a linear estimator, large-motion detection, and threaded decoding.

For motion well below a pixel the phase method's statistic is linear in the frame.
With ``q_t`` the complex coefficients of a band at frame ``t`` and ``q_ref`` those of
the reference, ``|q_t| |q_ref| sin(dphi) ~ |q_ref|**2 dphi``, so::

    sum_x |q_ref|**2 dphi_t(x)  ~  sum_x Im(q_t(x) conj(q_ref(x)))
                                 =  sum_x f_t(x) k_b(x)

where ``f_t`` is the frame and ``k_b`` a real kernel computed once from the reference
(by Parseval, ``k_b = Im(FFT2(G_b))`` with ``G_b = |M_b|**2 conj(F_ref) / N_b`` the
band's squared mask times the conjugate reference spectrum). All bands of a chunk are
then one matrix product ``(t, H*W) @ (H*W, n_bands)`` in float32, normalised by the
same ``sum_x |q_ref|**2`` as :class:`visualmic.core.motion.PhaseMotion`, so that the band
signals of both methods are in radians and interchangeable. The kernels are built
from the very band boxes the phase method uses (compact or full), so the fast signal
is the first-order expansion of the phase signal.

The linear estimate of a band whose local phase shifts are all ``theta`` is
``sin(theta)``; the third-order correction ``s + s**3 / 6`` (the start of ``arcsin``)
is applied, which keeps the fast method within 0.1 dB of the phase method up to
about 0.1 px of motion on sharp textures. Beyond that the approximation degrades, so
every chunk is checked: the largest phase excursion that the motion causes in any
band (the bands' common component, from a rank-1 fit, so that the noise of weak
bands does not count) is compared with ``max_phase`` (0.25 rad by default).
``method="fast"`` warns when it is exceeded; ``method="auto"`` recomputes that chunk
with the phase method (a decision made per chunk, so that any split of the video
into chunk-aligned ranges gives the same result).

The matrix product can be handed to another backend (``backend=``; the engine's
PyTorch backend, :mod:`visualmic.engine.torch`, runs it on a GPU); this module never
imports torch.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.fft as sfft

from .._errors import ParameterError, VisualMicWarning
from .motion import PhaseMotion
from .pyramid import SteerablePyramid

__all__ = ["FastMotion", "AutoMotion", "MAX_PHASE", "check_max_phase"]

_BATCH = 32  # frames per matrix product (a reused buffer of 32 frames)
# Frames per product with the (large) cell-kernel matrix: it is streamed from memory
# once per batch, so larger batches are several times faster.
_CELL_BATCH = 256

#: Default largest phase excursion (radians) caused by the motion in any band for which
#: the linear estimate is trusted (about 0.1 px at the finest bands of sharp textures).
MAX_PHASE = 0.25


def _reference_products(flat: np.ndarray, ref: np.ndarray, kernels: np.ndarray, out: np.ndarray,
                        batch: int, work: np.ndarray) -> None:
    """``out[:, a:b] = ((flat[a:b] - ref) @ kernels).T``, ``batch`` frames at a time.

    Subtracting the reference first keeps the float32 products small (the kernels
    sum to zero against the reference): the float32 product loses nothing. ``work``
    is a float32 buffer of at least ``min(batch, len(flat))`` rows.
    """
    for t0 in range(0, len(flat), batch):
        part = flat[t0 : t0 + batch]
        w = work[: len(part)]
        np.subtract(part, ref, out=w, dtype=np.float32)
        out[:, t0 : t0 + len(part)] = (w @ kernels).T


class FastMotion:
    """Linear (first-order, cubic-corrected) band motion signals against a reference frame.

    Parameters
    ----------
    pyramid : SteerablePyramid
        Pyramid built for the frame shape.
    reference : np.ndarray [shape=(H, W)]
        Reference frame in grey levels.
    compact : bool, optional
        Use the compact band boxes of :class:`~visualmic.core.motion.PhaseMotion` (default
        True), so that the signals linearise exactly what ``PhaseMotion(compact=True)``
        computes.
    max_phase : float, optional
        Largest phase excursion (radians) the motion may cause in a band before the
        linear estimate is no longer trusted (default 0.25).
    warn : bool, optional
        Issue a :class:`visualmic.VisualMicWarning` the first time a chunk exceeds
        ``max_phase`` (default True).
    backend : callable, optional
        ``backend(frames (t, H, W)) -> (n_bands, t)``: computes the matrix product
        elsewhere (e.g. :class:`visualmic.engine.torch.TorchLinear`); None (default)
        computes it with NumPy.
    cell : int or None, optional
        Cell size in frame pixels for :meth:`cell_signals` (``None``, the default:
        band signals only, nothing extra is computed). The cells' linear kernels
        ``k_{b,c} = Im(h_b ⋆ (1_c conj q_ref))`` (the band filter correlated with the
        reference band restricted to the cell's tile of the band grid) form one
        ``(H*W, n_bands*n_cells)`` float32 matrix when it takes at most
        ``CELL_KERNEL_BYTES``; otherwise the cells are computed on the band grids
        (:meth:`visualmic.core.motion.PhaseMotion.linear_cell_signals`, about the phase
        method's cost). Not available with the PyTorch
        backend.

    Attributes
    ----------
    weights_sum : np.ndarray [shape=(n_bands,)]
        ``sum_x |q_ref|**2`` per band, as in :class:`~visualmic.core.motion.PhaseMotion`.
    kernels : np.ndarray [shape=(H*W, n_bands), dtype=float32]
        The linear kernels, already divided by ``weights_sum``.
    phase : PhaseMotion
        The phase method for the same bands and reference (used for checks and
        fall-backs).
    last_excursion, max_excursion : float
        Motion-driven phase excursion (radians) of the last chunk, and the largest so far.
    large_chunks : int
        Chunks whose excursion exceeded ``max_phase``.
    messages : list of str
        Notes on the processing (e.g. large motion); ``warned`` lists those that were
        issued as warnings.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.core.pyramid import SteerablePyramid
    >>> ref = np.random.default_rng(0).normal(128, 20, size=(32, 32))
    >>> fm = FastMotion(SteerablePyramid((32, 32), scales=2), ref)
    >>> fm(np.stack([ref, ref])).shape
    (8, 2)
    """

    def __init__(self, pyramid: SteerablePyramid, reference: np.ndarray, *, compact: bool = True,
                 max_phase: float = MAX_PHASE, warn: bool = True, backend=None,
                 cell: int | None = None):
        check_max_phase(max_phase)
        ref = np.asarray(reference, dtype=np.float64)
        self.phase = PhaseMotion(pyramid, ref, compact=compact, cell=cell)  # validates ref
        self.pyramid = pyramid
        self.max_phase = float(max_phase)
        self.warn = bool(warn)
        self.weights_sum = self.phase.weights_sum
        self.kernels = linear_kernels(self.phase, ref)
        self.reference = ref.astype(np.float32)
        self.last_excursion = float("nan")
        self.max_excursion = 0.0
        self.large_chunks = 0
        self.messages: list[str] = []
        self.warned: list[str] = []  # the messages issued as warnings
        self._work = None  # reused buffer for (frames - reference)
        #: Optional replacement of the matrix product (``frames -> (n_bands, t)``), e.g. the
        #: PyTorch backend of :mod:`visualmic.engine.torch`; None computes with NumPy.
        self.backend = backend
        self.cell_kernels = None
        if cell is not None:
            nbytes = self.kernels.shape[0] * self.n_bands * self.phase.n_cells * 4
            if nbytes <= CELL_KERNEL_BYTES:
                self.cell_kernels = cell_kernels(self.phase, ref)

    @property
    def cell_grid(self) -> list:
        """``(x, y, w, h)`` of each cell in processed-frame pixels, row-major."""
        return self.phase.cell_grid

    @property
    def n_cells(self) -> int:
        """Number of cells (0 without ``cell``)."""
        return self.phase.n_cells

    @property
    def cell_weights(self) -> np.ndarray:
        """``(n_bands, n_cells)`` share of each band's reference energy in each cell."""
        self.phase.require_cells()  # raises without cells
        return self.phase.cell_weights

    def linear_cells(self, frames: np.ndarray) -> np.ndarray:
        """Cubic-corrected linear cell signals, without the large-motion check.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, n_cells, t), dtype=float64]
            Cell signals in radians; ``.sum(axis=1)`` equals :meth:`linear` up to
            float32 rounding. The cubic correction of each band is applied to its
            cells in proportion (``c * (1 + s**2 / 6)`` with ``s`` the band's sum),
            so that the cells still add up to the corrected band signal.
        """
        self.phase.require_cells()  # raises without cells
        frames = self.pyramid._check(frames)
        nb, nc, t = self.n_bands, self.n_cells, len(frames)
        if self.cell_kernels is None:
            cells = self.phase.linear_cell_signals(frames)
        else:
            flat = frames.reshape(t, -1)
            cells = np.empty((nb, nc, t))
            work = np.empty((min(_CELL_BATCH, t), flat.shape[1]), np.float32)
            _reference_products(flat, self.reference.reshape(1, -1), self.cell_kernels,
                                cells.reshape(nb * nc, t), _CELL_BATCH, work)
        s = cells.sum(axis=1)
        cells *= (1.0 + s**2 / 6.0)[:, None, :]
        return cells

    def cell_signals(self, frames: np.ndarray) -> np.ndarray:
        """Per-cell band signals of a chunk (linear estimate; warns on large motion).

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, n_cells, t), dtype=float64]
            Cell signals in radians; ``.sum(axis=1)`` is the band signal.
        """
        cells = self.linear_cells(frames)
        self._record(self.excursion(cells.sum(axis=1)))
        return cells

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return self.kernels.shape[1]

    def linear(self, frames: np.ndarray) -> np.ndarray:
        """The cubic-corrected linear band signals, without the large-motion check.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, t), dtype=float64]
            Band signals in radians (comparable to the phase method's).
        """
        frames = self.pyramid._check(frames)
        if self.backend is not None:
            s = self.backend(frames)
        else:
            flat = frames.reshape(len(frames), -1)
            s = np.empty((self.n_bands, len(frames)))
            if self._work is None:
                self._work = np.empty((_BATCH, flat.shape[1]), np.float32)
            _reference_products(flat, self.reference.reshape(1, -1), self.kernels, s, _BATCH,
                                self._work)
        # A uniform phase shift theta gives sin(theta): undo it to third order.
        s += s**3 / 6.0
        return s

    def excursion(self, signals: np.ndarray) -> float:
        """Largest phase excursion the motion causes in any band, in radians.

        The band signals are fitted by one common component (rank-1 fit of the bands
        normalised to unit RMS, as every band sees the same motion), and the largest
        absolute value of the fitted bands is returned: noise that a weak band alone
        sees does not count.

        Parameters
        ----------
        signals : np.ndarray [shape=(n_bands, t)]
            Band signals in radians (relative to the reference, not high-passed).

        Returns
        -------
        float
        """
        s = np.asarray(signals, dtype=np.float64)
        rms = np.sqrt(np.mean(s**2, axis=1, keepdims=True))
        if not np.any(rms > 0):
            return 0.0
        z = s / np.where(rms > 0, rms, 1.0)
        u = np.linalg.svd(z, full_matrices=False)[2][0]
        return float(np.max(np.abs(np.outer(s @ u, u))))

    def deviation(self, frames: np.ndarray, signals: np.ndarray, *, probes: int = 2) -> float:
        """Relative RMS deviation of fast ``signals`` from the phase method (a diagnostic).

        Evaluated on the ``probes`` frames of largest excursion ``max_b |signals|``.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            The chunk.
        signals : np.ndarray [shape=(n_bands, t)]
            Its fast band signals.
        probes : int, optional
            Frames compared (default 2).

        Returns
        -------
        float
            ``sqrt(sum (fast - phase)**2 / sum phase**2)`` over bands and probe frames.
        """
        excursion = np.abs(signals).max(axis=0)
        k = min(int(probes), len(excursion))
        idx = np.sort(np.argpartition(excursion, len(excursion) - k)[-k:])
        exact = self.phase(np.asarray(frames)[idx])
        den = float(np.sum(exact**2))
        return float(np.sqrt(np.sum((signals[:, idx] - exact) ** 2) / den)) if den > 0 else 0.0

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals of a chunk of frames (linear estimate; warns on large motion).

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(n_bands, t), dtype=float64]
            Band signals in radians.
        """
        signals = self.linear(frames)
        self._record(self.excursion(signals))
        return signals

    def _record(self, exc: float) -> bool:
        """Store a chunk's excursion; warn once when it is too large. Return True if large."""
        self.last_excursion = exc
        self.max_excursion = max(self.max_excursion, exc)
        large = exc > self.max_phase
        if large:
            self.large_chunks += 1
            if self.warn and self.large_chunks == 1:
                self._warn(
                    f"motion is too large for the fast estimator (phase excursion {exc:.3f} rad "
                    f"> {self.max_phase:g} rad, i.e. about a tenth of a pixel or more); use "
                    "--method phase or --method auto"
                )
        return large

    def _warn(self, message: str) -> None:
        self.messages.append(message)
        self.warned.append(message)
        warnings.warn(message, VisualMicWarning, stacklevel=3)


class AutoMotion(FastMotion):
    """The fast estimator where it is accurate, the phase method where it is not.

    Each chunk is first estimated linearly; a chunk whose motion-driven phase
    excursion exceeds ``max_phase`` is recomputed with the phase method. The choice
    depends only on the chunk itself. Parameters as :class:`FastMotion` (``warn``
    defaults to False: falling back is the intended behaviour).

    Attributes
    ----------
    phase_chunks : int
        Chunks computed with the phase method.
    chunks : int
        Chunks processed.
    """

    def __init__(self, pyramid: SteerablePyramid, reference: np.ndarray, **kwargs):
        kwargs.setdefault("warn", False)
        super().__init__(pyramid, reference, **kwargs)
        self.phase_chunks = 0
        self.chunks = 0
        #: The exact estimator used for chunks with large motion (the phase method; the
        #: engine may swap in a PyTorch version).
        self.exact = self.phase

    def cell_signals(self, frames: np.ndarray) -> np.ndarray:
        """Per-cell band signals ``(n_bands, n_cells, t)`` (fast, or phase on large motion)."""
        frames = self.pyramid._check(frames)
        cells = self.linear_cells(frames)
        self.chunks += 1
        if self._record(self.excursion(cells.sum(axis=1))):
            self.phase_chunks += 1
            if self.phase_chunks == 1:
                self.messages.append(
                    "large motion: the phase method was used for the chunks where the fast "
                    "estimator is not accurate"
                )
            cells = self.phase.cell_signals(frames)
        return cells

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals of a chunk (fast, or phase where the motion is large)."""
        frames = self.pyramid._check(frames)
        signals = self.linear(frames)
        self.chunks += 1
        if self._record(self.excursion(signals)):
            self.phase_chunks += 1
            if self.phase_chunks == 1:
                self.messages.append(
                    "large motion: the phase method was used for the chunks where the fast "
                    "estimator is not accurate"
                )
            signals = self.exact(frames)
        return signals


def check_max_phase(value) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and np.isfinite(value) and value > 0
    if not ok:
        raise ParameterError(f"max_phase={value!r} must be a positive number of radians "
                             "(e.g. 0.25)")


#: Largest cell-kernel matrix (bytes) :class:`FastMotion` builds (beyond it, cells are
#: computed on the band grids). 128×128 frames with 64 cells and 24 bands take 100 MB.
CELL_KERNEL_BYTES = 256 * 2**20


def cell_kernels(phase: PhaseMotion, reference: np.ndarray) -> np.ndarray:
    """Kernels ``(H*W, n_bands*n_cells)`` float32: ``f @ k_{b,c}`` = cell ``c`` of band ``b``.

    For band ``b`` with box mask ``M`` (``n`` entries) and cell indicator ``1_c`` on
    the band grid, ``sum_{x in c} q_t(x) a(x)`` with ``a = 1_c conj(q_ref)`` equals
    ``sum_K F_t(K) M(K) ifft2(a)(K)``: the kernel is the imaginary part of the
    forward FFT of ``G_c = M * ifft2(a)`` placed at the box's frequencies.
    """
    H, W = phase.pyramid.shape
    nc = phase.n_cells
    out = np.empty((H * W, phase.n_bands * nc), dtype=np.float32)
    for b, plan in enumerate(phase.plan):
        rows, cols = phase.tile_maps[b]
        cell_id = (np.argmax(rows, axis=1)[:, None] * cols.shape[1]
                   + np.argmax(cols, axis=1)[None, :])  # (hb, wb)
        ref_conj = phase.ref_conj[b].astype(np.complex128)
        for c0 in range(0, nc, 16):  # 16 cells at a time bounds the memory
            ids = np.arange(c0, min(c0 + 16, nc))
            a = np.where(cell_id[None] == ids[:, None, None], ref_conj[None], 0)
            g_box = sfft.ifft2(a, axes=(-2, -1)) * plan.mask
            g = np.zeros((len(ids), H, W), dtype=np.complex128)
            g[:, plan.rows[:, None], plan.cols[None, :]] = g_box
            k = sfft.fft2(g, axes=(-2, -1)).imag / phase.weights_sum[b]
            out[:, b * nc + ids] = k.reshape(len(ids), -1).T
    return out


def linear_kernels(phase: PhaseMotion, reference: np.ndarray) -> np.ndarray:
    """Kernels ``(H*W, n_bands)`` float32 with ``f @ k_b = sum Im(q_t conj q_ref) / S_b``."""
    H, W = phase.pyramid.shape
    spec = sfft.fft2(reference)
    kernels = np.empty((H * W, phase.n_bands), dtype=np.float32)
    for b, plan in enumerate(phase.plan):
        rows, cols, mask = plan.rows, plan.cols, plan.mask.astype(np.complex128)
        n = mask.size
        g = np.zeros((H, W), dtype=np.complex128)
        g[rows[:, None], cols[None, :]] = (np.abs(mask) ** 2) * np.conj(
            spec[rows[:, None], cols[None, :]]) / n
        # sum_K F_t(K) G(K) = sum_x f_t(x) FFT2(G)(x): the kernel is its imaginary part.
        k = sfft.fft2(g).imag / phase.weights_sum[b]
        kernels[:, b] = k.reshape(-1)
    return kernels
