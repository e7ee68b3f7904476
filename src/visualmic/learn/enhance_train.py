"""Training the hybrid enhancer on synthetic visual-microphone data generated on the fly.

Data
----
Rendering and recovering a video is the expensive part (tens of seconds per
clip on a CPU), while the classical estimate is, to a very good approximation,
the true motion plus noise that does not depend on the sound.  Training data
are therefore made in two stages, both cached on disk and reused across runs:

1. **Clean sounds** (:func:`build_audio_bank`): speech from espeak-ng with
   training voices, rates and texts; random music (melodies and chords with
   random scales, tempi, timbres, envelopes and vibrato); tones, chords of
   tones and chirps; each shaped by a random object response (none, a
   resonance or a low-pass) and high-passed like the classical output.
2. **Classical estimates of rendered videos** (:func:`build_render_bank`):
   videos rendered with :mod:`visualmic.sim.synthesize` in memory (random training
   textures, 96–176 px, directions, sensor noise σ = 0.5–3 grey levels, 8 or
   16 bits, 0.003–0.1 px of motion driven by a clean sound), recovered with
   :func:`visualmic.recover` at default settings.  Each is fitted to its known
   motion; the residual is that video's estimation noise, in pixels.

Each training example is then made on the fly (:class:`ExampleSampler`): a
random crop of a clean sound, scaled to a random in-band SNR (80–1000 Hz)
against a random crop of a rendered video's estimation noise (random sign and
time direction, sometimes the mixture of two), and high-passed.  The
validation set (:func:`build_validation`) is *not* remixed: whole rendered
videos of held-out textures (``VALIDATION_TEXTURES``), voices and texts (the
defaults of :mod:`visualmic.sim.synthesize`, none of which is used for training), the
built-in melody and music from a separate seed stream, at 0.005–0.05 px and
σ = 1–2, scored like the project's bar: SNR in 80–1000 Hz after a
least-squares fit at the best lag within ±3 samples.

Loss
----
Negative SI-SDR (a monotonic function of the least-squares SNR of the
evaluation) of the 80–1000 Hz band, in dB, plus a multi-resolution STFT loss
(spectral convergence + log magnitude, windows 64/128/256) on the full band.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .._errors import ParameterError
from .._progress import ProgressCallback, report
from .enhance import (
    EnhancerConfig,
    EnhancerNet,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
    torch_threads,
)

__all__ = [
    "TrainConfig",
    "TRAINING_TEXTURES",
    "VALIDATION_TEXTURES",
    "TRAINING_VOICES",
    "TRAINING_TEXTS",
    "random_music",
    "clean_sound",
    "build_audio_bank",
    "render_clip",
    "build_render_bank",
    "build_validation",
    "ExampleSampler",
    "si_sdr",
    "band_si_sdr",
    "multires_stft_loss",
    "enhancer_loss",
    "validate",
    "train_enhancer",
]

#: Textures rendered for training (the rest of :data:`visualmic.sim.synthesize.TEXTURES` is held out).
TRAINING_TEXTURES = ("noise", "camera", "astronaut", "brick", "grass", "coffee", "chelsea",
                     "moon", "text")
#: Textures of the validation videos (never rendered for training; "noise" with other seeds).
VALIDATION_TEXTURES = ("gravel", "rocket", "coins", "page", "immunohistochemistry", "noise")

# espeak-ng voices for training: base voices and variants that are NOT among the
# defaults of visualmic.sim.synthesize (en-us, en-gb, en-gb-scotland, en-gb-x-rp, en-029,
# en-us+f3, en-us+m3, en-us-nyc), which are kept for validation and benchmarks.
_TRAIN_BASES = ("en-gb-x-gbclan", "en-gb-x-gbcwmd", "de", "fr-fr", "es", "it", "nl", "pl",
                "sv", "pt-br", "cs", "fi")
_TRAIN_VARIANTS = ("", "m1", "m2", "m4", "m5", "m6", "m7", "f1", "f2", "f4", "f5", "klatt",
                   "klatt2", "klatt4", "Andy", "Annie", "belinda", "david", "linda", "max",
                   "paul", "robert", "steph", "grandma", "grandpa", "croak", "whisper")
#: Every training voice ``base+variant``.
TRAINING_VOICES = tuple(b + (f"+{v}" if v else "") for b in _TRAIN_BASES for v in _TRAIN_VARIANTS)

#: Training sentences (none is among :mod:`visualmic.sim.synthesize`'s built-in texts).
TRAINING_TEXTS = (
    "Bright sunlight fell across the wooden table in the quiet kitchen.",
    "Please remember to close the window before the storm arrives tonight.",
    "The orchestra tuned their instruments while the audience found their seats.",
    "A small boat drifted slowly toward the rocky shore at dawn.",
    "Numbers like seven, forty two and nine hundred appear in the report.",
    "Can you hear the difference between a violin and a viola?",
    "The library closes at six o'clock on weekdays and noon on Sundays.",
    "Heavy trucks rumbled over the old bridge near the railway station.",
    "She painted the fence green, then changed her mind and painted it blue.",
    "Every morning the baker lights the oven long before sunrise.",
    "Glass vibrates when sound waves strike its surface.",
    "The committee will meet again next Thursday to discuss the budget.",
    "Thunder rolled across the valley and the dogs began to bark.",
    "Fresh bread, ripe cheese and cold water made a perfect lunch.",
    "Our flight was delayed by three hours because of fog.",
    "He whispered the password and the heavy door swung open.",
    "Measure twice and cut once, as the old carpenter always said.",
    "The children counted the stars until they fell asleep.",
    "Turn left at the fountain and walk two blocks to the museum.",
    "Wind turbines spun steadily on the hills above the town.",
    "A cup of hot tea is the best cure for a rainy afternoon.",
    "The detective examined the muddy footprints with great care.",
    "Silver fish darted between the reeds in the clear stream.",
    "Do not forget to water the tomatoes while I am away.",
    "The speaker paused, cleared his throat, and began again.",
    "Seventeen students passed the exam with excellent marks.",
    "Autumn leaves crunched under our boots on the forest path.",
    "The clock on the tower struck twelve and the square fell silent.",
    "Why would anyone leave a piano in the middle of the road?",
    "Light travels much faster than sound through the air.",
    "My grandmother kept every letter she ever received.",
    "The engine coughed twice and then started with a roar.",
    "Quiet voices drifted from the room at the end of the hall.",
    "Zebras, giraffes and elephants gathered at the water hole.",
    "The recipe calls for two eggs, a spoon of sugar and some flour.",
    "Snow covered the mountains long before the first day of winter.",
    "A single candle flickered in the draughty hallway.",
    "Jump over the puddle, not into it, if you want dry socks.",
    "The market was crowded with people buying fruit and flowers.",
    "Radio signals bounced off the clouds and reached the distant ship.",
)

_RATE = 2200.0
_BAND = (80.0, 1000.0)


# --------------------------------------------------------------------------- configuration


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint).

    Attributes
    ----------
    steps : int
        Optimiser steps (the learning rate follows a cosine over them).
    batch_size : int
        Examples per step.
    segment : float
        Seconds per training example.
    learning_rate : float
        Peak learning rate of Adam.
    warmup : int
        Linear warm-up steps.
    grad_clip : float
        Gradient norm clipping.
    stft_weight : float
        Weight of the multi-resolution STFT loss (the SI-SDR term is in dB).
    val_every : int
        Steps between validations (and checkpoints).
    seed : int
        Seeds data generation, initialisation and sampling.
    rate : float
        Sampling rate (Hz) of the data (the video frame rate).
    n_speech, n_music, n_other : int
        Clean sounds in the audio bank, per kind.
    clip_seconds : float
        Length of each clean sound.
    n_renders : int
        Rendered and recovered training videos (noise bank).
    render_seconds : float
        Length of each.
    render_sizes : tuple of int
        Smallest and largest frame side (px) of the rendered videos.
    n_val : int
        Validation videos.
    val_seconds : float
        Length of each validation video.
    val_sizes : tuple of int
        Frame side range of validation videos.
    snr_db : tuple of float
        Main in-band SNR range of training mixtures (dB), drawn 75% of the time.
    snr_db_wide : tuple of float
        Wider range drawn the other 25%.
    threads : int
        Torch threads during training (1 is fastest on a busy 2-core machine).
    """

    steps: int = 4000
    batch_size: int = 16
    segment: float = 2.0
    learning_rate: float = 2e-3
    warmup: int = 150
    grad_clip: float = 5.0
    stft_weight: float = 1.0
    val_every: int = 200
    seed: int = 0
    rate: float = _RATE
    n_speech: int = 500
    n_music: int = 400
    n_other: int = 100
    clip_seconds: float = 4.0
    n_renders: int = 24
    render_seconds: float = 2.5
    render_sizes: tuple = (96, 176)
    n_val: int = 12
    val_seconds: float = 3.0
    val_sizes: tuple = (112, 160)
    snr_db: tuple = (3.0, 33.0)
    snr_db_wide: tuple = (-8.0, 45.0)
    threads: int = 1

    def __post_init__(self):
        for name in ("steps", "batch_size", "val_every", "n_renders", "n_val", "threads",
                     "warmup"):
            v = getattr(self, name)
            ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            if not ok or v < (0 if name == "warmup" else 1):
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        for name in ("n_speech", "n_music", "n_other"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ParameterError(f"{name}={v!r} must be an integer >= 0")
        if self.n_speech + self.n_music + self.n_other < 1:
            raise ParameterError("n_speech + n_music + n_other must be at least 1")
        for name in ("segment", "learning_rate", "clip_seconds", "render_seconds",
                     "val_seconds", "rate"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (
                math.isfinite(v) and v > 0
            ):
                raise ParameterError(f"{name}={v!r} must be a positive number")
        if self.segment > min(self.clip_seconds, self.render_seconds):
            raise ParameterError(
                f"segment={self.segment} s must not exceed clip_seconds={self.clip_seconds} "
                f"and render_seconds={self.render_seconds}"
            )
        if self.rate * self.segment < 256:
            raise ParameterError(
                f"segment={self.segment} s at rate={self.rate} Hz is too short; need 256 samples"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ParameterError(f"seed={self.seed!r} must be a non-negative integer")
        for name in ("render_sizes", "val_sizes"):
            lo, hi = getattr(self, name)
            if not 16 <= lo <= hi:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be (lo, hi), 16 <= lo <= hi")

    def to_dict(self) -> dict:
        """Plain-type dictionary."""
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)

    def data_key(self) -> dict:
        """The fields that define the cached data banks."""
        keys = ("seed", "rate", "n_speech", "n_music", "n_other", "clip_seconds", "n_renders",
                "render_seconds", "render_sizes", "n_val", "val_seconds", "val_sizes")
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in
                ((k, getattr(self, k)) for k in keys)}


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


def clean_sound(kind: str, *, rate: float, duration: float, rng: np.random.Generator,
                held_out: bool = False) -> tuple[np.ndarray, dict]:
    """One clean motion signal (peak 1), shaped by a random object response.

    Parameters
    ----------
    kind : {"speech", "music", "melody", "other"}
        ``"speech"``: espeak-ng with a training voice and text (or, with
        ``held_out``, :mod:`visualmic.sim.synthesize`'s own voices and texts);
        ``"music"``: :func:`random_music`; ``"melody"``: the built-in melody of
        :func:`visualmic.sim.synthesize.make_audio`; ``"other"``: a tone, four tones or a
        chirp.
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
    from ..sim.synthesize import make_audio, object_response

    n = int(round(rate * duration))
    seed = int(rng.integers(2**31))
    info: dict = {"kind": kind}
    if kind == "speech":
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
            except ParameterError:  # a voice this espeak-ng lacks: fall back to a base voice
                y = make_audio("speech", rate=rate, duration=duration, seed=seed,
                               voice=voice.split("+")[0], text=text, wpm=wpm)
        # start with a random amount of the sentence already spoken (less leading silence)
        if rng.random() < 0.5:
            k = int(rng.integers(0, max(1, n // 4)))
            y = np.concatenate([y[k:], np.zeros(k)])
    elif kind == "music":
        y = random_music(rate, n, rng)
    elif kind == "melody":
        y = make_audio("melody", rate=rate, duration=duration, seed=seed)
    elif kind == "other":
        sub = str(rng.choice(["tone", "tones", "chirp"]))
        info["sub"] = sub
        y = make_audio(sub, rate=rate, duration=duration, seed=seed,
                       frequency=float(rng.uniform(90, 0.42 * rate)))
        if sub == "tone":
            y = y * (0.5 + 0.5 * np.abs(np.sin(np.pi * np.arange(n) / rate / rng.uniform(0.3, 2))))
    else:
        raise ParameterError(f"kind={kind!r} must be one of speech, music, melody, other")
    u = rng.random()
    resonance = lowpass = None
    if u < 0.25:
        resonance = (float(rng.uniform(120, 0.4 * rate)), float(rng.uniform(1.5, 20)))
    elif u < 0.45:
        lowpass = float(rng.uniform(250, 0.45 * rate))
    info.update(resonance=resonance, lowpass=lowpass)
    y = object_response(y, rate=rate, resonance=resonance, lowpass=lowpass)
    peak = np.max(np.abs(y))
    return (y / peak if peak > 0 else y), info


def _highpass(y: np.ndarray, rate: float) -> np.ndarray:
    from ..core.post import highpass

    return highpass(y, rate, cutoff=20.0)


def _cached(path: Path, key: dict):
    """Return the npz at ``path`` if its stored key equals ``key``, else None."""
    if not path.is_file():
        return None
    try:
        data = np.load(path, allow_pickle=False)
        if json.loads(str(data["key"])) == key:
            return data
    except Exception:  # a stale or partial cache is rebuilt
        return None
    return None


def _save_npz(path: Path, **arrays) -> None:
    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def build_audio_bank(cache: Path, cfg: TrainConfig, *, progress: ProgressCallback | None = None,
                     log=None) -> np.ndarray:
    """Make (or load from ``cache``) the bank of clean training sounds.

    Returns
    -------
    np.ndarray [shape=(n_speech + n_music + n_other, round(rate·clip_seconds)), float32]
        High-passed (20 Hz) clean sounds, peak about 1.
    """
    cache = Path(cache)
    path = cache / "audio_bank.npz"
    key = {"what": "audio", **cfg.data_key()}
    hit = _cached(path, key)
    if hit is not None:
        return hit["clips"]
    kinds = ["speech"] * cfg.n_speech + ["music"] * cfg.n_music + ["other"] * cfg.n_other
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([cfg.seed, 1]).spawn(len(kinds))]
    n = int(round(cfg.rate * cfg.clip_seconds))
    clips = np.zeros((len(kinds), n), dtype=np.float32)
    for i, (kind, rng) in enumerate(zip(kinds, rngs)):
        y, _ = clean_sound(kind, rate=cfg.rate, duration=cfg.clip_seconds, rng=rng)
        clips[i] = _highpass(y, cfg.rate)
        report(progress, i + 1, len(kinds))
    _save_npz(path, clips=clips, key=json.dumps(key))
    if log:
        log(f"audio bank: {len(kinds)} clean sounds of {cfg.clip_seconds:g} s -> {path}")
    return clips


# --------------------------------------------------------------------------- rendering


def render_clip(clean: np.ndarray, *, rate: float, amplitude: float, size: int, texture: str,
                sigma: float, bit_depth: int, direction: float, seed: int) -> dict:
    """Render a video of a surface moved by ``amplitude · clean`` and recover it classically.

    The frames are rendered in memory with :func:`visualmic.sim.synthesize.render_frames`
    and recovered with :func:`visualmic.recover` at its default settings.

    Parameters
    ----------
    clean : np.ndarray [shape=(T,)]
        The motion signal, peak 1.
    rate : float
        Frame rate in Hz.
    amplitude : float
        Peak motion in pixels.
    size : int
        Frame side in pixels.
    texture : str
        A :data:`visualmic.sim.synthesize.TEXTURES` kind.
    sigma : float
        Sensor noise, 8-bit grey levels.
    bit_depth : {8, 16}
        Quantisation.
    direction : float
        Degrees.
    seed : int
        Seeds texture and noise.

    Returns
    -------
    dict
        ``estimate`` (the classical signal: high-passed combination, fitted to
        pixels by least squares), ``target`` (the true motion, high-passed, px),
        ``noise`` (their difference), ``crb_snr_db`` (the bound of this
        video in 80–1000 Hz) and the parameters.
    """
    from scipy import fft as sfft

    from ..engine.recover import recover
    from ..sim.bounds import crb_snr_db, periodic_gradients, translation_crb
    from ..sim.synthesize import make_texture, render_frames

    motion = amplitude * np.asarray(clean, dtype=np.float64)
    margin = 16 + math.ceil(amplitude)
    big = sfft.next_fast_len(size + 2 * margin, real=True)
    s_tex, s_noise = np.random.SeedSequence(seed).generate_state(2)
    tex = make_texture((big, big), kind=texture, seed=int(s_tex))
    frames = np.concatenate(list(render_frames(
        tex, motion, direction=direction, size=size, noise_sigma=sigma, bit_depth=bit_depth,
        seed=int(s_noise))))
    rec = recover(frames, fps=rate)
    est = _highpass(rec.motion, rate)
    target = _highpass(motion, rate)
    g = float(est @ target) / float(target @ target)
    est = est / g
    scale = 257 if bit_depth == 16 else 1
    gx, gy = periodic_gradients(tex * scale)
    top = (big - size) // 2
    crop = (slice(top, top + size), slice(top, top + size))
    crb = translation_crb(gx[crop], gy[crop], direction=direction, sigma=sigma * scale)
    return {
        "estimate": est,
        "target": target,
        "noise": est - target,
        "crb_snr_db": crb_snr_db(motion, crb, rate=rate, band=_BAND),
        "amplitude": amplitude,
        "size": size,
        "texture": texture,
        "sigma": sigma,
        "bit_depth": bit_depth,
        "direction": direction,
    }


def _render_params(rng: np.random.Generator, textures, sizes, amp_range, sigma_range) -> dict:
    lo, hi = sizes
    return {
        "size": int(rng.integers(lo // 8, hi // 8 + 1) * 8),
        "texture": str(textures[int(rng.integers(len(textures)))]),
        "sigma": float(rng.uniform(*sigma_range)),
        "bit_depth": int(rng.choice([8, 16])),
        "direction": float(rng.uniform(0, 360)),
        "amplitude": float(np.exp(rng.uniform(np.log(amp_range[0]), np.log(amp_range[1])))),
        "seed": int(rng.integers(2**31)),
    }


def build_render_bank(cache: Path, cfg: TrainConfig, *, progress: ProgressCallback | None = None,
                      log=None) -> list[np.ndarray]:
    """Render and recover the training videos; return their estimation noise (px).

    Each video is cached as its own file (``render_XXX.npz``), so an
    interrupted build resumes where it stopped.

    Returns
    -------
    list of np.ndarray [shape=(round(rate·render_seconds),)], float32
        Estimation noise of each video in pixels (estimate minus true motion).
    """
    cache = Path(cache)
    key = {"what": "render", **cfg.data_key()}
    kinds = ("speech", "music", "other")
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([cfg.seed, 2]).spawn(cfg.n_renders)]
    out = []
    for i, rng in enumerate(rngs):
        path = cache / f"render_{i:03d}.npz"
        hit = _cached(path, {**key, "index": i})
        if hit is None:
            t0 = time.perf_counter()
            kind = kinds[i % len(kinds)] if i % 4 else "speech"
            clean, _ = clean_sound(kind, rate=cfg.rate, duration=cfg.render_seconds, rng=rng)
            p = _render_params(rng, TRAINING_TEXTURES, cfg.render_sizes, (0.003, 0.1), (0.5, 3.0))
            r = render_clip(clean, rate=cfg.rate, **p)
            _save_npz(path, noise=r["noise"].astype(np.float32),
                      estimate=r["estimate"].astype(np.float32),
                      target=r["target"].astype(np.float32),
                      params=json.dumps({**p, "crb_snr_db": r["crb_snr_db"]}),
                      key=json.dumps({**key, "index": i}))
            hit = np.load(path, allow_pickle=False)
            if log:
                log(f"render {i + 1}/{cfg.n_renders}: {p['texture']} {p['size']} px, "
                    f"sigma {p['sigma']:.2f}, {p['bit_depth']}-bit, {p['amplitude']:.4f} px "
                    f"({time.perf_counter() - t0:.1f} s)")
        out.append(np.asarray(hit["noise"], dtype=np.float32))
        report(progress, i + 1, cfg.n_renders)
    return out


def build_validation(cache: Path, cfg: TrainConfig, *, progress: ProgressCallback | None = None,
                     log=None) -> list[dict]:
    """Render and recover the held-out validation videos (cached like the render bank).

    Speech uses :mod:`visualmic.sim.synthesize`'s own voices and texts (never used for
    training), music is the built-in melody or :func:`random_music` from a
    separate seed stream, textures are :data:`VALIDATION_TEXTURES`, motion
    0.005–0.05 px, sensor noise σ = 1–2.

    Returns
    -------
    list of dict
        ``estimate`` and ``target`` (float32, px) and ``params`` per video.
    """
    cache = Path(cache)
    key = {"what": "validation", **cfg.data_key()}
    kinds = ("speech", "melody", "speech", "music")
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([cfg.seed, 3]).spawn(cfg.n_val)]
    out = []
    for i, rng in enumerate(rngs):
        path = cache / f"val_{i:03d}.npz"
        hit = _cached(path, {**key, "index": i})
        if hit is None:
            t0 = time.perf_counter()
            kind = kinds[i % len(kinds)]
            clean, info = clean_sound(kind, rate=cfg.rate, duration=cfg.val_seconds, rng=rng,
                                      held_out=True)
            p = _render_params(rng, VALIDATION_TEXTURES, cfg.val_sizes, (0.005, 0.05), (1.0, 2.0))
            r = render_clip(clean, rate=cfg.rate, **p)
            params = {**p, "kind": kind, "crb_snr_db": r["crb_snr_db"]}
            _save_npz(path, estimate=r["estimate"].astype(np.float32),
                      target=r["target"].astype(np.float32), params=json.dumps(params),
                      key=json.dumps({**key, "index": i}))
            hit = np.load(path, allow_pickle=False)
            if log:
                log(f"validation {i + 1}/{cfg.n_val}: {kind}, {p['texture']} {p['size']} px, "
                    f"sigma {p['sigma']:.2f}, {p['amplitude']:.4f} px "
                    f"({time.perf_counter() - t0:.1f} s)")
        out.append({"estimate": np.asarray(hit["estimate"]), "target": np.asarray(hit["target"]),
                    "params": json.loads(str(hit["params"]))})
        report(progress, i + 1, cfg.n_val)
    return out


# --------------------------------------------------------------------------- examples


def _band_power(y: np.ndarray, rate: float) -> float:
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1.0 / rate)
    keep = (f >= _BAND[0]) & (f <= min(_BAND[1], rate / 2))
    return float(np.sum(np.abs(spec[keep]) ** 2)) / y.size + 1e-30


class ExampleSampler:
    """Makes training batches: clean crops mixed with rendered estimation noise.

    Parameters
    ----------
    clips : np.ndarray [shape=(n_clips, n)]
        Clean sounds (:func:`build_audio_bank`).
    noises : list of np.ndarray
        Estimation noise of rendered videos (:func:`build_render_bank`).
    cfg : TrainConfig
        Segment length, SNR ranges, rate.

    Notes
    -----
    :meth:`batch` takes the step number and draws everything from
    ``default_rng([seed, step])``: a resumed run sees the same batches.
    """

    def __init__(self, clips: np.ndarray, noises: list, cfg: TrainConfig):
        self.clips = clips
        self.noises = [n for n in noises if n.size >= int(round(cfg.segment * cfg.rate))]
        if not self.noises:
            raise ParameterError("no rendered video is as long as one training segment")
        self.cfg = cfg
        self.n = int(round(cfg.segment * cfg.rate))

    def _clean(self, rng: np.random.Generator) -> np.ndarray:
        for _ in range(20):
            c = self.clips[int(rng.integers(len(self.clips)))]
            start = int(rng.integers(0, c.size - self.n + 1))
            x = np.asarray(c[start:start + self.n], dtype=np.float64)
            if np.sqrt(np.mean(x * x)) > 0.02:  # skip near-silent crops
                return x
        return x

    def _noise(self, rng: np.random.Generator) -> np.ndarray:
        def one():
            nz = self.noises[int(rng.integers(len(self.noises)))]
            start = int(rng.integers(0, nz.size - self.n + 1))
            x = np.asarray(nz[start:start + self.n], dtype=np.float64)
            x = x / (np.std(x) + 1e-30)
            if rng.random() < 0.5:
                x = x[::-1]
            return x * rng.choice([-1.0, 1.0])

        x = one()
        if rng.random() < 0.3:
            x = (x + one()) / math.sqrt(2)
        return x

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets ``(batch_size, n)`` float32 for optimiser step ``step``."""
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, 7, int(step)])
        xs, ts = [], []
        for _ in range(cfg.batch_size):
            c = self._clean(rng)
            nz = self._noise(rng)
            snr = rng.uniform(*(cfg.snr_db if rng.random() < 0.75 else cfg.snr_db_wide))
            a = math.sqrt(_band_power(nz, cfg.rate) * 10 ** (snr / 10) / _band_power(c, cfg.rate))
            gain = math.exp(rng.uniform(-3, 3))  # the network must not care about units
            ts.append(gain * a * c)
            xs.append(gain * (a * c + nz))
        return (torch.from_numpy(np.stack(xs).astype(np.float32)),
                torch.from_numpy(np.stack(ts).astype(np.float32)))


