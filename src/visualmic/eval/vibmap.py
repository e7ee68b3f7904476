"""Vibration maps: where, how much, at what frequency and in which direction things move.

:func:`map_statistics` turns per-cell displacement signals ``(2, n_cells, T)`` (pixels,
``x`` right, ``y`` down) into per-cell, per-frequency-band statistics: the RMS
displacement in each band, its SNR against the cell's own noise floor, the dominant
frequency and the direction of motion. :func:`map_figure` draws them over the
reference frame. :func:`map_json` gives the JSON that ``visualmic map --json`` prints.

The noise floor of a cell is the median of its displacement's power spectral density
over the analysed frequencies (sensor noise makes the phase signals white, while
sound occupies a minority of the bins); the SNR in a band is the band's power over
that floor times the band's width. It is conservative for broadband sound (speech),
which raises the median.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal as ssig

from .._errors import ParameterError
from ..io.atomic import atomic_path

__all__ = ["VibrationMap", "map_statistics", "map_json", "map_table", "map_figure", "check_bands"]


@dataclass(frozen=True)
class VibrationMap:
    """Per-cell vibration statistics (see :func:`map_statistics`).

    Attributes
    ----------
    fps : float
        Frame rate in Hz.
    bands_hz : list of (float, float)
        The frequency bands analysed.
    tiles : list of (int, int, int, int)
        Each cell's ``(x, y, w, h)`` in pixels of the input frame (x = column of the
        left edge, y = row of the top edge).
    amplitude : np.ndarray [shape=(n_bands, n_cells)]
        RMS displacement in each band, in pixels (or ``unit``).
    snr_db : np.ndarray [shape=(n_bands, n_cells)]
        SNR of that displacement against the cell's noise floor, in dB.
    peak_hz : np.ndarray [shape=(n_cells,)]
        Dominant frequency of the cell's motion (within the analysed range), Hz.
    direction_deg : np.ndarray [shape=(n_cells,)]
        Axis of the cell's motion in degrees, 0 = right, 90 = down, in [0, 180).
    unit : str
        ``"px"`` or ``"mm"``.
    """

    fps: float
    bands_hz: list
    tiles: list
    amplitude: np.ndarray
    snr_db: np.ndarray
    peak_hz: np.ndarray
    direction_deg: np.ndarray
    unit: str = "px"


def check_bands(bands, fps: float, *, low: float = 0.0) -> list[tuple[float, float]]:
    """Validate frequency bands ``[(lo, hi), ...]`` against the Nyquist frequency.

    Examples
    --------
    >>> check_bands([(80, 500)], 2200.0)
    [(80.0, 500.0)]
    """
    out = []
    for band in bands:
        try:
            lo, hi = (float(v) for v in band)
        except (TypeError, ValueError):
            raise ParameterError(f"band {band!r} must be two numbers LO,HI in Hz") from None
        if not (math.isfinite(lo) and math.isfinite(hi) and low <= lo < hi <= fps / 2):
            raise ParameterError(
                f"band {lo:g},{hi:g} Hz must satisfy {low:g} <= LO < HI <= {fps / 2:g} "
                "(the Nyquist frequency)"
            )
        out.append((lo, hi))
    if not out:
        raise ParameterError("give at least one frequency band")
    return out


def map_statistics(disp: np.ndarray, *, fps: float, bands, tiles, low: float = 20.0,
                   unit: str = "px") -> VibrationMap:
    """Per-cell statistics of per-cell displacement signals.

    Parameters
    ----------
    disp : np.ndarray [shape=(2, n_cells, T)]
        ``(dx, dy)`` of each cell per frame, in pixels (or mm).
    fps : float
        Frame rate in Hz.
    bands : sequence of (float, float)
        Frequency bands in Hz.
    tiles : sequence of (x, y, w, h)
        The cells' boxes in input-frame pixels (``n_cells`` of them).
    low : float, optional
        Lowest frequency considered for the noise floor and the dominant frequency
        (the high-pass cut-off; default 20 Hz).
    unit : str, optional
        Unit of ``disp`` (default "px").

    Returns
    -------
    VibrationMap

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(4400) / 2200.0
    >>> rng = np.random.default_rng(0)
    >>> d = 1e-3 * rng.normal(size=(2, 2, t.size))
    >>> move = 0.05 * np.sin(2 * np.pi * 300 * t)           # cell 1 moves along 30 degrees
    >>> d[0, 1] += np.cos(np.radians(30)) * move
    >>> d[1, 1] += np.sin(np.radians(30)) * move
    >>> m = map_statistics(d, fps=2200.0, bands=[(200, 400)], tiles=[(0, 0, 8, 8), (8, 0, 8, 8)])
    >>> round(float(m.amplitude[0, 1]), 3), round(float(m.peak_hz[1])), round(float(m.direction_deg[1]))
    (0.035, 300, 30)
    >>> bool(m.snr_db[0, 1] > 20 > m.snr_db[0, 0])
    True
    """
    d = np.asarray(disp, dtype=np.float64)
    if d.ndim != 3 or d.shape[0] != 2:
        raise ParameterError(f"displacement must have shape (2, n_cells, T), got {d.shape}")
    n_cells, T = d.shape[1:]
    if len(tiles) != n_cells:
        raise ParameterError(f"{len(tiles)} tiles given for {n_cells} cells")
    bands = check_bands(bands, fps)
    nper = int(min(T, max(64, 2 ** round(math.log2(max(fps, 64))))))  # ~1 Hz bins
    f, pxx = ssig.welch(d, fs=fps, nperseg=nper, axis=-1)  # (2, n_cells, F)
    power = pxx.sum(axis=0)  # dx and dy together: (n_cells, F)
    df = f[1] - f[0]
    usable = f >= low
    floor = np.median(power[:, usable], axis=1) if usable.any() else np.zeros(n_cells)
    amp = np.zeros((len(bands), n_cells))
    snr = np.zeros((len(bands), n_cells))
    for i, (lo, hi) in enumerate(bands):
        sel = (f >= lo) & (f <= hi)
        p = power[:, sel].sum(axis=1) * df
        amp[i] = np.sqrt(p)
        noise = floor * max(sel.sum(), 1) * df
        with np.errstate(divide="ignore", invalid="ignore"):
            snr[i] = 10 * np.log10(np.where(noise > 0, p / noise, np.inf))
    peak = f[usable][np.argmax(power[:, usable], axis=1)] if usable.any() else np.zeros(n_cells)
    direction = _directions(d, fps, low)
    return VibrationMap(fps=float(fps), bands_hz=[list(b) for b in bands],
                        tiles=[tuple(int(v) for v in t) for t in tiles], amplitude=amp,
                        snr_db=snr, peak_hz=peak, direction_deg=direction, unit=unit)


def _directions(d: np.ndarray, fps: float, low: float) -> np.ndarray:
    """Principal axis of each cell's high-passed (dx, dy) motion, degrees in [0, 180)."""
    x = d - d.mean(axis=-1, keepdims=True)
    if low > 0 and low < fps / 2:
        sos = ssig.butter(2, low, btype="highpass", fs=fps, output="sos")
        x = ssig.sosfiltfilt(sos, x, axis=-1)
    cxx = np.einsum("ct,ct->c", x[0], x[0])
    cyy = np.einsum("ct,ct->c", x[1], x[1])
    cxy = np.einsum("ct,ct->c", x[0], x[1])
    angle = np.mod(0.5 * np.degrees(np.arctan2(2 * cxy, cxx - cyy)), 180.0)
    return np.where(angle > 180.0 - 1e-6, 0.0, angle)  # -0 is 0, not 180


