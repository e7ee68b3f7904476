"""Spectrogram figures of recovered and ground-truth audio (PNG, SVG or PDF; matplotlib Agg).

Figures are built on :class:`matplotlib.figure.Figure` with the Agg canvas,
never through ``pyplot``: no global figure state, no GUI backend, nothing left
open after a call.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import numpy as np
from scipy import signal as _signal

from .._errors import OutputError, ParameterError
from .._validate import check_audio, check_positive, check_rate
from ..io.atomic import atomic_path

__all__ = ["spectrogram_png", "save_spectrogram", "spectrogram_figure", "figure_bytes",
           "parse_size", "figure_format", "FIGURE_FORMATS", "DPI"]

#: Output formats of :func:`save_spectrogram`, by file suffix.
FIGURE_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}

#: Pixels per inch of every figure (sizes are given in pixels).
DPI = 100


def _spectrogram(y: np.ndarray, rate: float, window: float | None = None):
    """Power spectrogram in dB re. its own peak: (freqs Hz, times s, dB (n_freq, n_time)).

    ``window`` is the Hann window length in seconds (default ~60 ms).
    """
    n = y.size
    if window is None:
        # ~60 ms windows (a power of two: 128 samples at 2200 Hz, 2048 at 44.1 kHz) for
        # a frequency resolution that resolves musical notes, hop 1/8 window.
        m = 1 << max(3, int(round(math.log2(max(8.0, 0.06 * rate)))))
    else:
        m = max(8, int(round(window * rate)))
    m = min(m, n)
    hop = max(1, m // 8)
    f, t, p = _signal.spectrogram(
        y, fs=rate, window="hann", nperseg=m, noverlap=m - hop, detrend="constant",
        scaling="density", mode="psd",
    )
    peak = float(p.max())
    db = 10 * np.log10(np.maximum(p, peak * 1e-30) / peak) if peak > 0 else np.full(p.shape, -300.0)
    return f, t, db


def _spectrogram_figure(
    signals: Sequence,
    *,
    titles: Sequence[str] | None = None,
    max_freq: float | None = None,
    dynamic_range: float = 80.0,
    size: tuple | None = None,
    window: float | None = None,
):
    """Build (but do not save) the side-by-side spectrogram figure; returns the Figure."""
    from matplotlib.figure import Figure

    if isinstance(signals, tuple) and len(signals) == 2 and np.ndim(signals[1]) == 0:
        raise ParameterError(
            "signals must be a list of (y, rate) pairs; wrap a single signal as [(y, rate)]"
        )
    try:
        pairs = list(signals)
    except TypeError:
        raise ParameterError("signals must be a list of (y, rate) pairs") from None
    if not pairs:
        raise ParameterError("signals is empty; give at least one (y, rate) pair")
    checked = []
    for i, pair in enumerate(pairs):
        try:
            y, rate = pair
        except (TypeError, ValueError):
            raise ParameterError(
                f"signals[{i}] must be a (y, rate) pair, got {type(pair).__name__}"
            ) from None
        y = check_audio(y, f"signals[{i}] audio").astype(np.float64)
        if y.size < 8:
            raise ParameterError(
                f"signals[{i}] has {y.size} sample(s); a spectrogram needs at least 8"
            )
        checked.append((y, check_rate(rate, f"signals[{i}] rate")))
    if titles is None:
        titles = [None] * len(checked)
    else:
        titles = list(titles)
        if len(titles) != len(checked):
            raise ParameterError(
                f"titles has {len(titles)} entries but there are {len(checked)} signals; "
                "give one title per signal"
            )
    nyquist = min(rate / 2 for _, rate in checked)
    if max_freq is None:
        max_freq = nyquist
    else:
        max_freq = check_positive(max_freq, "max_freq")
    dynamic_range = check_positive(dynamic_range, "dynamic_range")
    if window is not None:
        window = check_positive(window, "window")

    n = len(checked)
    figsize = (4.2 * n + 1.0, 3.6) if size is None else tuple(v / DPI for v in parse_size(size))
    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    image = None
    for ax, (y, rate), title in zip(axes, checked, titles, strict=True):
        f, t, db = _spectrogram(y, rate, window)
        keep = f <= max_freq * (1 + 1e-9)
        image = ax.pcolormesh(
            t, f[keep], db[keep], shading="nearest", cmap="magma",
            vmin=-dynamic_range, vmax=0.0, rasterized=True,
        )
        ax.set_xlabel("time (s)")
        ax.set_ylim(0, max_freq)
        ax.set_title(title if title is not None else f"{rate:g} Hz", fontsize=10)
    axes[0].set_ylabel("frequency (Hz)")
    fig.colorbar(image, ax=list(axes), label="power (dB re. peak)")
    return fig


def spectrogram_png(
    path: str | os.PathLike,
    signals: Sequence,
    *,
    titles: Sequence[str] | None = None,
    max_freq: float | None = None,
    dynamic_range: float = 80.0,
    inputs: tuple = (),
) -> str:
    """Write spectrograms of one or more signals side by side to a PNG file.

    Each panel shows the power spectral density of one signal (Hann windows of
    about 60 ms, hop 1/8 window) in dB relative to that signal's own peak, so
    a recovered signal with an arbitrary gain and its ground truth are
    comparable; all panels share one colour scale from ``-dynamic_range`` to
    0 dB and one frequency axis.

    Parameters
    ----------
    path : path-like
        Output PNG file, written atomically (a temporary file renamed over the
        target), never over one of ``inputs``.
    signals : list of (np.ndarray [shape=(n,)], float)
        ``(y, rate)`` pairs, one panel each, left to right, e.g.
        ``[(recovered, 2200), (truth, 44100)]``.
    titles : list of str, optional
        One title per panel; default the sampling rate.
    max_freq : float, optional
        Upper frequency limit in Hz; default the lowest Nyquist frequency among
        the signals (1100 Hz for a 2200 fps recovery), so the panels compare
        the same band.
    dynamic_range : float, default 80
        Colour scale range in dB below each panel's peak.
    inputs : tuple of path-like
        Input files the output may not overwrite.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    ParameterError
        If ``signals`` is empty or holds invalid audio or rates, or ``titles``
        does not match it.
    OutputError
        If the output cannot be written (missing folder, is an input...).
    """
    fig = _spectrogram_figure(
        signals, titles=titles, max_freq=max_freq, dynamic_range=dynamic_range
    )
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with atomic_path(path, inputs=inputs) as tmp:
        fig.savefig(tmp, format="png")
    return os.fspath(path)


# --------------------------------------------------------------------------- formats and sizes


def parse_size(size) -> tuple[int, int]:
    """Parse a figure size in pixels: ``"WxH"`` (e.g. ``"1200x500"``) or a pair ``(W, H)``.

    Sizes are pixels at :data:`DPI` = 100 pixels per inch, so ``1200x500`` is a
    1200×500 PNG and a 12×5 inch SVG or PDF page.

    Raises
    ------
    ParameterError
        If the size is not two integers from 100 to 10000.

    Examples
    --------
    >>> parse_size("1200x500")
    (1200, 500)
    """
    try:
        if isinstance(size, str):
            w, h = (int(v) for v in size.lower().replace("×", "x").split("x"))
        else:
            w, h = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ParameterError(
            f"size={size!r} must be WIDTHxHEIGHT in pixels, e.g. 1200x500"
        ) from None
    if not (100 <= w <= 10000 and 100 <= h <= 10000):
        raise ParameterError(
            f"size={size!r} must be between 100 and 10000 pixels on each side, e.g. 1200x500"
        )
    return w, h


def figure_format(path: str | os.PathLike) -> str:
    """Return the figure format chosen by a path's suffix (``png``, ``svg`` or ``pdf``).

    Raises
    ------
    OutputError
        For any other suffix.
    """
    suffix = os.path.splitext(os.fspath(path))[1].lower()
    if suffix not in FIGURE_FORMATS:
        raise OutputError(
            f"cannot write a figure to {os.fspath(path)!r}: the name must end in .png, .svg or "
            ".pdf"
        )
    return FIGURE_FORMATS[suffix]


def spectrogram_figure(signals: Sequence, *, titles: Sequence[str] | None = None,
                       max_freq: float | None = None, dynamic_range: float = 80.0,
                       size=None, window: float | None = None):
    """Build the spectrogram figure of :func:`save_spectrogram` without saving it.

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas attached (``figure_bytes`` renders it).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = _spectrogram_figure(signals, titles=titles, max_freq=max_freq,
                              dynamic_range=dynamic_range, size=size, window=window)
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig, fmt: str = "png") -> bytes:
    """Render a matplotlib figure to bytes in ``fmt`` (``png``, ``svg`` or ``pdf``)."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if fmt not in FIGURE_FORMATS.values():
        raise ParameterError(f"fmt={fmt!r} must be one of {{'png', 'svg', 'pdf'}}")
    if fig.canvas is None or not hasattr(fig.canvas, "print_figure"):
        FigureCanvasAgg(fig)
    buf = io.BytesIO()
    # A fixed date and no creator make SVG/PDF bytes reproducible.
    metadata = {"Date": None} if fmt == "svg" else ({"CreationDate": None} if fmt == "pdf"
                                                     else None)
    fig.savefig(buf, format=fmt, metadata=metadata)
    return buf.getvalue()


def save_spectrogram(
    path: str | os.PathLike,
    signals: Sequence,
    *,
    titles: Sequence[str] | None = None,
    max_freq: float | None = None,
    dynamic_range: float = 80.0,
    size=None,
    window: float | None = None,
    inputs: tuple = (),
) -> str:
    """Write spectrograms side by side as PNG, SVG or PDF, chosen by the file's suffix.

    Like :func:`spectrogram_png` (same panels and colour scale), with the
    format taken from ``path`` and the figure's size and STFT window chosen.

    Parameters
    ----------
    path : path-like
        Output ending in ``.png``, ``.svg`` or ``.pdf``; written atomically.
    signals, titles, max_freq, inputs
        As in :func:`spectrogram_png`.
    dynamic_range : float, default 80
        Colour scale range in dB below each panel's peak (``--db-range``).
    size : str or (int, int), optional
        ``"WxH"`` in pixels at 100 per inch (``--spectrogram-size``); default
        about 520×360 per panel.
    window : float, optional
        Hann window length in seconds (``--window``); default about 60 ms.
        Longer windows resolve frequency better and time worse.

    Returns
    -------
    str
        The path written.

    Raises
    ------
    OutputError
        If the suffix is not ``.png``, ``.svg`` or ``.pdf`` or the file cannot be written.
    ParameterError
        For bad signals, size, window or range.
    """
    fmt = figure_format(path)
    fig = spectrogram_figure(signals, titles=titles, max_freq=max_freq,
                             dynamic_range=dynamic_range, size=size, window=window)
    data = figure_bytes(fig, fmt)
    with atomic_path(path, inputs=inputs) as tmp:
        tmp.write_bytes(data)
    return os.fspath(path)
