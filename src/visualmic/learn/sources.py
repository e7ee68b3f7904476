"""Sources of frame pairs: a folder of (video, audio) files or random synthetic videos."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from .._errors import InputFileError, ParameterError
from .._progress import ProgressCallback, report
from .pair_config import AUDIO_SUFFIXES, VIDEO_SUFFIXES, PairSource, SyntheticSpec

__all__ = ["match_video_dir", "synthetic_sources"]

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
    """Render ``n`` random synthetic videos with :func:`visualmic.synth.synthesize`.

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
    from .. import synth

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


