"""Sound sources in the picture: group the cells whose signals agree, one track per group.

Cells that carry significant motion (those kept by :func:`visualmic.core.spatial.
combine_cells`) are clustered by the correlation of their band-combined signals
``y[c]``, with scipy's hierarchical clustering (average linkage). Two cells of one
source agree up to their noise: their correlation is at most
``sqrt(rho_i rho_j)`` with ``rho = snr / (1 + snr)`` (per-sample SNR of each cell),
so the correlation is divided by that ceiling (Spearman's correction for
attenuation) and the distance is ``1 - min(1, |r| / sqrt(rho_i rho_j))``: 0 for
cells of one source whatever their SNR or phase (cells in opposite phase are one
source, flipped), about 1 for independent sources. ``n_sources="auto"`` cuts the
tree at distance ``AUTO_DISTANCE = 0.5`` (disattenuated correlation 0.5). Each
source is then combined with :func:`~visualmic.core.spatial.combine_cells` on its
own cells. One source is the single-track result (all cells).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from .._errors import ParameterError
from .spatial import SpatialCombination, combine_cells

__all__ = ["Sources", "find_sources", "AUTO_DISTANCE"]

#: Tree cut of ``n_sources="auto"``: disattenuated correlation distance (0.5 = r 0.5).
AUTO_DISTANCE = 0.5


@dataclass(frozen=True)
class Sources:
    """Result of :func:`find_sources` (``n`` sources, ordered by decreasing energy).

    Attributes
    ----------
    signals : np.ndarray [shape=(n, T)]
        One combined signal per source, in the units of
        :attr:`visualmic.core.spatial.SpatialCombination.signal`.
    labels : np.ndarray [shape=(n_cells,), dtype=int]
        Source index of each cell (0 = most energetic), -1 for cells that take part
        in no source (not significant).
    boxes : list of tuple
        ``(x, y, w, h)`` per source: union of its cells' boxes (needs ``grid``; else
        None entries).
    snr_db : np.ndarray [shape=(n,)]
        Estimated SNR of each source's signal (per sample, whole band).
    combinations : list of SpatialCombination
        The per-source combinations (weights, gains, maps).
    """

    signals: np.ndarray
    labels: np.ndarray
    boxes: list
    snr_db: np.ndarray
    combinations: list


def _check_n(n_sources):
    if isinstance(n_sources, str):
        if n_sources != "auto":
            raise ParameterError(f"n_sources={n_sources!r} must be a positive integer or 'auto'")
        return None
    if isinstance(n_sources, bool) or not isinstance(n_sources, (int, np.integer)) \
            or n_sources < 1:
        raise ParameterError(f"n_sources={n_sources!r} must be a positive integer or 'auto'")
    return int(n_sources)


def _union(boxes: list) -> tuple:
    x0 = min(b[0] for b in boxes)
    y0 = min(b[1] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes)
    y1 = max(b[1] + b[3] for b in boxes)
    return (x0, y0, x1 - x0, y1 - y0)


def cell_distance(y: np.ndarray, snr: np.ndarray) -> np.ndarray:
    """Disattenuated correlation distance between cell signals.

    Parameters
    ----------
    y : np.ndarray [shape=(n, T)]
        Zero-mean cell signals.
    snr : np.ndarray [shape=(n,)]
        Per-sample SNR of each (linear power ratio).

    Returns
    -------
    np.ndarray [shape=(n, n)]
        ``1 - min(1, |r_ij| / sqrt(rho_i rho_j))``, ``rho = snr / (1 + snr)``; zero diagonal.
    """
    r = np.corrcoef(y)
    rho = snr / (1.0 + snr)
    ceil = np.sqrt(np.outer(rho, rho)) + 1e-300
    dist = 1.0 - np.minimum(1.0, np.abs(r) / ceil)
    np.fill_diagonal(dist, 0.0)
    return (dist + dist.T) / 2


def find_sources(cells, n_sources=1, *, rate: float, share=None, grid=None,
                 comb: SpatialCombination | None = None, **options) -> Sources:
    """Group cells whose signals agree into sources and combine each.

    Parameters
    ----------
    cells : np.ndarray [shape=(n_bands, n_cells, T)]
        High-passed cell signals (as for :func:`~visualmic.core.spatial.combine_cells`).
    n_sources : int or "auto", optional
        Number of sources (default 1: the single-track result), or ``"auto"`` to
        cut the clustering tree at :data:`AUTO_DISTANCE`. Fewer sources are returned
        when fewer cells are significant.
    rate : float
        Frame rate in Hz.
    share : np.ndarray [shape=(n_bands, n_cells)], optional
        The estimator's ``cell_weights``.
    grid : list of tuple, optional
        The estimator's ``cell_grid`` ``(x, y, w, h)`` per cell, for the boxes.
    comb : SpatialCombination, optional
        The all-cell combination if already computed.
    **options
        Passed to :func:`~visualmic.core.spatial.combine_cells`.

    Returns
    -------
    Sources

    Raises
    ------
    ParameterError
        For a bad ``n_sources`` or ``grid``, or bad cell signals.
    """
    want = _check_n(n_sources)
    x = np.asarray(cells, dtype=np.float64)
    if comb is None:
        comb = combine_cells(x, rate=rate, share=share, **options)
    nb, nc, T = x.shape
    if grid is not None and len(grid) != nc:
        raise ParameterError(f"grid has {len(grid)} cells but the cell signals have {nc}")
    labels = np.full(nc, -1)
    sig = np.nonzero(comb.significant)[0] if not comb.uniform else np.arange(nc)
    if want == 1 or len(sig) < 2:
        labels[sig] = 0
        groups = [np.arange(nc)]
        members = [sig if len(sig) else np.arange(nc)]
    else:
        y = np.einsum("b,bct->ct", comb.band_weights, x[:, sig])
        y -= y.mean(axis=1, keepdims=True)
        snr = 10 ** (comb.cell_snr_db[sig] / 10)
        tree = linkage(squareform(cell_distance(y, snr), checks=False), method="average")
        if want is None:
            lab = fcluster(tree, t=AUTO_DISTANCE, criterion="distance")
        else:
            lab = fcluster(tree, t=min(want, len(sig)), criterion="maxclust")
        groups = [sig[lab == k] for k in np.unique(lab)]
        members = groups
    combos = []
    for g in groups:
        if len(g) == nc:
            combos.append(comb)
        else:
            sub = share[:, g] if share is not None else None
            combos.append(combine_cells(x[:, g], rate=rate, share=sub, **options))
    energy = np.array([float(np.var(c.signal)) for c in combos])
    order = np.argsort(-energy)
    for rank, k in enumerate(order):
        if len(groups) > 1:
            labels[groups[k]] = rank
    boxes = [(_union([grid[c] for c in members[k]]) if grid is not None else None)
             for k in order]
    return Sources(
        signals=np.stack([combos[k].signal for k in order]),
        labels=labels,
        boxes=boxes,
        snr_db=np.array([combos[k].snr_est_db for k in order]),
        combinations=[combos[k] for k in order],
    )
