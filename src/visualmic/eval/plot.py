"""Spectrogram figures of recovered and ground-truth audio (PNG, matplotlib Agg).

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

from .._errors import ParameterError
from .._validate import check_audio, check_positive, check_rate
from ..io.atomic import atomic_path

__all__ = ["spectrogram_png"]


def _spectrogram(y: np.ndarray, rate: float):
    """Power spectrogram in dB re. its own peak: (freqs Hz, times s, dB (n_freq, n_time))."""
    n = y.size
    # ~60 ms windows (a power of two: 128 samples at 2200 Hz, 2048 at 44.1 kHz) for
    # a frequency resolution that resolves musical notes, hop 1/8 window.
    m = 1 << max(3, int(round(math.log2(max(8.0, 0.06 * rate)))))
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

    n = len(checked)
    fig = Figure(figsize=(4.2 * n + 1.0, 3.6), dpi=100, layout="constrained")
    axes = fig.subplots(1, n, sharey=True, squeeze=False)[0]
    image = None
    for ax, (y, rate), title in zip(axes, checked, titles, strict=True):
        f, t, db = _spectrogram(y, rate)
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
