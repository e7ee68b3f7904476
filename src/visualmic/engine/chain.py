"""THE estimator chain: reference frame -> estimator -> band signals of frames.

Every way of running visualmic goes through this one chain: :func:`~visualmic.recover`
(in this process), :func:`~visualmic.engine.stream.listen` (live) and
:func:`~visualmic.engine.dask.band_signals` (frame ranges on Dask workers). A runner
decides only *where* and *when* frames go through it, so that the same frames give
the same signals whichever runner carries them.

The chain's contract:

* the reference frame is the mean of the first ``reference`` frames of the range
  (float64), taken from the first chunks;
* the first chunks are gathered until they hold the reference frames and are then
  processed as one batch (so that a chunk-aligned split of a video gives the same
  batches, hence bit-identical signals, in every runner);
* the estimator is one of :data:`METHODS` (:class:`~visualmic.core.motion.PhaseMotion`,
  :class:`~visualmic.core.linear.FastMotion`, :class:`~visualmic.core.linear.AutoMotion`),
  computed with NumPy, or with PyTorch on a ``device``
  (:mod:`visualmic.engine.torch`, imported only then);
* matrix products run with the BLAS on one thread (:class:`~visualmic.engine.threads.
  single_blas_thread`), so that they do not fight the decoder thread for the cores.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from .._errors import ParameterError, VisualMicWarning
from .._validate import check_choice
from ..core.linear import MAX_PHASE, AutoMotion, FastMotion
from ..core.motion import PhaseMotion
from ..core.pyramid import SteerablePyramid
from .threads import single_blas_thread

__all__ = ["METHODS", "Chain", "ChainSignals", "build_estimator", "reference_frame",
           "check_method", "frame_outliers"]

#: Band motion estimators: local phase differences, the linear estimator, or the linear
#: estimator with the phase method where the motion is large.
METHODS = ("phase", "fast", "auto")


def check_method(method, device=None) -> None:
    """Validate an estimator choice (and the PyTorch device, when given) early.

    Raises
    ------
    ParameterError
        For an unknown method, or a device when PyTorch or the device is missing.
    """
    check_choice("method", method, METHODS)
    if device is not None:
        from .torch import torch_device

        torch_device(device)


def build_estimator(pyramid: SteerablePyramid, reference: np.ndarray, *,
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
        ``"phase"`` (default): :class:`~visualmic.core.motion.PhaseMotion`, the local
        phase differences of Davis et al. ``"fast"``:
        :class:`~visualmic.core.linear.FastMotion`, linear in the frame, for motion well
        below a pixel (warns when the motion is too large). ``"auto"``:
        :class:`~visualmic.core.linear.AutoMotion`, fast where accurate, phase elsewhere.
    device : str, optional
        ``None`` (default): NumPy on the CPU. A PyTorch device (``"cuda"``,
        ``"cuda:0"``, ``"cpu"``) runs the heavy part with PyTorch there.
    max_phase : float, optional
        Large-motion threshold of the fast and auto methods, in radians (default 0.25).
    cell : int, optional
        Cell size in frame pixels: the estimator then also gives per-cell signals
        (``cell_signals(frames) -> (n_bands, n_cells, t)``, ``cell_grid``,
        ``cell_weights``); default None: whole bands only.

    Returns
    -------
    callable
        ``estimator(frames (t, H, W)) -> (n_bands, t)`` band signals in radians, with
        attributes ``n_bands``, ``weights_sum`` and ``messages``.

    Raises
    ------
    ParameterError
        For an unknown method, or a device when PyTorch or the device is missing.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.core.pyramid import SteerablePyramid
    >>> frames = np.random.default_rng(0).normal(128, 30, (4, 32, 32)).astype(np.float32)
    >>> est = build_estimator(SteerablePyramid((32, 32)), frames[0], method="phase")
    >>> est(frames).shape
    (12, 4)
    """
    check_method(method, device)
    if cell is not None and device is not None:
        raise ParameterError(f"cell signals are not available with device={device!r}; omit "
                             "the device (or use --weighting ml) to compute them with NumPy")
    cells = {} if cell is None else {"cell": cell}
    if method == "phase":
        est = PhaseMotion(pyramid, np.asarray(reference, dtype=np.float64), **cells)
        est.messages = []
        if device is None:
            return est
        from .torch import TorchPhaseMotion

        return TorchPhaseMotion(est, device)
    cls = FastMotion if method == "fast" else AutoMotion
    est = cls(pyramid, reference, max_phase=max_phase, **cells)
    if device is not None:
        from .torch import TorchLinear, TorchPhaseMotion

        est.backend = TorchLinear(est.kernels, est.reference, device)
        if method == "auto":
            est.exact = TorchPhaseMotion(est.phase, device)
    return est


#: Early frames the reference frames are compared with (their median), to detect a
#: damaged reference (a corrupt or concealed frame, zeroed blocks).
REFERENCE_WINDOW = 32
#: A reference frame is an outlier when its mean absolute difference to that median
#: exceeds this multiple of the typical frame's (and the spread of the others).
OUTLIER_FACTOR = 3.0


