"""Classical recovery: video -> steerable pyramid -> phase motion -> combined bands -> audio."""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import denoise as _denoise
from ._errors import ModelError, ParameterError, VideoError
from ._progress import ProgressCallback
from .fast import METHODS, _torch_device, combine_long, motion_estimator, prefetch
from .pyramid import Band, SteerablePyramid

__all__ = ["Recovery", "recover", "DEFAULTS"]

#: Default parameters of :func:`recover` (also used by the command line).
DEFAULTS: dict[str, Any] = {
    "scales": None,
    "orientations": 4,
    "highpass_bands": True,
    "reference": 1,
    "max_lag": 10,
    "weighting": "ml",
    "highpass": 20.0,
    "denoise": "none",
    "chunk_size": 128,
    "method": "phase",
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
        (see :class:`visualmic.align.Combination`).
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
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "params": self.params,
            "warnings": list(self.warnings),
        }


def _check_positive(name: str, value, *, allow_none=False, integer=False):
    if value is None and allow_none:
        return
    ok = isinstance(value, (int, float, np.integer, np.floating)) and np.isfinite(value) and value > 0
    if integer:
        ok = ok and float(value).is_integer()
    if not ok:
        kind = "a positive integer" if integer else "a positive number"
        raise ParameterError(f"{name}={value!r} must be {kind}")


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
    weighting : {"ml", "uniform"}, optional
        Band weights: maximum-likelihood from each band's estimated gain and noise
        (default), or the plain sign-aligned sum of Davis et al.
    method : {"phase", "fast", "auto"}, optional
        Band motion estimator (:mod:`visualmic.fast`): ``"phase"`` (default) local
        phase differences; ``"fast"`` the linear estimator (one matrix product per
        chunk, within 0.1 dB of the phase method up to about 0.1 px of motion; warns
        above); ``"auto"`` fast where accurate, phase for chunks with larger motion.
    device : str, optional
        Run the estimator with PyTorch on this device (``"cuda"``, ``"cpu"``);
        default None computes with NumPy (PyTorch is then not imported).
    dask : None, True, str or distributed.Client, optional
        Process frame ranges in parallel with Dask (:mod:`visualmic.distributed`):
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
        Keyword arguments for :func:`visualmic.denoise.spectral_subtraction`.
    enhance : None, True or path-like, optional
        Hybrid enhancement after the high-pass (before any spectral subtraction):
        a neural network trained on synthetic videos removes noise using the
        structure of sound (:mod:`visualmic.learn.enhance`). ``True`` uses the
        pretrained model shipped with the package, a path a checkpoint written by
        ``visualmic train-enhancer``. Default ``None``: off (PyTorch is then
        never imported).
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
    from .io.video import VideoReader, open_video

    t0 = time.perf_counter()
    _check_positive("orientations", orientations, integer=True)
    _check_positive("chunk_size", chunk_size, integer=True)
    _check_positive("reference", reference, integer=True)
    _check_positive("output_rate", output_rate, allow_none=True)
    if scales is not None:
        _check_positive("scales", scales, integer=True)
    if not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ParameterError(f"max_lag={max_lag!r} must be a non-negative integer")
    if denoise not in ("none", "specsub"):
        raise ParameterError(f"denoise={denoise!r} must be one of {{'none', 'specsub'}}")
    if weighting not in ("ml", "uniform"):
        raise ParameterError(f"weighting={weighting!r} must be one of {{'ml', 'uniform'}}")

    if method not in METHODS:
        raise ParameterError(f"method={method!r} must be one of {{'phase', 'fast', 'auto'}}")
    if device is not None:
        _torch_device(device)  # fail early when PyTorch or the device is missing
    enhancer = _load_enhancer(enhance)  # fail early on a bad checkpoint

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        if isinstance(source, VideoReader):
            reader = source
        else:
            reader = open_video(source, fps=fps, start=start, end=end, roi=roi, downsample=downsample)
    for w in wlist:
        caught.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    rate = float(reader.fps)
    if highpass and not 0 < highpass < rate / 2:
        hint = ""
        from .io.video import LOW_FPS

        if fps is None and reader.source_fps == rate and rate < LOW_FPS:
            from .io._formats import playback_rate_hint  # the rate came from the file (issue 12)

            hint = "; " + playback_rate_hint(rate)
        raise ParameterError(
            f"highpass={highpass} Hz must be between 0 and the Nyquist frequency {rate / 2:g} Hz"
            + hint
        )

    H, W = reader.shape
    pyr = SteerablePyramid((H, W), scales=scales, orientations=int(orientations),
                           highpass=highpass_bands)
    motion = None
    pieces: list[np.ndarray] = []
    pending: list[np.ndarray] = []
    n_done = 0
    if dask is not None or workers is not None:  # Dask: workers process frame ranges
        from .distributed import band_signals as _dask_band_signals

        dsig = _dask_band_signals(reader, pyr, reference=int(reference), method=method,
                                  device=device, chunk_size=int(chunk_size), client=dask,
                                  workers=workers, progress=progress)
        pieces, n_done, motion = [dsig.signals], dsig.n_frames, dsig
        chunks = ()
    else:  # decode on a background thread, overlapped with the computation
        chunks = prefetch(reader.chunks(int(chunk_size), progress=progress), depth=1)
    try:
        for chunk in chunks:
            if motion is None:
                pending.append(chunk)
                have = sum(len(c) for c in pending)
                if have < reference:
                    continue
                first = np.concatenate(pending) if len(pending) > 1 else pending[0]
                ref = first[:reference].astype(np.float64).mean(axis=0)
                motion = motion_estimator(pyr, ref, method=method, device=device)
                chunk = first
                pending = []
            pieces.append(motion(chunk))
            n_done += len(chunk)
    finally:  # stop the decoding thread, also when the estimator fails
        if hasattr(chunks, "close"):
            chunks.close()
    if motion is None and pending:
        first = np.concatenate(pending)
        motion = motion_estimator(pyr, first.astype(np.float64).mean(axis=0), method=method,
                                  device=device)
        pieces.append(motion(first))
        n_done = len(first)
    for msg in list(getattr(reader, "warnings", []) or []) + list(
            getattr(motion, "messages", []) or []):
        if msg not in caught:
            caught.append(msg)  # e.g. a truncation found while decoding
    if n_done < 2:
        raise VideoError(
            f"the video has {n_done} frame(s) in the selected range; at least 2 are needed "
            "(check --start/--end)"
        )
    t1 = time.perf_counter()
    signals = np.concatenate(pieces, axis=1)
    pieces = None  # free the per-chunk copies (bounded memory)
    if highpass:
        for i in range(len(signals)):  # in place: one band's temporaries at a time
            signals[i] = _denoise.highpass(signals[i], rate, cutoff=highpass)
    # Bounded time and memory for long videos: the combination is estimated on at most
    # 16384 samples (all of them for shorter videos, where this is combine_bands).
    comb = combine_long(signals, max_lag=int(max_lag), weighting=weighting)
    t2 = time.perf_counter()

    y = comb.signal
    if highpass:
        y = _denoise.highpass(y, rate, cutoff=highpass)
    t_enhance = 0.0
    if enhancer is not None:
        t_e = time.perf_counter()
        y = enhancer(y, rate)
        t_enhance = time.perf_counter() - t_e
    if denoise == "specsub":
        y = _denoise.spectral_subtraction(y, rate, **(denoise_options or {}))
    out_rate = rate
    if output_rate is not None and float(output_rate) != rate:
        y = _denoise.resample(y, rate, float(output_rate))
        out_rate = float(output_rate)
    audio = _denoise.normalize(y).astype(np.float32)
    t3 = time.perf_counter()

    params = {
        "scales": pyr.scales,
        "orientations": pyr.orientations,
        "highpass_bands": bool(highpass_bands),
        "reference": int(reference),
        "max_lag": int(max_lag),
        "weighting": weighting,
        "method": method,
        "device": device,
        "highpass": highpass,
        "denoise": denoise,
        "enhance": None if enhancer is None else enhancer.info.get("path"),
        "output_rate": output_rate,
        "roi": list(roi) if roi is not None else None,
        "downsample": downsample,
        "start": start,
        "end": end,
    }
    return Recovery(
        audio=audio,
        rate=out_rate,
        fps=rate,
        motion=comb.signal,
        band_signals=signals,
        bands=list(pyr.bands),
        weights=comb.weights,
        gains=comb.gains,
        noise_var=comb.noise_var,
        snr_db=comb.snr_db,
        lags=comb.lags,
        signs=comb.signs,
        reference_band=comb.reference,
        n_frames=n_done,
        frame_shape=(H, W),
        timings={
            "read_and_pyramid": t1 - t0,
            "combine": t2 - t1,
            "post": t3 - t2,
            "enhance": t_enhance,
            "total": t3 - t0,
        },
        params=params,
        warnings=caught,
    )


def _load_enhancer(enhance):
    """The enhancer asked for by ``recover(enhance=...)``, or None; imports torch only then."""
    if enhance is None or enhance is False:
        return None
    if not (enhance is True or isinstance(enhance, (str, os.PathLike))):
        raise ParameterError(
            f"enhance={enhance!r} must be None, True (the shipped model) or a checkpoint path"
        )
    try:
        from .learn.enhance import load_enhancer
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise ModelError(
                "enhancement needs PyTorch, which is not installed; run "
                "`pip install 'visualmic[learn]'` or recover without --enhance"
            ) from None
        raise
    return load_enhancer(None if enhance is True else enhance)


__all__ += ["Band"]
