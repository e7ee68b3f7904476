"""Vibration maps of rolling-shutter video: one tile per band of rows.

A rolling-shutter frame samples each row at its own instant (see
:mod:`visualmic.core.rolling`), so a band of ``h`` consecutive rows gives ``h``
samples at the row rate in every frame period and nothing for the rest of it.
:func:`rolling_map` measures the horizontal motion of every row (the engine of
:func:`visualmic.engine.rolling.recover_rolling`: robust reference, matched
filter, fixed pattern removed), places the samples of each band of rows at
their exposure instants on the row-rate grid, fills the band's unexposed
instants with the same autoregressive model (its own samples only: each band
is a separate signal), and summarises each band with
:func:`visualmic.eval.vibmap.map_statistics`: RMS displacement per frequency
band (up to half the row rate), SNR, dominant frequency. Tiles are whole-width
strips ``(x, y, w, h)`` in input pixels; the direction is 0 (horizontal: one
row cannot measure vertical motion).
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from .._errors import ParameterError, VisualMicWarning
from .._progress import ProgressCallback
from .._validate import positive_number
from ..core import rolling as rs
from ..core.spatial import highpass_cells
from ..eval.vibmap import check_bands, map_statistics
from .rolling import GAP_METHODS, fill_grid, open_rows, project_rows, resolve_delay, row_signals
from .vibmap import MapResult, input_frame

__all__ = ["rolling_map", "default_band_rows"]


def default_band_rows(rows: int) -> int:
    """Rows per band by default: an eighth of the frame, at least 16 (or the whole frame).

    Examples
    --------
    >>> default_band_rows(256), default_band_rows(64), default_band_rows(10)
    (32, 16, 10)
    """
    return int(min(rows, max(16, rows // 8)))


def _band_signal(d, valid, noise_var, rows, *, fps, delay, length, gaps):
    """One band of rows on the row-rate grid, gaps filled (None: no sample)."""
    x, known = rs.place_samples(d, valid, rows=rows, fps=fps, delay=delay, length=length)
    if known.sum() < 2:
        return None
    nv, _ = rs.place_samples(np.broadcast_to(np.where(valid, noise_var, 1.0), d.shape), valid,
                             rows=rows, fps=fps, delay=delay, length=length)
    per = rs.samples_per_frame(fps, delay)
    y, _ = fill_grid(x, known, gaps=gaps, order=None, row_rate=1.0 / delay, per=per,
                     noise_var=np.maximum(nv, np.finfo(np.float64).tiny))
    return rs.retime(y, fps=fps, delay=delay)


def rolling_map(source, *, readout: float | None = None, line_delay: float | None = None,
                fps: float | None = None, sensor_rows: int | None = None, start: int = 0,
                end: int | None = None, roi=None, bands=None, band_rows: int | None = None,
                reference: int | None = None, gaps: str = "map", highpass: float = 20.0,
                scale_mm_per_px: float | None = None, chunk_size: int | None = None,
                min_info: float = 0.05, progress: ProgressCallback | None = None) -> MapResult:
    """Vibration map of a rolling-shutter video over bands of rows.

    This function is long because of its documentation; its code is a short
    composition (open, per-row motion, one filled signal per band, statistics).

    Parameters
    ----------
    source : path-like or np.ndarray [shape=(T, H, W)]
        The video (lossless), as for :func:`visualmic.engine.rolling.recover_rolling`.
    readout, line_delay, fps, sensor_rows, start, end, roi, reference, chunk_size, min_info
        As :func:`visualmic.engine.rolling.recover_rolling` (give ``readout`` or
        ``line_delay``).
    bands : sequence of (float, float), optional
        Frequency bands in Hz, up to half the row rate; default one band,
        everything above the high-pass.
    band_rows : int, optional
        Rows per tile (default :func:`default_band_rows`: an eighth of the
        frame, at least 16). The last tile takes the remaining rows.
    gaps : {"map", "ar", "linear", "zero"}, default "map"
        How each band's unexposed instants are filled
        (:func:`visualmic.engine.rolling.recover_rolling`).
    highpass : float, default 20
        High-pass cut-off in Hz for every band's signal.
    scale_mm_per_px : float, optional
        Size of an input pixel on the object in mm: displacements in mm.
    progress : callable, optional
        ``progress(done, total)`` over the two passes over the video.

    Returns
    -------
    MapResult
        ``map.fps`` is the row rate (the rate of ``displacement``, shape
        ``(2, n_tiles, n)`` with ``dy = 0``); ``cell`` is ``band_rows``;
        ``params`` holds ``readout``, ``line_delay``, ``row_rate`` and the options.

    Raises
    ------
    ParameterError
        Bad readout/line delay, bands, band height or options.
    InputFileError, VideoError
        Unreadable video, no frames, no texture.
    """
    t0 = time.perf_counter()
    if gaps not in GAP_METHODS:
        raise ParameterError(f"gaps={gaps!r} is unknown; choose one of {', '.join(GAP_METHODS)}")
    if scale_mm_per_px is not None:
        positive_number("scale_mm_per_px", scale_mm_per_px)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VisualMicWarning)
        reader, y0 = open_rows(source, fps=fps, start=start, end=end, roi=roi)
    issued = [str(w.message) for w in caught if "frame rate" not in str(w.message)]
    for msg in issued:
        warnings.warn(msg, VisualMicWarning, stacklevel=2)
    h, w = reader.shape
    rows_full = reader.input_shape[0] if sensor_rows is None else sensor_rows
    if isinstance(rows_full, bool) or not isinstance(rows_full, (int, np.integer)) or \
            rows_full < y0 + h:
        raise ParameterError(f"sensor_rows={sensor_rows!r} must be an integer >= the "
                             f"{y0 + h} rows the video reaches")
    delay, r = resolve_delay(reader.fps, int(rows_full), readout, line_delay)
    row_rate = 1.0 / delay
    if not highpass or not 0 < highpass < row_rate / 2:
        raise ParameterError(f"highpass={highpass} Hz must be between 0 and half the row rate "
                             f"{row_rate / 2:g} Hz")
    bands = check_bands(bands if bands else [(highpass, row_rate / 2)], row_rate)
    size = default_band_rows(h) if band_rows is None else int(positive_number(
        "band_rows", band_rows, integer=True))
    if not 2 <= size <= h:
        raise ParameterError(f"band_rows={band_rows!r} must be between 2 and the {h} rows of "
                             "the frame")
    d, rm, sigma2 = row_signals(reader, reference=reference, chunk_size=chunk_size,
                                progress=progress, min_info=min_info, axes="x")
    t1 = time.perf_counter()
    n_frames = d.shape[0]
    if n_frames < 2:
        raise ParameterError(f"the range holds {n_frames} frame; give at least 2")
    d, _, _ = project_rows(d, rm, direction=None, fixed_pattern=True)
    noise_var = rm.noise_var(sigma2, None)
    length = int(round(n_frames * rs.samples_per_frame(reader.fps, delay)))
    edges = list(range(0, h - size + 1, size))
    spans = [(a, b) for a, b in zip(edges, edges[1:] + [h])]
    disp = np.zeros((2, len(spans), length))
    empty = np.zeros(len(spans), bool)
    for i, (a, b) in enumerate(spans):
        sig = _band_signal(d[:, a:b], rm.valid[a:b], noise_var[a:b], y0 + np.arange(a, b),
                           fps=reader.fps, delay=delay, length=length, gaps=gaps)
        empty[i] = sig is None
        if sig is not None:
            disp[0, i] = sig
    disp[0] = highpass_cells(disp[0], row_rate, cutoff=highpass)  # every band at once
    t2 = time.perf_counter()
    unit = "px"
    if scale_mm_per_px is not None:
        disp, unit = disp * float(scale_mm_per_px), "mm"
    x0 = reader.roi[0] if reader.roi is not None else 0
    tiles = [(int(x0), int(y0 + a), int(w), int(b - a)) for a, b in spans]
    vmap = map_statistics(disp, fps=row_rate, bands=bands, tiles=tiles, low=highpass, unit=unit)
    if empty.any():  # no textured row: no measurement (not an infinitely clean one)
        vmap = dataclasses.replace(vmap, snr_db=np.where(empty[None, :], -np.inf, vmap.snr_db))
    params = {"readout": r, "line_delay": delay, "row_rate": row_rate, "fps": reader.fps,
              "sensor_rows": int(rows_full), "band_rows": size, "gaps": gaps,
              "reference": reference, "highpass": highpass, "min_info": float(min_info),
              "bands_hz": [list(b) for b in bands], "start": reader.start, "end": reader.end,
              "roi": None if reader.roi is None else list(reader.roi),
              "valid_rows": int(rm.valid.sum()), "unit": unit}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the low frame rate is the point here
        frame = input_frame(source, reader)
    return MapResult(map=vmap, frame=frame, displacement=disp, cell=size,
                     n_frames=n_frames,
                     timings={"rows": t1 - t0, "bands": t2 - t1,
                              "total": time.perf_counter() - t0},
                     warnings=issued, params=params)