def map_json(m: VibrationMap) -> dict:
    """The JSON of ``visualmic map --json``.

    ``{"fps": F, "bands_hz": [[lo, hi], ...], "unit": "px", "tiles": [{"x", "y", "w", "h",
    "amplitude_px": [per band], "snr_db": [per band], "peak_hz": P, "direction_deg": D},
    ...]}`` (``amplitude_mm`` instead of ``amplitude_px`` when the unit is mm).
    """
    key = f"amplitude_{m.unit}"
    tiles = []
    for c, (x, y, w, h) in enumerate(m.tiles):
        tiles.append({
            "x": x, "y": y, "w": w, "h": h,
            key: [float(v) for v in m.amplitude[:, c]],
            "snr_db": [_finite(v) for v in m.snr_db[:, c]],
            "peak_hz": float(m.peak_hz[c]),
            "direction_deg": float(m.direction_deg[c]),
        })
    return {"fps": m.fps, "bands_hz": m.bands_hz, "unit": m.unit, "tiles": tiles}


def map_table(m: VibrationMap) -> list[dict]:
    """One row per cell for a report table: box, amplitude and SNR per band, peak, direction.

    Column names carry the band and the unit, e.g. ``"RMS 80–1000 Hz (px)"``.

    Examples
    --------
    >>> m = VibrationMap(fps=2200.0, bands_hz=[[80.0, 1000.0]], tiles=[(0, 0, 8, 8)],
    ...                  amplitude=np.array([[0.01]]), snr_db=np.array([[12.0]]),
    ...                  peak_hz=np.array([300.0]), direction_deg=np.array([30.0]))
    >>> map_table(m)[0]["RMS 80–1000 Hz (px)"], map_table(m)[0]["peak (Hz)"]
    (0.01, 300.0)
    """
    rows = []
    for c, (x, y, w, h) in enumerate(m.tiles):
        row = {"x": x, "y": y, "w": w, "h": h}
        for i, (lo, hi) in enumerate(m.bands_hz):
            row[f"RMS {lo:g}–{hi:g} Hz ({m.unit})"] = float(m.amplitude[i, c])
        for i, (lo, hi) in enumerate(m.bands_hz):
            row[f"SNR {lo:g}–{hi:g} Hz (dB)"] = _finite(m.snr_db[i, c])
        row["peak (Hz)"] = float(m.peak_hz[c])
        row["direction (deg)"] = float(m.direction_deg[c])
        rows.append(row)
    return rows