def reference_frame(frames: np.ndarray, k: int) -> np.ndarray:
    """The reference frame: the mean of the first ``k`` frames, in float64.

    The first frames are checked against their neighbours (:func:`frame_outliers`);
    if one of the ``k`` frames is an outlier (a damaged frame: everything would be
    measured against it), the reference is instead the median of up to 16 good early
    frames, and a :class:`~visualmic.VisualMicWarning` says which frames were skipped.
    On clean videos the result is exactly the mean of the first ``k`` frames.

    Parameters
    ----------
    frames : np.ndarray [shape=(t, H, W)]
        The first frames of the range (if fewer than ``k``, all of them are used).
    k : int
        Frames averaged.

    Returns
    -------
    np.ndarray [shape=(H, W), dtype=float64]
    """
    bad = frame_outliers(frames)
    if not bad.size or bad.min() >= k:
        return np.asarray(frames[:k]).astype(np.float64).mean(axis=0)
    window = np.asarray(frames[:max(REFERENCE_WINDOW, k)])
    good = np.setdiff1d(np.arange(len(window)), bad)[:16]
    ref = np.median(window[good].astype(np.float64), axis=0)
    shown = ", ".join(str(i) for i in bad[:12]) + (", ..." if bad.size > 12 else "")
    warnings.warn(f"frame(s) {shown} of the range differ strongly from their neighbours "
                  f"(damaged?); the reference frame is the median of frames {good[0]}-{good[-1]} "
                  "instead", VisualMicWarning, stacklevel=2)
    return ref


def frame_outliers(frames: np.ndarray, window: int = REFERENCE_WINDOW) -> np.ndarray:
    """Indices of early frames that differ strongly from the median of the first ``window``.

    Each frame's mean absolute difference to the per-pixel median of the first
    ``window`` frames (on at most about 16384 pixels) is compared with the median of
    those differences: more than :data:`OUTLIER_FACTOR` times it, and more than 8
    robust deviations above it, is an outlier. Needs at least 5 frames (fewer: none).

    Examples
    --------
    >>> f = np.random.default_rng(0).normal(128, 20, (1, 32, 32)).repeat(20, axis=0)
    >>> f = f + np.random.default_rng(1).normal(0, 1, f.shape)
    >>> f[0, :16] = 0  # a zeroed block over frame 0
    >>> frame_outliers(f)
    array([0])
    """
    arr = np.asarray(frames[:window])
    if arr.ndim != 3 or len(arr) < 5:
        return np.empty(0, dtype=int)
    step = max(1, int(np.sqrt(arr.shape[1] * arr.shape[2] / 16384)))
    sub = arr[:, ::step, ::step].astype(np.float64)
    med = np.median(sub, axis=0)
    d = np.abs(sub - med).mean(axis=(1, 2))
    if not np.all(np.isfinite(d)):
        return np.flatnonzero(~np.isfinite(d))
    typical = float(np.median(d))
    spread = 1.4826 * float(np.median(np.abs(d - typical)))
    floor = 1e-3 * float(np.abs(med - med.mean()).mean()) + 1e-9 * float(np.abs(med).max())
    limit = max(OUTLIER_FACTOR * typical, typical + 8 * spread, floor)
    return np.flatnonzero(d > limit)


@dataclass
class ChainSignals:
    """Band signals of a range of frames (see :meth:`Chain.run`).

    Attributes
    ----------
    signals : np.ndarray [shape=(n_bands, T), dtype=float64]
        Band signals in radians, in frame order (not high-passed).
    n_frames : int
        Frames processed.
    messages : list of str
        Notes from the estimator (e.g. that large motion was met).
    warned : list of str
        Those of ``messages`` the estimator issued as warnings.
    cells : np.ndarray [shape=(n_bands, n_cells, T), dtype=float32] or None
        Per-cell signals when the chain has cells (``signals`` is then their sum over
        cells, in float64); see :meth:`visualmic.core.motion.PhaseMotion.cell_signals`.
    brightness : np.ndarray [shape=(n_cells, T), dtype=float32] or None
        With cells: each cell's mean grey level per frame (to recognise flicker).
    """

    signals: np.ndarray
    n_frames: int
    messages: list = field(default_factory=list)
    warned: list = field(default_factory=list)
    cells: np.ndarray | None = None
    brightness: np.ndarray | None = None


