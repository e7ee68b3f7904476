"""Frame-pair dataset settings: how pairs are cut, where they come from, and their labels."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field

import numpy as np

from .._errors import ParameterError

__all__ = ["PairConfig", "PairSource", "SyntheticSpec", "frame_labels", "normalise_labels",
           "DATASET_FORMAT", "DATASET_VERSION", "VIDEO_SUFFIXES", "AUDIO_SUFFIXES"]

DATASET_FORMAT = "visualmic-frame-pairs"
DATASET_VERSION = 1
VIDEO_SUFFIXES = (".mkv", ".avi", ".mp4", ".mov", ".npy", ".webm", ".mxf", ".nut")
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")
_CROPS = ("random", "grid", "center", "resize")
_PAIRS = ("reference", "adjacent")


# --------------------------------------------------------------------------- configuration


@dataclass
class PairConfig:
    """How frame pairs are cut from a video.

    Attributes
    ----------
    input_size : int
        Side ``S`` of each half in pixels: 32 for the Siamese CNN and the FPN,
        224 for ResNet-50 at full size (64 trains on a CPU).
    pairs : {"reference", "adjacent"}
        ``"reference"``: (reference frame, frame t), the reference being the
        mean of the first ``reference_frames`` frames (the research code used
        the first frame).  ``"adjacent"``: (frame t-1, frame t); the label is
        then the audio's increment ``a(t) - a(t-1)`` (what the pair can
        show), normalised per video, and :func:`visualmic.learn.generate`
        integrates the predictions.
    crop : {"random", "grid", "center", "resize"}
        ``"random"``: ``crops_per_frame`` crops at random positions (the same
        position in both frames of a pair), so every sample shows another
        patch of the surface; this is what lets a model trained on a few
        videos generalise to unseen textures.  ``"grid"``: every
        non-overlapping ``S x S`` tile.  ``"center"``: one central crop.
        ``"resize"``: the whole frame (or ROI) shrunk to ``S x S`` by area
        averaging (anti-aliased, averages the sensor noise).
    crops_per_frame : int
        Random crops per frame (``crop="random"`` only).
    reference_frames : int
        Frames averaged into the reference (``pairs="reference"``).
    every : int
        Use every ``every``-th frame as a sample (1: all frames).
    """

    input_size: int = 32
    pairs: str = "reference"
    crop: str = "random"
    crops_per_frame: int = 1
    reference_frames: int = 1
    every: int = 1

    def __post_init__(self) -> None:
        for name in ("input_size", "crops_per_frame", "reference_frames", "every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ParameterError(f"{name}={value!r} must be a positive integer")
        if self.input_size < 8:
            raise ParameterError(f"input_size={self.input_size} is too small; use at least 8 px")
        if self.pairs not in _PAIRS:
            raise ParameterError(f"pairs={self.pairs!r} must be one of {', '.join(_PAIRS)}")
        if self.crop not in _CROPS:
            raise ParameterError(f"crop={self.crop!r} must be one of {', '.join(_CROPS)}")


@dataclass
class PairSource:
    """One (video, ground-truth audio) pair to cut samples from.

    Attributes
    ----------
    video : path-like
        Any video :func:`visualmic.io.video.open_video` reads.
    audio : path-like
        The sound that moved the surface (WAV, FLAC, ...), any sampling rate.
    fps : float, optional
        Frame-rate override (required for frame folders and ``.npy``).
    roi : tuple (x, y, w, h) or str, optional
        Region of the frame to use.
    audio_offset : float
        Time in the audio file, in seconds, of the video's first frame
        (negative: the audio starts after the video; the gap is silence).
        Rounded to the nearest frame.
    stretch : bool
        Allow a duration mismatch above 1% by stretching the audio to the
        video's length (resampled, not index-stretched).
    name : str, optional
        Name in ``metadata.csv``; default the video's file stem.
    motion_scale : float, optional
        Pixels of displacement per unit of the audio signal, when known (a
        synthetic video's peak amplitude, as its truth WAV has peak 1).  When
        every source knows it, labels are displacements (see
        :func:`build_dataset`).
    meta : dict
        Extra columns for ``metadata.csv`` (synthetic parameters).
    """

    video: str | os.PathLike
    audio: str | os.PathLike
    fps: float | None = None
    roi: tuple | str | None = None
    audio_offset: float = 0.0
    stretch: bool = False
    name: str | None = None
    motion_scale: float | None = None
    meta: dict = field(default_factory=dict)


@dataclass
class SyntheticSpec:
    """The random draws of ``visualmic dataset build --synthetic N``.

    Attributes
    ----------
    duration : float
        Seconds per video (0.5 s at 2200 fps = 1100 frames).
    fps : float
        Frame rate in Hz.
    size : int
        Frame side in pixels.
    amplitude : tuple (lo, hi)
        Peak displacement in pixels, log-uniform in ``[lo, hi]``.
    noise_sigma : tuple (lo, hi)
        Sensor noise on the 8-bit scale, uniform in ``[lo, hi]``.
    direction : tuple (lo, hi)
        Motion direction in degrees, uniform; keep it within a half-plane
        such as ``(-90, 90)`` (see the module notes on the sign).
    textures : tuple of str
        Texture kinds drawn without replacement (cycled when N exceeds them);
        default every kind :mod:`visualmic.synth` knows.
    audio : tuple of str
        Audio kinds, cycled.
    bit_depth : int
        8 or 16.
    """

    duration: float = 0.5
    fps: float = 2200.0
    size: int = 128
    amplitude: tuple[float, float] = (0.05, 0.2)
    noise_sigma: tuple[float, float] = (0.5, 2.0)
    direction: tuple[float, float] = (-85.0, 85.0)
    textures: tuple[str, ...] = ()
    audio: tuple[str, ...] = ("tones", "chirp", "melody")
    bit_depth: int = 8


# --------------------------------------------------------------------------- labels


def frame_labels(audio, n_frames: int, fps: float, *, audio_offset: float = 0.0,
                 stretch: bool = False, name: str = "audio") -> np.ndarray:
    """Resample audio to one value per video frame.

    Parameters
    ----------
    audio : path-like or tuple (np.ndarray [shape=(n,)], float)
        An audio file, or samples with their rate in Hz.
    n_frames : int
        Number of frames of the video.
    fps : float
        Frame rate of the video in Hz.
    audio_offset : float
        Time in the audio, in seconds, of the first frame (rounded to the
        nearest frame; negative pads silence in front).
    stretch : bool
        Stretch the audio to the video's duration when they differ by more
        than 1% (otherwise an error).
    name : str
        How to call the audio in messages.

    Returns
    -------
    np.ndarray [shape=(n_frames,)], float64
        Label of each frame (not normalised).

    Raises
    ------
    ParameterError
        If the durations differ by more than 1% and ``stretch`` is False.
    InputFileError, AudioError
        If the audio file is missing or unreadable.
    """
    from ..denoise import resample
    from ..io.audio import read_audio

    if isinstance(audio, (str, os.PathLike)):
        y, rate = read_audio(audio)
        name = repr(str(audio))
    else:
        y, rate = audio
        y = np.asarray(y, dtype=np.float64)
    if not math.isfinite(audio_offset):
        raise ParameterError(f"audio_offset={audio_offset!r} must be a finite number of seconds")
    y = resample(y, float(rate), float(fps)) if abs(float(rate) - float(fps)) > 1e-9 else y
    shift = int(round(audio_offset * fps))
    if shift > 0:
        y = y[shift:]
    elif shift < 0:
        y = np.concatenate([np.zeros(-shift), y])
    video_s, audio_s = n_frames / fps, y.size / fps
    if abs(y.size - n_frames) > 0.01 * n_frames:
        if not stretch:
            raise ParameterError(
                f"{name} lasts {audio_s:.3f} s after an offset of {audio_offset:g} s but the "
                f"video lasts {video_s:.3f} s ({n_frames} frames at {fps:g} fps), a mismatch "
                "over 1%; fix --audio-offset or --fps, or pass --stretch"
            )
        if y.size < 2:
            raise ParameterError(f"{name} holds no samples after the offset; fix --audio-offset")
        return resample(y, float(y.size), float(n_frames))[:n_frames]
    if y.size < n_frames:
        y = np.concatenate([y, np.zeros(n_frames - y.size)])
    return y[:n_frames]


def normalise_labels(y: np.ndarray) -> tuple[np.ndarray, float]:
    """Labels divided by their peak absolute value, and that peak (0 for silence)."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak == 0 or not math.isfinite(peak):
        return np.zeros_like(y), 0.0
    return y / peak, peak


