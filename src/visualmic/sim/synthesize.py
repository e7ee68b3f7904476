"""Synthetic visual-microphone videos with a known answer.

A textured surface is translated by ``A · a(t)`` pixels along a chosen
direction, where ``a(t)`` is an audio signal (built in or from a WAV file)
optionally shaped by an object response, and ``A`` is the peak displacement.
Each frame is rendered with an exact sub-pixel Fourier shift of a texture
larger than the frame and cropped to its centre (no wrap-around at the frame
borders), then Gaussian sensor noise is added and the result is quantised to
8 or 16 bits and written losslessly (FFV1 in Matroska).  Beside the video go
the ground-truth signal (``<stem>.truth.wav``) and a JSON record of every
parameter together with the Cramér–Rao bound of the video
(:mod:`visualmic.sim.bounds`).

Units
-----
Textures and the noise ``sigma`` are always given on an 8-bit grey scale
(0..255).  For ``bit_depth=16`` both are multiplied by 257 before rounding,
so that a 16-bit video differs from the 8-bit one only by its finer
quantisation (255 · 257 = 65535).  Bounds computed from 16-bit frames must
therefore use ``sigma · 257`` (:func:`synthesize` does this for you and
reports everything in the video's own grey units).

Geometry
--------
Frames are ``(T, H, W)``; ``x`` runs to the right along columns and ``y`` down
along rows.  ``direction`` θ is in degrees from ``+x`` towards ``+y``; a
positive displacement ``d`` moves the content by ``d·(cos θ, sin θ)`` pixels,
i.e. ``frame(x, y) = I(x − d cos θ, y − d sin θ)``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from .._errors import AudioError, ParameterError
from .._progress import ProgressCallback
from .._validate import finite_number as _number
from ..io.atomic import atomic_path, check_outputs
from ._common import SCALE_16, check_bit_depth, make_rng, shape2
from .bounds import crb_snr_db, translation_crb
from .render import MARGIN, MIN_SIZE, FourierShifter, render_frames, write_video
from .sounds import AUDIO_KINDS, audio_with_info, is_audio_path, make_audio, object_response
from .textures import PHOTO_TEXTURES, TEXTURES, make_texture

__all__ = [
    "TEXTURES",
    "PHOTO_TEXTURES",
    "AUDIO_KINDS",
    "SynthResult",
    "make_texture",
    "make_audio",
    "object_response",
    "render_frames",
    "write_video",
    "synthesize",
    "sidecar_paths",
    "SCALE_16",
]


# --------------------------------------------------------------------------- synthesize


@dataclasses.dataclass(frozen=True, eq=False)
class SynthResult:
    """What :func:`synthesize` wrote and the known answer.

    Attributes
    ----------
    video_path, truth_path, meta_path : Path
        The video, the ground-truth WAV (``<stem>.truth.wav``) and the JSON
        record (``<stem>.json``).
    fps : float
        Frame rate in Hz.
    motion : np.ndarray [shape=(T,)]
        Displacement of each frame in pixels.
    truth : np.ndarray [shape=(T,)]
        The motion normalised to peak 1 (what a perfect recovery gives).
    clean_frame : np.ndarray [shape=(H, W)], float64
        The noise-free frame at zero displacement, in the video's grey units
        (8-bit or 16-bit scale).
    crb_var : float
        Cramér–Rao bound on the per-frame variance of the displacement, px².
    crb_snr_db : float
        The best achievable SNR in 80–1000 Hz (:func:`visualmic.sim.bounds.crb_snr_db`);
        NaN when the frame rate is 160 Hz or less (no part of the band is below Nyquist).
    params : dict
        Every parameter, as written to the JSON record (where non-finite
        numbers, e.g. the SNR of a zero amplitude, are written as null).
    """

    video_path: Path
    truth_path: Path
    meta_path: Path
    fps: float
    motion: np.ndarray
    truth: np.ndarray
    clean_frame: np.ndarray
    crb_var: float
    crb_snr_db: float
    params: dict


def sidecar_paths(path) -> tuple[Path, Path]:
    """Return the ``(<stem>.truth.wav, <stem>.json)`` paths beside a video path."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.wav"), p.with_name(p.stem + ".json")


def _write_truth(path: Path, truth: np.ndarray, fps: float, inputs: tuple) -> None:
    from ..io.audio import write_audio

    write_audio(path, truth, max(1, round(fps)), inputs=inputs)


