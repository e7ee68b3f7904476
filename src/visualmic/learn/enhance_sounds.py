"""Clean training sounds for the enhancer: speech, music and other content."""

from __future__ import annotations

import math

import numpy as np

from .._errors import ParameterError
from .enhance_config import TRAINING_TEXTS, TRAINING_VOICES

__all__ = ["random_music", "clean_sound", "espeak_available", "KINDS"]

# --------------------------------------------------------------------------- clean sounds


_SCALES = ((0, 2, 4, 5, 7, 9, 11), (0, 2, 3, 5, 7, 8, 10), (0, 2, 4, 7, 9), (0, 3, 5, 7, 10),
           (0, 2, 3, 5, 7, 9, 10))


def _note_wave(f0: float, n: int, rate: float, rng: np.random.Generator, timbre: dict) -> np.ndarray:
    """One note: harmonics with a timbre, optional vibrato and inharmonicity."""
    t = np.arange(n) / rate
    vib = np.zeros(n)
    if timbre["vibrato"] > 0:
        vib = timbre["vibrato"] * np.sin(2 * np.pi * timbre["vibrato_rate"] * t
                                         + rng.uniform(0, 2 * np.pi))
    phase0 = 2 * np.pi * np.cumsum(f0 * (1 + vib)) / rate
    y = np.zeros(n)
    for h, amp in enumerate(timbre["harmonics"], start=1):
        fh = h * f0 * math.sqrt(1 + timbre["inharmonicity"] * h * h)
        if fh >= 0.45 * rate or amp == 0:
            continue
        y += amp * np.sin(phase0 * fh / f0 + rng.uniform(0, 2 * np.pi))
    attack = max(1, int(timbre["attack"] * rate))
    env = np.ones(n)
    env[:attack] = np.linspace(0, 1, attack)[: n]
    if timbre["decay"] is not None:
        env *= np.exp(-t / timbre["decay"])
    rel = min(n, max(1, int(timbre["release"] * rate)))
    env[n - rel:] *= np.linspace(1, 0, rel)
    return y * env


def _timbre(rng: np.random.Generator) -> dict:
    n_h = int(rng.integers(1, 9))
    p = rng.uniform(0.4, 2.5)
    amps = np.arange(1, n_h + 1, dtype=float) ** -p * rng.uniform(0.5, 1.0, n_h)
    if rng.random() < 0.3:  # hollow, clarinet-like: weak even harmonics
        amps[1::2] *= rng.uniform(0.0, 0.3)
    percussive = rng.random() < 0.5
    return {
        "harmonics": amps / amps.max(),
        "inharmonicity": rng.uniform(0, 4e-4) if rng.random() < 0.3 else 0.0,
        "vibrato": rng.uniform(0.002, 0.01) if rng.random() < 0.3 else 0.0,
        "vibrato_rate": rng.uniform(4.0, 7.0),
        "attack": rng.uniform(0.002, 0.015) if percussive else rng.uniform(0.01, 0.08),
        "decay": rng.uniform(0.1, 0.8) if percussive else None,
        "release": rng.uniform(0.01, 0.08),
    }


def random_music(rate: float, n: int, rng: np.random.Generator) -> np.ndarray:
    """Random music: one to three voices of melodies or chords, peak-normalised.

    Each voice walks over a random scale (major, minor, pentatonics, dorian)
    from a random root (fundamentals about 80–600 Hz) with random note lengths
    (a tempo of 0.12–0.5 s per beat, rests), a random timbre (1–8 harmonics with
    a random roll-off, sometimes hollow, inharmonic or with vibrato) and a
    percussive or sustained envelope.

    Parameters
    ----------
    rate : float
        Sampling rate in Hz.
    n : int
        Number of samples.
    rng : np.random.Generator
        Source of randomness.

    Returns
    -------
    np.ndarray [shape=(n,)], float64
        The signal, peak 1.
    """
    scale = _SCALES[int(rng.integers(len(_SCALES)))]
    root = float(rng.uniform(43, 62))  # MIDI: ~98 Hz to ~294 Hz
    beat = rng.uniform(0.12, 0.5)
    n_voices = int(rng.choice([1, 1, 1, 2, 2, 3]))
    y = np.zeros(n)
    for v in range(n_voices):
        timbre = _timbre(rng)
        octave = 12 * int(rng.integers(0, 2)) + (12 if v > 0 and rng.random() < 0.5 else 0)
        degree = int(rng.integers(0, len(scale)))
        pos = 0
        gain = rng.uniform(0.4, 1.0)
        while pos < n:
            beats = float(rng.choice([0.5, 1, 1, 1, 1.5, 2, 3]))
            m = min(n - pos, max(1, int(beats * beat * rate)))
            if rng.random() > 0.1:  # otherwise a rest
                degree += int(rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]))
                degree = int(np.clip(degree, -len(scale), 2 * len(scale)))
                o, d = divmod(degree, len(scale))
                midi = root + octave + 12 * o + scale[d]
                f0 = 440.0 * 2 ** ((midi - 69) / 12)
                if f0 < 0.4 * rate:
                    y[pos:pos + m] += gain * _note_wave(f0, m, rate, rng, timbre)
            pos += m
    peak = np.max(np.abs(y))
    return y / peak if peak > 0 else y