def _finite(v) -> float | None:
    v = float(v)
    return round(v, 3) if math.isfinite(v) else None


def map_figure(m: VibrationMap, reference: np.ndarray, *, title: str | None = None):
    """A figure: one panel per band (RMS displacement over the frame) and a frequency panel.

    Parameters
    ----------
    m : VibrationMap
        The statistics.
    reference : np.ndarray [shape=(H, W)]
        The reference frame in input pixels (the tiles' coordinates).
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure

    n = len(m.bands_hz) + 1
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.2 * cols, 3.8 * rows), dpi=110, layout="constrained")
    H, W = reference.shape
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.imshow(reference, cmap="gray", interpolation="nearest")
        if i < len(m.bands_hz):
            values, cmap, label = m.amplitude[i], "inferno", f"RMS displacement ({m.unit})"
            lo, hi = m.bands_hz[i]
            ax.set_title(f"{lo:g}–{hi:g} Hz")
            norm = Normalize(0, max(float(values.max()), 1e-12))
            alpha = np.clip(m.snr_db[i] / 10.0, 0.15, 0.85)
        else:
            values, cmap, label = m.peak_hz, "viridis", "dominant frequency (Hz)"
            ax.set_title("dominant frequency")
            norm = Normalize(0, m.fps / 2)
            alpha = np.clip(np.max(m.snr_db, axis=0) / 10.0, 0.0, 0.85)
        canvas = np.full((H, W), np.nan)
        amap = np.zeros((H, W))
        for c, (x, y, w, h) in enumerate(m.tiles):
            canvas[y:y + h, x:x + w] = values[c]
            amap[y:y + h, x:x + w] = alpha[c]
        im = ax.imshow(canvas, cmap=cmap, norm=norm, alpha=amap, interpolation="nearest")
        fig.colorbar(im, ax=ax, label=label, shrink=0.85)
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return fig


def save_figure(fig, path, *, inputs=()) -> None:
    """Write a figure atomically; the format follows the extension (PNG, SVG, PDF)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    from pathlib import Path

    fmt = Path(path).suffix.lower().lstrip(".") or "png"
    if fmt not in ("png", "svg", "pdf"):
        raise ParameterError(f"{str(path)!r}: the map is written as .png, .svg or .pdf")
    with atomic_path(path, inputs=inputs) as tmp:
        fig.savefig(tmp, format=fmt)


def cells_figure(cells: dict, reference: np.ndarray, *, sources=None, title: str | None = None):
    """The cells the spatial combination used: each cell's SNR over the reference frame.

    Parameters
    ----------
    cells : dict
        ``Recovery.cells`` (boxes in input pixels, ``snr_db``, ``significant``).
    reference : np.ndarray [shape=(H_in, W_in)]
        The reference frame in input pixels.
    sources : list of dict, optional
        ``Recovery.sources``: their boxes are outlined and numbered.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(5.2, 4.4), dpi=110, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(reference, cmap="gray", interpolation="nearest")
    H, W = reference.shape
    canvas = np.full((H, W), np.nan)
    for c in cells.get("cells", []):
        snr = c.get("snr_db")
        if c.get("significant") and snr is not None:
            canvas[c["y"]:c["y"] + c["h"], c["x"]:c["x"] + c["w"]] = snr
    top = float(np.nanmax(canvas)) if np.isfinite(canvas).any() else 0.0
    canvas[canvas < top - 30.0] = np.nan  # 30 dB of range: the rest is left clear
    im = ax.imshow(canvas, cmap="viridis", alpha=0.6, interpolation="nearest",
                   norm=Normalize(top - 30.0, top))
    fig.colorbar(im, ax=ax, label="cell SNR (dB per sample), significant cells",
                 shrink=0.85)
    for s in sources or []:
        if s.get("box"):
            x, y, w, h = s["box"]
            ax.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, lw=1.5, ec="cyan"))
            ax.text(x + 1, y + 1, f"source {s['index']}", color="cyan", va="top", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "where the sound is: cells that carry it")
    return fig
