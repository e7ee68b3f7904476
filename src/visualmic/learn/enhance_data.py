"""Enhancer training data: the cached banks of clean sounds and rendered videos, and batches."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

from .._errors import ParameterError
from .._progress import ProgressCallback, report
from .enhance_config import BAND, EnhancerTrainConfig, scored_band
from .enhance_sounds import clean_sound

__all__ = ["build_audio_bank", "build_validation", "ExampleSampler", "make_noise", "highpass20",
           "band_power", "VALIDATION_RATES", "VALIDATION_KINDS", "noise_reference"]



def highpass20(y: np.ndarray, rate: float) -> np.ndarray:
    """The classical output's 20 Hz high-pass (:func:`visualmic.core.post.highpass`)."""
    from ..core.post import highpass

    return highpass(y, rate, cutoff=20.0)


def cached_npz(path: Path, key: dict):
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


def save_npz(path: Path, **arrays) -> None:
    from ..io.atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


#: Source frame rates of the validation mixtures, in turn.
VALIDATION_RATES = (600.0, 1000.0, 2200.0, 5000.0)
#: Kinds of the validation mixtures, in turn (held-out seeds, voices and texts).
VALIDATION_KINDS = ("plucked", "speech", "melody", "music", "hum", "bowed", "percussion", "voice",
                    "other")


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples."""
    return y[:n] if y.size >= n else np.concatenate([y, np.zeros(n - y.size)])


def _source_sound(kind: str, rng: np.random.Generator, cfg: EnhancerTrainConfig, src_rate: float,
                  duration: float, held_out: bool = False) -> tuple[np.ndarray, dict]:
    """``round(cfg.rate · duration)`` samples of a clean sound from a camera at ``src_rate``.

    Up to ``cfg.rate`` the sound is made at ``src_rate`` itself (the model
    enhances such signals natively, sample for sample); above it, at
    ``cfg.rate`` (such signals reach the model resampled to its rate).  It is
    high-passed at 20 Hz.
    """
    n = int(round(cfg.rate * duration))
    r = min(src_rate, cfg.rate)
    y, info = clean_sound(kind, rate=r, duration=n / r, rng=rng, held_out=held_out)
    y = highpass20(y, r) if np.any(y) else y
    return _fit(y, n), info


def _draw_rate(rng: np.random.Generator, cfg: EnhancerTrainConfig) -> float:
    if rng.random() >= cfg.low_rate_fraction:
        return float(cfg.rate)
    return float(round(math.exp(rng.uniform(math.log(cfg.rates[0]), math.log(cfg.rate)))))


def build_audio_bank(cache: Path, cfg: EnhancerTrainConfig, *, progress: ProgressCallback | None = None,
                     log=None) -> tuple[np.ndarray, np.ndarray]:
    """Make (or load from ``cache``) the bank of clean training sounds.

    Each sound is made at a source frame rate (``cfg.rate``, or with
    probability ``low_rate_fraction`` a lower one, see
    :class:`EnhancerTrainConfig`) and high-passed at 20 Hz; every clip has
    ``round(cfg.rate · clip_seconds)`` samples.  Without espeak-ng, speech is replaced by synthetic voices,
    with one warning.

    Returns
    -------
    clips : np.ndarray [shape=(n_sounds, round(rate·clip_seconds)), float32]
        Clean sounds, peak about 1 (silence: zeros), each at its source rate.
    rates : np.ndarray [shape=(n_sounds,)], float64
        The source frame rate of each.
    """
    import warnings

    from .._errors import VisualMicWarning

    cache = Path(cache)
    path = cache / "audio_bank.npz"
    key = {"what": "audio", **cfg.data_key()}
    hit = cached_npz(path, key)
    if hit is not None:
        return hit["clips"], hit["rates"]
    kinds = [k for k, c in cfg.content().items() for _ in range(c)]
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([cfg.seed, 1]).spawn(len(kinds))]
    n = int(round(cfg.rate * cfg.clip_seconds))
    clips = np.zeros((len(kinds), n), dtype=np.float32)
    rates = np.zeros(len(kinds))
    replaced = 0
    for i, (kind, rng) in enumerate(zip(kinds, rngs)):
        rates[i] = _draw_rate(rng, cfg)
        y, info = _source_sound(kind, rng, cfg, rates[i], cfg.clip_seconds)
        replaced += "replaced" in info
        clips[i] = y
        report(progress, i + 1, len(kinds))
    if replaced:
        warnings.warn(f"espeak-ng is not installed: {replaced} speech sounds of the training "
                      "data are synthetic voices instead", VisualMicWarning, stacklevel=2)
    save_npz(path, clips=clips, rates=rates, key=json.dumps(key))
    if log:
        log(f"audio bank: {len(kinds)} clean sounds of {cfg.clip_seconds:g} s -> {path}")
    return clips, rates


def band_power(y: np.ndarray, rate: float, band=BAND) -> float:
    """Mean power of ``y`` in ``band`` (Hz, cut at the Nyquist frequency), never 0."""
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1.0 / rate)
    keep = (f >= band[0]) & (f <= min(band[1], rate / 2))
    return float(np.sum(np.abs(spec[keep]) ** 2)) / y.size + 1e-30


def make_noise(rng: np.random.Generator, n: int, src_rate: float, cfg: EnhancerTrainConfig,
               noises: list | None = None, *, with_base: bool = False):
    """``n`` samples of estimation noise from a camera at ``src_rate`` (made at min(src_rate, rate)).

    A crop of a rendered video's noise (half the time, when ``noises`` is given)
    or white noise with a random spectral tilt (±3 dB), at unit variance, with
    a random sign and time direction (30% of the time the mixture of two);
    recording artefacts with probability ``cfg.artefacts`` (their frequencies
    folded at ``src_rate``); high-passed at 20 Hz.  With ``with_base``, also the
    noise before the artefacts (what a noise reference from two halves of the frame
    sees: a flicker is common to both), as ``(noise, base)``.
    """
    from .enhance_content import add_artefacts

    r = min(src_rate, cfg.rate)

    def one() -> np.ndarray:
        if noises and rng.random() < 0.5:
            nz = noises[int(rng.integers(len(noises)))]
            start = int(rng.integers(0, max(1, nz.size - n + 1)))
            x = _fit(np.asarray(nz[start:start + n], dtype=np.float64), n)
        else:
            spec = np.fft.rfft(rng.standard_normal(n))
            f = np.linspace(-0.5, 0.5, spec.size)
            x = np.fft.irfft(spec * 10 ** (rng.uniform(-3, 3) * f / 20), n)
        x = x / (np.std(x) + 1e-30)
        if rng.random() < 0.5:
            x = x[::-1]
        return x * rng.choice([-1.0, 1.0])

    x = one()
    if rng.random() < 0.3:
        x = (x + one()) / math.sqrt(2)
    base = x
    if rng.random() < cfg.artefacts:
        x = add_artefacts(x, r, rng)
    return (highpass20(x, r), highpass20(base, r)) if with_base else highpass20(x, r)


def noise_reference(base: np.ndarray, rng: np.random.Generator, *, p_none: float = 0.3) -> np.ndarray:
    """A training noise reference like the one ``recover`` gives the enhancer.

    Another realisation of ``base`` (its Fourier magnitudes with random phases),
    at a power 2.5 dB below to 1 dB above it (``recover``'s reference from two
    halves of the frame reads 0.8-1.1x the combination's noise) with a random
    tilt of ±1 dB; all zeros (no reference) with probability ``p_none``.
    """
    if rng.random() < p_none:
        return np.zeros_like(base)
    spec = np.fft.rfft(base)
    phase = np.exp(2j * np.pi * rng.random(spec.size))
    phase[0] = 1.0
    f = np.linspace(-0.5, 0.5, spec.size)
    gain_db = rng.uniform(-2.5, 1.0) + rng.uniform(-1.0, 1.0) * 2 * f
    return np.fft.irfft(np.abs(spec) * phase * 10 ** (gain_db / 20), base.size)


def _mix(clean: np.ndarray, noise: np.ndarray, snr_db: float, src_rate: float, rate: float):
    """Scale ``clean`` to ``snr_db`` against ``noise`` in the scored band; (target, mixture)."""
    r = min(src_rate, rate)
    band = scored_band(src_rate)
    pc = band_power(clean, r, band)
    a = math.sqrt(band_power(noise, r, band) * 10 ** (snr_db / 10) / pc) if pc > 1e-20 else 0.0
    return a * clean, a * clean + noise


def build_validation(cache: Path, cfg: EnhancerTrainConfig, *, progress: ProgressCallback | None = None,
                     log=None) -> list[dict]:
    """Make (or load) the held-out validation mixtures.

    Mixture ``i`` is a :data:`VALIDATION_KINDS` sound (held-out seeds; speech
    with :mod:`visualmic.sim.synthesize`'s own voices and texts, or synthetic voices
    without espeak-ng) from a camera at a :data:`VALIDATION_RATES` rate (in
    turn), mixed at ``cfg.val_snr_db`` (5–35 dB) in its scored band with synthetic noise and
    artefacts from a separate seed stream, at min(its rate, ``cfg.rate``)
    (rates above the model's are what it sees of them: the band below its
    Nyquist frequency).

    Returns
    -------
    list of dict
        ``estimate``, ``target`` and ``reference`` (a noise reference, see
        :func:`noise_reference`; zeros for the last quarter) (float32),
        ``rate`` (the source frame rate) and ``params`` per mixture.
    """
    cache = Path(cache)
    path = cache / "validation.npz"
    key = {"what": "validation-mixtures", "references": 1, **cfg.data_key()}
    hit = cached_npz(path, key)
    if hit is None:
        rngs = [np.random.default_rng(s) for s in
                np.random.SeedSequence([cfg.seed, 3]).spawn(cfg.n_val)]
        n = int(round(cfg.rate * cfg.val_seconds))
        est = np.zeros((cfg.n_val, n), np.float32)
        tgt = np.zeros((cfg.n_val, n), np.float32)
        ref = np.zeros((cfg.n_val, n), np.float32)
        params = []
        for i, rng in enumerate(rngs):
            kind = VALIDATION_KINDS[i % len(VALIDATION_KINDS)]
            src = min(VALIDATION_RATES[i % len(VALIDATION_RATES)], cfg.rate)
            clean, info = _source_sound(kind, rng, cfg, src, cfg.val_seconds, held_out=True)
            noise, base = make_noise(rng, n, src, cfg, with_base=True)
            snr = float(rng.uniform(*cfg.val_snr_db))
            tgt[i], est[i] = _mix(clean, noise, snr, src, cfg.rate)
            # the last quarter without a reference (a plain enhancer(y, rate) call)
            ref[i] = noise_reference(base, rng, p_none=float(i >= cfg.n_val * 3 // 4))
            params.append({"kind": info["kind"], "rate": VALIDATION_RATES[i % 4], "snr_db": snr})
            report(progress, i + 1, cfg.n_val)
        save_npz(path, estimate=est, target=tgt, reference=ref, params=json.dumps(params),
                 key=json.dumps(key))
        hit = np.load(path, allow_pickle=False)
        if log:
            log(f"validation: {cfg.n_val} held-out mixtures -> {path}")
    params = json.loads(str(hit["params"]))
    return [{"estimate": np.asarray(hit["estimate"][i]), "target": np.asarray(hit["target"][i]),
             "reference": np.asarray(hit["reference"][i]),
             "rate": p["rate"], "params": p}
            for i, p in enumerate(params)]


class ExampleSampler:
    """Makes training batches: clean crops mixed with estimation noise and artefacts.

    Parameters
    ----------
    clips : np.ndarray [shape=(n_clips, n)]
        Clean sounds at ``cfg.rate`` (:func:`build_audio_bank`).
    rates : np.ndarray [shape=(n_clips,)]
        Their source frame rates.
    noises : list of np.ndarray
        Estimation noise of rendered videos (may be empty: synthetic noise).
    cfg : EnhancerTrainConfig
        Segment length, SNR ranges, rate.

    Notes
    -----
    :meth:`batch` takes the step number and draws everything from
    ``default_rng([seed, 7, step])``: a resumed run sees the same batches.
    """

    def __init__(self, clips: np.ndarray, rates: np.ndarray, noises: list,
                 cfg: EnhancerTrainConfig):
        self.n = int(round(cfg.segment * cfg.rate))
        self.clips = clips
        self.rates = np.asarray(rates, dtype=np.float64)
        self.noises = [n for n in noises if n.size >= self.n]
        if noises and not self.noises:
            raise ParameterError("no rendered video is as long as one training segment")
        self.cfg = cfg

    def _clean(self, rng: np.random.Generator) -> tuple[np.ndarray, float]:
        for _ in range(20):
            i = int(rng.integers(len(self.clips)))
            c = self.clips[i]
            start = int(rng.integers(0, c.size - self.n + 1))
            x = np.asarray(c[start:start + self.n], dtype=np.float64)
            if np.sqrt(np.mean(x * x)) > 0.02:  # skip near-silent crops
                break
        return x, float(self.rates[i])

    def batch(self, step: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Inputs, targets and noise references ``(batch_size, n)`` float32 for step ``step``.

        A reference row of zeros means none (30% of the examples).
        """
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, 7, int(step)])
        xs, ts, rs = [], [], []
        for _ in range(cfg.batch_size):
            c, src = self._clean(rng)
            nz, base = make_noise(rng, self.n, src, cfg, self.noises, with_base=True)
            snr = rng.uniform(*(cfg.snr_db if rng.random() < 0.75 else cfg.snr_db_wide))
            t, x = _mix(c, nz, snr, src, cfg.rate)
            gain = math.exp(rng.uniform(-3, 3))  # the network must not care about units
            ts.append(gain * t)
            xs.append(gain * x)
            rs.append(gain * noise_reference(base, rng))
        return tuple(torch.from_numpy(np.stack(v).astype(np.float32)) for v in (xs, ts, rs))