#: Every kind of clean sound :func:`clean_sound` makes.
KINDS = ("speech", "voice", "music", "melody", "other", "plucked", "bowed", "percussion", "hum",
         "noise", "silence")


def espeak_available() -> bool:
    """Whether espeak-ng (needed for ``"speech"``) is on the ``PATH``."""
    import shutil

    return shutil.which("espeak-ng") is not None


def _generators() -> dict:
    from . import enhance_content as ec

    return {"music": random_music, "plucked": ec.plucked_strings, "bowed": ec.bowed_strings,
            "percussion": ec.percussion, "hum": ec.hum, "noise": ec.band_noise, "voice": ec.voice,
            "silence": lambda rate, n, rng: np.zeros(n)}


def _speech(rate: float, duration: float, seed: int, rng: np.random.Generator, info: dict,
            held_out: bool) -> np.ndarray:
    """espeak-ng speech with a training voice and text (or synth's held-out ones)."""
    from ..synth import make_audio

    n = int(round(rate * duration))
    if held_out:
        y = make_audio("speech", rate=rate, duration=duration, seed=seed)
    else:
        voice = TRAINING_VOICES[int(rng.integers(len(TRAINING_VOICES)))]
        order = rng.permutation(len(TRAINING_TEXTS))[:4]
        text = " ".join(TRAINING_TEXTS[i] for i in order)
        wpm = int(rng.integers(120, 231))
        info.update(voice=voice, wpm=wpm)
        try:
            y = make_audio("speech", rate=rate, duration=duration, seed=seed, voice=voice,
                           text=text, wpm=wpm)
        except ParameterError as exc:
            if "not installed" in str(exc):  # not a voice problem: espeak-ng is missing
                raise
            # a voice this espeak-ng lacks: fall back to its base voice
            y = make_audio("speech", rate=rate, duration=duration, seed=seed,
                           voice=voice.split("+")[0], text=text, wpm=wpm)
    # start with a random amount of the sentence already spoken (less leading silence)
    if rng.random() < 0.5:
        k = int(rng.integers(0, max(1, n // 4)))
        y = np.concatenate([y[k:], np.zeros(k)])
    return y


def clean_sound(kind: str, *, rate: float, duration: float, rng: np.random.Generator,
                held_out: bool = False) -> tuple[np.ndarray, dict]:
    """One clean motion signal (peak 1; silence: zeros), shaped by a random object response.

    Parameters
    ----------
    kind : str
        One of :data:`KINDS`.  ``"speech"``: espeak-ng with a training voice
        and text (or, with ``held_out``, :mod:`visualmic.synth`'s own voices
        and texts); without espeak-ng it is replaced by ``"voice"`` (see
        ``info["replaced"]``).  ``"music"``: :func:`random_music`;
        ``"melody"``: the built-in melody of :func:`visualmic.synth.make_audio`;
        ``"other"``: a tone, four tones or a chirp; ``"plucked"``, ``"bowed"``,
        ``"percussion"``, ``"hum"``, ``"noise"``, ``"voice"``: the generators of
        :mod:`visualmic.learn.enhance_content`; ``"silence"``: zeros.
    rate : float
        Sampling rate in Hz.
    duration : float
        Seconds.
    rng : np.random.Generator
        Source of randomness.
    held_out : bool, optional
        Use the held-out voices and texts for speech (validation and benchmarks).

    Returns
    -------
    signal : np.ndarray [shape=(round(rate·duration),)]
        Peak-normalised signal.
    info : dict
        What was drawn (kind, voice, text, response).
    """
    from ..synth import make_audio, object_response

    n = int(round(rate * duration))
    seed = int(rng.integers(2**31))
    info: dict = {"kind": kind}
    gens = _generators()
    if kind == "speech" and not espeak_available():
        kind = "voice"
        info["replaced"] = "speech -> voice (espeak-ng is not installed)"
    if kind == "speech":
        y = _speech(rate, duration, seed, rng, info, held_out)
    elif kind == "melody":
        y = make_audio("melody", rate=rate, duration=duration, seed=seed)
    elif kind == "other":
        sub = str(rng.choice(["tone", "tones", "chirp"]))
        info["sub"] = sub
        y = make_audio(sub, rate=rate, duration=duration, seed=seed,
                       frequency=float(rng.uniform(min(90, 0.2 * rate), 0.42 * rate)))
        if sub == "tone":
            y = y * (0.5 + 0.5 * np.abs(np.sin(np.pi * np.arange(n) / rate / rng.uniform(0.3, 2))))
    elif kind in gens:
        y = gens[kind](rate, n, rng)
    else:
        raise ParameterError(f"kind={kind!r} must be one of {', '.join(KINDS)}")
    u = rng.random()
    resonance = lowpass = None
    if u < 0.25:
        resonance = (float(rng.uniform(min(120, 0.2 * rate), 0.4 * rate)), float(rng.uniform(1.5, 20)))
    elif u < 0.45:
        lowpass = float(rng.uniform(min(250, 0.3 * rate), 0.45 * rate))
    info.update(resonance=resonance, lowpass=lowpass)
    if np.any(y):
        y = object_response(y, rate=rate, resonance=resonance, lowpass=lowpass)
    peak = np.max(np.abs(y))
    return (y / peak if peak > 0 else y), info