class Chain:
    """One estimator chain: reference set-up, estimator choice, signals of frame ranges.

    Parameters
    ----------
    pyramid : SteerablePyramid
        Pyramid for the frame shape.
    method : {"phase", "fast", "auto"}, optional
        Estimator (see :func:`build_estimator`; default "phase").
    device : str, optional
        PyTorch device for the estimator (default None: NumPy).
    reference : int, optional
        Frames averaged into the reference frame (default 1: the first frame).
    max_phase : float, optional
        Large-motion threshold of the fast and auto methods (radians).
    cell : int, optional
        Cell size in frame pixels: :meth:`run` then also returns per-cell signals.

    Attributes
    ----------
    estimator : callable or None
        The estimator, once the reference is known.
    reference_image : np.ndarray [shape=(H, W)] or None
        The reference frame the estimator was built against.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.core.pyramid import SteerablePyramid
    >>> frames = np.random.default_rng(0).normal(128, 30, (40, 32, 32)).astype(np.float32)
    >>> chain = Chain(SteerablePyramid((32, 32)), method="phase", reference=4)
    >>> out = chain.run(frames[i : i + 16] for i in range(0, 40, 16))
    >>> out.signals.shape, out.n_frames
    ((12, 40), 40)
    """

    def __init__(self, pyramid: SteerablePyramid, *, method: str = "phase",
                 device: str | None = None, reference: int = 1, max_phase: float = MAX_PHASE,
                 cell: int | None = None):
        check_method(method, device)
        if isinstance(reference, bool) or not isinstance(reference, (int, np.integer)) \
                or reference < 1:
            raise ParameterError(f"reference={reference!r} must be a positive integer")
        self.pyramid = pyramid
        self.method = method
        self.device = device
        self.reference = int(reference)
        self.max_phase = max_phase
        self.cell = cell
        self.estimator = None
        self.reference_image = None

    @property
    def n_bands(self) -> int:
        """Number of band signals."""
        return self.pyramid.n_bands

    def set_reference(self, reference: np.ndarray):
        """Build the estimator against a reference frame ``(H, W)``; return it."""
        self.reference_image = np.asarray(reference)
        self.estimator = build_estimator(self.pyramid, reference, method=self.method,
                                         device=self.device, max_phase=self.max_phase,
                                         cell=self.cell)
        return self.estimator

    def first_batch(self, chunks: Iterable[np.ndarray]) -> np.ndarray | None:
        """Gather the first chunks until they hold the reference frames.

        Returns the concatenated batch (None for an empty input) and leaves the rest
        of ``chunks`` unread.
        """
        pending, have = [], 0
        for chunk in chunks:
            pending.append(chunk)
            have += len(chunk)
            if have >= self.reference:
                break
        if not pending:
            return None
        return np.concatenate(pending) if len(pending) > 1 else pending[0]

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Band signals ``(n_bands, t)`` of a chunk (the reference must be set)."""
        if self.estimator is None:
            raise ParameterError("the chain has no reference frame yet; call set_reference "
                                 "or run")
        with single_blas_thread():
            return self.estimator(frames)

    def cell_signals(self, frames: np.ndarray) -> np.ndarray:
        """Per-cell signals ``(n_bands, n_cells, t)`` of a chunk (the chain needs ``cell``)."""
        if self.estimator is None:
            raise ParameterError("the chain has no reference frame yet; call set_reference "
                                 "or run")
        with single_blas_thread():
            return self.estimator.cell_signals(frames)

    def run(self, chunks: Iterable[np.ndarray], *, gather_first: bool = True) -> ChainSignals:
        """Band signals of consecutive chunks of frames.

        Parameters
        ----------
        chunks : iterable of np.ndarray [shape=(t, H, W)]
            Consecutive frames in grey levels (e.g. ``reader.chunks(128)``).
        gather_first : bool, optional
            Gather the first chunks into one batch until they hold the reference
            frames (default True: the start of a range). A Dask task that starts
            later in the video passes False.

        Returns
        -------
        ChainSignals
        """
        it = iter(chunks)
        pieces, cells, n = [], [], 0
        step = self._step_cells if self.cell is not None else self
        if gather_first or self.estimator is None:
            first = self.first_batch(it)
            if first is not None:
                if self.estimator is None:
                    self.set_reference(reference_frame(first, self.reference))
                pieces.append(step(first))
                n += len(first)
        for chunk in it:
            pieces.append(step(chunk))
            n += len(chunk)
        brightness = []
        if self.cell is not None:  # (bands, cells, brightness): keep cells in float32
            cells = [c for _, c, _ in pieces]
            brightness = [m for _, _, m in pieces]
            pieces = [b for b, _, _ in pieces]
        if pieces:
            signals = np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
        else:
            signals = np.empty((self.n_bands, 0))
        est = self.estimator
        return ChainSignals(signals=signals, n_frames=n,
                            messages=list(getattr(est, "messages", []) or []),
                            warned=list(getattr(est, "warned", []) or []),
                            cells=np.concatenate(cells, axis=-1) if cells else None,
                            brightness=(np.concatenate(brightness, axis=-1) if brightness
                                        else None))

    def _step_cells(self, frames: np.ndarray) -> tuple:
        """Band signals (sum over cells), cell signals (float32), cell brightness of a chunk."""
        c = self.cell_signals(frames)
        f = np.asarray(frames, dtype=np.float32)
        bright = np.stack([f[:, y:y + h, x:x + w].mean(axis=(1, 2))
                           for x, y, w, h in self.estimator.cell_grid])
        return c.sum(axis=1), c.astype(np.float32), bright
