"""Enhancer training data: the cached banks of clean sounds and rendered videos, and batches."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from .._errors import ParameterError
from .._progress import ProgressCallback, report
from .enhance_config import BAND, TRAINING_TEXTURES, VALIDATION_TEXTURES, EnhancerTrainConfig
from .enhance_sounds import clean_sound

__all__ = ["build_audio_bank", "render_clip", "build_render_bank", "build_validation",
           "ExampleSampler", "highpass20", "band_power"]



def highpass20(y: np.ndarray, rate: float) -> np.ndarray:
    """The classical output's 20 Hz high-pass (:func:`visualmic.denoise.highpass`)."""
    from ..denoise import highpass

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
    from .._atomic import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


def build_audio_bank(cache: Path, cfg: EnhancerTrainConfig, *, progress: ProgressCallback | None = None,
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
    hit = cached_npz(path, key)
    if hit is not None:
        return hit["clips"]
    kinds = ["speech"] * cfg.n_speech + ["music"] * cfg.n_music + ["other"] * cfg.n_other
    rngs = [np.random.default_rng(s) for s in
            np.random.SeedSequence([cfg.seed, 1]).spawn(len(kinds))]
    n = int(round(cfg.rate * cfg.clip_seconds))
    clips = np.zeros((len(kinds), n), dtype=np.float32)
    for i, (kind, rng) in enumerate(zip(kinds, rngs)):
        y, _ = clean_sound(kind, rate=cfg.rate, duration=cfg.clip_seconds, rng=rng)
        clips[i] = highpass20(y, cfg.rate)
        report(progress, i + 1, len(kinds))
    save_npz(path, clips=clips, key=json.dumps(key))
    if log:
        log(f"audio bank: {len(kinds)} clean sounds of {cfg.clip_seconds:g} s -> {path}")
    return clips


# --------------------------------------------------------------------------- rendering


def render_clip(clean: np.ndarray, *, rate: float, amplitude: float, size: int, texture: str,
                sigma: float, bit_depth: int, direction: float, seed: int) -> dict:
    """Render a video of a surface moved by ``amplitude · clean`` and recover it classically.

    The frames are rendered in memory with :func:`visualmic.synth.render_frames`
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
        A :data:`visualmic.synth.TEXTURES` kind.
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

    from ..bounds import crb_snr_db, periodic_gradients, translation_crb
    from ..pipeline import recover
    from ..synth import make_texture, render_frames

    motion = amplitude * np.asarray(clean, dtype=np.float64)
    margin = 16 + math.ceil(amplitude)
    big = sfft.next_fast_len(size + 2 * margin, real=True)
    s_tex, s_noise = np.random.SeedSequence(seed).generate_state(2)
    tex = make_texture((big, big), kind=texture, seed=int(s_tex))
    frames = np.concatenate(list(render_frames(
        tex, motion, direction=direction, size=size, noise_sigma=sigma, bit_depth=bit_depth,
        seed=int(s_noise))))
    rec = recover(frames, fps=rate)
    est = highpass20(rec.motion, rate)
    target = highpass20(motion, rate)
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
        "crb_snr_db": crb_snr_db(motion, crb, rate=rate, band=BAND),
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


def build_render_bank(cache: Path, cfg: EnhancerTrainConfig, *, progress: ProgressCallback | None = None,
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
        hit = cached_npz(path, {**key, "index": i})
        if hit is None:
            t0 = time.perf_counter()
            kind = kinds[i % len(kinds)] if i % 4 else "speech"
            clean, _ = clean_sound(kind, rate=cfg.rate, duration=cfg.render_seconds, rng=rng)
            p = _render_params(rng, TRAINING_TEXTURES, cfg.render_sizes, (0.003, 0.1), (0.5, 3.0))
            r = render_clip(clean, rate=cfg.rate, **p)
            save_npz(path, noise=r["noise"].astype(np.float32),
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


def build_validation(cache: Path, cfg: EnhancerTrainConfig, *, progress: ProgressCallback | None = None,
                     log=None) -> list[dict]:
    """Render and recover the held-out validation videos (cached like the render bank).

    Speech uses :mod:`visualmic.synth`'s own voices and texts (never used for
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
        hit = cached_npz(path, {**key, "index": i})
        if hit is None:
            t0 = time.perf_counter()
            kind = kinds[i % len(kinds)]
            clean, info = clean_sound(kind, rate=cfg.rate, duration=cfg.val_seconds, rng=rng,
                                      held_out=True)
            p = _render_params(rng, VALIDATION_TEXTURES, cfg.val_sizes, (0.005, 0.05), (1.0, 2.0))
            r = render_clip(clean, rate=cfg.rate, **p)
            params = {**p, "kind": kind, "crb_snr_db": r["crb_snr_db"]}
            save_npz(path, estimate=r["estimate"].astype(np.float32),
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


def band_power(y: np.ndarray, rate: float) -> float:
    """Mean power of ``y`` in the scored band (80 Hz to min(1 kHz, Nyquist)), never 0."""
    spec = np.fft.rfft(y)
    f = np.fft.rfftfreq(y.size, 1.0 / rate)
    keep = (f >= BAND[0]) & (f <= min(BAND[1], rate / 2))
    return float(np.sum(np.abs(spec[keep]) ** 2)) / y.size + 1e-30


class ExampleSampler:
    """Makes training batches: clean crops mixed with rendered estimation noise.

    Parameters
    ----------
    clips : np.ndarray [shape=(n_clips, n)]
        Clean sounds (:func:`build_audio_bank`).
    noises : list of np.ndarray
        Estimation noise of rendered videos (:func:`build_render_bank`).
    cfg : EnhancerTrainConfig
        Segment length, SNR ranges, rate.

    Notes
    -----
    :meth:`batch` takes the step number and draws everything from
    ``default_rng([seed, step])``: a resumed run sees the same batches.
    """

    def __init__(self, clips: np.ndarray, noises: list, cfg: EnhancerTrainConfig):
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
            a = math.sqrt(band_power(nz, cfg.rate) * 10 ** (snr / 10) / band_power(c, cfg.rate))
            gain = math.exp(rng.uniform(-3, 3))  # the network must not care about units
            ts.append(gain * a * c)
            xs.append(gain * (a * c + nz))
        return (torch.from_numpy(np.stack(xs).astype(np.float32)),
                torch.from_numpy(np.stack(ts).astype(np.float32)))


