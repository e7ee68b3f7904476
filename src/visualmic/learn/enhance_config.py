"""Settings of an enhancer training run, and the training/held-out content lists."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .._errors import ParameterError

__all__ = ["EnhancerTrainConfig", "TRAINING_TEXTURES", "VALIDATION_TEXTURES", "TRAINING_VOICES",
           "TRAINING_TEXTS", "RATE", "BAND", "CONTENT_KINDS", "scored_band"]

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

RATE = 2200.0
BAND = (80.0, 1000.0)
#: Kinds of clean sound in the audio bank, in bank order (``EnhancerTrainConfig.n_<kind>``).
CONTENT_KINDS = ("speech", "voice", "music", "other", "plucked", "bowed", "percussion", "hum",
                 "noise", "silence")


def scored_band(rate: float) -> tuple[float, float]:
    """The band (Hz) where a signal from a camera at ``rate`` fps is scored: 80 to min(1000, 0.45·rate)."""
    return (BAND[0], min(BAND[1], 0.45 * rate))


# --------------------------------------------------------------------------- configuration


@dataclass
class EnhancerTrainConfig:
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
        The model's sampling rate (Hz): every example is made at (or
        resampled to) it.
    rates : tuple of float
        ``(low, high)``: the frame rates (Hz) the model is trained for and
        recorded in its checkpoint.  A ``low_rate_fraction`` of the clean
        sounds (and their noise) is made at a source rate drawn log-uniformly
        in ``[low, rate)``, sample for sample as the model enhances such
        signals; rates above ``rate`` reach the model downsampled to it.
    low_rate_fraction : float
        Fraction of the clean sounds made at a lower source rate.
    artefacts : float
        Probability that an example's noise gets recording artefacts
        (flicker, compression blocking, drift; see
        :func:`visualmic.learn.enhance_content.add_artefacts`).
    n_speech, n_voice, n_music, n_other, n_plucked, n_bowed, n_percussion, n_hum, n_noise, n_silence : int
        Clean sounds in the audio bank, per kind (see
        :func:`visualmic.learn.enhance_sounds.clean_sound`; ``other`` is tones
        and chirps).  Without espeak-ng, speech is replaced by ``voice``.
    clip_seconds : float
        Length of each clean sound.
    n_renders : int
        Rendered and recovered training videos (noise bank); 0 (default):
        the estimation noise is synthetic (white with a random spectral tilt
        of up to ±3 dB: the classical estimate's noise is white to ±30%).
    render_seconds : float
        Length of each.
    render_sizes : tuple of int
        Smallest and largest frame side (px) of the rendered videos.
    n_val : int
        Validation mixtures: held-out sounds (other seeds, synth's voices)
        at frame rates 600, 1000, 2200 and 5000 Hz in turn, with noise and
        artefacts from a separate seed stream.
    val_seconds : float
        Length of each validation mixture.
    val_sizes : tuple of int
        Frame side range of rendered videos (kept for the render bank's key).
    init : str
        A checkpoint to start from (``""``: a new model, initialised as the
        identity).
    snr_db : tuple of float
        Main in-band SNR range of training mixtures (dB), drawn 75% of the time
        (3–40 dB: up to the SNR of a good high-speed recording, where the
        enhancer must still gain and never distort).
    snr_db_wide : tuple of float
        Wider range drawn the other 25%.
    val_snr_db : tuple of float
        In-band SNR range of the validation mixtures (dB).
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
    rate: float = RATE
    rates: tuple = (400.0, 20000.0)
    low_rate_fraction: float = 0.6
    artefacts: float = 0.5
    n_speech: int = 300
    n_voice: int = 150
    n_music: int = 250
    n_other: int = 120
    n_plucked: int = 350
    n_bowed: int = 150
    n_percussion: int = 120
    n_hum: int = 180
    n_noise: int = 60
    n_silence: int = 30
    clip_seconds: float = 4.0
    n_renders: int = 0
    render_seconds: float = 2.5
    render_sizes: tuple = (96, 176)
    n_val: int = 16
    val_seconds: float = 3.0
    val_sizes: tuple = (112, 160)
    snr_db: tuple = (3.0, 40.0)
    snr_db_wide: tuple = (-8.0, 45.0)
    val_snr_db: tuple = (5.0, 35.0)
    threads: int = 1
    init: str = ""

    def content(self) -> dict:
        """``{kind: count}`` of the audio bank, in bank order."""
        return {k: getattr(self, f"n_{k}") for k in CONTENT_KINDS}

    def __post_init__(self):
        for name in ("steps", "batch_size", "val_every", "n_val", "threads", "warmup", "n_renders"):
            v = getattr(self, name)
            ok = isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            if not ok or v < (0 if name in ("warmup", "n_renders") else 1):
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        for name in (f"n_{k}" for k in CONTENT_KINDS):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
                raise ParameterError(f"{name}={v!r} must be an integer >= 0")
        if sum(self.content().values()) < 1:
            raise ParameterError("the audio bank is empty: give at least one clean sound "
                                 "(n_speech, n_music, ...)")
        lo, hi = self.rates
        if not 0 < lo <= self.rate <= hi:
            raise ParameterError(f"rates={self.rates!r} must be (low, high) around rate={self.rate}")
        for name in ("low_rate_fraction", "artefacts"):
            if not 0 <= getattr(self, name) <= 1:
                raise ParameterError(f"{name}={getattr(self, name)!r} must be in [0, 1]")
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
        for name in ("snr_db", "snr_db_wide", "val_snr_db"):
            v = getattr(self, name)
            if len(v) != 2 or not all(math.isfinite(x) for x in v) or not v[0] <= v[1]:
                raise ParameterError(f"{name}={v!r} must be (lo, hi) in dB with lo <= hi")
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
    def from_dict(cls, d: dict) -> EnhancerTrainConfig:
        """Rebuild from :meth:`to_dict` output (unknown keys are ignored)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)

    def data_key(self) -> dict:
        """The fields that define the cached data banks."""
        import shutil

        keys = ("seed", "rate", "rates", "low_rate_fraction", "clip_seconds", "n_renders",
                "render_seconds", "render_sizes", "n_val", "val_seconds", "val_sizes",
                "val_snr_db", *(f"n_{k}" for k in CONTENT_KINDS))
        key = {k: (list(v) if isinstance(v, tuple) else v) for k, v in
               ((k, getattr(self, k)) for k in keys)}
        # Speech is espeak-ng's or synthetic voices: a bank made without it is not reused with it.
        key["espeak"] = shutil.which("espeak-ng") is not None
        return key


