"""Classical recovery, composed: open -> chain -> combine -> post-process -> result.

:func:`recover` is composition only: the video is opened by :mod:`visualmic.io`, its
frames go through the one estimator chain (:mod:`visualmic.engine.chain`) in this
process (decoding on a background thread) or on Dask workers
(:mod:`visualmic.engine.dask`), the band signals are combined by
:mod:`visualmic.core.combine` and post-processed by :mod:`visualmic.core.post`. An
enhancer (e.g. :func:`visualmic.learn.enhance.load_enhancer`) is handed in as a
callable; the engine never imports :mod:`visualmic.learn`.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._errors import ParameterError, VideoError, VisualMicWarning
from .._progress import ProgressCallback
from .._validate import MIN_RELATIVE_CUTOFF, check_choice, in_range, positive_number
from ..core import post
from ..core.cells import default_cell
from ..core.combine import combine_long
from ..core.pyramid import Band, SteerablePyramid
from ..io.video import LOW_FPS, VideoReader, playback_rate_hint
from ._common import enhance_effect, open_reader, postprocess, run_chain
from ._spatial import (
    cell_summary,
    combine_spatial,
    motion_px,
    noise_reference,
    source_band_signals,
    split_sources,
)
from .chain import Chain, check_method
from .threads import single_blas_thread
from .vibmap import input_boxes

__all__ = ["Recovery", "recover", "DEFAULTS"]

#: Default parameters of :func:`recover` (also used by the command line).
DEFAULTS: dict[str, Any] = {
    "scales": None,
    "orientations": 4,
    "highpass_bands": True,
    "reference": 1,
    "max_lag": 10,
    "weighting": "spatial",
    "cell": None,
    "highpass": 20.0,
    "denoise": "none",
    "chunk_size": 128,
    "method": "auto",
}


@dataclass(frozen=True)
class Recovery:
    """The result of :func:`recover`.

    Attributes
    ----------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Recovered audio, high-passed, optionally denoised, normalised to [-1, 1],
        at ``rate``.
    rate : float
        Sampling rate of ``audio`` in Hz (the frame rate unless ``output_rate`` was given).
    fps : float
        Frame rate of the video in Hz (the sampling rate of the band signals).
    motion : np.ndarray [shape=(T,), dtype=float64]
        Combined motion signal before post-processing, in radians of phase of the
        reference band (proportional to displacement).
    band_signals : np.ndarray [shape=(n_bands, T), dtype=float64]
        Per-band amplitude²-weighted phase differences (radians), high-passed.
    bands : list of Band
        Which band each row of ``band_signals`` is (level -1 is the oriented high-pass).
    weights, gains, noise_var, snr_db : np.ndarray [shape=(n_bands,)]
        Combination coefficients, per-band gains, noise variances and SNR estimates
        (see :class:`visualmic.core.combine.Combination`).
    lags : np.ndarray [shape=(n_bands,), dtype=int]
        Alignment shift per band, in samples.
    signs : np.ndarray [shape=(n_bands,)]
        Polarity per band.
    reference_band : int
        Index of the strongest band, which the others were aligned to.
    n_frames : int
        Frames processed.
    frame_shape : tuple of int
        ``(H, W)`` of the processed frames (after ROI and downsampling).
    timings : dict
        Seconds spent per stage (``read_and_pyramid``, ``combine``, ``post``, ``total``).
    params : dict
        The parameters used.
    warnings : list of str
        Warnings raised while reading and processing.
    cells : dict or None
        With ``weighting="spatial"``: the cells (boxes in input pixels, weight, SNR,
        significance) that the combination used.
    sources : list of dict or None
        With ``sources``: per source (ordered by energy), its bounding box in input
        pixels, its cells and its SNR.
    sources_audio : np.ndarray [shape=(n_sources, n), dtype=float32] or None
        With ``sources``: one post-processed track per source.
    displacement : np.ndarray [shape=(2, T) or (2, n_sources, T)] or None
        With ``displacement=True``: ``(dx, dy)`` per frame in input pixels (x right,
        y down), high-passed, for the whole estimate or each source.
    """

    audio: np.ndarray
    rate: float
    fps: float
    motion: np.ndarray
    band_signals: np.ndarray
    bands: list
    weights: np.ndarray
    gains: np.ndarray
    noise_var: np.ndarray
    snr_db: np.ndarray
    lags: np.ndarray
    signs: np.ndarray
    reference_band: int
    n_frames: int
    frame_shape: tuple
    timings: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)
    cells: dict | None = None
    sources: list | None = None
    sources_audio: np.ndarray | None = None
    displacement: np.ndarray | None = None

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.n_frames / self.fps

    def summary(self) -> dict:
        """A JSON-serialisable summary (what ``visualmic recover --json`` prints)."""
        return {
            "frames": self.n_frames,
            "fps": self.fps,
            "duration_s": round(self.duration, 6),
            "rate": self.rate,
            "frame_shape": list(self.frame_shape),
            "bands": [
                {
                    "level": b.level,
                    "orientation": b.orientation,
                    "shape": list(b.shape),
                    "weight": float(w),
                    "gain": float(g),
                    "snr_db": float(s),
                    "lag": int(lg),
                    "sign": int(sg),
                }
                for b, w, g, s, lg, sg in zip(
                    self.bands, self.weights, self.gains, self.snr_db, self.lags, self.signs
                )
            ],
            "reference_band": self.reference_band,
            **({"cells": self.cells} if self.cells is not None else {}),
            **({"sources": self.sources} if self.sources is not None else {}),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "params": self.params,
            "warnings": list(self.warnings),
        }


def recover(
    source,
    *,
    fps: float | None = None,
    start: int = 0,
    end: int | None = None,
    roi: tuple | None = None,
    downsample: float = 1.0,
    scales: int | None = DEFAULTS["scales"],
    orientations: int = DEFAULTS["orientations"],
    highpass_bands: bool = DEFAULTS["highpass_bands"],
    reference: int = DEFAULTS["reference"],
    max_lag: int = DEFAULTS["max_lag"],
    weighting: str = DEFAULTS["weighting"],
    cell: int | None = DEFAULTS["cell"],
    sources=None,
    displacement: bool = False,
    method: str = DEFAULTS["method"],
    device: str | None = None,
    dask=None,
    workers: int | None = None,
    highpass: float | None = DEFAULTS["highpass"],
    denoise: str = DEFAULTS["denoise"],
    denoise_options: dict | None = None,
    enhance=None,
    output_rate: float | None = None,
    chunk_size: int = DEFAULTS["chunk_size"],
    progress: ProgressCallback | None = None,
) -> Recovery:
    """Recover sound from a video with the phase-based method of Davis et al. (2014).

    Each frame goes through a complex steerable pyramid; in every oriented band the
    local phase difference to a reference frame is averaged with the reference's
    amplitude² as weight; the band signals are aligned to the strongest band
    (bounded lag, sign-aware), combined with noise-based (maximum-likelihood)
    weights, high-passed, optionally denoised by spectral subtraction, and
    normalised.

    This function is long because of its documentation; its code is 71 lines
    of straight-line steps.

    Parameters
    ----------
    source : str, path-like, np.ndarray [shape=(T, H, W)] or VideoReader
        A video file (any format FFmpeg reads; use a lossless codec), a folder of
        frames, a ``.npy`` array, an array of frames in grey levels, or an opened
        :class:`visualmic.io.VideoReader`.
    fps : float, optional
        Frame rate in Hz; overrides the container's (required for frame folders and
        arrays). The audio band is limited to ``fps / 2``: 2200 fps gives 1.1 kHz.
    start, end : int, optional
        Frame range ``[start, end)`` to process.
    roi : tuple of int (x, y, w, h), optional
        Region of interest in input pixels (x = column, y = row).
    downsample : float, optional
        Anti-aliased shrink factor applied after the ROI: 2 (or 0.5) halves each side.
    scales : int, optional
        Pyramid scales; ``None`` (default) uses every scale the frame size allows
        (``floor(log2(min(H, W))) - 2``). The maximum-likelihood weighting makes extra
        scales harmless, and textures often move most visibly at coarse scales.
    orientations : int, optional
        Orientations per scale (default 4).
    highpass_bands : bool, optional
        Also use the high-pass residual split into oriented complex bands (default
        True). Fine texture above half-Nyquist often carries most of the motion
        information; False gives the classical pyramid only.
    reference : int, optional
        The reference frame is the mean of the first ``reference`` frames of the range
        (default 1: the first frame, as Davis et al.). A mean of several frames lowers
        the reference's noise.
    max_lag : int, optional
        Bound (samples) on the alignment shift between bands (default 10).
    weighting : {"spatial", "ml", "uniform"}, optional
        How the motion is combined. ``"spatial"`` (default): the frame is cut into
        cells and every cell-band signal is weighted by its own estimated gain (with
        its sign) and noise, per frequency sub-band (:mod:`visualmic.core.spatial`):
        static background gets no weight, parts moving in opposite phase are flipped,
        parts carrying different frequencies each keep theirs; when the whole frame
        moves as one it equals ``"ml"``. ``"ml"``: maximum-likelihood weights of whole
        bands (the whole frame moves as one). ``"uniform"``: the plain sign-aligned
        sum of Davis et al.
    cell : int, optional
        Cell size in processed-frame pixels for ``weighting="spatial"`` (default from
        the frame size, :func:`visualmic.core.cells.default_cell`: 16 px at 128×128).
    sources : int or "auto", optional
        Also separate the scene into sources (:func:`visualmic.core.sources.find_sources`:
        cells whose signals agree are clustered) and return one track per source in
        ``sources_audio``, ordered by energy; ``"auto"`` chooses the number. Needs
        ``weighting="spatial"``. Default None: one track.
    displacement : bool, optional
        Also return the signed 2-D displacement ``(dx, dy)`` per frame in input pixels
        (per source with ``sources``) in ``Recovery.displacement``.
    method : {"phase", "fast", "auto"}, optional
        Band motion estimator (:mod:`visualmic.core.linear`): ``"auto"`` (default) the
        linear estimator where it is accurate, the phase method for chunks with larger
        motion; ``"phase"`` local phase differences (Davis et al.); ``"fast"`` the linear
        estimator alone (one matrix product per chunk, within 0.1 dB of the phase
        method up to about 0.1 px of motion; warns above).
    device : str, optional
        Run the estimator with PyTorch on this device (``"cuda"``, ``"cpu"``);
        default None computes with NumPy (PyTorch is then not imported).
    dask : None, True, str or distributed.Client, optional
        Process frame ranges in parallel with Dask (:mod:`visualmic.engine.dask`):
        ``True`` starts a local cluster, a string is a scheduler address
        (``"tcp://host:8786"``), or give a connected client. The result equals the
        single-process one. Default None: in this process.
    workers : int, optional
        Workers of the local Dask cluster (default: the number of cores).
    highpass : float or None, optional
        Zero-phase high-pass cut-off in Hz (default 20); ``None`` or 0 disables it.
    denoise : {"none", "specsub"}, optional
        Spectral subtraction after the high-pass (default "none").
    denoise_options : dict, optional
        Keyword arguments for :func:`visualmic.core.post.spectral_subtraction`.
    enhance : None, True, path-like or callable, optional
        Hybrid enhancement after the high-pass (before any spectral subtraction):
        a neural network trained on synthetic videos removes noise using the
        structure of sound. A callable ``enhance(y, rate) -> y`` (e.g. from
        :func:`visualmic.learn.enhance.load_enhancer`; its ``info`` dict, if any, is
        recorded; with ``weighting="spatial"``, one whose ``accepts_noise_reference`` is
        true is also given ``noise=`` a noise reference from two halves of the frame,
        see :func:`visualmic.core.spatial.split_half_noise_cells`, high-passed like ``y``).
        ``visualmic.recover`` also takes ``True`` (the model shipped with
        the package) or a checkpoint path written by ``visualmic train-enhancer``, and
        loads it. Default ``None``: off (PyTorch is then never imported).
    output_rate : float, optional
        Resample the audio to this rate in Hz (e.g. 44100: many players refuse
        2200 Hz files). Default: the frame rate.
    chunk_size : int, optional
        Frames processed per batch (memory ~ ``chunk_size * H * W * 8 * (bands/2)``
        bytes); default 128.
    progress : callable, optional
        ``progress(frames_done, frames_total_or_None)``.

    Returns
    -------
    Recovery
        Audio, rate, band signals, weights and timings.

    Raises
    ------
    InputFileError
        If the source does not exist.
    VideoError
        If the video cannot be decoded or has fewer than 2 frames.
    ParameterError
        If a parameter is invalid (ROI outside the frame, non-positive rates, ...).

    References
    ----------
    .. [1] A. Davis et al., "The visual microphone: passive recovery of sound from
       video", ACM TOG 33(4), 2014. https://doi.org/10.1145/2601097.2601119

    Examples
    --------
    >>> import numpy as np, visualmic
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.normal(128, 30, size=(200, 32, 32)).astype(np.float32)
    >>> rec = visualmic.recover(frames, fps=2200.0)
    >>> rec.audio.shape, rec.rate
    ((200,), 2200.0)
    """
    t0 = time.perf_counter()
    _check_params(orientations=orientations, chunk_size=chunk_size, reference=reference,
                  output_rate=output_rate, scales=scales, max_lag=max_lag, denoise=denoise,
                  weighting=weighting, method=method, device=device, enhance=enhance,
                  cell=cell, sources=sources)
    reader, caught = open_reader(source, fps=fps, start=start, end=end, roi=roi,
                                 downsample=downsample)
    rate = float(reader.fps)
    _check_rates(reader, fps=fps, highpass=highpass)
    pyr = SteerablePyramid(reader.shape, scales=scales, orientations=int(orientations),
                           highpass=highpass_bands)
    spatial = weighting == "spatial"
    cell_px = (default_cell(reader.shape) if cell is None else cell) if spatial else None
    chain = Chain(pyr, method=method, device=device, reference=int(reference), cell=cell_px)
    sig = run_chain(chain, reader, chunk_size=int(chunk_size), dask=dask, workers=workers,
                    progress=progress)
    for msg in list(getattr(reader, "warnings", []) or []) + sig.messages:
        if msg not in caught:
            caught.append(msg)  # e.g. a truncation found while decoding
    if sig.n_frames < 2:
        raise VideoError(
            f"the video has {sig.n_frames} frame(s) in the selected range; at least 2 are "
            "needed (check --start/--end)"
        )
    t1 = time.perf_counter()
    signals = sig.signals
    sig.signals = None  # one copy of the band signals (bounded memory)
    if highpass:
        for i in range(len(signals)):  # in place: one band's temporaries at a time
            signals[i] = post.highpass(signals[i], rate, cutoff=highpass)
    extras: dict = {}
    with single_blas_thread():  # small products: threads only add overhead
        if spatial:
            comb, extras = _spatial_steps(sig.cells, chain, reader, rate=rate, highpass=highpass,
                                          max_lag=int(max_lag), sources=sources,
                                          brightness=sig.brightness,
                                          reference=getattr(enhance, "accepts_noise_reference",
                                                            False))
            if extras["cells"]["n_flicker"]:
                msg = (f"{extras['cells']['n_flicker']} cell(s) flicker (their brightness "
                       "changes far more than motion explains: a light or a highlight) and were "
                       "left out; see the cells in --json")
                warnings.warn(msg, VisualMicWarning, stacklevel=2)
                caught.append(msg)
        else:
            # Bounded time and memory for long videos: the combination is estimated on at
            # most 16384 samples (all of them for shorter videos: combine_bands).
            comb = combine_long(signals, max_lag=int(max_lag), weighting=weighting)
    for msg in _implausible(comb.signal, rate, start):
        warnings.warn(msg, VisualMicWarning, stacklevel=2)
        caught.append(msg)
    t2 = time.perf_counter()
    post_opts = dict(highpass=highpass, enhance=enhance, denoise=denoise,
                     denoise_options=denoise_options, output_rate=output_rate)
    audio, out_rate, t_enhance = postprocess(comb.signal, rate,
                                             noise_ref=extras.pop("noise_reference", None),
                                             **post_opts)
    if "sources_motion" in extras:
        post_opts["enhance"] = None  # one enhancer call (its info describes the main track)
        tracks = [postprocess(m, rate, **post_opts)[0] for m in extras.pop("sources_motion")]
        extras["sources_audio"] = np.stack(tracks)
    if displacement:
        bands_px = extras.pop("sources_bands", signals)
        extras["displacement"] = motion_px(bands_px, pyr, chain.reference_image,
                                           reader.pixel_scale)
    extras.pop("sources_bands", None)
    t3 = time.perf_counter()
    params = {
        "scales": pyr.scales,
        "orientations": pyr.orientations,
        "highpass_bands": bool(highpass_bands),
        "reference": int(reference),
        "max_lag": int(max_lag),
        "weighting": weighting,
        "cell": cell_px,
        "sources": sources,
        "method": method,
        "device": device,
        "highpass": highpass,
        "denoise": denoise,
        "enhance": None if enhance is None else (getattr(enhance, "info", None) or {}).get("path"),
        "enhance_effect": enhance_effect(enhance),
        "output_rate": output_rate,
        "roi": list(roi) if roi is not None else None,
        "downsample": downsample,
        "start": start,
        "end": end,
    }
    return Recovery(
        audio=audio, rate=out_rate, fps=rate, motion=comb.signal, band_signals=signals,
        bands=list(pyr.bands), weights=comb.weights, gains=comb.gains,
        noise_var=comb.noise_var, snr_db=comb.snr_db, lags=comb.lags, signs=comb.signs,
        reference_band=comb.reference, n_frames=sig.n_frames, frame_shape=tuple(reader.shape),
        timings={
            "read_and_pyramid": t1 - t0,
            "combine": t2 - t1,
            "post": t3 - t2,
            "enhance": t_enhance,
            "total": t3 - t0,
        },
        params=params,
        warnings=caught,
        **extras,
    )


def _spatial_steps(cells, chain: Chain, reader, *, rate: float, highpass, max_lag: int,
                   sources, brightness=None, reference: bool = False) -> tuple:
    """Cells -> one track (and sources): the combination and the Recovery's extra fields.

    With ``reference``, also the enhancer's noise reference (``extras["noise_reference"]``).
    """
    est = chain.estimator
    res = combine_spatial(cells, est, rate=rate, highpass=highpass, max_lag=max_lag,
                          orientations=chain.pyramid.orientations, brightness=brightness)
    if res.flicker.any():
        cells = np.array(cells, dtype=np.float64)
        cells[:, res.flicker] = 0.0  # the sources leave them out too
    boxes = input_boxes(res.grid, reader)
    extras = {"cells": cell_summary(res, boxes)}
    if reference:
        extras["noise_reference"] = noise_reference(cells, res, rate=rate, highpass=highpass,
                                                    orientations=chain.pyramid.orientations)
    if sources is not None:
        src = split_sources(cells, res, sources, rate=rate, highpass=highpass, max_lag=max_lag,
                            orientations=chain.pyramid.orientations)
        n = len(src.signals)
        extras["sources_motion"] = list(src.signals)
        extras["sources_bands"] = source_band_signals(np.asarray(cells, np.float64),
                                                      np.asarray(src.labels), n)
        if highpass:
            bands = extras["sources_bands"]
            for b in range(bands.shape[0]):
                for i in range(n):
                    bands[b, i] = post.highpass(bands[b, i], rate, cutoff=highpass)
        extras["sources"] = [
            {"index": i, "snr_db": float(src.snr_db[i]),
             "box": _input_box(src.boxes[i], reader),
             "cells": [int(c) for c in np.flatnonzero(np.asarray(src.labels) == i)]}
            for i in range(n)
        ]
    return res.bands, extras


def _input_box(box, reader):
    """A processed-frame box ``(x, y, w, h)`` in input pixels (None stays None)."""
    return None if box is None else list(input_boxes([box], reader)[0])


def _check_params(*, orientations, chunk_size, reference, output_rate, scales, max_lag, denoise,
                  weighting, method, device, enhance, cell=None, sources=None) -> None:
    """Validate :func:`recover`'s parameters before any work (one-line ParameterErrors)."""
    positive_number("orientations", orientations, integer=True)
    in_range("chunk_size", chunk_size, "chunk_size", integer=True)
    in_range("reference", reference, "reference", integer=True)
    in_range("output_rate", output_rate, "output_rate", allow_none=True)
    in_range("scales", scales, "scales", integer=True, allow_none=True)
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ParameterError(f"max_lag={max_lag!r} must be a non-negative integer")
    in_range("max_lag", max_lag, "max_lag", integer=True)
    check_choice("denoise", denoise, ("none", "specsub"))
    check_choice("weighting", weighting, ("spatial", "ml", "uniform"))
    if cell is not None:
        positive_number("cell", cell, integer=True)
        if cell < 2:
            raise ParameterError(f"cell={cell!r} must be at least 2 pixels")
    if sources is not None:
        if weighting != "spatial":
            raise ParameterError(f"sources={sources!r} needs weighting='spatial' (the cells "
                                 "are what is grouped into sources)")
        if sources != "auto":
            positive_number("sources", sources, integer=True)
    check_method(method, device)  # fails early when PyTorch or the device is missing
    if enhance is not None and not callable(enhance):
        raise ParameterError(
            f"enhance={enhance!r} must be None or a callable enhancer(y, rate) -> y (load one "
            "with visualmic.learn.enhance.load_enhancer)"
        )


