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
(:mod:`visualmic.bounds`).

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
import os
import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from ._atomic import atomic_path, check_output_path
from ._errors import AudioError, InputFileError, ParameterError, VisualMicWarning
from ._progress import ProgressCallback, report
from ._validate import finite_number as _number
from .bounds import crb_snr_db, periodic_gradients, translation_crb, unit_vector

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

#: Photographs shipped inside scikit-image (``skimage.data``) that load without
#: a network connection in scikit-image >= 0.22.
PHOTO_TEXTURES = (
    "camera",
    "astronaut",
    "brick",
    "grass",
    "gravel",
    "coffee",
    "chelsea",
    "moon",
    "text",
    "rocket",
    "coins",
    "page",
    "immunohistochemistry",
)

#: Every texture kind :func:`make_texture` accepts.
TEXTURES = ("noise",) + PHOTO_TEXTURES

#: Built-in audio sources of :func:`make_audio` (a path to a WAV file is also accepted).
AUDIO_KINDS = ("tone", "tones", "chirp", "melody", "speech")

#: Scale factor from 8-bit grey levels to 16-bit ones (255 · 257 = 65535).
SCALE_16 = 257

# Procedural texture: mean and standard deviation on the 8-bit scale, and the
# radial pass band in cycles/px (raised-cosine edges between the pairs).
_NOISE_MEAN = 128.0
_NOISE_STD = 40.0
_NOISE_RISE = (1 / 64, 1 / 32)
_NOISE_FALL = (0.2, 0.4)
# Soft limiter: identity within ±_KNEE of the mean, tanh saturation beyond, so
# the texture stays inside [mean − _KNEE − _SPAN, mean + _KNEE + _SPAN] = [4, 252].
_KNEE = 96.0
_SPAN = 28.0

# Margin (px) of the rendered texture around the frame, beyond the motion.
_MARGIN = 16
_MIN_SIZE = 16

_SPEECH_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "Mary had a little lamb, its fleece was white as snow.",
    "A visual microphone recovers sound from the tiny vibrations of objects in video.",
    "She sells sea shells by the sea shore, and the shells she sells are surely sea shells.",
    "Peter Piper picked a peck of pickled peppers.",
    "We choose to go to the moon in this decade and do the other things.",
    "The rain in Spain stays mainly in the plain.",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "To be or not to be, that is the question.",
    "Four score and seven years ago our fathers brought forth on this continent a new nation.",
)
_SPEECH_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3",
                  "en-us+m3", "en-us-nyc")

# "Mary had a little lamb": (semitones above C4, beats).
_MELODY = (
    (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 2),
    (2, 1), (2, 1), (2, 2), (4, 1), (7, 1), (7, 2),
    (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 1), (4, 1),
    (2, 1), (2, 1), (4, 1), (2, 1), (0, 4),
)
_C4 = 261.6255653005986


# --------------------------------------------------------------------------- validation




def _shape2(name: str, value, *, minimum: int) -> tuple[int, int]:
    """Validate an ``(H, W)`` pair of integers (an int means a square)."""
    given = value
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        h, w = value
    except (TypeError, ValueError):
        raise ParameterError(f"{name}={given!r} must be an integer or a pair (H, W)") from None
    out = []
    for v in (h, w):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ParameterError(
                f"{name}={given!r} must hold integers >= {minimum} (height, width in pixels)"
            )
        out.append(int(v))
    return out[0], out[1]


def _bit_depth(value) -> int:
    if isinstance(value, bool) or value not in (8, 16):
        raise ParameterError(f"bit_depth={value!r} is not supported; choose 8 or 16")
    return int(value)


def _rng(seed) -> np.random.Generator:
    if isinstance(seed, bool):
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    if isinstance(seed, np.random.SeedSequence):
        return np.random.default_rng(seed)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    return np.random.default_rng(int(seed))


# --------------------------------------------------------------------------- textures