def synthesize(
    path,
    *,
    audio="melody",
    fps: float = 2200.0,
    duration: float | None = 2.0,
    amplitude: float = 0.02,
    direction: float = 0.0,
    size=(128, 128),
    texture: str = "noise",
    noise_sigma: float = 1.0,
    bit_depth: int = 8,
    resonance=None,
    lowpass: float | None = None,
    seed=0,
    voice: str | None = None,
    text: str | None = None,
    wpm: int | None = None,
    progress: ProgressCallback | None = None,
) -> SynthResult:
    """Render a synthetic visual-microphone video with its ground truth.

    This function is long because it validates every option before any work and then
    writes a complete metadata record (every parameter and the bound) beside the video;
    the rendering steps themselves are in helper functions.

    Parameters
    ----------
    path : path-like
        The video to write, ``.mkv`` (lossless FFV1) or ``.npy``.  Beside it
        go ``<stem>.truth.wav`` (float32 WAV at ``round(fps)`` Hz: the motion
        normalised to peak 1) and ``<stem>.json`` (every parameter, the frame
        count, the bound).
    audio : str or path-like, default "melody"
        A kind from :data:`AUDIO_KINDS` or an audio file (see :func:`make_audio`).
    fps : float, default 2200.0
        Frame rate in Hz (2200 fps gives audio up to 1.1 kHz).
    duration : float or None, default 2.0
        Seconds of video; ``None`` takes the whole audio file.
    amplitude : float, default 0.02
        Peak displacement in pixels (the motion is ``amplitude · truth``).
    direction : float, default 0.0
        Direction of the motion in degrees (0 = right, 90 = down).
    size : int or tuple (H, W), default (128, 128)
        Frame size in pixels (at least 16).
    texture : str, default "noise"
        A kind from :data:`TEXTURES` (see :func:`make_texture`).
    noise_sigma : float, default 1.0
        Sensor noise standard deviation on the 8-bit scale (×257 in 16-bit videos).
    bit_depth : {8, 16}, default 8
        Quantisation of the video.
    resonance : tuple (f0_hz, q), optional
        Object resonance applied to the audio (see :func:`object_response`).
    lowpass : float, optional
        Object low-pass cut-off in Hz.
    seed : int, default 0
        Seeds texture, audio and sensor noise (independent streams); the
        same seed writes identical files.
    voice, text, wpm : optional
        Options of ``audio="speech"``.
    progress : callable, optional
        ``progress(frames_written, n_frames)``.

    Returns
    -------
    SynthResult

    Raises
    ------
    ParameterError
        On any invalid argument (the message names the value and the choices).
    InputFileError, AudioError
        If an audio file is missing or unreadable.
    OutputError
        If an output cannot be written.

    Notes
    -----
    The texture is rendered ``16 + ceil(amplitude)`` px larger than the frame
    on every side (rounded up to a fast FFT length) and cropped to the centre.
    ``crb_var`` is :func:`visualmic.sim.bounds.translation_crb` evaluated with the
    exact spectral derivative of that texture cropped like the frames and
    ``sigma`` in the video's units; it ignores quantisation, whose variance
    (1/12 of a grey level squared at 8 bits) the JSON also records as
    ``crb_var_with_quantization_px2`` (noise variance ``sigma² + 1/12``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from visualmic.sim.synthesize import synthesize
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "clip.mkv"
    >>> res = synthesize(out, audio="tone", duration=0.1, size=32)
    >>> res.motion.shape, round(float(abs(res.motion).max()), 3)
    ((220,), 0.02)
    """
    from .. import __version__

    video = Path(path)
    if video.suffix.lower() not in (".mkv", ".npy"):
        raise ParameterError(f"output {str(video)!r} must end in .mkv (FFV1) or .npy")
    rate = _number("fps", fps, minimum=0, strict=True)
    amp = _number("amplitude", amplitude, minimum=0)
    theta = _number("direction", direction)
    h, w = shape2("size", size, minimum=MIN_SIZE)
    sigma = _number("noise_sigma", noise_sigma, minimum=0)
    depth = check_bit_depth(bit_depth)
    if not isinstance(texture, str) or texture not in TEXTURES:
        raise ParameterError(
            f"texture={texture!r} is unknown; choose one of {', '.join(TEXTURES)}"
        )
    rng = make_rng(seed)  # validates the seed
    del rng
    audio_is_file = is_audio_path(audio)
    inputs = (Path(audio),) if audio_is_file else ()
    truth_path, meta_path = sidecar_paths(video)
    check_outputs((video, truth_path, meta_path), inputs=inputs, force=True)

    s_tex, s_audio, s_noise = (int(x) for x in np.random.SeedSequence(int(seed)).generate_state(3))
    sound, audio_info = audio_with_info(audio, rate=rate, duration=duration, seed=s_audio,
                                        voice=voice, text=text, wpm=wpm)
    truth = _normalised_response(sound, rate=rate, resonance=resonance, lowpass=lowpass)
    motion = amp * truth
    n = truth.size
    scene = _surface(h, w, amp=amp, theta=theta, texture=texture, seed=s_tex,
                     scale=SCALE_16 if depth == 16 else 1, sigma=sigma, motion=motion, rate=rate)
    tex, big, margin, scale, clean = (scene[k] for k in ("tex", "big", "margin", "scale", "clean"))
    crb_var, crb_var_q, snr, band = (scene[k] for k in ("crb_var", "crb_var_q", "snr", "band"))

    frames = render_frames(tex, motion, direction=theta, size=(h, w), noise_sigma=sigma,
                           bit_depth=depth, seed=s_noise)
    written = write_video(video, frames, fps=rate, bit_depth=depth, progress=progress, total=n)
    _write_truth(truth_path, truth, rate, inputs)

    params = {
        "version": __version__,
        "video": video.name,
        "truth": truth_path.name,
        "audio": str(audio) if audio_is_file else audio,
        "fps": rate,
        "duration": n / rate,
        "n_frames": written,
        "amplitude_px": amp,
        "direction_deg": theta,
        "size": [h, w],
        "texture": texture,
        "texture_shape": list(big),
        "margin_px": margin,
        "noise_sigma": sigma,
        "noise_sigma_video_units": sigma * scale,
        "bit_depth": depth,
        "resonance": None if resonance is None else [float(v) for v in resonance],
        "lowpass": None if lowpass is None else float(lowpass),
        "seed": int(seed),
        "voice": voice,
        "text": text,
        "wpm": wpm,
        "audio_info": audio_info,
        "truth_rate": max(1, round(rate)),
        "crb_var_px2": crb_var,
        "crb_var_with_quantization_px2": crb_var_q,
        "crb_snr_db": snr,
        "crb_band_hz": list(band),
    }
    record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in params.items()}  # strict JSON: no Infinity/NaN
    with atomic_path(meta_path, inputs=inputs) as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    return SynthResult(
        video_path=video,
        truth_path=truth_path,
        meta_path=meta_path,
        fps=rate,
        motion=motion,
        truth=truth,
        clean_frame=clean,
        crb_var=crb_var,
        crb_snr_db=snr,
        params=record,
    )


