"""Vibration maps of a video: per-cell displacement in pixels (or mm), per frequency band.

:func:`vibration_map` runs the one estimator chain with cells, turns each cell's band
signals into a signed 2-D displacement (:mod:`visualmic.core.displacement`, calibrated
from each oriented band's wave vector in that cell), and summarises it per frequency
band (:mod:`visualmic.eval.vibmap`): RMS displacement, SNR, dominant frequency and
direction of motion. Coordinates are those of the input frame (the ROI and the
downsampling are undone).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._errors import ParameterError, VideoError
from .._progress import ProgressCallback
from .._validate import positive_number
from ..core.cells import default_cell
from ..core.displacement import band_wave_vectors, displacement
from ..core.pyramid import SteerablePyramid
from ..core.spatial import highpass_cells
from ..eval.vibmap import VibrationMap, check_bands, map_statistics
from ..io.video import open_video
from ._common import open_reader, run_chain
from .chain import Chain

__all__ = ["MapResult", "vibration_map", "cell_displacement", "input_boxes", "input_frame"]


@dataclass(frozen=True)
class MapResult:
    """The result of :func:`vibration_map`.

    Attributes
    ----------
    map : VibrationMap
        Per-cell statistics (tiles in input-frame pixels).
    frame : np.ndarray [shape=(H_in, W_in)]
        The first frame of the range at full input size (to draw the map on).
    displacement : np.ndarray [shape=(2, n_cells, T)]
        ``(dx, dy)`` of every cell per frame, in input pixels (or mm), high-passed.
    cell : int
        Cell size in processed-frame pixels.
    n_frames : int
        Frames processed.
    timings : dict
        Seconds per stage.
    warnings : list of str
        Warnings raised while reading and processing.
    params : dict
        The parameters of the run (for the report).
    """

    map: VibrationMap
    frame: np.ndarray
    displacement: np.ndarray
    cell: int
    n_frames: int
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    params: dict = field(default_factory=dict)


def input_boxes(grid, reader) -> list[tuple[int, int, int, int]]:
    """Cell boxes ``(x, y, w, h)`` of processed frames mapped to input-frame pixels."""
    sx, sy = reader.pixel_scale
    x0, y0 = (reader.roi[:2] if reader.roi is not None else (0, 0))
    out = []
    for x, y, w, h in grid:
        xa, ya = x0 + round(x * sx), y0 + round(y * sy)
        xb, yb = x0 + round((x + w) * sx), y0 + round((y + h) * sy)
        out.append((int(xa), int(ya), int(xb - xa), int(yb - ya)))
    return out


def cell_displacement(cells: np.ndarray, chain: Chain, *, noise_var=None) -> np.ndarray:
    """Signed 2-D displacement of every cell, in processed-frame pixels.

    Parameters
    ----------
    cells : np.ndarray [shape=(n_bands, n_cells, T)]
        Cell signals from the chain (each a share of its band's signal).
    chain : Chain
        The chain that produced them (its reference frame, pyramid and cell grid).
    noise_var : np.ndarray [shape=(n_bands, n_cells)], optional
        Noise variance of each cell-band signal (weights of the fit).

    Returns
    -------
    np.ndarray [shape=(2, n_cells, T)]
        ``(dx, dy)`` per cell and frame (x right, y down).
    """
    est = chain.estimator
    share = np.asarray(est.cell_weights, dtype=np.float64)  # (n_bands, n_cells)
    safe = np.where(share > 0, share, 1.0)
    local = np.asarray(cells, dtype=np.float64) / safe[..., None]  # each cell's own phase
    k = band_wave_vectors(chain.pyramid, chain.reference_image, cell=list(est.cell_grid))
    weights = None
    if noise_var is None:  # weight each cell-band by its share of the band's energy
        weights = share
    else:
        weights = np.where(np.asarray(noise_var) > 0, 1.0 / np.maximum(noise_var, 1e-300), 0)
    return displacement(local, k, weights=weights)


def vibration_map(source, *, fps: float | None = None, start: int = 0, end: int | None = None,
                  roi=None, downsample: float = 1.0, bands=None, cell: int | None = None,
                  method: str = "auto", scales: int | None = None, orientations: int = 4,
                  highpass_bands: bool = True, reference: int = 1, highpass: float = 20.0,
                  chunk_size: int = 128, scale_mm_per_px: float | None = None, dask=None,
                  workers: int | None = None,
                  progress: ProgressCallback | None = None) -> MapResult:
    """Vibration map of a video: per cell, how much, at what frequency, in which direction.

    This function is long because of its documentation; its code is a short
    composition (open, chain with cells, displacement, statistics).

    Parameters
    ----------
    source : path-like, np.ndarray [shape=(T, H, W)] or VideoReader
        The video (as for :func:`visualmic.recover`).
    fps, start, end, roi, downsample
        As for :func:`visualmic.recover`.
    bands : sequence of (float, float), optional
        Frequency bands in Hz; default one band, everything above the high-pass.
    cell : int, optional
        Cell size in processed-frame pixels (default from the frame size,
        :func:`visualmic.core.cells.default_cell`: about 8 cells along the short side).
    method : {"auto", "phase", "fast"}, optional
        Estimator (default "auto").
    scales, orientations, highpass_bands, reference, chunk_size, dask, workers
        As for :func:`visualmic.recover`.
    highpass : float, optional
        High-pass cut-off in Hz applied to every cell signal (default 20).
    scale_mm_per_px : float, optional
        Size of an input pixel on the object in mm: displacements in mm instead of px.
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)``.

    Returns
    -------
    MapResult

    Raises
    ------
    ParameterError, InputFileError, VideoError
        As :func:`visualmic.recover`, and for bad bands or cell sizes.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.sim.render import render_frames
    >>> from visualmic.sim.textures import make_texture
    >>> rng = np.random.default_rng(0)
    >>> frames = 128 + 30 * rng.standard_normal((400, 32, 32))
    >>> res = vibration_map(frames.astype(np.float32), fps=2200.0, cell=16)
    >>> len(res.map.tiles), res.map.tiles[1]
    (4, (16, 0, 16, 16))
    """
    t0 = time.perf_counter()
    if scale_mm_per_px is not None:
        positive_number("scale_mm_per_px", scale_mm_per_px)
    reader, caught = open_reader(source, fps=fps, start=start, end=end, roi=roi,
                                 downsample=downsample)
    rate = float(reader.fps)
    if not highpass or not 0 < highpass < rate / 2:
        raise ParameterError(f"highpass={highpass} Hz must be between 0 and the Nyquist "
                             f"frequency {rate / 2:g} Hz")
    bands = check_bands(bands if bands else [(highpass, rate / 2)], rate)
    cell = default_cell(reader.shape) if cell is None else int(positive_number(
        "cell", cell, integer=True))
    pyr = SteerablePyramid(reader.shape, scales=scales, orientations=orientations,
                           highpass=highpass_bands)
    chain = Chain(pyr, method=method, reference=reference, cell=cell)
    sig = run_chain(chain, reader, chunk_size=chunk_size, dask=dask, workers=workers,
                    progress=progress)
    if sig.n_frames < 2:
        raise VideoError(f"the video has {sig.n_frames} frame(s) in the selected range; at "
                         "least 2 are needed (check --start/--end)")
    t1 = time.perf_counter()
    cells = highpass_cells(sig.cells, rate, cutoff=highpass)  # every channel at once
    disp = cell_displacement(cells, chain)
    disp *= np.asarray(reader.pixel_scale, dtype=np.float64)[:, None, None]  # input pixels
    unit = "px"
    if scale_mm_per_px is not None:
        disp, unit = disp * float(scale_mm_per_px), "mm"
    tiles = input_boxes(chain.estimator.cell_grid, reader)
    vmap: VibrationMap = map_statistics(disp, fps=rate, bands=bands, tiles=tiles,
                                        low=highpass, unit=unit)
    frame = input_frame(source, reader)
    for msg in list(getattr(reader, "warnings", []) or []) + sig.messages:
        if msg not in caught:
            caught.append(msg)
    return MapResult(map=vmap, frame=frame, displacement=disp, cell=cell,
                     n_frames=sig.n_frames,
                     timings={"read_and_cells": t1 - t0, "total": time.perf_counter() - t0},
                     warnings=caught,
                     params={"cell": cell, "method": method, "scales": pyr.scales,
                             "orientations": orientations, "reference": reference,
                             "highpass": highpass, "bands_hz": [list(b) for b in bands],
                             "roi": None if reader.roi is None else list(reader.roi),
                             "downsample": downsample, "start": reader.start, "end": reader.end,
                             "unit": unit})


def input_frame(source, reader) -> np.ndarray:
    """The first frame of the range at full input size (no ROI, no downsampling), ``(H, W)``."""
    if isinstance(source, np.ndarray):
        first = np.asarray(source[reader.start], dtype=np.float32)
        return first if first.ndim == 2 else first.mean(axis=-1)
    try:
        return open_video(reader.path, fps=reader.fps, start=reader.start,
                          end=reader.start + 1).read()[0]
    except Exception:  # noqa: BLE001 - the map can be drawn on a blank frame
        return np.zeros(reader.input_shape if hasattr(reader, "input_shape") else (1, 1))
