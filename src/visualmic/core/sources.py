"""Sound sources in the picture: group the cells whose signals agree, one track per group.

Cells that carry significant motion are found by deflation: the cells kept by
:func:`visualmic.core.spatial.combine_cells`, then those kept after that estimate
is regressed out of every cell, and so on until no new cell is significant. They
are clustered by the correlation of their band-combined signals ``y[c]`` with
scipy's hierarchical clustering (average linkage). Two cells of one source agree up
to their noise: their correlation is ``sqrt(rho_i rho_j)`` with ``rho = snr / (1 +
snr)`` (each cell's signal fraction). The correlation is divided by that ceiling
(Spearman's correction for attenuation, each ``rho`` from Spearman's triads, see
:func:`cell_distance`), and the distance ``1 - min(1, |r| / sqrt(rho_i rho_j))`` is
0 for cells of one source whatever their SNR or phase (cells in opposite phase are
one source, flipped) and about 1 for independent sources.

Cells whose nearest neighbour is farther than ``AUTO_DISTANCE = 0.5``
(disattenuated correlation 0.5) take part in no source, and a source needs two
cells or more. ``n_sources="auto"`` cuts the tree at ``AUTO_DISTANCE``; an integer
``N`` cuts it into ever more clusters until ``N`` of them hold two cells or more
(scipy ``criterion="maxclust"``). Each source is then combined with
:func:`~visualmic.core.spatial.combine_cells` on its own cells, and the sources are
ordered by the energy of their signals. One source is the single-track result
(all cells).

Reference: C. Spearman, "The proof and measurement of association between two
things", Am. J. Psychol. 15(1), 1904. https://doi.org/10.2307/1412159
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


def cell_distance(y: np.ndarray) -> np.ndarray:
    """Disattenuated correlation distance between cell signals.

    Cells of one source with signal fractions ``rho_i`` (reliabilities, ``snr / (1 +
    snr)``) correlate as ``|r_ij| = sqrt(rho_i rho_j)``; cells of different sources
    do not. Each ``rho_i`` is estimated from the cell's two best-correlated
    neighbours ``j, k`` by Spearman's triad ``rho_i = r_ij r_ik / r_jk`` (clipped to
    [1e-6, 1]), and the correlation is divided by ``sqrt(rho_i rho_j)``
    (correction for attenuation). Correlations below their sampling noise
    ``3 / sqrt(T)`` count as 0.

    Parameters
    ----------
    y : np.ndarray [shape=(n, T)]
        Zero-mean cell signals.

    Returns
    -------
    np.ndarray [shape=(n, n)]
        ``1 - min(1, |r_ij| / sqrt(rho_i rho_j))``, zero diagonal.
    """
    n, T = y.shape
    r = np.abs(np.corrcoef(y))
    r[r < 3.0 / np.sqrt(T)] = 0.0  # not significant: no evidence of one source
    np.fill_diagonal(r, 0.0)
    rho = np.ones(n)
    if n >= 3:
        top = np.argsort(-r, axis=1)[:, :2]
        j, k = top[:, 0], top[:, 1]
        i = np.arange(n)
        rjk = r[j, k]
        with np.errstate(divide="ignore", invalid="ignore"):
            rho = np.where(rjk > 0, r[i, j] * r[i, k] / rjk, 1.0)
        rho = np.clip(np.nan_to_num(rho, nan=1.0), 1e-6, 1.0)
    dist = 1.0 - np.minimum(1.0, r / np.sqrt(np.outer(rho, rho)))
    np.fill_diagonal(dist, 0.0)
    return (dist + dist.T) / 2


def _clusters(dist: np.ndarray, want: int | None) -> list:
    """Clusters (index arrays) of at least two cells from a distance matrix.

    Average-linkage tree (scipy); ``want=None`` cuts it at :data:`AUTO_DISTANCE`,
    an integer cuts it into ever more clusters until ``want`` of them hold two
    cells or more (smaller ones are left out). Largest clusters first.
    """
    n = len(dist)
    if n < 2:
        return []
    tree = linkage(squareform(dist, checks=False), method="average")
    if want is None:
        cuts = [fcluster(tree, t=AUTO_DISTANCE, criterion="distance")]
    else:
        cuts = (fcluster(tree, t=m, criterion="maxclust") for m in range(want, n + 1))
    groups = []
    for lab in cuts:
        groups = [np.nonzero(lab == k)[0] for k in np.unique(lab)]
        groups = sorted((g for g in groups if len(g) >= 2), key=len, reverse=True)
        if want is None or len(groups) >= want:
            break
    return groups[:want] if want is not None else groups


def _active_cells(x, comb, rate, share, options, max_passes: int = 6) -> list:
    """Cells that carry significant motion, found by deflation.

    Pass ``p`` combines the cells (:func:`~visualmic.core.spatial.combine_cells`) after
    the estimates of the previous passes have been regressed out of every cell-band
    signal; its significant cells (not taken before) are kept with their band-combined
    signals ``y`` and SNRs. Stops when a pass finds no new significant cell.
    Returns a list of ``(cell indices, y (k, T), snr (k,))``.
    """
    resid = x - x.mean(axis=2, keepdims=True)
    taken = np.zeros(x.shape[1], dtype=bool)
    found = []
    for p in range(max_passes):
        c = comb if p == 0 else combine_cells(resid, rate=rate, share=share, **options)
        new = c.significant & ~taken
        if c.uniform or not np.any(new):
            break
        sel = np.nonzero(new)[0]
        y = np.einsum("b,bct->ct", c.band_weights, x[:, sel])
        found.append((sel, y - y.mean(axis=1, keepdims=True), 10 ** (c.cell_snr_db[sel] / 10)))
        taken |= new
        d = c.signal - c.signal.mean()
        g = np.einsum("bct,t->bc", resid, d) / (float(d @ d) + 1e-300)
        resid = resid - g[:, :, None] * d
    return found


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
    found = [] if want == 1 else _active_cells(x, comb, rate, share, options)
    if len(found) < 2:
        sig = np.nonzero(comb.significant)[0]
        labels[sig] = 0
        groups = [np.arange(nc)]
        members = [sig if len(sig) else np.arange(nc)]
    else:
        idx = np.concatenate([f[0] for f in found])
        y = np.concatenate([f[1] for f in found])
        dist = cell_distance(y)
        # A cell that agrees with no other (nearest neighbour beyond the auto cut)
        # takes part in no source: one stray cell must not take a source's place.
        np.fill_diagonal(dist, np.inf)
        keep = dist.min(axis=1) <= AUTO_DISTANCE
        np.fill_diagonal(dist, 0.0)
        idx, dist = idx[keep], dist[np.ix_(keep, keep)]
        groups = _clusters(dist, want)
        groups = [idx[g] for g in groups] or [np.arange(nc)]
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
