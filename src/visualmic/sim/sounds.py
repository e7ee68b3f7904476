"""Sounds with known truth: tones, chirps, melodies, speech (espeak-ng) or a WAV; object response."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .._errors import AudioError, InputFileError, ParameterError, VisualMicWarning
from .._validate import finite_number as _number
from ..core import post
from ._common import make_rng

__all__ = ["AUDIO_KINDS", "SPEECH_TEXTS", "SPEECH_VOICES", "make_audio", "audio_with_info", "is_audio_path",
           "object_response"]

#: Built-in audio sources of :func:`make_audio` (a path to a WAV file is also accepted).
AUDIO_KINDS = ("tone", "tones", "chirp", "melody", "speech")

SPEECH_TEXTS = (
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
SPEECH_VOICES = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-029", "en-us+f3",
                  "en-us+m3", "en-us-nyc")

# "Mary had a little lamb": (semitones above C4, beats).
_MELODY = (
    (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 2),
    (2, 1), (2, 1), (2, 2), (4, 1), (7, 1), (7, 2),
    (4, 1), (2, 1), (0, 1), (2, 1), (4, 1), (4, 1), (4, 1), (4, 1),
    (2, 1), (2, 1), (4, 1), (2, 1), (0, 4),
)
_C4 = 261.6255653005986


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


def _speech(rate: float, duration: float, rng: np.random.Generator, *, voice, text,
            wpm) -> tuple[np.ndarray, dict]:
    if voice is None:
        voice = SPEECH_VOICES[int(rng.integers(len(SPEECH_VOICES)))]
    if wpm is None:
        wpm = int(rng.integers(140, 191))
    else:
        wpm = int(_number("wpm", wpm, minimum=80))
        if wpm > 450:
            raise ParameterError(f"wpm={wpm} must be between 80 and 450 words per minute")
    if text is None:
        order = rng.permutation(len(SPEECH_TEXTS))
        words, parts = 0, []
        for k in order:  # enough sentences to fill the duration at this rate
            parts.append(SPEECH_TEXTS[k])
            words += len(SPEECH_TEXTS[k].split())
            if words * 60.0 / wpm >= duration + 1.0:
                break
        text = " ".join(parts)
    elif not str(text).strip():
        raise ParameterError("text='' is empty; give words for espeak-ng to speak")
    y, sr = _espeak(str(text), str(voice), wpm)
    return post.resample(y, sr, rate, padtype="constant"), {"voice": str(voice), "text": str(text), "wpm": wpm}


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
    return post.resample(y.mean(axis=1), sr, rate, padtype="constant")


def is_audio_path(kind) -> bool:
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
    y, _ = audio_with_info(kind, rate=rate, duration=duration, seed=seed, frequency=frequency,
                            voice=voice, text=text, wpm=wpm)
    return y


def audio_with_info(kind, *, rate, duration, seed, frequency=440.0, voice=None, text=None,
                     wpm=None) -> tuple[np.ndarray, dict]:
    """:func:`make_audio`, also returning the choices it made (for the JSON record)."""
    from scipy import signal as ssig

    fs = _number("rate", rate, minimum=0, strict=True)
    rng = make_rng(seed)
    path = Path(kind) if is_audio_path(kind) else None
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