def _raised_cosine(f: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Smooth step from 0 (f <= lo) to 1 (f >= hi) with a raised-cosine edge."""
    t = np.clip((f - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * t)


def _soft_limit(x: np.ndarray, mean: float) -> np.ndarray:
    """Identity within ±_KNEE of ``mean``; smooth tanh saturation beyond (C¹)."""
    s = x - mean
    a = np.abs(s)
    over = a > _KNEE
    a[over] = _KNEE + _SPAN * np.tanh((a[over] - _KNEE) / _SPAN)
    return mean + np.sign(s) * a


def _noise_texture(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    white = rng.standard_normal((h, w))
    fy = sfft.fftfreq(h)[:, None]
    fx = sfft.rfftfreq(w)[None, :]
    f = np.hypot(fy, fx)
    gain = _raised_cosine(f, *_NOISE_RISE) * (1.0 - _raised_cosine(f, *_NOISE_FALL))
    tex = sfft.irfft2(sfft.rfft2(white) * gain, s=(h, w))
    std = tex.std()
    if std == 0:  # pragma: no cover - only for degenerate 1-pixel pass bands
        return np.full((h, w), _NOISE_MEAN)
    tex = _NOISE_MEAN + (tex - tex.mean()) * (_NOISE_STD / std)
    return _soft_limit(tex, _NOISE_MEAN)


def _load_photo(kind: str) -> np.ndarray:
    """Load a scikit-image photograph as float64 grey levels on the 8-bit scale."""
    from skimage import color, data, util

    img = getattr(data, kind)()
    if img.ndim == 3:
        if img.shape[-1] == 4:
            img = color.rgba2rgb(img)
        img = color.rgb2gray(img)
    return util.img_as_float64(img) * 255.0


def _periodic_component(u: np.ndarray) -> np.ndarray:
    """Periodic part of the periodic + smooth decomposition of an image.

    L. Moisan, "Periodic plus smooth image decomposition", J. Math. Imaging
    Vis. 39, 2011, doi:10.1007/s10851-010-0227-1.  Removing the smooth part
    removes the jump between opposite borders, so a Fourier shift of the
    result does not ring at the seam.
    """
    h, w = u.shape
    v = np.zeros_like(u)
    v[0, :] += u[-1, :] - u[0, :]
    v[-1, :] += u[0, :] - u[-1, :]
    v[:, 0] += u[:, -1] - u[:, 0]
    v[:, -1] += u[:, 0] - u[:, -1]
    cy = np.cos(2 * np.pi * np.arange(h) / h)[:, None]
    cx = np.cos(2 * np.pi * np.arange(w) / w)[None, :]
    den = 2 * cy + 2 * cx - 4
    den[0, 0] = 1.0
    s_hat = sfft.fft2(v) / den
    s_hat[0, 0] = 0.0
    return u - np.real(sfft.ifft2(s_hat))


def _photo_texture(kind: str, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    from skimage.transform import resize

    photo = _load_photo(kind)
    ph, pw = photo.shape
    h, w = shape
    # Crop a window of the target's aspect ratio, at most twice the target size
    # (so fine detail survives), at a random position; resize it to the target.
    scale = min(ph / h, pw / w, 2.0)
    ch = min(ph, max(1, round(h * scale)))
    cw = min(pw, max(1, round(w * scale)))
    top = int(rng.integers(0, ph - ch + 1))
    left = int(rng.integers(0, pw - cw + 1))
    crop = photo[top : top + ch, left : left + cw]
    if (ch, cw) != (h, w):
        crop = resize(crop, (h, w), order=3, mode="reflect",
                      anti_aliasing=scale > 1, preserve_range=True)
    tex = _periodic_component(np.asarray(crop, dtype=np.float64))
    # Keep the texture inside [1, 254] so that sensor noise rarely clips.
    m = float(tex.mean())
    lo, hi = float(tex.min()), float(tex.max())
    k = 1.0
    if hi > 254.0:
        k = min(k, (254.0 - m) / (hi - m))
    if lo < 1.0:
        k = min(k, (m - 1.0) / (m - lo))
    return m + k * (tex - m) if k < 1.0 else tex


def make_texture(shape, *, kind: str = "noise", seed=0) -> np.ndarray:
    """Make a periodic grey texture on the 8-bit scale.

    Parameters
    ----------
    shape : int or tuple (H, W) of int
        Texture size in pixels (each at least 8).
    kind : str, default "noise"
        One of :data:`TEXTURES`.  ``"noise"``: white Gaussian noise filtered in
        the Fourier domain by a smooth radial band-pass (raised-cosine rise
        from 1/64 to 1/32 cycles/px, flat to 0.2, raised-cosine fall to zero
        at 0.4, nothing near Nyquist), rescaled to mean 128 and standard
        deviation 40 and passed through a smooth limiter so that it stays in
        [4, 252].  Any other name is a photograph from ``skimage.data``
        (:data:`PHOTO_TEXTURES`): converted to grey, a window of the
        target's aspect ratio and at most twice its size is cropped at a
        random position and resized to ``shape`` (anti-aliased when
        shrinking), then made periodic by removing the smooth component of
        Moisan's periodic + smooth decomposition, and compressed towards its
        mean if needed to stay in [1, 254].
    seed : int, default 0
        Seed of the noise or of the crop position.

    Returns
    -------
    np.ndarray [shape=(H, W)], float64
        Grey levels on the 8-bit scale.  The texture is periodic (opposite
        borders join smoothly), so a Fourier shift of it has no seam.

    Raises
    ------
    ParameterError
        If ``shape`` is too small or ``kind`` is unknown.
    """
    shp = _shape2("shape", shape, minimum=8)
    rng = _rng(seed)
    if kind == "noise":
        return _noise_texture(shp, rng)
    if kind in PHOTO_TEXTURES:
        return _photo_texture(kind, shp, rng)
    raise ParameterError(f"texture={kind!r} is unknown; choose one of {', '.join(TEXTURES)}")


# --------------------------------------------------------------------------- audio


def _check_band(kind: str, f_max: float, rate: float) -> None:
    if f_max >= 0.45 * rate:
        raise ParameterError(
            f"rate={rate:g} Hz is too low for audio={kind!r} (needs {f_max:g} Hz below "
            f"0.45*rate); use a rate above {f_max / 0.45:.0f} Hz or another kind"
        )


def _fade(y: np.ndarray, rate: float, seconds: float = 0.01) -> np.ndarray:
    n = min(len(y) // 2, max(1, round(seconds * rate)))
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)
    y[:n] *= ramp
    y[len(y) - n :] *= ramp[::-1]
    return y


def _melody(rate: float, n: int, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    transpose = int(rng.integers(-3, 4))
    beat = float(rng.uniform(0.25, 0.35))
    f_top = _C4 * 2 ** ((7 + transpose) / 12)
    _check_band("melody", f_top, rate)
    y = np.zeros(n)
    t0 = 0.0
    i = 0
    while round(t0 * rate) < n:
        semis, beats = _MELODY[i % len(_MELODY)]
        f0 = _C4 * 2 ** ((semis + transpose) / 12)
        dur = beats * beat
        start = round(t0 * rate)
        m = min(round(dur * rate), n - start)
        t = np.arange(m) / rate
        env = np.minimum(1.0, t / 0.01) * np.exp(-t / 0.35)
        rel = min(m, max(1, round(0.03 * rate)))
        env[m - rel :] *= np.linspace(1.0, 0.0, rel)
        note = np.zeros(m)
        for h, amp in enumerate((1.0, 0.5, 0.25, 0.125), start=1):
            if h * f0 < 0.45 * rate:
                note += amp * np.sin(2 * np.pi * h * f0 * t)
        y[start : start + m] += env * note
        t0 += dur
        i += 1
    return y, {"transpose_semitones": transpose, "beat_s": beat}


def _espeak(text: str, voice: str, wpm: int) -> tuple[np.ndarray, int]:
    import soundfile as sf

    exe = shutil.which("espeak-ng")
    if exe is None:
        raise ParameterError(
            "audio='speech' needs espeak-ng, which is not installed; run "
            "`apt-get install espeak-ng` or choose another audio kind "
            "(tone, tones, chirp, melody, or a WAV file)"
        )
    with tempfile.TemporaryDirectory(prefix="visualmic-speech-") as tmp:
        wav = os.path.join(tmp, "speech.wav")
        proc = subprocess.run(
            [exe, "-w", wav, "-v", voice, "-s", str(wpm), "--", text],
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0 or not os.path.exists(wav):
            msg = (proc.stderr or proc.stdout).strip().splitlines()
            detail = msg[-1].rstrip(".") if msg else f"exit code {proc.returncode}"
            raise ParameterError(
                f"espeak-ng failed with voice={voice!r}: {detail}; "
                "list voices with `espeak-ng --voices=en`"
            )
        y, sr = sf.read(wav, dtype="float64", always_2d=True)
    return y.mean(axis=1), int(sr)


def _resample(y: np.ndarray, src_rate: float, dst_rate: float) -> np.ndarray:
    """Resample with a polyphase anti-aliasing filter (rational approximation of the ratio)."""
    from scipy import signal as ssig

    ratio = Fraction(dst_rate).limit_denominator(10_000) / Fraction(src_rate).limit_denominator(
        10_000
    )
    ratio = ratio.limit_denominator(100_000)
    if ratio == 1:
        return y.copy()
    return ssig.resample_poly(y, ratio.numerator, ratio.denominator)


def _speech(rate: float, duration: float, rng: np.random.Generator, *, voice, text,
            wpm) -> tuple[np.ndarray, dict]:
    if voice is None:
        voice = _SPEECH_VOICES[int(rng.integers(len(_SPEECH_VOICES)))]
    if wpm is None:
        wpm = int(rng.integers(140, 191))
    else:
        wpm = int(_number("wpm", wpm, minimum=80))
        if wpm > 450:
            raise ParameterError(f"wpm={wpm} must be between 80 and 450 words per minute")
    if text is None:
        order = rng.permutation(len(_SPEECH_TEXTS))
        words, parts = 0, []
        for k in order:  # enough sentences to fill the duration at this rate
            parts.append(_SPEECH_TEXTS[k])
            words += len(_SPEECH_TEXTS[k].split())
            if words * 60.0 / wpm >= duration + 1.0:
                break
        text = " ".join(parts)
    elif not str(text).strip():
        raise ParameterError("text='' is empty; give words for espeak-ng to speak")
    y, sr = _espeak(str(text), str(voice), wpm)
    return _resample(y, sr, rate), {"voice": str(voice), "text": str(text), "wpm": wpm}


def _read_wav(path: Path, rate: float) -> np.ndarray:
    import soundfile as sf

    if not path.is_file():
        raise InputFileError(f"audio file {str(path)!r} not found; check the path")
    try:
        y, sr = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises several types for unreadable files
        raise AudioError(f"cannot read audio file {str(path)!r} ({exc}); give a WAV file") from None
    if y.shape[0] == 0:
        raise AudioError(f"audio file {str(path)!r} is empty; give a file with samples")
    return _resample(y.mean(axis=1), sr, rate)


def _is_path(kind) -> bool:
    if isinstance(kind, os.PathLike):
        return True
    return isinstance(kind, str) and kind not in AUDIO_KINDS and (
        os.sep in kind or "." in os.path.basename(kind) or os.path.exists(kind)
    )


def make_audio(
    kind,
    *,
    rate: float,
    duration: float | None = 2.0,
    seed=0,
    frequency: float = 440.0,
    voice: str | None = None,
    text: str | None = None,
    wpm: int | None = None,
) -> np.ndarray:
    """Make an audio signal, peak-normalised to 1.

    Parameters
    ----------
    kind : str or path-like
        One of :data:`AUDIO_KINDS` or a path to an audio file (WAV, FLAC, …):

        - ``"tone"``: a sine at ``frequency`` Hz with a random phase.
        - ``"tones"``: four sines at random frequencies in 100–900 Hz (capped
          at 0.45·rate) with random amplitudes and phases.
        - ``"chirp"``: a logarithmic sweep from 80 Hz to 0.45·rate.
        - ``"melody"``: "Mary had a little lamb" with 4 harmonics (dropped
          above 0.45·rate) and a percussive envelope per note, transposed by
          −3..+3 semitones and played at 0.25–0.35 s per beat (from ``seed``),
          repeated to fill ``duration``; needs rate above about 1.1 kHz.
        - ``"speech"``: espeak-ng (must be installed) speaking ``text`` with
          ``voice`` at ``wpm`` words per minute; unset options are drawn from
          built-in lists with ``seed``.  Zero-padded or cut to ``duration``.
        - a file path: read with soundfile, mixed down to mono, resampled to
          ``rate`` with :func:`scipy.signal.resample_poly` (the rate ratio is
          approximated by a fraction with denominator <= 100000), cut or
          zero-padded (with a warning) to ``duration``.

        Built-in sounds fade in and out over 10 ms.
    rate : float
        Sample rate in Hz (for visualmic: the video's frame rate).
    duration : float or None, default 2.0
        Length in seconds; the signal has ``round(rate · duration)`` samples.
        ``None`` is allowed for a file only and keeps its whole length.
    seed : int, default 0
        Seed of the random choices above.
    frequency : float, default 440.0
        Frequency of ``"tone"`` in Hz.
    voice, text : str, optional
        espeak-ng voice (e.g. ``"en-us"``, ``"en-gb+f3"``) and text for ``"speech"``.
    wpm : int, optional
        Speaking rate of ``"speech"`` in words per minute (80–450).

    Returns
    -------
    np.ndarray [shape=(n,)], float64
        The signal, with peak absolute value 1.

    Raises
    ------
    ParameterError
        Unknown kind, non-positive rate or duration, a rate too low for the
        kind, or espeak-ng missing or failing.
    InputFileError
        The audio file does not exist.
    AudioError
        The audio file cannot be read, is empty or silent.
    """
    y, _ = _audio_with_info(kind, rate=rate, duration=duration, seed=seed, frequency=frequency,
                            voice=voice, text=text, wpm=wpm)
    return y


def _audio_with_info(kind, *, rate, duration, seed, frequency=440.0, voice=None, text=None,
                     wpm=None) -> tuple[np.ndarray, dict]:
    """:func:`make_audio`, also returning the choices it made (for the JSON record)."""
    from scipy import signal as ssig

    fs = _number("rate", rate, minimum=0, strict=True)
    rng = _rng(seed)
    path = Path(kind) if _is_path(kind) else None
    if path is None and kind not in AUDIO_KINDS:
        raise ParameterError(
            f"audio={kind!r} is unknown; choose one of {', '.join(AUDIO_KINDS)} or a WAV file path"
        )
    if duration is None and path is None:
        raise ParameterError(
            "duration=None (the whole file) is only allowed for an audio file; give seconds"
        )
    if duration is not None:
        dur = _number("duration", duration, minimum=0, strict=True)
        n = round(fs * dur)
        if n < 2:
            raise ParameterError(
                f"duration={duration!r} s at rate={rate!r} Hz gives {n} samples; need at least 2"
            )
    if path is not None:
        y = _read_wav(path, fs)
        if duration is not None:
            if y.size < n:
                warnings.warn(
                    f"audio file {str(path)!r} lasts {y.size / fs:.3f} s, shorter than "
                    f"duration={dur:g} s; padded with silence",
                    VisualMicWarning, stacklevel=2,
                )
                y = np.concatenate([y, np.zeros(n - y.size)])
            y = y[:n]
        peak = np.max(np.abs(y)) if y.size else 0.0
        if y.size < 2 or peak == 0 or not np.isfinite(peak):
            raise AudioError(f"audio file {str(path)!r} is silent or unusable; give another file")
        return y / peak, {"kind": "file", "path": str(path)}

    t = np.arange(n) / fs
    info: dict = {"kind": kind}
    if kind == "tone":
        f0 = _number("frequency", frequency, minimum=0, strict=True)
        _check_band("tone", f0, fs)
        y = np.sin(2 * np.pi * f0 * t + rng.uniform(0, 2 * np.pi))
        info["frequency_hz"] = f0
    elif kind == "tones":
        f_hi = min(900.0, 0.45 * fs)
        _check_band("tones", 100.0, fs)
        freqs = rng.uniform(100.0, f_hi, size=4)
        amps = rng.uniform(0.5, 1.0, size=4)
        phases = rng.uniform(0, 2 * np.pi, size=4)
        y = (amps[:, None] * np.sin(2 * np.pi * freqs[:, None] * t + phases[:, None])).sum(0)
        info.update(frequencies_hz=freqs.tolist(), amplitudes=amps.tolist())
    elif kind == "chirp":
        _check_band("chirp", 80.0, fs)
        t1 = max(t[-1], 1.0 / fs)
        y = ssig.chirp(t, f0=80.0, t1=t1, f1=0.45 * fs, method="logarithmic", phi=-90)
        info.update(f0_hz=80.0, f1_hz=0.45 * fs, method="logarithmic")
    elif kind == "melody":
        y, extra = _melody(fs, n, rng)
        info.update(extra)
    else:  # speech
        y, extra = _speech(fs, dur, rng, voice=voice, text=text, wpm=wpm)
        info.update(extra)
        y = np.concatenate([y, np.zeros(max(0, n - y.size))])[:n]
    y = _fade(np.asarray(y, dtype=np.float64), fs)
    peak = np.max(np.abs(y))
    if peak == 0:
        raise AudioError(f"audio={kind!r} produced silence; choose a longer duration")
    return y / peak, info


def object_response(audio, *, rate: float, resonance=None, lowpass: float | None = None):
    """Shape an audio signal by the response of a vibrating object.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        The driving sound.
    rate : float
        Sample rate in Hz.
    resonance : tuple (f0, q) of float, optional
        A mass-spring-damper resonance at ``f0`` Hz with quality factor ``q``:
        ``H(s) = ω0² / (s² + s·ω0/q + ω0²)`` (flat below ``f0``, a peak of
        height ≈ q at ``f0``, −12 dB/octave above), discretised with the
        bilinear transform pre-warped at ``f0`` and divided by its peak gain
        (unit peak gain).  Causal, like a physical object.
    lowpass : float, optional
        Cut-off (Hz) of a causal 4th-order Butterworth low-pass.

    Returns
    -------
    np.ndarray [shape=(n,)], float64
        The filtered signal (not renormalised).

    Raises
    ------
    ParameterError
        If ``f0`` or ``lowpass`` is not between 0 and the Nyquist frequency or ``q <= 0``.
    """
    from scipy import signal as ssig

    y = np.asarray(audio, dtype=np.float64)
    if y.ndim != 1:
        raise ParameterError(f"audio must be 1-D (n,), got shape {y.shape}")
    fs = _number("rate", rate, minimum=0, strict=True)
    if resonance is not None:
        try:
            f0, q = (float(v) for v in resonance)
        except (TypeError, ValueError):
            raise ParameterError(
                f"resonance={resonance!r} must be a pair (f0_hz, q), e.g. (400, 10)"
            ) from None
        if not (0 < f0 < fs / 2) or not math.isfinite(f0):
            raise ParameterError(
                f"resonance f0={f0:g} Hz must lie between 0 and the Nyquist frequency {fs / 2:g} Hz"
            )
        if not (q > 0) or not math.isfinite(q):
            raise ParameterError(f"resonance q={q:g} must be a positive number (e.g. 5-50)")
        w0 = 2 * fs * math.tan(math.pi * f0 / fs)  # pre-warped so the peak stays at f0
        b, a = ssig.bilinear([w0 * w0], [1.0, w0 / q, w0 * w0], fs=fs)
        peak = q / math.sqrt(1 - 1 / (4 * q * q)) if q > 1 / math.sqrt(2) else 1.0
        y = ssig.lfilter(b / peak, a, y)
    if lowpass is not None:
        fc = _number("lowpass", lowpass, minimum=0, strict=True)
        if fc >= fs / 2:
            raise ParameterError(
                f"lowpass={lowpass!r} Hz must be below the Nyquist frequency {fs / 2:g} Hz"
            )
        y = ssig.sosfilt(ssig.butter(4, fc, btype="low", fs=fs, output="sos"), y)
    return y


# --------------------------------------------------------------------------- rendering


def _shift_factors(n: int, d: np.ndarray, *, real: bool) -> np.ndarray:
    """Phase ramps ``exp(-2πi k d)`` (t, n_bins) for shifts ``d`` (t,) along an axis of ``n``.

    For an even ``n`` the Nyquist term of the real interpolant is ``cos(π x)``,
    which a shift by ``d`` scales by ``cos(π d)`` on the grid; using that real
    factor keeps the shifted frame the exact sample of the translated
    interpolant.
    """
    k = sfft.rfftfreq(n) if real else sfft.fftfreq(n)
    ramp = np.exp(-2j * np.pi * d[:, None] * k[None, :])
    if n % 2 == 0:
        ramp[:, n // 2 if not real else -1] = np.cos(np.pi * d)
    return ramp


class _FourierShifter:
    """Translate a periodic texture by sub-pixel amounts and crop the centre.

    Built once per texture (one rfft2); each call renders a batch of frames.
    """

    def __init__(self, texture_big: np.ndarray, size: tuple[int, int], direction: float):
        self.big = texture_big.shape
        self.size = size
        h, w = size
        self.top = (self.big[0] - h) // 2
        self.left = (self.big[1] - w) // 2
        self.ux, self.uy = unit_vector(direction)
        self.spec = sfft.rfft2(texture_big)
        self.spec32 = self.spec.astype(np.complex64)

    def crop(self, image: np.ndarray) -> np.ndarray:
        h, w = self.size
        return image[..., self.top : self.top + h, self.left : self.left + w]

    def __call__(self, d: np.ndarray, *, single: bool = False) -> np.ndarray:
        """Return frames (t, H, W) translated by ``d`` (t,) pixels along the direction.

        ``single=True`` computes in single precision (float32 frames, about
        3x faster; errors below 0.03 units at the 16-bit scale, i.e. 1e-4 of
        an 8-bit grey level).
        """
        d = np.asarray(d, dtype=np.float64)
        hb, wb = self.big
        h, w = self.size
        ry = _shift_factors(hb, d * self.uy, real=False)  # (t, hb)
        rx = _shift_factors(wb, d * self.ux, real=True)  # (t, wb//2+1)
        base = self.spec
        if single:
            base, ry, rx = self.spec32, ry.astype(np.complex64), rx.astype(np.complex64)
        spec = base[None] * rx[:, None, :]
        spec *= ry[:, :, None]
        rows = sfft.ifft(spec, axis=1)[:, self.top : self.top + h]
        out = sfft.irfft(rows, n=wb, axis=2)
        return out[:, :, self.left : self.left + w]

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """Exact (spectral) derivatives of the texture, cropped like the frames."""
        gx, gy = periodic_gradients(sfft.irfft2(self.spec, s=self.big))
        return self.crop(gx), self.crop(gy)


def render_frames(
    texture_big,
    motion_px,
    *,
    direction: float = 0.0,
    size=(128, 128),
    noise_sigma: float = 1.0,
    bit_depth: int = 8,
    seed=0,
    chunk: int = 256,
) -> Iterator[np.ndarray]:
    """Render a translated texture as noisy, quantised frames, chunk by chunk.

    Frame ``t`` is the periodic band-limited interpolant of ``texture_big``
    translated by ``motion_px[t]`` pixels along ``direction`` (an exact
    Fourier shift: ``frame(x) = I(x − d·u)``; for even sizes the Nyquist
    terms ``cos(πx)`` become ``cos(πd)·cos(πx)``, the exact samples of the
    translate), cropped to the centred ``size`` window, plus white Gaussian
    noise, rounded and clipped.  The shift is computed in single precision
    (error below 1e-4 of an 8-bit grey level, far under the quantisation).  Because
    the window lies inside the texture with a margin, the frame borders show
    the texture's true neighbourhood: there is no wrap-around.

    Parameters
    ----------
    texture_big : np.ndarray [shape=(Hb, Wb)]
        The texture on the 8-bit grey scale, larger than the frame by a
        margin of at least ``ceil(max|motion|) + 2`` pixels on every side.
        It is treated as one period of a periodic image: use a periodic
        texture (:func:`make_texture` returns one) to avoid ringing from the
        seam between its opposite borders.
    motion_px : np.ndarray [shape=(T,)]
        Displacement of each frame in pixels.
    direction : float, default 0.0
        Direction of motion in degrees (0 = right, 90 = down).
    size : int or tuple (H, W), default (128, 128)
        Frame size in pixels (each at least 16).
    noise_sigma : float, default 1.0
        Standard deviation of the sensor noise on the 8-bit scale.
    bit_depth : {8, 16}, default 8
        8 gives uint8 frames.  16 gives uint16 frames in which texture and
        noise are both multiplied by 257 (a 16-bit video differs from the
        8-bit one only by finer quantisation; bounds must use sigma·257).
    seed : int, default 0
        Seed of the sensor noise (the frames do not depend on ``chunk``).
    chunk : int, default 256
        Frames rendered per batch (memory ~ 16·chunk·Hb·Wb/2 bytes).

    Yields
    ------
    np.ndarray [shape=(t, H, W)], uint8 or uint16
        Consecutive chunks of frames, ``t <= chunk``.

    Raises
    ------
    ParameterError
        On invalid arguments or a margin too small for the motion.
    """
    tex = np.asarray(texture_big, dtype=np.float64)
    if tex.ndim != 2:
        raise ParameterError(f"texture_big must be 2-D (Hb, Wb), got shape {tex.shape}")
    if not np.isfinite(tex).all():
        raise ParameterError("texture_big holds NaN or infinite values")
    motion = np.asarray(motion_px, dtype=np.float64)
    if motion.ndim != 1 or motion.size == 0:
        raise ParameterError(f"motion_px must be a non-empty 1-D array, got shape {motion.shape}")
    if not np.isfinite(motion).all():
        raise ParameterError("motion_px holds NaN or infinite values")
    h, w = _shape2("size", size, minimum=_MIN_SIZE)
    theta = _number("direction", direction)
    sigma = _number("noise_sigma", noise_sigma, minimum=0)
    depth = _bit_depth(bit_depth)
    if isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1:
        raise ParameterError(f"chunk={chunk!r} must be a positive integer")
    need = math.ceil(float(np.max(np.abs(motion)))) + 2
    margin = min((tex.shape[0] - h) // 2, (tex.shape[1] - w) // 2)
    if margin < need:
        raise ParameterError(
            f"texture_big of shape {tex.shape} leaves a margin of {margin} px around size "
            f"{(h, w)}; the motion needs {need} px: pass a texture at least "
            f"{(h + 2 * need, w + 2 * need)}"
        )
    rng = _rng(seed)
    scale = SCALE_16 if depth == 16 else 1
    top = 65535 if depth == 16 else 255
    dtype = np.uint16 if depth == 16 else np.uint8
    shifter = _FourierShifter(tex * scale, (h, w), theta)
    for start in range(0, motion.size, int(chunk)):
        frames = shifter(motion[start : start + int(chunk)], single=True)
        if sigma > 0:
            noise = rng.standard_normal(frames.shape, dtype=np.float32)
            noise *= np.float32(sigma * scale)
            frames += noise
        np.rint(frames, out=frames)
        np.clip(frames, 0, top, out=frames)
        yield frames.astype(dtype)


# --------------------------------------------------------------------------- writing


def _fps_fraction(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(10_000)


def _iter_chunks(frames, bit_depth: int) -> Iterator[np.ndarray]:
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    shape = None
    for item in frames:
        a = np.asarray(item)
        if a.ndim == 2:
            a = a[None]
        if a.ndim != 3:
            raise ParameterError(
                f"frames must be (t, H, W) chunks or (H, W) frames, got shape {a.shape}"
            )
        if a.dtype != dtype:
            raise ParameterError(
                f"frames of dtype {a.dtype} do not match bit_depth={bit_depth}; "
                f"pass {np.dtype(dtype).name} frames"
            )
        if shape is None:
            shape = a.shape[1:]
        elif a.shape[1:] != shape:
            raise ParameterError(
                f"frame size changed from {shape} to {a.shape[1:]}; all frames must match"
            )
        if a.shape[0]:
            yield a


def write_video(
    path,
    frames: Iterable[np.ndarray],
    *,
    fps: float,
    bit_depth: int,
    progress: ProgressCallback | None = None,
    total: int | None = None,
) -> int:
    """Write grey frames losslessly: FFV1 in Matroska (``.mkv``) or a NumPy ``.npy`` array.

    Parameters
    ----------
    path : path-like
        Output file, ending in ``.mkv`` or ``.npy``.  Written atomically (a
        temporary file renamed on success).
    frames : iterable of np.ndarray [shape=(t, H, W) or (H, W)]
        Chunks of frames, uint8 for ``bit_depth=8`` or uint16 for 16.
    fps : float
        Frame rate in Hz, stored in the container (Matroska keeps it as the
        track's default duration, read back by PyAV as
        ``stream.average_rate``; its timestamps are in milliseconds, so
        above 1000 fps several frames share a timestamp, but every frame is
        kept and decoded in order).  ``.npy`` stores no rate.
    bit_depth : {8, 16}
        Pixel format ``gray`` or ``gray16le``.
    progress : callable, optional
        ``progress(frames_written, total)``.
    total : int, optional
        Expected number of frames, passed to ``progress``.

    Returns
    -------
    int
        The number of frames written.

    Raises
    ------
    ParameterError
        Bad suffix, fps, bit depth, dtype, shape, or no frames.
    OutputError
        The output cannot be written.

    Notes
    -----
    ``.npy`` output gathers all frames in memory before writing.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in (".mkv", ".npy"):
        raise ParameterError(f"output {str(out)!r} must end in .mkv (FFV1) or .npy")
    rate = _number("fps", fps, minimum=0, strict=True)
    depth = _bit_depth(bit_depth)
    check_output_path(out)
    chunks = _iter_chunks(frames, depth)
    if suffix == ".npy":
        parts, done = [], 0
        for a in chunks:
            parts.append(a)
            done += a.shape[0]
            report(progress, done, total)
        if not parts:
            raise ParameterError("no frames to write; give at least one frame")
        with atomic_path(out) as tmp:
            np.save(tmp, np.concatenate(parts))
        return done

    import av

    done = 0
    with atomic_path(out) as tmp:
        container = av.open(str(tmp), mode="w", format="matroska",
                            options={"fflags": "+bitexact"})
        try:
            stream = None
            pix = "gray16le" if depth == 16 else "gray"
            for a in chunks:
                if stream is None:
                    stream = container.add_stream("ffv1", rate=_fps_fraction(rate),
                                                  options={"flags": "+bitexact"})
                    stream.height, stream.width = a.shape[1:]
                    stream.pix_fmt = pix
                for f in a:
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=pix)
                    vf.pts = done
                    container.mux(stream.encode(vf))
                    done += 1
                report(progress, done, total)
            if stream is None:
                raise ParameterError("no frames to write; give at least one frame")
            container.mux(stream.encode(None))
        finally:
            container.close()
    return done


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
        The best achievable SNR in 80–1000 Hz (:func:`visualmic.bounds.crb_snr_db`);
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
    from .io.audio import write_audio

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
    rolling_shutter: float | None = None,
) -> SynthResult:
    """Render a synthetic visual-microphone video with its ground truth.

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
    rolling_shutter : float, optional
        Render a rolling-shutter video instead: the readout fraction in (0, 1]
        (see :func:`visualmic.sim.rolling.synthesize_rolling`; the truth is then
        on the row-rate grid).

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
    ``crb_var`` is :func:`visualmic.bounds.translation_crb` evaluated with the
    exact spectral derivative of that texture cropped like the frames and
    ``sigma`` in the video's units; it ignores quantisation, whose variance
    (1/12 of a grey level squared at 8 bits) the JSON also records as
    ``crb_var_with_quantization_px2`` (noise variance ``sigma² + 1/12``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from visualmic.synth import synthesize
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "clip.mkv"
    >>> res = synthesize(out, audio="tone", duration=0.1, size=32)
    >>> res.motion.shape, round(float(abs(res.motion).max()), 3)
    ((220,), 0.02)
    """
    from . import __version__

    if rolling_shutter is not None:
        from .sim.rolling import synthesize_rolling

        return synthesize_rolling(
            path, readout=rolling_shutter, audio=audio, fps=fps, duration=duration,
            amplitude=amplitude, direction=direction, size=size, texture=texture,
            noise_sigma=noise_sigma, bit_depth=bit_depth, resonance=resonance, lowpass=lowpass,
            seed=seed, voice=voice, text=text, wpm=wpm, progress=progress)
    video = Path(path)
    if video.suffix.lower() not in (".mkv", ".npy"):
        raise ParameterError(f"output {str(video)!r} must end in .mkv (FFV1) or .npy")
    rate = _number("fps", fps, minimum=0, strict=True)
    amp = _number("amplitude", amplitude, minimum=0)
    theta = _number("direction", direction)
    h, w = _shape2("size", size, minimum=_MIN_SIZE)
    sigma = _number("noise_sigma", noise_sigma, minimum=0)
    depth = _bit_depth(bit_depth)
    if not isinstance(texture, str) or texture not in TEXTURES:
        raise ParameterError(
            f"texture={texture!r} is unknown; choose one of {', '.join(TEXTURES)}"
        )
    rng = _rng(seed)  # validates the seed
    del rng
    audio_is_file = _is_path(audio)
    inputs = (Path(audio),) if audio_is_file else ()
    truth_path, meta_path = sidecar_paths(video)
    for p in (video, truth_path, meta_path):
        check_output_path(p, inputs=inputs)

    s_tex, s_audio, s_noise = (int(x) for x in np.random.SeedSequence(int(seed)).generate_state(3))
    sound, audio_info = _audio_with_info(audio, rate=rate, duration=duration, seed=s_audio,
                                         voice=voice, text=text, wpm=wpm)
    shaped = object_response(sound, rate=rate, resonance=resonance, lowpass=lowpass)
    peak = float(np.max(np.abs(shaped)))
    if peak == 0 or not math.isfinite(peak):
        raise AudioError("the object response turned the audio into silence; change it")
    truth = shaped / peak
    motion = amp * truth
    n = truth.size

    margin = _MARGIN + math.ceil(amp)
    big = tuple(sfft.next_fast_len(s + 2 * margin, real=True) for s in (h, w))
    tex = make_texture(big, kind=texture, seed=s_tex)
    scale = SCALE_16 if depth == 16 else 1
    shifter = _FourierShifter(tex * scale, (h, w), theta)
    clean = np.ascontiguousarray(shifter.crop(tex * scale))
    gx, gy = shifter.gradients()
    crb_var = translation_crb(gx, gy, direction=theta, sigma=sigma * scale)
    crb_var_q = translation_crb(gx, gy, direction=theta,
                                sigma=math.sqrt((sigma * scale) ** 2 + 1 / 12))
    band = (80.0, 1000.0)
    # No part of the band below Nyquist (very low frame rates): the SNR is undefined.
    snr = crb_snr_db(motion, crb_var, rate=rate, band=band) if rate / 2 > band[0] else math.nan

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
