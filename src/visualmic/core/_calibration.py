"""Readout calibration of a rolling-shutter camera from a video of a known tone.

Public names are re-exported by :mod:`visualmic.core.rolling`.
"""

from __future__ import annotations

import numpy as np
from scipy import optimize

from .._errors import ParameterError, VideoError
from .._validate import finite_number

__all__ = ["ReadoutFit", "estimate_readout"]


def _check_rows(rows) -> int:
    if isinstance(rows, bool) or not isinstance(rows, (int, np.integer)) or rows < 1:
        raise ParameterError(f"n_rows={rows!r} must be a positive integer (the sensor height)")
    return int(rows)


class ReadoutFit:
    """Result of :func:`estimate_readout`.

    Attributes
    ----------
    readout : float
        The estimated fraction of the frame period spent reading the rows.
    explained : float
        Fraction of the row signals' power explained by a sinusoid at the
        tone frequency with that readout (fitted per frame): near 1 for a
        clean tone, near 0 when the tone is not visible.
    readouts, scores : np.ndarray
        The search grid and its normalised score (the peak is 1).
    """

    def __init__(self, readout, explained, readouts, scores):
        self.readout, self.explained = float(readout), float(explained)
        self.readouts, self.scores = readouts, scores

    def __repr__(self) -> str:
        return f"ReadoutFit(readout={self.readout:.4f}, explained={self.explained:.3f})"


def _tone_score(vals: np.ndarray, rows: np.ndarray, f: float, fps: float, n_rows: int,
                readouts: np.ndarray) -> np.ndarray:
    """Σ_n |Σ_y v[n,y] e^{-2πi f y ld(r)}|² for each readout ``r`` (within-frame coherence)."""
    phase = 2 * np.pi * f * rows[None, :] * (readouts[:, None] / (fps * n_rows))
    basis = np.exp(-1j * phase)  # (G, R)
    c = vals @ basis.T  # (T, G)
    return np.sum(np.abs(c) ** 2, axis=0)


def estimate_readout(values, valid, *, rows, n_rows: int, fps: float, tone_hz: float,
                     bounds=(0.05, 1.0)) -> ReadoutFit:
    """Estimate the readout fraction from row signals of a video of a known tone.

    Within one frame, the rows sample the tone at ``y · line_delay``; the
    phase advances by ``2π f · line_delay`` per row.  The readout is the one
    whose per-row phase ramp makes the rows of each frame add up coherently:
    the maximum over ``r`` of ``Σ_n |Σ_y v[n, y] exp(−2πi f y r / (fps · rows))|²``
    (frames are combined incoherently, so a small error in the tone
    frequency or the frame rate does not matter).  A grid fine enough to
    never miss the peak is searched, then the peak is refined with a
    bounded scalar search.

    Parameters
    ----------
    values : np.ndarray [shape=(T, R)]
        Per-row displacements with the fixed pattern removed.
    valid : np.ndarray [shape=(R,)], bool
        Rows to use.
    rows : array-like of int [shape=(R,)]
        Absolute sensor row of each column of ``values``.
    n_rows : int
        Rows of the sensor (the full frame height).
    fps : float
        Frame rate in Hz.
    tone_hz : float
        Frequency of the tone in Hz; best well above ``fps`` (the phase ramp
        over a frame is ``f · readout / fps`` cycles).
    bounds : tuple of float, default (0.05, 1.0)
        Search range of the readout.

    Returns
    -------
    ReadoutFit

    Raises
    ------
    ParameterError
        On a bad tone frequency or search range.
    """
    vals = np.asarray(values, dtype=np.float64)
    ok = np.asarray(valid, dtype=bool)
    ys = np.asarray(rows, dtype=np.float64)
    f = finite_number("tone_hz", tone_hz, minimum=0, strict=True)
    fps = finite_number("fps", fps, minimum=0, strict=True)
    n_rows = _check_rows(n_rows)
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError(f"bounds={bounds!r} must be a pair (lo, hi) of readouts") from None
    if not (0 < lo < hi <= 1):
        raise ParameterError(f"bounds={bounds!r} must satisfy 0 < lo < hi <= 1")
    if f * hi / (fps * n_rows) >= 0.5:
        raise ParameterError(
            f"tone_hz={tone_hz!r} is above half the row rate; use a tone below "
            f"{0.5 * fps * n_rows / hi:.0f} Hz"
        )
    if ok.sum() < 4:
        raise VideoError("fewer than 4 textured rows; calibration needs a textured surface")
    v, y = vals[:, ok], ys[ok]
    span = max(float(y.max() - y.min()), 1.0)
    # The peak's width in r is about fps·rows / (f·span); sample it 8 times.
    step = fps * n_rows / (f * span) / 8
    grid = np.arange(lo, hi + step / 2, step)
    grid = grid[grid <= hi]
    scores = np.concatenate([_tone_score(v, y, f, fps, n_rows, grid[i:i + 256])
                             for i in range(0, grid.size, 256)])
    best = int(np.argmax(scores))
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, grid.size - 1)]
    if b > a:
        res = optimize.minimize_scalar(
            lambda r: -_tone_score(v, y, f, fps, n_rows, np.array([r]))[0],
            bounds=(a, b), method="bounded", options={"xatol": 1e-7})
        r_best = float(res.x)
    else:
        r_best = float(grid[best])
    peak = _tone_score(v, y, f, fps, n_rows, np.array([r_best]))[0]
    # Per-frame least-squares sinusoid at the best readout: explained power.
    ph = 2 * np.pi * f * y * r_best / (fps * n_rows)
    basis = np.stack([np.cos(ph), np.sin(ph)], axis=1)  # (R, 2)
    coef, *_ = np.linalg.lstsq(basis, v.T, rcond=None)
    total = float(np.sum(v ** 2))
    explained = 1.0 - float(np.sum((v.T - basis @ coef) ** 2)) / total if total > 0 else 0.0
    return ReadoutFit(r_best, max(explained, 0.0), grid, scores / max(peak, 1e-300))
