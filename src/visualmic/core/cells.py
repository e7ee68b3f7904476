"""Spatial cells: a grid of tiles over the frame, and each band's view of it.

A cell is a rectangle of frame pixels. The grid is row-major, cells are ``cell``
pixels on a side, and a remainder at the right or bottom edge smaller than half a
cell is merged into the last cell (a larger remainder becomes a narrower cell), so
that every pixel belongs to exactly one cell.

A pyramid band lives on its own grid of ``(hb, wb)`` samples that spans the whole
frame: sample ``(i, j)`` sits at frame position ``(i * H / hb, j * W / wb)`` (this
holds both for the pyramid levels and for the compact band boxes of
:class:`visualmic.core.motion.PhaseMotion`, whose inverse FFT of a ``hb``-long box of
contiguous frequencies samples the band at that spacing, up to a carrier). A band
sample belongs to the cell containing its position; :func:`tile_maps` returns the
two indicator matrices that sum a band's samples into its cells with two small
matrix products, whatever the remainders (cells that hold no sample of a coarse
band get zero).
"""

from __future__ import annotations

import numpy as np

from .._errors import ParameterError

__all__ = ["CellGrid", "default_cell", "cell_edges", "check_cell"]


def default_cell(shape) -> int:
    """Default cell size in pixels for a frame shape.

    The rule is ``clip(2**round(log2(min(H, W) / 8)), 8, 64)``: about 8 cells along
    the short side, never smaller than 8 px (a cell needs a few samples of the
    finest bands and enough texture to be significant) nor larger than 64 px (so a
    32×32 object still fills most of a cell in large frames). A 128×128 frame gets
    16 px cells (8×8 cells; a 32×32 object covers 2×2 to 3×3 of them), 256×256 gets
    32 px, 64×64 gets 8 px.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the processed frames, in pixels.

    Returns
    -------
    int
        Cell side in pixels.

    Examples
    --------
    >>> default_cell((128, 128)), default_cell((64, 96)), default_cell((1080, 1920))
    (16, 8, 64)
    """
    short = min(int(s) for s in shape)
    return int(np.clip(2 ** round(np.log2(max(short, 1) / 8.0)), 8, 64))


def check_cell(cell) -> int:
    """Validate a cell size (integer >= 2 pixels) and return it as int."""
    if isinstance(cell, bool) or not isinstance(cell, (int, np.integer)) or cell < 2:
        raise ParameterError(f"cell={cell!r} must be an integer number of pixels >= 2 "
                             "(e.g. 16), or None for whole-frame band signals only")
    return int(cell)


def cell_edges(n: int, cell: int) -> np.ndarray:
    """Edges ``(k + 1,)`` of the cells along an axis of ``n`` pixels.

    Cells are ``cell`` pixels long; a last piece shorter than ``cell / 2`` is merged
    into the previous cell.

    Examples
    --------
    >>> cell_edges(40, 16).tolist(), cell_edges(36, 16).tolist()
    ([0, 16, 32, 40], [0, 16, 36])
    """
    n, cell = int(n), int(cell)
    edges = list(range(0, n, cell)) + [n]
    if len(edges) > 2 and edges[-1] - edges[-2] < cell / 2:
        del edges[-2]
    return np.asarray(edges, dtype=np.intp)


class CellGrid:
    """Row-major grid of cells over a frame.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the processed frames, in pixels.
    cell : int
        Cell side in pixels (see :func:`cell_edges` for the remainders).

    Attributes
    ----------
    row_edges, col_edges : np.ndarray of int
        Cell boundaries along y (rows) and x (columns).
    boxes : list of tuple
        ``(x, y, w, h)`` per cell in frame pixels (x = column of the left edge,
        y = row of the top edge), row-major.
    """

    def __init__(self, shape, cell: int):
        self.shape = tuple(int(s) for s in shape)
        self.cell = check_cell(cell)
        self.row_edges = cell_edges(self.shape[0], self.cell)
        self.col_edges = cell_edges(self.shape[1], self.cell)
        self.boxes = [
            (int(x0), int(y0), int(x1 - x0), int(y1 - y0))
            for y0, y1 in zip(self.row_edges[:-1], self.row_edges[1:])
            for x0, x1 in zip(self.col_edges[:-1], self.col_edges[1:])
        ]

    @property
    def n_rows(self) -> int:
        """Cells along y."""
        return len(self.row_edges) - 1

    @property
    def n_cols(self) -> int:
        """Cells along x."""
        return len(self.col_edges) - 1

    @property
    def n_cells(self) -> int:
        """Number of cells."""
        return self.n_rows * self.n_cols

    def tile_maps(self, band_shape, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Indicator matrices that sum a band's samples into the cells.

        Parameters
        ----------
        band_shape : tuple of int
            ``(hb, wb)`` of the band's grid (spanning the whole frame).

        Returns
        -------
        rows : np.ndarray [shape=(hb, n_rows)]
            ``rows[i, r] = 1`` if band row ``i`` lies in cell row ``r``.
        cols : np.ndarray [shape=(wb, n_cols)]
            Same for columns. The cell sums of a band array ``x (t, hb, wb)`` are
            ``rows.T @ x @ cols``, shape ``(t, n_rows, n_cols)``.
        """
        H, W = self.shape
        hb, wb = (int(s) for s in band_shape)
        r = np.searchsorted(self.row_edges, np.floor(np.arange(hb) * H / hb), side="right") - 1
        c = np.searchsorted(self.col_edges, np.floor(np.arange(wb) * W / wb), side="right") - 1
        rows = np.zeros((hb, self.n_rows), dtype=dtype)
        cols = np.zeros((wb, self.n_cols), dtype=dtype)
        rows[np.arange(hb), np.clip(r, 0, self.n_rows - 1)] = 1
        cols[np.arange(wb), np.clip(c, 0, self.n_cols - 1)] = 1
        return rows, cols

    def mask(self, index: int) -> np.ndarray:
        """Boolean ``(H, W)`` mask of cell ``index`` in frame pixels."""
        x, y, w, h = self.boxes[index]
        m = np.zeros(self.shape, dtype=bool)
        m[y : y + h, x : x + w] = True
        return m
