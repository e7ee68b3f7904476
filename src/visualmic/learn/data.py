"""Frame-pair datasets: build them from videos and audio, store them, serve them.

A dataset is a folder holding

``pairs.npy``
    float32 array ``(N, S, 2S)``, memory-mapped when read: sample ``i`` is a
    pair of ``S x S`` crops of one video placed side by side, the reference
    frame (or frame ``t-1``) on the left and frame ``t`` on the right, in the
    video's grey levels (0..255 for 8-bit, 0..65535 for 16-bit).
``labels.npy``
    float32 array ``(N,)`` in [-1, 1]: the audio at frame ``t``, resampled
    to the frame rate, normalised per video to peak 1 or, when the sources
    know their motion in pixels (synthetic videos), the displacement in
    pixels divided by ``label_unit_px`` (see :func:`build_dataset`).
``index.npz``
    Per sample: video index, frame, reference frame, crop position.
``metadata.csv``
    One row per video: ``video_name, frame_rate, num_frames`` (the research
    layout) followed by where its samples are and how it was made.
``SampledData.csv``
    One row per sample: ``frame, value`` (the research layout) followed by
    ``video_name, sample, ref_frame, x, y``.
``dataset.json``
    How the pairs were made (:class:`PairConfig`), the sources, the seed.

Everything is deterministic given the seed, in the order the sources are
given (sorted by name for a folder).  Labels line up with frames exactly:
frame ``t`` of a video at ``fps`` gets the audio at time
``audio_offset + t / fps``, after resampling the audio to ``fps`` with a
polyphase anti-aliasing filter (never by nearest-index stretching).

The sign of the label
---------------------
A translation by ``d`` along ``θ`` looks exactly like one by ``-d`` along
``θ + 180°``, so the sign of the motion is only defined relative to a
direction convention.  Synthetic datasets draw the direction in
``(-90°, 90°]`` (the motion has a rightward component), which is
:func:`visualmic.sim.synthesize.synthesize`'s convention for its default direction 0:
a model trained on them outputs the displacement's sign with respect to the
rightward half-plane.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._errors import InputFileError, ParameterError
from .._progress import ProgressCallback, report
from ..io.atomic import atomic_path, check_output_path

__all__ = [
    "PairConfig",
    "PairSource",
    "SyntheticSpec",
    "Dataset",
    "PairNormalizer",
    "PairDataset",
    "CropPlan",
    "build_dataset",
    "synthetic_sources",
    "match_video_dir",
    "frame_labels",
    "split_indices",
    "load_dataset",
    "DATASET_FORMAT",
]

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
        default every kind :mod:`visualmic.sim.synthesize` knows.
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
    from ..core.post import resample
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


def _normalise_labels(y: np.ndarray) -> tuple[np.ndarray, float]:
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak == 0 or not math.isfinite(peak):
        return np.zeros_like(y), 0.0
    return y / peak, peak


# --------------------------------------------------------------------------- crops


class CropPlan:
    """Where the ``S x S`` halves of the pairs are cut from a frame.

    Parameters
    ----------
    frame_shape : tuple (H, W)
        Size of the frames (after any ROI).
    config : PairConfig
        Crop mode and size.
    rng : np.random.Generator, optional
        For ``crop="random"``.

    Notes
    -----
    :meth:`positions` gives the crop corners for a block of frames;
    :meth:`cut` extracts the halves.  ``"resize"`` uses a separable area
    average (exact box anti-aliasing for integer factors).
    """

    def __init__(self, frame_shape: tuple[int, int], config: PairConfig,
                 rng: np.random.Generator | None = None) -> None:
        self.shape = (int(frame_shape[0]), int(frame_shape[1]))
        self.config = config
        self.rng = rng if rng is not None else np.random.default_rng(0)
        s = config.input_size
        h, w = self.shape
        if config.crop != "resize" and (h < s or w < s):
            raise ParameterError(
                f"frames of {h}x{w} px are smaller than input_size={s}; use crop='resize', "
                "a smaller input size or a larger ROI"
            )
        if config.crop == "resize":
            self._ry = _area_matrix(h, s)
            self._rx = _area_matrix(w, s)

    @property
    def per_frame(self) -> int:
        """Samples cut from each frame."""
        c = self.config
        if c.crop == "random":
            return c.crops_per_frame
        if c.crop == "grid":
            return len(self.grid())
        return 1

    def grid(self) -> list[tuple[int, int]]:
        """Corners ``(y, x)`` of every non-overlapping tile, centred in the frame."""
        s = self.config.input_size
        h, w = self.shape
        ny, nx = h // s, w // s
        y0, x0 = (h - ny * s) // 2, (w - nx * s) // 2
        return [(y0 + i * s, x0 + j * s) for i in range(ny) for j in range(nx)]

    def positions(self, n_frames: int) -> np.ndarray:
        """Crop corners for ``n_frames`` frames.

        Returns
        -------
        np.ndarray [shape=(n_frames, per_frame, 2)], int
            ``(y, x)`` of each crop (``-1`` for ``crop="resize"``).
        """
        c = self.config
        s = c.input_size
        h, w = self.shape
        k = self.per_frame
        if c.crop == "random":
            ys = self.rng.integers(0, h - s + 1, size=(n_frames, k))
            xs = self.rng.integers(0, w - s + 1, size=(n_frames, k))
            return np.stack([ys, xs], -1)
        if c.crop == "grid":
            g = np.array(self.grid(), dtype=np.int64)
            return np.broadcast_to(g, (n_frames, *g.shape)).copy()
        if c.crop == "center":
            return np.broadcast_to(np.array([[(h - s) // 2, (w - s) // 2]]), (n_frames, 1, 2)).copy()
        return np.full((n_frames, 1, 2), -1, dtype=np.int64)

    def cut(self, frames: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Cut the crops of each frame.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W)]
            Frames (or one reference frame broadcast to ``t``).
        pos : np.ndarray [shape=(t, k, 2)]
            Corners from :meth:`positions`.

        Returns
        -------
        np.ndarray [shape=(t, k, S, S)], float32
        """
        s = self.config.input_size
        frames = np.asarray(frames, dtype=np.float32)
        t, k = pos.shape[:2]
        if self.config.crop == "resize":
            small = np.einsum("ih,thw,jw->tij", self._ry, frames, self._rx, optimize=True)
            return small[:, None].astype(np.float32)
        out = np.empty((t, k, s, s), np.float32)
        if self.config.crop == "random":
            for i in range(t):
                for j in range(k):
                    y, x = pos[i, j]
                    out[i, j] = frames[i, y:y + s, x:x + s]
        else:  # the same positions in every frame
            for j in range(k):
                y, x = pos[0, j]
                out[:, j] = frames[:, y:y + s, x:x + s]
        return out


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` weights averaging the input cells each output cell covers."""
    edges = np.arange(n_out + 1) * (n_in / n_out)
    m = np.zeros((n_out, n_in))
    for i in range(n_out):
        lo, hi = edges[i], edges[i + 1]
        for j in range(int(math.floor(lo)), min(n_in, int(math.ceil(hi)))):
            m[i, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(1, keepdims=True)


# --------------------------------------------------------------------------- sources


def match_video_dir(directory: str | os.PathLike, **options) -> list[PairSource]:
    """Pair every video in a folder with the audio file of the same stem.

    Parameters
    ----------
    directory : path-like
        Folder holding e.g. ``a.mkv`` and ``a.wav``.  Files named
        ``<stem>.truth.wav`` (written by ``visualmic synth``) also match.
    **options
        Fields of :class:`PairSource` applied to every pair (fps, roi, ...).
        A video written by ``visualmic synth`` (with its ``.truth.wav`` and
        ``.json``) gets its ``motion_scale`` from the JSON.

    Returns
    -------
    list of PairSource
        Sorted by video name.

    Raises
    ------
    InputFileError
        If the folder does not exist or holds no matching pair.
    """
    d = Path(directory)
    if not d.is_dir():
        raise InputFileError(f"video folder {str(d)!r} does not exist; check the path")
    out = []
    for v in sorted(d.iterdir()):
        if not v.is_file() or v.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        for cand in [v.with_suffix(s) for s in AUDIO_SUFFIXES] + [v.with_name(v.stem + ".truth.wav")]:
            if cand.is_file():
                out.append(PairSource(v, cand, name=v.stem,
                                      motion_scale=_synth_amplitude(v, cand), **options))
                break
    if not out:
        raise InputFileError(
            f"no video in {str(d)!r} has an audio file of the same name (e.g. clip.mkv + "
            "clip.wav); add them or use --video/--audio"
        )
    return out


def _synth_amplitude(video: Path, audio: Path) -> float | None:
    """Peak amplitude (px) from the JSON ``visualmic synth`` writes beside a video and its truth."""
    meta = video.with_suffix(".json")
    if audio.name != video.stem + ".truth.wav" or not meta.is_file():
        return None
    try:
        amp = json.loads(meta.read_text()).get("amplitude_px")
    except (OSError, ValueError, AttributeError):
        return None
    return float(amp) if isinstance(amp, (int, float)) and amp > 0 else None


def synthetic_sources(directory: str | os.PathLike, n: int, *, spec: SyntheticSpec | None = None,
                      seed: int = 0, progress: ProgressCallback | None = None) -> list[PairSource]:
    """Render ``n`` random synthetic videos with :func:`visualmic.sim.synthesize.synthesize`.

    Each video gets its own texture (drawn without replacement from
    ``spec.textures``), audio kind (cycled), seed, peak amplitude
    (log-uniform), sensor noise and direction (uniform), all drawn from
    ``seed``.  Amplitudes, noise levels and directions are stratified: each
    of ``n`` equal slices of their range gets one video, so that even 8
    videos cover the ranges evenly.

    Parameters
    ----------
    directory : path-like
        Folder for ``synth_000.mkv``, its ``.truth.wav`` and ``.json``.
    n : int
        Number of videos.
    spec : SyntheticSpec, optional
        The ranges drawn from.
    seed : int
        Seed of every draw.
    progress : callable, optional
        ``progress(videos_done, n)``.

    Returns
    -------
    list of PairSource
        With the drawn parameters in ``meta``.
    """
    from ..sim import synthesize as synth

    spec = spec or SyntheticSpec()
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ParameterError(f"synthetic={n!r} must be a positive number of videos")
    textures = tuple(spec.textures) or synth.TEXTURES
    for t in textures:
        if t not in synth.TEXTURES:
            raise ParameterError(f"texture {t!r} is unknown; choose from {', '.join(synth.TEXTURES)}")
    for a in spec.audio:
        if a not in synth.AUDIO_KINDS:
            raise ParameterError(f"audio kind {a!r} is unknown; choose from {', '.join(synth.AUDIO_KINDS)}")
    lo, hi = sorted(spec.amplitude)
    if lo <= 0:
        raise ParameterError(f"amplitude range {spec.amplitude} must be positive (pixels)")
    rng = np.random.default_rng([int(seed), 7919])
    order = []
    while len(order) < n:
        order += list(rng.permutation(len(textures)))

    def stratified(lo_: float, hi_: float) -> np.ndarray:
        """One draw in each of n equal strata of [lo_, hi_], in random order."""
        u = (rng.permutation(n) + rng.uniform(size=n)) / n
        return lo_ + (hi_ - lo_) * u

    amps = np.exp(stratified(math.log(lo), math.log(hi)))
    sigmas = stratified(*sorted(spec.noise_sigma))
    thetas = stratified(*sorted(spec.direction))
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        texture = textures[order[i]]
        audio = spec.audio[i % len(spec.audio)]
        amp, sigma, theta = float(amps[i]), float(sigmas[i]), float(thetas[i])
        vseed = int(rng.integers(0, 2**31 - 1))
        path = d / f"synth_{i:03d}.mkv"
        res = synth.synthesize(path, audio=audio, fps=spec.fps, duration=spec.duration,
                               amplitude=amp, direction=theta, size=spec.size, texture=texture,
                               noise_sigma=sigma, bit_depth=spec.bit_depth, seed=vseed)
        meta = {"texture": texture, "audio_kind": audio, "amplitude_px": round(amp, 6),
                "direction_deg": round(theta, 4), "noise_sigma": round(sigma, 4), "seed": vseed}
        out.append(PairSource(res.video_path, res.truth_path, fps=spec.fps, name=path.stem,
                              motion_scale=amp, meta=meta))
        report(progress, i + 1, n)
    return out


# --------------------------------------------------------------------------- build


@dataclass
class Dataset:
    """A frame-pair dataset on disk (see the module docstring for the layout).

    Attributes
    ----------
    root : Path
        The dataset folder.
    pairs : np.ndarray [shape=(N, S, 2S)], float32
        Memory-mapped pairs in grey levels.
    labels : np.ndarray [shape=(N,)], float32
        Labels in ``[-1, 1]``.
    video : np.ndarray [shape=(N,)], int
        Index of each sample's video (a row of ``videos``).
    frame : np.ndarray [shape=(N,)], int
        Frame index of each sample within its video.
    videos : list of dict
        The rows of ``metadata.csv``.
    config : PairConfig
        How the pairs were cut.
    info : dict
        The contents of ``dataset.json``.
    """

    root: Path
    pairs: np.ndarray
    labels: np.ndarray
    video: np.ndarray
    frame: np.ndarray
    videos: list
    config: PairConfig
    info: dict

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def _write_csv(path: Path, header: list[str], rows) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def build_dataset(
    out_dir: str | os.PathLike,
    sources: Sequence[PairSource],
    *,
    config: PairConfig | None = None,
    seed: int = 0,
    labels: str = "auto",
    png: bool = False,
    overwrite: bool = False,
    extra_info: dict | None = None,
    progress: ProgressCallback | None = None,
) -> Dataset:
    """Cut frame pairs from (video, audio) sources and store them as a dataset.

    Parameters
    ----------
    out_dir : path-like
        Dataset folder; created (must be empty or absent unless ``overwrite``;
        a ``videos/`` sub-folder holding synthetic sources is kept).
    sources : sequence of PairSource
        The videos and their audio, in order.
    config : PairConfig, optional
        Input size, pairing, crops; default :class:`PairConfig()`.
    seed : int
        Seed of the random crop positions.
    labels : {"auto", "displacement", "per-video"}
        ``"per-video"``: each video's audio normalised to peak 1 (the research
        design).  ``"displacement"``: the displacement in pixels
        (audio x ``motion_scale``) divided by its largest value over the
        whole dataset, so labels stay in [-1, 1] and keep the videos'
        relative amplitudes; ``label_unit_px`` in ``dataset.json`` converts
        them back to pixels.  With per-video labels a model cannot tell a
        0.05 px video at its peak from a 0.2 px one at a quarter of it: the
        target is ambiguous and the learned response compresses; with
        displacement labels it is linear.  ``"auto"`` (default):
        displacement when every source knows its motion scale (synthetic
        videos do), else per video.
    png : bool
        Also write every pair as ``png/<video>/<frame>_<k>.png`` (8-bit or
        16-bit grey, the research layout; slow for large sets).
    overwrite : bool
        Replace an existing dataset in ``out_dir``.
    extra_info : dict, optional
        Stored in ``dataset.json`` (e.g. the synthetic spec).
    progress : callable, optional
        ``progress(frames_done, total_or_None)``.

    Returns
    -------
    Dataset
        The dataset, reopened from disk.

    Raises
    ------
    ParameterError
        Bad configuration, a duration mismatch (see :func:`frame_labels`), or
        a video with fewer than 2 frames.
    InputFileError, VideoError, AudioError
        Unreadable sources.
    OutputError
        If ``out_dir`` holds another dataset and ``overwrite`` is False.
    """
    from .._errors import OutputError
    from ..io.video import open_video

    cfg = config or PairConfig()
    if not sources:
        raise ParameterError("no sources given; pass --video/--audio, --video-dir or --synthetic")
    root = Path(out_dir)
    if root.exists() and not root.is_dir():
        raise OutputError(f"dataset folder {str(root)!r} is a file; choose a folder name")
    if (root / "dataset.json").exists() and not overwrite:
        raise OutputError(f"{str(root)!r} already holds a dataset; choose another folder or "
                          "pass --overwrite")
    root.mkdir(parents=True, exist_ok=True)
    check_output_path(root / "dataset.json")
    for src in sources:  # fail fast on missing files
        for p, what in ((src.video, "video"), (src.audio, "audio")):
            if not Path(p).exists():
                raise InputFileError(f"{what} file {str(p)!r} does not exist; check the path")

    if labels not in ("auto", "displacement", "per-video"):
        raise ParameterError(f"labels={labels!r} must be 'auto', 'displacement' or 'per-video'")
    known = all(src.motion_scale is not None for src in sources)
    if labels == "displacement" and not known:
        raise ParameterError("labels='displacement' needs the motion scale (pixels per audio "
                             "unit) of every source; use labels='per-video'")
    use_px = labels == "displacement" or (labels == "auto" and known)
    s = cfg.input_size
    raw_fd, raw_name = tempfile.mkstemp(prefix=".pairs.", suffix=".raw", dir=root)
    os.close(raw_fd)
    raw_path = Path(raw_name)
    labels_all, vid_all, frame_all, ref_all, pos_all = [], [], [], [], []
    videos: list[dict] = []
    n_total = 0
    names_seen: set[str] = set()
    png_dir = root / "png"
    try:
        with open(raw_path, "wb") as raw:
            done_frames = 0
            for vi, src in enumerate(sources):
                reader = open_video(src.video, fps=src.fps, roi=src.roi)
                fps = float(reader.fps)
                name = src.name or Path(src.video).stem
                base, k = name, 2
                while name in names_seen:
                    name, k = f"{base}_{k}", k + 1
                names_seen.add(name)
                plan = CropPlan(reader.shape, cfg, np.random.default_rng([int(seed), vi]))
                if cfg.pairs == "reference":
                    ref = reader.reference(cfg.reference_frames).astype(np.float32)
                first_sample = n_total
                frames_in_video = 0
                prev = None
                vframes, vrefs, vpos = [], [], []
                for block in reader.chunks(256):
                    t0 = frames_in_video
                    t_idx = np.arange(t0, t0 + len(block))
                    if cfg.pairs == "reference":
                        left_frames = None
                        keep = (t_idx % cfg.every) == 0
                        ref_idx = np.zeros(len(block), np.int64) - (cfg.reference_frames > 1)
                    else:
                        prevs = np.concatenate([prev[None], block[:-1]]) if prev is not None \
                            else np.concatenate([block[:1], block[:-1]])
                        left_frames = prevs
                        keep = ((t_idx % cfg.every) == 0) & (t_idx >= 1)
                        ref_idx = t_idx - 1
                    prev = block[-1].copy()
                    frames_in_video += len(block)
                    done_frames += len(block)
                    report(progress, done_frames, None)
                    if not keep.any():
                        continue
                    cur = block[keep]
                    pos = plan.positions(len(cur))
                    right = plan.cut(cur, pos)
                    if left_frames is None:
                        left = plan.cut(np.broadcast_to(ref, cur.shape), pos)
                    else:
                        left = plan.cut(left_frames[keep], pos)
                    pair = np.concatenate([left, right], axis=-1).reshape(-1, s, 2 * s)
                    raw.write(np.ascontiguousarray(pair, dtype=np.float32).tobytes())
                    kk = pos.shape[1]
                    vframes.append(np.repeat(t_idx[keep], kk))
                    vrefs.append(np.repeat(ref_idx[keep], kk))
                    vpos.append(pos.reshape(-1, 2))
                    if png:
                        _write_pngs(png_dir / name, pair, np.repeat(t_idx[keep], kk), kk,
                                    reader.bit_depth)
                if frames_in_video < 2:
                    raise ParameterError(f"video {str(src.video)!r} has {frames_in_video} frame; "
                                         "need at least 2 frames to make pairs")
                y = frame_labels(src.audio, frames_in_video, fps, audio_offset=src.audio_offset,
                                 stretch=src.stretch)
                if cfg.pairs == "adjacent":
                    y = np.concatenate([[0.0], np.diff(y)])
                fr = np.concatenate(vframes)
                if use_px:  # displacement in pixels, normalised over the whole dataset below
                    y = y * float(src.motion_scale)
                _, peak = _normalise_labels(y[np.unique(fr)])
                yn = y if use_px else (y / peak if peak > 0 else np.zeros_like(y))
                labels_all.append(yn[fr].astype(np.float64))
                frame_all.append(fr)
                ref_all.append(np.concatenate(vrefs))
                pos_all.append(np.concatenate(vpos))
                vid_all.append(np.full(fr.size, vi, np.int64))
                n_total += fr.size
                row = {"video_name": name, "frame_rate": fps, "num_frames": frames_in_video,
                       "first_sample": first_sample, "num_samples": fr.size,
                       "label_peak": peak, "height": reader.shape[0], "width": reader.shape[1],
                       "bit_depth": reader.bit_depth, "video_file": str(src.video),
                       "audio_file": str(src.audio), "audio_offset": src.audio_offset,
                       "stretch": bool(src.stretch)}
                row.update(src.meta)
                videos.append(row)

        labels = np.concatenate(labels_all)
        unit = float(np.max(np.abs(labels))) if use_px and labels.size else None
        if unit:
            labels = labels / unit
            for row in videos:
                row["label_peak"] = row["label_peak"] / unit
        labels = labels.astype(np.float32)
        pairs_tmp = root / ".pairs.npy.part"
        out = np.lib.format.open_memmap(pairs_tmp, mode="w+", dtype=np.float32,
                                        shape=(n_total, s, 2 * s))
        per = s * 2 * s
        with open(raw_path, "rb") as raw:
            for i in range(0, n_total, 4096):
                m = min(4096, n_total - i)
                out[i:i + m] = np.frombuffer(raw.read(m * per * 4), np.float32).reshape(m, s, 2 * s)
        out.flush()
        del out
        os.replace(pairs_tmp, root / "pairs.npy")
    finally:
        raw_path.unlink(missing_ok=True)
        (root / ".pairs.npy.part").unlink(missing_ok=True)

    frame = np.concatenate(frame_all)
    video = np.concatenate(vid_all)
    refs = np.concatenate(ref_all)
    pos = np.concatenate(pos_all)
    with atomic_path(root / "labels.npy") as tmp, open(tmp, "wb") as fh:
        np.save(fh, labels)
    with atomic_path(root / "index.npz") as tmp, open(tmp, "wb") as fh:
        np.savez(fh, video=video, frame=frame, ref_frame=refs, y=pos[:, 0], x=pos[:, 1])
    meta_cols = ["video_name", "frame_rate", "num_frames"]
    extra_cols = []
    for row in videos:
        for key in row:
            if key not in meta_cols and key not in extra_cols:
                extra_cols.append(key)
    _write_csv(root / "metadata.csv", meta_cols + extra_cols,
               [[row.get(c, "") for c in meta_cols + extra_cols] for row in videos])
    names = [row["video_name"] for row in videos]
    _write_csv(root / "SampledData.csv", ["frame", "value", "video_name", "sample", "ref_frame",
                                          "x", "y"],
               ([int(frame[i]), f"{float(labels[i]):.8g}", names[video[i]], i, int(refs[i]),
                 int(pos[i, 1]), int(pos[i, 0])] for i in range(n_total)))
    from .. import __version__

    info = {"format": DATASET_FORMAT, "version": DATASET_VERSION, "visualmic": __version__,
            "config": dataclasses.asdict(cfg), "seed": int(seed), "num_samples": int(n_total),
            "num_videos": len(videos), "shape": [int(n_total), s, 2 * s],
            "labels": "displacement" if use_px else "per-video",
            "label_unit_px": unit if use_px else None,
            "label_convention": (("increment a(t)-a(t-1)" if cfg.pairs == "adjacent" else "a(t)")
                                 + (" in pixels / label_unit_px" if use_px
                                    else ", each video at peak 1")),
            **(extra_info or {})}
    with atomic_path(root / "dataset.json") as tmp:
        tmp.write_text(json.dumps(info, indent=2) + "\n")
    return load_dataset(root)


def _write_pngs(folder: Path, pair: np.ndarray, frames: np.ndarray, k: int, bit_depth) -> None:
    import imageio.v3 as iio  # shipped with scikit-image

    folder.mkdir(parents=True, exist_ok=True)
    deep = bit_depth is not None and bit_depth > 8
    for i, img in enumerate(pair):
        arr = np.clip(np.rint(img), 0, 65535 if deep else 255).astype(np.uint16 if deep else np.uint8)
        iio.imwrite(folder / f"{int(frames[i]):06d}_{i % k}.png", arr)


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Open a dataset folder written by :func:`build_dataset`.

    Parameters
    ----------
    path : path-like
        The dataset folder.

    Returns
    -------
    Dataset
        With ``pairs`` memory-mapped (read-only).

    Raises
    ------
    InputFileError
        If the folder or one of its files is missing.
    ParameterError
        If it is not a visualmic frame-pair dataset or its files disagree.
    """
    root = Path(path)
    if not root.is_dir():
        raise InputFileError(f"dataset folder {str(root)!r} does not exist; build one with "
                             "'visualmic dataset build'")
    for name in ("dataset.json", "pairs.npy", "labels.npy", "index.npz", "metadata.csv"):
        if not (root / name).is_file():
            raise InputFileError(f"dataset {str(root)!r} lacks {name}; rebuild it with "
                                 "'visualmic dataset build'")
    try:
        info = json.loads((root / "dataset.json").read_text())
        pairs = np.load(root / "pairs.npy", mmap_mode="r")
        labels = np.load(root / "labels.npy")
        with np.load(root / "index.npz") as idx:
            video, frame = idx["video"], idx["frame"]
        with open(root / "metadata.csv", newline="") as fh:
            videos = list(csv.DictReader(fh))
    except (OSError, ValueError, KeyError) as exc:
        raise ParameterError(f"dataset {str(root)!r} is unreadable ({type(exc).__name__}: {exc}); "
                             "rebuild it") from None
    if info.get("format") != DATASET_FORMAT:
        raise ParameterError(f"{str(root)!r} is not a visualmic frame-pair dataset; rebuild it")
    n = labels.shape[0]
    if pairs.ndim != 3 or pairs.shape[0] != n or video.shape[0] != n or frame.shape[0] != n:
        raise ParameterError(f"dataset {str(root)!r} has {pairs.shape[0]} pairs but {n} labels; "
                             "rebuild it")
    text_cols = ("video_name", "video_file", "audio_file", "texture", "audio_kind")
    videos = [{k: (v if k in text_cols else _parse_cell(v)) for k, v in row.items()}
              for row in videos]
    cfg = PairConfig(**info["config"])
    return Dataset(root=root, pairs=pairs, labels=labels, video=video, frame=frame,
                   videos=videos, config=cfg, info=info)


def _parse_cell(text: str):
    """A metadata.csv cell back as int, float, bool, None or str."""
    if text in ("", "None"):
        return None
    if text in ("True", "False"):
        return text == "True"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


# --------------------------------------------------------------------------- splits


def split_indices(dataset: Dataset, *, val_split: float = 0.2, kfold: int = 0, fold: int = 0,
                  gap: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Contiguous temporal split of every video into training and validation samples.

    Parameters
    ----------
    dataset : Dataset
        The dataset.
    val_split : float
        Fraction of each video's frames, at its end, held out for validation
        (ignored with ``kfold``); 0 puts everything in training.
    kfold : int
        ``K >= 2``: cut each video into ``K`` contiguous segments; fold ``k``
        validates on segment ``k`` of every video and trains on the rest.
    fold : int
        Which fold, ``0 <= fold < kfold``.
    gap : int
        Training frames dropped next to every train/validation boundary, so
        that no training frame neighbours a validation frame (consecutive
        frames at 2 kHz carry almost the same label).

    Returns
    -------
    train, val : np.ndarray of int
        Sample indices, sorted.

    Raises
    ------
    ParameterError
        For a split outside ``[0, 1)``, a bad fold, or videos too short to split.
    """
    if not (0.0 <= float(val_split) < 1.0):
        raise ParameterError(f"val_split={val_split!r} must be in [0, 1)")
    if kfold and (kfold < 2 or not (0 <= fold < kfold)):
        raise ParameterError(f"kfold={kfold}, fold={fold}: need kfold >= 2 and 0 <= fold < kfold")
    if gap < 0:
        raise ParameterError(f"gap={gap} must be >= 0 frames")
    train, val = [], []
    for vi, row in enumerate(dataset.videos):
        sel = np.flatnonzero(dataset.video == vi)
        if sel.size == 0:
            continue
        fr = dataset.frame[sel]
        lo, hi = int(fr.min()), int(fr.max()) + 1
        span = hi - lo
        if kfold:
            edges = lo + np.round(np.linspace(0, span, kfold + 1)).astype(int)
            v0, v1 = edges[fold], edges[fold + 1]
        elif val_split > 0:
            v0, v1 = hi - int(round(val_split * span)), hi
        else:
            train.append(sel)
            continue
        if v1 - v0 < 1 or span - (v1 - v0) <= 2 * gap:
            raise ParameterError(
                f"video {row['video_name']!r} has {span} frames: too short for this split with a "
                f"gap of {gap} frames; use a smaller --val-split/--kfold or longer videos"
            )
        is_val = (fr >= v0) & (fr < v1)
        is_train = (fr < v0 - gap) | (fr >= v1 + gap)  # the gap is taken from training
        train.append(sel[is_train])
        val.append(sel[is_val])
    tr = np.sort(np.concatenate(train)) if train else np.zeros(0, np.int64)
    va = np.sort(np.concatenate(val)) if val else np.zeros(0, np.int64)
    if tr.size == 0:
        raise ParameterError("the split leaves no training samples; lower --val-split")
    return tr, va


# --------------------------------------------------------------------------- normalisation


@dataclass
class PairNormalizer:
    """Turns raw pairs into model inputs: reference patch and scaled difference.

    For each pair ``(L, R)`` (reference or previous frame ``L``, current
    frame ``R``, grey levels) with ``m = mean(L)`` and
    ``s = sqrt(var(L) + floor**2)``:

    - left half: ``(L - m) / s`` — the texture, contrast-normalised;
    - right half: ``gain * (R - L) / s`` — the frame difference (which a
      sub-pixel motion ``d`` makes about ``-d · ∂L/∂u``), in the same
      contrast units, scaled to unit variance over the training set.

    ``floor`` and ``gain`` are statistics of the training samples only
    (:meth:`fit`).  Both halves scale together, so the input does not depend
    on the video's contrast or bit depth.

    Attributes
    ----------
    floor : float
        Contrast floor in grey levels (5% of the median patch contrast), so
        flat patches are not blown up to noise.
    gain : float
        Scale of the difference half.
    """

    floor: float = 1.0
    gain: float = 1.0

    @classmethod
    def fit(cls, pairs: np.ndarray, *, max_samples: int = 4096, seed: int = 0) -> PairNormalizer:
        """Estimate ``floor`` and ``gain`` from (a sample of) training pairs.

        Parameters
        ----------
        pairs : np.ndarray [shape=(N, S, 2S)]
            Training pairs in grey levels.
        max_samples : int
            At most this many pairs, drawn at random, are used.
        seed : int
            Seed of that draw.
        """
        n = pairs.shape[0]
        if n == 0:
            raise ParameterError("cannot fit the normalisation on 0 training samples")
        idx = np.arange(n) if n <= max_samples else np.sort(
            np.random.default_rng(seed).choice(n, max_samples, replace=False))
        p = np.asarray(pairs[idx], dtype=np.float64)
        s = p.shape[1]
        left, right = p[..., :s], p[..., s:]
        std = left.std(axis=(1, 2))
        floor = max(0.05 * float(np.median(std)), 1e-6)
        denom = np.sqrt(std**2 + floor**2)[:, None, None]
        diff = (right - left) / denom
        dstd = float(diff.std())
        gain = 1.0 / dstd if dstd > 0 else 1.0
        return cls(floor=floor, gain=gain)

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        """Normalise pairs.

        Parameters
        ----------
        pairs : np.ndarray [shape=(B, S, 2S)]
            Raw pairs in grey levels.

        Returns
        -------
        np.ndarray [shape=(B, 1, S, 2S)], float32
            Model input.
        """
        p = np.asarray(pairs, dtype=np.float32)
        s = p.shape[-2]
        left, right = p[..., :s], p[..., s:]
        m = left.mean(axis=(-2, -1), keepdims=True)
        var = left.var(axis=(-2, -1), keepdims=True)
        inv = 1.0 / np.sqrt(var + np.float32(self.floor) ** 2)
        out = np.empty(p.shape[:-2] + (1, s, 2 * s), np.float32)
        out[..., 0, :, :s] = (left - m) * inv
        out[..., 0, :, s:] = (right - left) * (inv * np.float32(self.gain))
        return out

    def to_dict(self) -> dict:
        """Plain dict for a checkpoint."""
        return {"kind": "reference-difference", "floor": float(self.floor),
                "gain": float(self.gain)}

    @classmethod
    def from_dict(cls, d: dict) -> PairNormalizer:
        """Rebuild from :meth:`to_dict` output."""
        try:
            return cls(floor=float(d["floor"]), gain=float(d["gain"]))
        except (KeyError, TypeError, ValueError):
            raise ParameterError(f"normalisation {d!r} is not a visualmic pair normalisation") from None


class PairDataset:
    """Map-style dataset of normalised pairs for ``torch.utils.data.DataLoader``.

    Parameters
    ----------
    dataset : Dataset
        The stored dataset.
    indices : np.ndarray of int
        The samples served (a split).
    normalizer : PairNormalizer
        Applied on the fly.
    augment : bool
        Random mirror images of the pair: a left-right flip negates the label
        (the horizontal component of the motion changes sign), an up-down
        flip keeps it.  Valid for the half-plane sign convention (see the
        module notes).
    seed : int
        Seed of the augmentation draws.

    Notes
    -----
    ``ds[i]`` returns ``(x [shape=(1, S, 2S)], y)`` float32 tensors;
    ``ds.__getitems__(list)`` returns a whole batch ``(x [shape=(B, 1, S, 2S)],
    y [shape=(B,)])`` at once (torch's DataLoader uses it; pass
    ``collate_fn=PairDataset.collate``).
    """

    def __init__(self, dataset: Dataset, indices: np.ndarray, normalizer: PairNormalizer, *,
                 augment: bool = False, seed: int = 0) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.normalizer = normalizer
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.indices.size)

    def arrays(self, items) -> tuple[np.ndarray, np.ndarray]:
        """Normalised inputs and labels of positions ``items`` as numpy arrays."""
        items = np.asarray(items, dtype=np.int64)
        rows = self.indices[items]
        order = np.argsort(rows)  # sorted reads from the memory map
        raw = np.empty((rows.size,) + self.dataset.pairs.shape[1:], np.float32)
        raw[order] = self.dataset.pairs[rows[order]]
        x = self.normalizer(raw)
        y = self.dataset.labels[rows].astype(np.float32)
        if self.augment:
            s = x.shape[-2]
            flip_lr = self.rng.random(rows.size) < 0.5
            flip_ud = self.rng.random(rows.size) < 0.5
            if flip_lr.any():
                sub = x[flip_lr]
                x[flip_lr, ..., :s] = sub[..., :s][..., ::-1]
                x[flip_lr, ..., s:] = sub[..., s:][..., ::-1]
                y[flip_lr] = -y[flip_lr]
            if flip_ud.any():
                x[flip_ud] = x[flip_ud][..., ::-1, :]
        return x, y

    def __getitem__(self, i: int):
        import torch

        x, y = self.arrays([i])
        return torch.from_numpy(x[0]), torch.from_numpy(y)[0]

    def __getitems__(self, items: list):
        import torch

        x, y = self.arrays(items)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    @staticmethod
    def collate(batch):
        """Identity collate for batches from :meth:`__getitems__`."""
        return batch