def _check_rates(reader: VideoReader, *, fps, highpass) -> None:
    """Check the frame rate (when read from the file) and the high-pass cut-off against it."""
    rate = float(reader.fps)
    if fps is None:  # a rate read from a (possibly damaged) file header
        try:
            in_range("fps", rate, "fps")
        except ParameterError:
            raise VideoError(f"the video declares {rate:g} frames per second, which cannot be "
                             "right; give the frame rate with -s/--fps") from None
    if highpass and highpass < rate * MIN_RELATIVE_CUTOFF:
        raise ParameterError(
            f"highpass={highpass:g} Hz must be at least {rate * MIN_RELATIVE_CUTOFF:.3g} Hz "
            f"(the frame rate / {1 / MIN_RELATIVE_CUTOFF:g}); use 0 to disable the high-pass")
    if highpass and not 0 < highpass < rate / 2:
        hint = ""
        if fps is None and reader.source_fps == rate and rate < LOW_FPS:
            hint = "; " + playback_rate_hint(rate)  # the rate came from the file
        raise ParameterError(
            f"highpass={highpass} Hz must be between 0 and the Nyquist frequency {rate / 2:g} Hz"
            + hint
        )


def _implausible(y: np.ndarray, rate: float, start: int) -> list[str]:
    """Warnings about a recovered signal that cannot be sound, or too short to be useful.

    Sound spreads its energy over time; more than half of it in a span of at most
    1/64 of the signal (at least 8 frames) is a burst or a step: damaged frames, a
    cut, or a camera knock (the frames are named so that they can be checked).
    """
    n = int(y.size)
    msgs = []
    if n < 0.1 * rate:
        msgs.append(f"only {n} frames ({n / rate:.3g} s at {rate:g} fps) were processed; "
                    "at least 0.1 s of frames is needed for useful audio")
    span = max(8, n // 64)
    if n < 8 * span:
        return msgs
    e = np.square(y - np.median(y))
    total = float(e.sum())
    if not np.isfinite(total) or total <= 0:
        return msgs
    c = np.concatenate(([0.0], np.cumsum(e)))
    win = c[span:] - c[:-span]
    i = int(np.argmax(win))
    step = _step_share(y)
    if step is not None:
        k, share = step
        msgs.append(f"the recovered signal is {100 * share:.0f}% a step at frame {start + k} "
                    "(not sound: the camera or the object moved, or the frames change there); "
                    "check that frame or exclude it with --start/--end")
    elif win[i] > 0.5 * total:
        msgs.append(f"{100 * win[i] / total:.0f}% of the recovered signal lies in frames "
                    f"{start + i}-{start + i + span - 1} (a burst or a step, not sound: damaged "
                    "frames, a cut or a knock?); check those frames or exclude them with "
                    "--start/--end")
    return msgs


def _step_share(y: np.ndarray) -> tuple[int, float] | None:
    """``(k, share)`` when one step at sample ``k`` explains over 90% of ``y``'s variance.

    A ramp (a slow drift) is explained to 75% at best, sound hardly at all.
    """
    n = y.size
    d = y - y.mean()
    total = float(np.dot(d, d))
    if n < 16 or not np.isfinite(total) or total <= 0:
        return None
    k = np.arange(1, n)
    c = np.cumsum(d)[:-1]
    explained = c**2 * n / (k * (n - k))  # between-segment sum of squares of a split at k
    i = int(np.argmax(explained))
    share = float(explained[i]) / total
    return (int(k[i]), share) if share > 0.9 else None


__all__ += ["Band"]
