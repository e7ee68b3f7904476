"""Per-row motion of rolling-shutter frames: robust reference and matched filters.

Public names are re-exported by :mod:`visualmic.core.rolling`.  Frames are
``(T, H, W)`` float grey levels; displacements in pixels, positive to the
right (x) and down (y): ``frame(x, y) = I(x − dx, y − dy)``.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from .._errors import ParameterError, VideoError
from .._validate import finite_number

__all__ = ["ReferenceSampler", "derivative_taps", "central_difference", "edge_derivative",
           "RowMotion", "principal_direction", "AXES"]

#: Motion components :class:`RowMotion` can measure.
AXES = ("x", "xy")


class ReferenceSampler:
    """Keep up to ``k`` frames spread evenly over a stream; their median is the reference.

    A single frame is a poor reference for rolling-shutter motion: each of its
    rows is itself displaced by the motion at its instant.  The per-pixel
    median of many frames spread over the clip is displaced by (about) the
    median motion, the same for every row, and is robust to a few bad frames.
    Memory is bounded: when ``k`` frames are held, every other one is dropped
    and the stride doubles.

    Parameters
    ----------
    k : int, default 64
        Most frames held (memory ``k · H · W · 4`` bytes).

    Examples
    --------
    >>> s = ReferenceSampler(4)
    >>> for i in range(10):
    ...     s.add(np.full((1, 2, 2), float(i)))
    >>> s.frames_held, float(s.reference()[0, 0])
    (3, 4.0)
    """

    def __init__(self, k: int = 64):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ParameterError(f"reference={k!r} must be a positive number of frames")
        self.k = int(k)
        self.stride = 1
        self.seen = 0
        self._held: list[np.ndarray] = []

    @property
    def frames_held(self) -> int:
        """Number of frames currently kept."""
        return len(self._held)

    def held_indices(self) -> list[int]:
        """Stream indices of the frames kept (multiples of the current stride)."""
        return [i * self.stride for i in range(len(self._held))]

    def add(self, block: np.ndarray) -> None:
        """Offer a block of frames ``(t, H, W)``."""
        for frame in np.asarray(block):
            if self.seen % self.stride == 0:
                self._held.append(np.array(frame, dtype=np.float32))
                if len(self._held) > self.k:
                    self._held = self._held[::2]
                    self.stride *= 2
            self.seen += 1

    def reference(self) -> np.ndarray:
        """Per-pixel median of the frames held, ``(H, W)`` float64."""
        if not self._held:
            raise VideoError("no frames to build a reference from; give a longer video")
        return np.median(np.stack(self._held), axis=0).astype(np.float64)


def derivative_taps(half: int = 8) -> np.ndarray:
    """Kaiser-windowed ideal differentiator, ``2·half + 1`` taps (correlation form).

    ``scipy.ndimage.correlate1d(row, taps)`` approximates ``d row / dx``; the
    response is within 0.2 % of ``i·ω`` up to 0.35 cycles/px for ``half=8``
    (a 3-tap central difference is 20 % low at 0.2 cycles/px, which would
    make the gain of each row depend on its texture).
    """
    k = np.arange(-half, half + 1, dtype=np.float64)
    h = np.zeros_like(k)
    nz = k != 0
    h[nz] = -np.cos(np.pi * k[nz]) / k[nz]  # derivative of the sinc interpolant at 0
    return h * np.kaiser(2 * half + 1, 5.0)


def central_difference(m: int) -> np.ndarray:
    """Central finite-difference derivative of accuracy order ``2m`` (``2m + 1`` taps).

    Exact for polynomials of degree ``2m``; used near the top and bottom edges
    where the long differentiator does not fit.

    Examples
    --------
    >>> (central_difference(2) * 12).round(6).tolist()
    [1.0, -8.0, 0.0, 8.0, -1.0]
    """
    k = np.arange(1, m + 1)
    c = np.array([(-1.0) ** (j + 1) * math.factorial(m) ** 2
                  / (j * math.factorial(m - j) * math.factorial(m + j)) for j in k])
    return np.concatenate((-c[::-1], [0.0], c))


def edge_derivative(ref: np.ndarray, half: int, axis: int) -> np.ndarray:
    """∂ref along ``axis``: :func:`derivative_taps` inside, shorter central differences near edges.

    Samples within ``half`` of an edge use :func:`central_difference` of the
    largest order that fits; the first and last samples get 0 (use them not).
    """
    taps = derivative_taps(half)
    out = np.moveaxis(ndimage.correlate1d(ref, taps, axis=axis, mode="nearest"), axis, 0).copy()
    src = np.moveaxis(ref, axis, 0)
    n = src.shape[0]
    for y in sorted(set(range(min(half, n))) | set(range(max(n - half, 0), n))):
        m = min(y, n - 1 - y)
        out[y] = 0.0 if m == 0 else np.tensordot(central_difference(min(m, half)),
                                                 src[y - min(m, half):y + min(m, half) + 1], 1)
    return np.moveaxis(out, 0, axis)


class RowMotion:
    """Per-row displacement of frames against a reference (matched filter).

    Built once from the reference frame; then applied to any number of frame
    blocks.  For each row ``y`` with reference ``R_y(x)`` and its horizontal
    derivative ``g_y(x)``, the displacement of a frame row ``I_y`` is the
    least-squares (maximum-likelihood under white noise) solution of
    ``I_y − R_y ≈ −dx · g_y``:

        dx = −Σ_x g_y(x) (I_y(x) − R_y(x)) / Σ_x g_y(x)²,

    with variance ``σ² / Σ_x g_y²`` (the per-row Cramér–Rao bound).

    With ``axes="xy"`` the vertical derivative of the *reference*
    ``h_y(x) = ∂R/∂y`` joins the model, ``I_y − R_y ≈ −dx · g_y − dy · h_y``,
    and the 2×2 least-squares problem of each row gives both components: a
    row cannot be matched with a vertically shifted copy of itself, but the
    reference (built from many frames) knows how the scene changes from row
    to row.  Near the top and bottom edges the vertical derivative uses
    shorter central differences; the first and last rows are invalid.

    Rows with less than ``min_info`` times the median information (no
    texture along the row; with ``"xy"``: the smallest eigenvalue of the
    row's 2×2 information matrix) are flagged invalid and get no weight
    later (they become gaps).  Valid for displacements well below one pixel.

    Parameters
    ----------
    reference : np.ndarray [shape=(H, W)]
        The undisplaced reference (e.g. :meth:`ReferenceSampler.reference`).
    half : int, default 8
        Half-length of the derivative filter (:func:`derivative_taps`);
        within ``half`` of the edges shorter central differences are used
        (:func:`edge_derivative`), and the first and last columns are not
        used.
    min_info : float, default 0.05
        Rows below this fraction of the median information are invalid.
    axes : {"x", "xy"}, default "x"
        Measure the horizontal displacement only, or both components.

    Attributes
    ----------
    info : np.ndarray [shape=(H,)]
        Σ g² per row (grey levels² / px²); with ``"xy"`` the smallest
        eigenvalue of the row's information matrix.
    valid : np.ndarray [shape=(H,)], bool
    fisher : np.ndarray [shape=(H, n, n)]
        Information matrix of each row (``n`` = 1 or 2 components), per unit
        noise variance.
    """

    def __init__(self, reference, *, half: int = 8, min_info: float = 0.05, axes: str = "x"):
        ref = np.asarray(reference, dtype=np.float64)
        if ref.ndim != 2:
            raise ParameterError(f"reference of shape {ref.shape} must be one frame (H, W)")
        if isinstance(half, bool) or not isinstance(half, (int, np.integer)) or half < 1:
            raise ParameterError(f"half={half!r} must be a positive integer")
        if axes not in AXES:
            raise ParameterError(f"axes={axes!r} is unknown; choose 'x' or 'xy'")
        min_info = finite_number("min_info", min_info, minimum=0)
        if ref.shape[1] < 8:
            raise ParameterError(
                f"frames {ref.shape[1]} px wide are too narrow for per-row motion; "
                "give at least 8 columns (a wider --roi)"
            )
        if axes == "xy" and ref.shape[0] < 8:
            raise ParameterError(f"frames {ref.shape[0]} rows high are too short for axes='xy'; "
                                 "give at least 8 rows")
        self.half, self.axes, self.shape = int(half), axes, ref.shape
        grads = [edge_derivative(ref, self.half, axis=1)[:, 1:-1]]
        if axes == "xy":
            grads.append(edge_derivative(ref, self.half, axis=0)[:, 1:-1])
        self.grads = np.stack(grads, axis=-1)  # (H, W - 2, n)
        self.ref = ref[:, 1:-1].astype(np.float32)
        self.fisher = np.einsum("yxi,yxj->yij", self.grads, self.grads)
        self.info = np.linalg.eigvalsh(self.fisher)[:, 0]
        med = float(np.median(self.info))
        # Absolute floor: an RMS gradient below 1e-4 of the brightest grey level per
        # pixel is no texture (float round-off of a flat frame, not signal).
        floor = self.ref.shape[1] * (1e-4 * max(float(np.abs(ref).max()), 1e-30)) ** 2
        self.valid = self.info > max(min_info * med, floor)
        if axes == "xy":
            self.valid[0] = self.valid[-1] = False  # no vertical derivative there
        if not self.valid.any():
            raise VideoError("the frames have no texture along the rows; per-row motion "
                             "needs a textured surface (choose another --roi)")
        inv = np.zeros_like(self.fisher)
        inv[self.valid] = np.linalg.inv(self.fisher[self.valid])
        self.inv_fisher = inv
        # d = −F⁻¹ Σ_x g (I − R): one filter per component, (H, W', n)
        self._filt = (-np.einsum("yij,yxj->yxi", inv, self.grads)).astype(np.float32)

    def __call__(self, frames) -> np.ndarray:
        """Displacements of a block of frames ``(t, H, W)`` in px (0 for invalid rows).

        Returns ``(t, H)`` (``axes="x"``) or ``(t, H, 2)`` (``axes="xy"``: dx, dy).
        """
        block = np.asarray(frames, dtype=np.float32)
        if block.ndim == 2:
            block = block[None]
        if block.shape[1:] != self.shape:
            raise ParameterError(f"frames of shape {block.shape[1:]} do not match the "
                                 f"reference {self.shape}")
        diff = block[:, :, 1:-1] - self.ref
        d = np.einsum("tyx,yxi->tyi", diff, self._filt, dtype=np.float64)
        return d[..., 0] if self.axes == "x" else d

    def residual_energy(self, frames, d) -> np.ndarray:
        """Per frame and row, Σ_x of the squared residual of the linear model (grey levels²).

        ``Σ_x (I − R)² − dᵀ F d`` (the least-squares identity), ``(t, H)``;
        divided by the number of columns used (``W − 2``) and averaged
        over frames it estimates the noise variance of the frames.
        """
        block = np.asarray(frames, dtype=np.float32)
        if block.ndim == 2:
            block = block[None]
        diff = block[:, :, 1:-1] - self.ref
        total = np.einsum("tyx,tyx->ty", diff, diff, dtype=np.float64)
        dd = np.asarray(d, dtype=np.float64)
        dd = dd[..., None] if self.axes == "x" else dd
        return total - np.einsum("tyi,yij,tyj->ty", dd, self.fisher, dd)

    @property
    def columns(self) -> int:
        """Columns used per row (``W − 2``)."""
        return self.ref.shape[1]

    def noise_var(self, sigma2: float, direction=None) -> np.ndarray:
        """Per-row variance (px²) of the displacement along ``direction`` (unit vector).

        ``sigma2 · u^T F⁻¹ u`` with ``u = (1,)`` for ``axes="x"``; inf for invalid rows.
        """
        u = np.array([1.0]) if self.axes == "x" else np.asarray(direction, dtype=np.float64)
        out = np.full(self.info.shape, np.inf)
        out[self.valid] = sigma2 * np.einsum("i,yij,j->y", u, self.inv_fisher[self.valid], u)
        return out


def principal_direction(d, valid) -> np.ndarray:
    """Unit vector of the dominant direction of 2-D per-row motion (PCA).

    Parameters
    ----------
    d : np.ndarray [shape=(T, H, 2)]
        Per-row ``(dx, dy)`` with the fixed pattern removed.
    valid : np.ndarray [shape=(H,)], bool

    Returns
    -------
    np.ndarray [shape=(2,)]
        ``(cos θ, sin θ)`` of the principal axis, with θ in (−90°, 90°]
        (the sign of the audio does not matter).

    Examples
    --------
    >>> t = np.linspace(0, 1, 50)[:, None, None]
    >>> d = np.sin(40 * t) * np.array([0.6, 0.8]) * np.ones((1, 3, 1))
    >>> principal_direction(d, np.ones(3, bool)).round(3).tolist()
    [0.6, 0.8]
    """
    v = np.asarray(d, dtype=np.float64)[:, np.asarray(valid, dtype=bool)].reshape(-1, 2)
    cov = v.T @ v
    w, vec = np.linalg.eigh(cov)
    u = vec[:, -1]
    if u[0] < 0 or (u[0] == 0 and u[1] < 0):
        u = -u
    if not math.isfinite(float(u[0])):  # pragma: no cover - eigh of a finite matrix
        return np.array([1.0, 0.0])
    return u
