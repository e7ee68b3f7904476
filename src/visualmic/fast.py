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
same ``sum_x |q_ref|**2`` as :class:`visualmic.motion.PhaseMotion`, so that the band
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

:func:`prefetch` runs an iterator (the video decoder) on its own thread so that
decoding overlaps computation. An optional PyTorch path (``device="cuda"``, or
``"cpu"`` to run the PyTorch code on the CPU) is used only when a device is given;
otherwise this module never imports torch.
"""

from __future__ import annotations

import queue
import threading
import warnings
from collections.abc import Iterable, Iterator

import numpy as np
import scipy.fft as sfft

from ._errors import ParameterError, VisualMicWarning
from .motion import PhaseMotion
from .pyramid import SteerablePyramid

__all__ = [
    "METHODS",
    "FastMotion",
    "AutoMotion",
    "motion_estimator",
    "prefetch",
]

#: Motion estimators accepted by :func:`motion_estimator` (and ``recover(method=...)``).
METHODS = ("phase", "fast", "auto")

_BATCH = 32  # frames per matrix product (a reused buffer of 32 frames)
# Frames per product with the (large) cell-kernel matrix: it is streamed from memory
# once per batch, so larger batches are several times faster.
_CELL_BATCH = 256

#: Default largest phase excursion (radians) caused by the motion in any band for which
#: the linear estimate is trusted (about 0.1 px at the finest bands of sharp textures).
MAX_PHASE = 0.25


class FastMotion:
    """Linear (first-order, cubic-corrected) band motion signals against a reference frame.

    Parameters
    ----------
    pyramid : SteerablePyramid
        Pyramid built for the frame shape.
    reference : np.ndarray [shape=(H, W)]
        Reference frame in grey levels.
    compact : bool, optional
        Use the compact band boxes of :class:`~visualmic.motion.PhaseMotion` (default
        True), so that the signals linearise exactly what ``PhaseMotion(compact=True)``
        computes.
    max_phase : float, optional
        Largest phase excursion (radians) the motion may cause in a band before the
        linear estimate is no longer trusted (default 0.25).
    warn : bool, optional
        Issue a :class:`visualmic.VisualMicWarning` the first time a chunk exceeds
        ``max_phase`` (default True).
    device : str, optional
        ``None`` (default) computes with NumPy; a PyTorch device (``"cuda"``,
        ``"cuda:1"``, ``"cpu"``) computes the matrix product with PyTorch there.
    cell : int or None, optional
        Cell size in frame pixels for :meth:`cell_signals` (``None``, the default:
        band signals only, nothing extra is computed). The cells' linear kernels
        ``k_{b,c} = Im(h_b ⋆ (1_c conj q_ref))`` (the band filter correlated with the
        reference band restricted to the cell's tile of the band grid) form one
        ``(H*W, n_bands*n_cells)`` float32 matrix when it takes at most
        ``CELL_KERNEL_BYTES``; otherwise the cells are computed on the band grids
        (:meth:`visualmic.motion.PhaseMotion.linear_cell_signals`, about the phase
        method's cost). Not available with ``device``.

    Attributes
    ----------
    weights_sum : np.ndarray [shape=(n_bands,)]
        ``sum_x |q_ref|**2`` per band, as in :class:`~visualmic.motion.PhaseMotion`.
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
    >>> from visualmic.pyramid import SteerablePyramid
    >>> ref = np.random.default_rng(0).normal(128, 20, size=(32, 32))
    >>> fm = FastMotion(SteerablePyramid((32, 32), scales=2), ref)
    >>> fm(np.stack([ref, ref])).shape
    (8, 2)
    """

    def __init__(self, pyramid: SteerablePyramid, reference: np.ndarray, *, compact: bool = True,
                 max_phase: float = MAX_PHASE, warn: bool = True, device: str | None = None,
                 cell: int | None = None):
        _check_max_phase(max_phase)
        if cell is not None and device is not None:
            raise ParameterError(f"cell signals are not available with device={device!r}; "
                                 "omit the device (or the cells) to compute them with NumPy")
        ref = np.asarray(reference, dtype=np.float64)
        self.phase = PhaseMotion(pyramid, ref, compact=compact, cell=cell)  # validates ref
        self.pyramid = pyramid
        self.max_phase = float(max_phase)
        self.warn = bool(warn)
        self.weights_sum = self.phase.weights_sum
        self.kernels = _linear_kernels(self.phase, ref)
        self.reference = ref.astype(np.float32)
        self.last_excursion = float("nan")
        self.max_excursion = 0.0
        self.large_chunks = 0
        self.messages: list[str] = []
        self.warned: list[str] = []  # the messages issued as warnings
        self._work = None  # reused buffer for (frames - reference)
        self._device = None
        if device is not None:
            self._device = _TorchLinear(self.kernels, self.reference, device)
        self.cell_kernels = None
        if cell is not None:
            nbytes = self.kernels.shape[0] * self.n_bands * self.phase.n_cells * 4
            if nbytes <= CELL_KERNEL_BYTES:
                self.cell_kernels = _cell_kernels(self.phase, ref)

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
            ref = self.reference.reshape(1, -1)
            cells = np.empty((nb, nc, t))
            work = np.empty((min(_CELL_BATCH, t), flat.shape[1]), np.float32)
            with single_blas_thread():
                for t0 in range(0, t, _CELL_BATCH):
                    part = flat[t0 : t0 + _CELL_BATCH]
                    w = work[: len(part)]
                    np.subtract(part, ref, out=w, dtype=np.float32)
                    cells[:, :, t0 : t0 + len(part)] = (w @ self.cell_kernels).T.reshape(
                        nb, nc, len(part))
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
        if self._device is not None:
            s = self._device(frames)
        else:
            flat = frames.reshape(len(frames), -1)
            ref = self.reference.reshape(1, -1)
            s = np.empty((self.n_bands, len(frames)))
            if self._work is None:
                self._work = np.empty((_BATCH, flat.shape[1]), np.float32)
            with single_blas_thread():
                for t0 in range(0, len(frames), _BATCH):
                    part = flat[t0 : t0 + _BATCH]
                    work = self._work[: len(part)]
                    # Subtracting the reference first keeps the float32 products small
                    # (the kernels sum to zero against the reference): the float32
                    # product loses nothing.
                    np.subtract(part, ref, out=work, dtype=np.float32)
                    s[:, t0 : t0 + len(part)] = (work @ self.kernels).T
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
        with single_blas_thread():
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
        self._exact = self.phase
        if self._device is not None:
            self._exact = TorchPhaseMotion(self.phase, str(self._device.device))

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
            signals = self._exact(frames)
        return signals


def motion_estimator(pyramid: SteerablePyramid, reference: np.ndarray, *,
                     method: str = "phase", device: str | None = None,
                     max_phase: float = MAX_PHASE, cell: int | None = None):
    """Build the band-signal estimator for a method.

    Parameters
    ----------
    pyramid : SteerablePyramid
        Pyramid for the frame shape.
    reference : np.ndarray [shape=(H, W)]
        Reference frame in grey levels.
    method : {"phase", "fast", "auto"}, optional
        ``"phase"`` (default): :class:`~visualmic.motion.PhaseMotion`, the local phase
        differences of Davis et al. ``"fast"``: :class:`FastMotion`, linear in the
        frame, for motion well below a pixel (warns when the motion is too large).
        ``"auto"``: :class:`AutoMotion`, fast where accurate, phase elsewhere.
    device : str, optional
        ``None`` (default): NumPy on the CPU. A PyTorch device (``"cuda"``,
        ``"cuda:0"``, ``"cpu"``) runs the heavy part with PyTorch there.
    max_phase : float, optional
        Large-motion threshold of the fast and auto methods, in radians (default 0.25).
    cell : int or None, optional
        Cell size in frame pixels: the estimator then also has ``cell_signals``,
        ``cell_grid``, ``n_cells`` and ``cell_weights``. Not with ``device``.

    Returns
    -------
    callable
        ``estimator(frames (t, H, W)) -> (n_bands, t)`` band signals in radians, with
        attributes ``n_bands``, ``weights_sum`` and ``messages``.

    Raises
    ------
    ParameterError
        For an unknown method, or a device when PyTorch or the device is missing.
    """
    if method not in METHODS:
        raise ParameterError(f"method={method!r} must be one of {{'phase', 'fast', 'auto'}}")
    if device is not None:
        _torch_device(device)  # fail early
        if cell is not None:
            raise ParameterError(f"cell signals are not available with device={device!r}; "
                                 "omit the device (or the cells) to compute them with NumPy")
    if method == "fast":
        return FastMotion(pyramid, reference, max_phase=max_phase, device=device, cell=cell)
    if method == "auto":
        return AutoMotion(pyramid, reference, max_phase=max_phase, device=device, cell=cell)
    phase = PhaseMotion(pyramid, np.asarray(reference, dtype=np.float64), cell=cell)
    phase.messages = []
    if device is None:
        return phase
    return TorchPhaseMotion(phase, device)


def _check_max_phase(value) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(
        value, bool) and np.isfinite(value) and value > 0
    if not ok:
        raise ParameterError(f"max_phase={value!r} must be a positive number of radians "
                             "(e.g. 0.25)")


#: Largest cell-kernel matrix (bytes) :class:`FastMotion` builds (beyond it, cells are
#: computed on the band grids). 128×128 frames with 64 cells and 24 bands take 100 MB.
CELL_KERNEL_BYTES = 256 * 2**20


def _cell_kernels(phase: PhaseMotion, reference: np.ndarray) -> np.ndarray:
    """Kernels ``(H*W, n_bands*n_cells)`` float32: ``f @ k_{b,c}`` = cell ``c`` of band ``b``.

    For band ``b`` with box mask ``M`` (``n`` entries) and cell indicator ``1_c`` on
    the band grid, ``sum_{x in c} q_t(x) a(x)`` with ``a = 1_c conj(q_ref)`` equals
    ``sum_K F_t(K) M(K) ifft2(a)(K)``: the kernel is the imaginary part of the
    forward FFT of ``G_c = M * ifft2(a)`` placed at the box's frequencies.
    """
    H, W = phase.pyramid.shape
    nc = phase.n_cells
    out = np.empty((H * W, phase.n_bands * nc), dtype=np.float32)
    for b, plan in enumerate(phase._plan):
        rows, cols = phase._tiles[b]
        cell_id = (np.argmax(rows, axis=1)[:, None] * cols.shape[1]
                   + np.argmax(cols, axis=1)[None, :])  # (hb, wb)
        ref_conj = phase._ref_conj[b].astype(np.complex128)
        for c0 in range(0, nc, 16):  # 16 cells at a time bounds the memory
            ids = np.arange(c0, min(c0 + 16, nc))
            a = np.where(cell_id[None] == ids[:, None, None], ref_conj[None], 0)
            g_box = sfft.ifft2(a, axes=(-2, -1)) * plan.mask
            g = np.zeros((len(ids), H, W), dtype=np.complex128)
            g[:, plan.rows[:, None], plan.cols[None, :]] = g_box
            k = sfft.fft2(g, axes=(-2, -1)).imag / phase.weights_sum[b]
            out[:, b * nc + ids] = k.reshape(len(ids), -1).T
    return out


def _linear_kernels(phase: PhaseMotion, reference: np.ndarray) -> np.ndarray:
    """Kernels ``(H*W, n_bands)`` float32 with ``f @ k_b = sum Im(q_t conj q_ref) / S_b``."""
    H, W = phase.pyramid.shape
    spec = sfft.fft2(reference)
    kernels = np.empty((H * W, phase.n_bands), dtype=np.float32)
    for b, plan in enumerate(phase._plan):
        rows, cols, mask = plan.rows, plan.cols, plan.mask.astype(np.complex128)
        n = mask.size
        g = np.zeros((H, W), dtype=np.complex128)
        g[rows[:, None], cols[None, :]] = (np.abs(mask) ** 2) * np.conj(
            spec[rows[:, None], cols[None, :]]) / n
        # sum_K F_t(K) G(K) = sum_x f_t(x) FFT2(G)(x): the kernel is its imaginary part.
        k = sfft.fft2(g).imag / phase.weights_sum[b]
        kernels[:, b] = k.reshape(-1)
    return kernels


# --------------------------------------------------------------------------- PyTorch


def _torch_device(device: str):
    """Return ``(torch, torch.device)`` for ``device``, or raise ParameterError."""
    if not isinstance(device, str) or not device:
        raise ParameterError(f"device={device!r} must be a PyTorch device name such as "
                             "'cuda', 'cuda:0' or 'cpu'")
    try:
        import torch
    except ImportError:
        raise ParameterError(
            f"device={device!r} needs PyTorch, which is not installed; install torch or "
            "omit --device to compute with NumPy"
        ) from None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ParameterError(
            f"device={device!r} is not a PyTorch device; use 'cuda', 'cuda:0' or 'cpu'"
        ) from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(
            f"device={device!r}: PyTorch sees no CUDA GPU here; omit --device to use the CPU"
        )
    return torch, dev


class _TorchLinear:
    """The linear estimator's matrix product with PyTorch on a device."""

    def __init__(self, kernels: np.ndarray, reference: np.ndarray, device: str):
        torch, self.device = _torch_device(device)
        self._torch = torch
        self.kernels = torch.from_numpy(np.ascontiguousarray(kernels)).to(self.device)
        self.reference = torch.from_numpy(reference.reshape(1, -1).copy()).to(self.device)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
            x = x.reshape(len(frames), -1).to(self.device) - self.reference
            y = x @ self.kernels
        return y.T.double().cpu().numpy()


class TorchPhaseMotion:
    """The phase method (:class:`~visualmic.motion.PhaseMotion`) with PyTorch on a device.

    Parameters
    ----------
    phase : PhaseMotion
        The NumPy estimator whose bands, reference and weights are used.
    device : str
        PyTorch device (``"cuda"``, ``"cpu"``, ...).
    """

    def __init__(self, phase: PhaseMotion, device):
        torch, self.device = _torch_device(str(device))
        self._torch = torch
        self.pyramid = phase.pyramid
        self.weights_sum = phase.weights_sum
        self.messages: list[str] = []
        H, W = phase.pyramid.shape
        self._bands = []
        for i, plan in enumerate(phase._plan):
            flat = (plan.rows[:, None] * W + plan.cols[None, :]).reshape(-1)
            self._bands.append((
                plan.mask.shape,
                torch.from_numpy(flat.astype(np.int64)).to(self.device),
                torch.from_numpy(np.ascontiguousarray(plan.mask, np.complex64)).to(self.device),
                torch.from_numpy(np.ascontiguousarray(phase._ref_conj[i], np.complex64)).to(
                    self.device),
                torch.from_numpy(np.ascontiguousarray(phase._w[i], np.float32)).to(self.device),
            ))

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return len(self._bands)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals ``(n_bands, t)`` float64 of frames ``(t, H, W)``, in radians."""
        torch = self._torch
        frames = self.pyramid._check(frames)
        t = len(frames)
        out = np.empty((self.n_bands, t))
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)).to(self.device)
            spec = torch.fft.fft2(x).reshape(t, -1)
            for i, (shape, flat, mask, ref_conj, w) in enumerate(self._bands):
                sub = spec.index_select(1, flat).reshape((t,) + shape) * mask
                q = torch.fft.ifft2(sub) * ref_conj
                dphi = torch.angle(q)
                out[i] = (dphi * w).sum(dim=(1, 2)).double().cpu().numpy()
        return out / self.weights_sum[:, None]


# --------------------------------------------------------------------------- threading


def _openblas_controls() -> list:
    """``(get, set)`` thread-count functions of the OpenBLAS libraries loaded (maybe none)."""
    global _BLAS_CONTROLS
    if _BLAS_CONTROLS is not None:
        return _BLAS_CONTROLS
    import ctypes
    import glob
    import os

    found = []
    paths = set()
    try:  # Linux: the libraries mapped into this process
        with open("/proc/self/maps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 6 and "openblas" in os.path.basename(parts[-1]).lower():
                    paths.add(parts[-1])
    except OSError:  # elsewhere: the copy bundled with NumPy, if any
        base = os.path.dirname(np.__file__)
        for pattern in ("../numpy.libs/*openblas*", ".dylibs/*openblas*"):
            paths.update(glob.glob(os.path.join(base, pattern)))
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    found.append((get, put))
                    break
            else:
                continue
            break
    _BLAS_CONTROLS = found
    return found


_BLAS_CONTROLS = None
_BLAS_LOCK = threading.Lock()


class single_blas_thread:
    """Context manager: OpenBLAS computes on one thread inside (restored on exit).

    While a video is decoded on another thread, a multi-threaded BLAS call on two
    cores makes its threads wait for the decoder (OpenBLAS threads spin while they
    wait): measured here, the fast estimator's matrix products then cost ten times
    the CPU time. Small products gain nothing from threads anyway. A no-op where
    the BLAS is not OpenBLAS.
    """

    def __enter__(self):
        self._saved = []
        controls = _openblas_controls()
        if controls:
            _BLAS_LOCK.acquire()
            for get, put in controls:
                n = int(get())
                self._saved.append((put, n))
                if n != 1:
                    put(1)
        return self

    def __exit__(self, *exc):
        if self._saved:
            for put, n in self._saved:
                if n != 1:
                    put(n)
            _BLAS_LOCK.release()
        return False



_DONE = object()


def prefetch(iterable: Iterable, *, depth: int = 2) -> Iterator:
    """Iterate ``iterable`` on a background thread, ``depth`` items ahead.

    Used to decode video while the previous chunk is processed: PyAV, NumPy and
    SciPy's FFTs release the GIL, so on two cores decoding and computing overlap.

    Parameters
    ----------
    iterable : iterable
        Produces the items (e.g. ``reader.chunks(...)``); it is iterated, and closed,
        on the background thread.
    depth : int, optional
        Items buffered ahead (default 2): memory is ``depth + 2`` items at most.

    Yields
    ------
    object
        The items, in order. An exception raised by the iterable is re-raised here.
    """
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ParameterError(f"depth={depth!r} must be a positive integer")
    q: queue.Queue = queue.Queue(maxsize=int(depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = iter(iterable)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="visualmic-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()


# --------------------------------------------------------------------------- long videos

#: Samples of band signals on which :func:`combine_long` estimates the combination
#: (about 7.4 s at 2200 fps); shorter signals use every sample.
COMBINE_WINDOW = 16384


def combine_long(signals: np.ndarray, *, max_lag: int = 10, weighting: str = "ml",
                 window: int = COMBINE_WINDOW, blocks: int = 8):
    """Combine band signals of any length in bounded time and memory.

    Signals of at most ``window`` samples go to :func:`visualmic.align.combine_bands`
    unchanged. For longer ones, the combination (strongest band, lags, signs and
    weights) is estimated by :func:`~visualmic.align.combine_bands` on ``blocks``
    evenly spaced excerpts totalling ``window`` samples, then applied to the whole
    signals one band at a time: the memory beyond the signals themselves is
    ``O(window * n_bands + T)`` and the time ``O(T * n_bands)``, whatever the length.

    Parameters
    ----------
    signals : np.ndarray [shape=(n_bands, T)]
        High-passed (zero-mean) band signals.
    max_lag : int, optional
        Bound on the alignment shift in samples (default 10).
    weighting : {"ml", "uniform"}, optional
        Band weights (see :func:`~visualmic.align.combine_bands`).
    window : int, optional
        Samples used to estimate the combination (default 16384).
    blocks : int, optional
        Number of excerpts (default 8), spread over the whole signal.

    Returns
    -------
    visualmic.align.Combination
        As from :func:`~visualmic.align.combine_bands`; for long signals ``aligned`` is
        None and ``gains``, ``noise_var`` and ``snr_db`` describe the excerpts.
    """
    from dataclasses import replace

    from .align import _shift, combine_bands

    s = np.asarray(signals)
    if s.ndim != 2:
        raise ParameterError(f"band signals must have shape (n_bands, T), got {s.shape}")
    if not isinstance(window, (int, np.integer)) or window < 64:
        raise ParameterError(f"window={window!r} must be an integer >= 64 samples")
    if not isinstance(blocks, (int, np.integer)) or not 1 <= blocks <= window // 32:
        raise ParameterError(f"blocks={blocks!r} must be an integer from 1 to window/32")
    n, T = s.shape
    with single_blas_thread():  # small products: threads only add overhead
        if T <= window:
            return combine_bands(s, max_lag=max_lag, weighting=weighting)
        length = window // blocks
        starts = np.linspace(0, T - length, blocks).round().astype(int)
        excerpt = np.concatenate([s[:, a : a + length] for a in starts], axis=1)
        comb = combine_bands(excerpt, max_lag=max_lag, weighting=weighting)
    y = np.zeros(T)
    for b in range(n):
        band = np.asarray(s[b], dtype=np.float64)
        band = band - band.mean()
        y += (comb.weights[b] * comb.signs[b]) * _shift(band, int(comb.lags[b]))
    return replace(comb, signal=y, aligned=None)