# --------------------------------------------------------------------------- losses


def si_sdr(estimate: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Scale-invariant SDR in dB per row ``(B, n) -> (B,)``: ``10 log10(ρ² / (1 − ρ²))``.

    ρ is the normalised correlation of estimate and target.  The SNR after the
    least-squares scaling of :func:`visualmic.eval.metrics.snr` (the project's bar)
    is ``10 log10(1 / (1 − ρ²))``, a monotonic function of it:
    ``SNR = 10 log10(1 + 10^(SI-SDR / 10))``, so maximising one maximises the other.
    """
    dot = (estimate * target).sum(-1)
    ee = (estimate * estimate).sum(-1)
    tt = (target * target).sum(-1)
    rho2 = dot * dot / (ee * tt + eps * eps)
    rho2 = rho2.clamp(0.0, 1.0 - 1e-7)
    return 10 * torch.log10(rho2 / (1 - rho2) + eps)


def _band_limit(y: torch.Tensor, rate: float, band=_BAND) -> torch.Tensor:
    n = y.shape[-1]
    spec = torch.fft.rfft(y)
    f = torch.fft.rfftfreq(n, 1.0 / rate)
    mask = ((f >= band[0]) & (f <= band[1])).to(spec.dtype)
    return torch.fft.irfft(spec * mask, n=n)


def band_si_sdr(estimate: torch.Tensor, target: torch.Tensor, *, rate: float,
                band=_BAND) -> torch.Tensor:
    """SI-SDR (dB) of the ``band`` (Hz, ideal FFT band-pass) of each row ``(B, n) -> (B,)``."""
    return si_sdr(_band_limit(estimate, rate, band), _band_limit(target, rate, band))


def multires_stft_loss(estimate: torch.Tensor, target: torch.Tensor,
                       resolutions=((64, 16), (128, 32), (256, 64))) -> torch.Tensor:
    """Multi-resolution STFT loss (spectral convergence + L1 log magnitude), a scalar.

    Both signals are divided by the target's RMS first, so the loss does not
    depend on units.
    """
    scale = target.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-12)
    e, t = estimate / scale, target / scale
    total = estimate.new_zeros(())
    for n_fft, hop in resolutions:
        w = torch.hann_window(n_fft, device=e.device)
        E = torch.stft(e, n_fft, hop, window=w, return_complex=True).abs()
        T = torch.stft(t, n_fft, hop, window=w, return_complex=True).abs()
        sc = torch.linalg.vector_norm(T - E, dim=(-2, -1)) / torch.linalg.vector_norm(
            T, dim=(-2, -1)).clamp_min(1e-8)
        floor = 1e-3 * math.sqrt(n_fft)
        logmag = (torch.log(T + floor) - torch.log(E + floor)).abs().mean(dim=(-2, -1))
        total = total + (sc + logmag).mean()
    return total / len(resolutions)


def enhancer_loss(estimate: torch.Tensor, target: torch.Tensor, *, rate: float,
                  stft_weight: float = 1.0) -> torch.Tensor:
    """Training loss: ``−mean band SI-SDR (dB) + stft_weight · multi-resolution STFT loss``."""
    loss = -band_si_sdr(estimate, target, rate=rate).mean()
    if stft_weight:
        loss = loss + stft_weight * multires_stft_loss(estimate, target)
    return loss


# --------------------------------------------------------------------------- validation


def _baselines(val: list[dict], rate: float) -> list[dict]:
    from ..core.post import spectral_subtraction
    from ..eval.metrics import snr

    out = []
    for v in val:
        est, tgt = v["estimate"].astype(np.float64), v["target"].astype(np.float64)
        raw = snr(est, tgt, rate=rate, band=_BAND, max_lag=3)
        ss = snr(spectral_subtraction(est, rate), tgt, rate=rate, band=_BAND, max_lag=3)
        out.append({"raw": raw, "specsub": ss})
    return out


def validate(model: EnhancerNet, val: list[dict], *, rate: float, stft_weight: float,
             baselines: list[dict] | None = None) -> dict:
    """Score a model on validation videos (no gradient, evaluation mode, then back).

    Returns
    -------
    dict
        ``loss`` (mean training loss), ``snr_db`` (mean enhanced SNR in 80–1000 Hz,
        LS scale, best lag within ±3), ``gain_db`` (mean gain over the better of
        the raw and spectral-subtraction outputs), ``worst_gain_db`` (over raw),
        ``per_video`` gains.
    """
    from ..eval.metrics import snr

    was_training = model.training
    model.eval()
    losses, snrs, gains, over_raw = [], [], [], []
    base = baselines or _baselines(val, rate)
    try:
        with torch.no_grad():
            for v, b in zip(val, base):
                x = torch.from_numpy(v["estimate"].astype(np.float32))[None]
                t = torch.from_numpy(v["target"].astype(np.float32))[None]
                y = model.enhance(x)
                losses.append(float(enhancer_loss(y, t, rate=rate, stft_weight=stft_weight)))
                s = snr(y[0].double().numpy(), v["target"].astype(np.float64), rate=rate,
                        band=_BAND, max_lag=3)
                snrs.append(s)
                gains.append(s - max(b["raw"], b["specsub"]))
                over_raw.append(s - b["raw"])
    finally:
        model.train(was_training)
    return {
        "loss": float(np.mean(losses)),
        "snr_db": float(np.mean(snrs)),
        "gain_db": float(np.mean(gains)),
        "worst_gain_db": float(np.min(over_raw)),
        "per_video": [round(g, 2) for g in gains],
    }


# --------------------------------------------------------------------------- training


def _lr_factor(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def _state_path(output: Path) -> Path:
    return output.with_name(output.name + ".state")


@dataclass
class TrainResult:
    """What :func:`train_enhancer` did.

    Attributes
    ----------
    output : Path
        The best checkpoint (by validation gain).
    step : int
        Steps done.
    best : dict
        Validation metrics of the best checkpoint.
    history : list of dict
        One entry per validation.
    seconds : float
        Wall time of this call.
    """

    output: Path
    step: int
    best: dict
    history: list = field(default_factory=list)
    seconds: float = 0.0


def train_enhancer(
    output,
    *,
    cache,
    config: TrainConfig | None = None,
    model_config: EnhancerConfig | None = None,
    resume: bool = False,
    steps: int | None = None,
    time_limit: float | None = None,
    progress: ProgressCallback | None = None,
    log=None,
) -> TrainResult:
    """Train the enhancer; write the best checkpoint to ``output``.

    Parameters
    ----------
    output : path-like
        The checkpoint to write (the model with the best validation gain, its
        configurations, step and metrics; loadable by
        :func:`visualmic.learn.enhance.load_enhancer`).  The full training state
        (optimiser, step, history) goes to ``<output>.state`` after every
        validation, for ``resume``.
    cache : path-like
        Folder of the cached data banks (created if missing; reused when the
        data settings match).
    config : TrainConfig, optional
        Training settings (default :class:`TrainConfig`).  On ``resume`` the
        stored one is used.
    model_config : EnhancerConfig, optional
        Architecture (default :class:`~visualmic.learn.enhance.EnhancerConfig`).
    resume : bool, optional
        Continue from ``<output>.state``.
    steps : int, optional
        Override ``config.steps`` (on ``resume``, to train a finished run
        longer; the cosine schedule is stretched to the new length).
    time_limit : float, optional
        Stop (after a validation and checkpoint) once this many seconds have
        passed; the run can be resumed later.
    progress : callable, optional
        ``progress(done, total)`` over data building and steps.
    log : callable, optional
        ``log(message)`` for one-line status messages.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        Bad settings, or ``resume`` without a state file.
    """
    from ..io.atomic import check_output_path

    t_start = time.perf_counter()
    out = check_output_path(output)
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    state_path = _state_path(out)
    state = None
    if resume:
        if not state_path.is_file():
            raise ParameterError(f"cannot resume: {str(state_path)!r} does not exist; "
                                 "start without --resume")
        state = read_checkpoint(state_path)
        cfg = TrainConfig.from_dict(state["train_config"])
    else:
        cfg = config or TrainConfig()
    if steps is not None:
        cfg = dataclasses.replace(cfg, steps=steps)
    say = log or (lambda msg: None)

    stage = {"offset": 0}
    total_units = cfg.n_speech + cfg.n_music + cfg.n_other + cfg.n_renders + cfg.n_val + cfg.steps

    def sub_progress(done, _total):
        report(progress, stage["offset"] + done, total_units)

    clips = build_audio_bank(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += len(clips)
    noises = build_render_bank(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += cfg.n_renders
    val = build_validation(cache, cfg, progress=sub_progress, log=say)
    stage["offset"] += cfg.n_val
    base = _baselines(val, cfg.rate)
    raw_m = np.mean([b["raw"] for b in base])
    ss_m = np.mean([b["specsub"] for b in base])
    best_m = np.mean([max(b["raw"], b["specsub"]) for b in base])
    say(f"validation baselines: raw {raw_m:.2f} dB, specsub {ss_m:.2f} dB, best-of {best_m:.2f} dB")
    sampler = ExampleSampler(clips, noises, cfg)

    with torch_threads(cfg.threads):
        torch.manual_seed(cfg.seed)
        if state is not None:
            model = model_from_checkpoint(state, source=repr(str(state_path)))
        else:
            model = EnhancerNet(model_config or EnhancerConfig())
        model.train()
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, cfg))
        step = 0
        history: list = []
        best = {"gain_db": -math.inf}
        if state is not None:
            opt.load_state_dict(state["optimizer"])
            sched.load_state_dict(state["scheduler"])
            step = int(state["step"])
            history = list(state.get("history", []))
            best = dict(state.get("best", best))
            say(f"resumed at step {step} (best validation gain {best['gain_db']:.2f} dB)")
        else:
            m = validate(model, val, rate=cfg.rate, stft_weight=cfg.stft_weight, baselines=base)
            history.append({"step": 0, **m})
            say(f"step 0: validation loss {m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, "
                f"gain {m['gain_db']:+.2f} dB")
        running, t_last = [], time.perf_counter()
        while step < cfg.steps:
            x, t = sampler.batch(step)
            y = model.enhance(x)
            loss = enhancer_loss(y, t, rate=cfg.rate, stft_weight=cfg.stft_weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            running.append(loss.item())
            report(progress, stage["offset"] + step, total_units)
            out_of_time = time_limit is not None and time.perf_counter() - t_start > time_limit
            if step % cfg.val_every == 0 or step == cfg.steps or out_of_time:
                m = validate(model, val, rate=cfg.rate, stft_weight=cfg.stft_weight,
                             baselines=base)
                entry = {"step": step, "train_loss": float(np.mean(running)), **m,
                         "seconds_per_step": (time.perf_counter() - t_last) / max(1, len(running))}
                history.append(entry)
                running, t_last = [], time.perf_counter()
                improved = m["gain_db"] > best["gain_db"]
                if improved:
                    best = {"step": step, **m}
                    save_checkpoint(out, model, extra={
                        "train_config": cfg.to_dict(), "step": step, "metrics": m,
                    })
                save_checkpoint(state_path, model, extra={
                    "train_config": cfg.to_dict(), "step": step, "optimizer": opt.state_dict(),
                    "scheduler": sched.state_dict(), "history": history, "best": best,
                })
                say(f"step {step}: train loss {entry['train_loss']:.3f}, validation loss "
                    f"{m['loss']:.3f}, SNR {m['snr_db']:.2f} dB, gain {m['gain_db']:+.2f} dB "
                    f"(worst vs raw {m['worst_gain_db']:+.2f}){' *' if improved else ''} "
                    f"[{entry['seconds_per_step']:.2f} s/step]")
                if out_of_time:
                    say(f"time limit reached at step {step}; continue with --resume")
                    break
    return TrainResult(output=out, step=step, best=best, history=history,
                       seconds=time.perf_counter() - t_start)
