"""The spatial steps of :func:`visualmic.recover`: cells -> one track, sources, displacement.

Kept apart from the composition in :mod:`visualmic.engine.recover` so that it reads as
steps: the chain gives per-cell signals; :func:`combine_spatial` combines them with
spatially adaptive weights (:func:`visualmic.core.spatial.combine_cells`) and
summarises the result per band (for the band table) and per cell (for ``--json``, the
report and the map); :func:`split_sources` groups cells into sources
(:func:`visualmic.core.sources.find_sources`); :func:`motion_px` turns band signals into
a signed 2-D displacement in input pixels (:mod:`visualmic.core.displacement`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.combine import Combination
from ..core.displacement import band_wave_vectors, displacement
from ..core.sources import find_sources
from ..core.spatial import combine_cells, split_half_noise_cells

__all__ = ["SpatialResult", "combine_spatial", "split_sources", "motion_px", "cell_summary",
           "flicker_cells", "noise_reference"]


#: A cell flickers when its mean grey level fluctuates (above the high-pass) by more than
#: this share of its level AND this many times the median cell's share: far more than
#: sub-pixel motion explains (0.5 px of a 2 grey/px cell is 0.8 % of 128, while the median
#: cell sees sensor noise, about 0.1 %).
FLICKER_SHARE = 0.005
FLICKER_OUTLIER = 20.0


def flicker_cells(brightness: np.ndarray, rate: float, cutoff: float | None) -> np.ndarray:
    """Cells whose brightness flickers far more than the others', ``(n_cells,)`` bool.

    A flickering light or a specular highlight changes a region's brightness; at its
    edges that looks like motion to every estimator, and it would capture the track.
    Whole-picture flicker (every cell alike) is not flagged: the phase differences do
    not see a uniform change of brightness.
    """
    from ..core.spatial import highpass_cells

    b = np.asarray(brightness, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] < 16:
        return np.zeros(b.shape[0] if b.ndim else 0, dtype=bool)
    level = np.maximum(np.abs(b.mean(axis=1)), 1.0)
    hp = highpass_cells(b, rate, cutoff=cutoff) if cutoff else b - b.mean(axis=1, keepdims=True)
    share = hp.std(axis=1) / level
    median = float(np.median(share))
    return (share > FLICKER_SHARE) & (share > FLICKER_OUTLIER * max(median, 1e-12))


def _dilate(mask: np.ndarray, grid: list) -> np.ndarray:
    """Add the cells that touch a flagged cell: the pyramid's bands carry a flicker's edge
    into the neighbouring cells, which see fake motion without any change of brightness."""
    if not mask.any():
        return mask
    out = mask.copy()
    for c in np.flatnonzero(mask):
        x, y, w, h = grid[c]
        for d, (x2, y2, w2, h2) in enumerate(grid):
            if x2 <= x + w and x <= x2 + w2 and y2 <= y + h and y <= y2 + h2:
                out[d] = True
    return out


@dataclass(frozen=True)
class SpatialResult:
    """The spatial combination as :func:`visualmic.recover` reports it.

    Attributes
    ----------
    bands : Combination
        Per-band view (weight = the band profile, gain and noise summed over cells,
        SNR of the band's cells combined); ``signal`` is the combined motion.
    combination : visualmic.core.spatial.SpatialCombination
        The full result (per-cell weights, SNRs, sub-bands).
    grid : list of (x, y, w, h)
        The cells, in processed-frame pixels.
    share : np.ndarray [shape=(n_bands, n_cells)]
        Each cell's share of each band's reference energy.
    flicker : np.ndarray [shape=(n_cells,), dtype=bool]
        Cells left out because their brightness flickers.
    """

    bands: Combination
    combination: object
    grid: list
    share: np.ndarray
    flicker: np.ndarray


def combine_spatial(cells: np.ndarray, estimator, *, rate: float, highpass: float | None,
                    max_lag: int, orientations: int, brightness=None) -> SpatialResult:
    """Combine raw cell signals ``(n_bands, n_cells, T)`` into one track.

    ``highpass`` is the cut-off (Hz) the combiner fits above (the cells stay raw: one
    exact high-pass of the result instead of one per channel), or None. Cells whose
    ``brightness`` ``(n_cells, T)`` flickers (:func:`flicker_cells`) are left out.
    """
    share = np.asarray(estimator.cell_weights, dtype=np.float64)
    flicker = np.zeros(cells.shape[1], dtype=bool)
    if brightness is not None:
        flicker = _dilate(flicker_cells(brightness, rate, highpass), list(estimator.cell_grid))
        if flicker.any() and not flicker.all():
            cells = np.array(cells, dtype=np.float64)
            cells[:, flicker] = 0.0  # silent channels get no weight
    comb = combine_cells(cells, rate=rate, max_lag=max_lag, share=share,
                         orientations=orientations, cutoff=highpass or None)
    gains = np.asarray(comb.gains).sum(axis=1)
    noise = np.asarray(comb.noise_var).sum(axis=1)
    with np.errstate(divide="ignore", over="ignore"):
        snr = 10 * np.log10(np.sum(10 ** (np.asarray(comb.snr_db, dtype=np.float64) / 10),
                                   axis=1))
    weights = np.asarray(comb.band_weights, dtype=np.float64)
    bands = Combination(
        signal=np.asarray(comb.signal, dtype=np.float64), weights=weights, gains=gains,
        noise_var=noise, snr_db=snr, lags=np.zeros(len(weights), dtype=int),
        signs=np.where(gains < 0, -1.0, 1.0), reference=int(np.argmax(np.abs(weights))),
        aligned=None)
    return SpatialResult(bands=bands, combination=comb, grid=list(estimator.cell_grid),
                         share=share, flicker=flicker)


def cell_summary(result: SpatialResult, boxes: list) -> dict:
    """Per-cell JSON summary: box (input pixels), weight, SNR, significance."""
    comb = result.combination
    w = np.asarray(comb.broadband_weights, dtype=np.float64)
    return {
        "n_cells": len(boxes),
        "n_flicker": int(np.sum(result.flicker)),
        "uniform": bool(comb.uniform),
        "threshold_z": float(comb.threshold),
        "cells": [
            {"x": x, "y": y, "w": ww, "h": hh, "weight": float(w[c]),
             "snr_db": _finite(comb.cell_snr_db[c]), "significant": bool(comb.significant[c]),
             "flicker": bool(result.flicker[c])}
            for c, (x, y, ww, hh) in enumerate(boxes)
        ],
    }


def split_sources(cells: np.ndarray, result: SpatialResult, n_sources, *, rate: float,
                  highpass: float | None, max_lag: int, orientations: int):
    """Group cells into sources; return :class:`visualmic.core.sources.Sources`."""
    return find_sources(cells, n_sources, rate=rate, share=result.share, grid=result.grid,
                        comb=result.combination, cutoff=highpass or None, max_lag=max_lag,
                        orientations=orientations)


def source_band_signals(cells: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Band signals of each source: the sum of its cells, ``(n_bands, n, T)``."""
    out = np.zeros((cells.shape[0], n, cells.shape[-1]))
    for s in range(n):
        sel = labels == s
        if sel.any():
            out[:, s] = cells[:, sel].sum(axis=1)
    return out


def motion_px(band_signals: np.ndarray, pyramid, reference: np.ndarray, pixel_scale,
              *, noise_var=None) -> np.ndarray:
    """Signed ``(dx, dy)`` in input pixels from band signals ``(n_bands, ..., T)``.

    The wave vectors of the bands are those of the whole reference frame; the
    result has shape ``(2, ..., T)`` (x right, y down).
    """
    k = band_wave_vectors(pyramid, reference)
    nv = None
    if noise_var is not None:
        nv = np.asarray(noise_var, dtype=np.float64)
        nv = nv if np.all(np.isfinite(nv)) and np.all(nv > 0) else None
    d = displacement(np.asarray(band_signals, dtype=np.float64), k, noise_var=nv)
    scale = np.asarray(pixel_scale, dtype=np.float64).reshape((2,) + (1,) * (d.ndim - 1))
    return d * scale


def _finite(v) -> float | None:
    v = float(v)
    return round(v, 3) if np.isfinite(v) else None


def noise_reference(cells: np.ndarray, result: SpatialResult, *, rate: float,
                    highpass: float | None, orientations: int) -> np.ndarray | None:
    """The combination's noise reference from two halves of the frame (for the enhancer).

    The cells are split into the left and right halves of the frame by their centres
    (or, when the motion is not in both, the top and bottom halves) and the
    combination is split with them
    (:func:`visualmic.core.spatial.split_half_noise_cells`).  None when neither split
    has motion in both halves.
    """
    boxes = np.asarray(result.grid, dtype=np.float64)
    for centre in (boxes[:, 0] + boxes[:, 2] / 2, boxes[:, 1] + boxes[:, 3] / 2):
        first = centre < np.median(centre)
        if not first.any() or first.all():
            continue
        ref = split_half_noise_cells(cells, result.combination, first, rate=rate,
                                     cutoff=highpass or None, orientations=orientations)
        if ref is not None:
            return ref
    return None