def _normalised_response(sound: np.ndarray, *, rate: float, resonance, lowpass) -> np.ndarray:
    """The object's response to ``sound``, scaled to a peak of 1 (the truth signal)."""
    shaped = object_response(sound, rate=rate, resonance=resonance, lowpass=lowpass)
    peak = float(np.max(np.abs(shaped)))
    if peak == 0 or not math.isfinite(peak):
        raise AudioError("the object response turned the audio into silence; change it")
    return shaped / peak


def _surface(h: int, w: int, *, amp: float, theta: float, texture: str, seed: int, scale: int,
             sigma: float, motion: np.ndarray, rate: float) -> dict:
    """The texture rendered around an ``h x w`` frame, and the Cramér-Rao bound it gives."""
    margin = MARGIN + math.ceil(amp)
    big = tuple(sfft.next_fast_len(s + 2 * margin, real=True) for s in (h, w))
    tex = make_texture(big, kind=texture, seed=seed)
    shifter = FourierShifter(tex * scale, (h, w), theta)
    clean = np.ascontiguousarray(shifter.crop(tex * scale))
    gx, gy = shifter.gradients()
    crb_var = translation_crb(gx, gy, direction=theta, sigma=sigma * scale)
    crb_var_q = translation_crb(gx, gy, direction=theta,
                                sigma=math.sqrt((sigma * scale) ** 2 + 1 / 12))
    band = (80.0, 1000.0)
    # No part of the band below Nyquist (very low frame rates): the SNR is undefined.
    snr = crb_snr_db(motion, crb_var, rate=rate, band=band) if rate / 2 > band[0] else math.nan
    return dict(tex=tex, big=big, margin=margin, scale=scale, clean=clean, crb_var=crb_var,
                crb_var_q=crb_var_q, snr=snr, band=band)
