"""Rendered training videos for the enhancer's optional noise bank (``n_renders > 0``)."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from .._progress import ProgressCallback, report
from .enhance_config import BAND, TRAINING_TEXTURES, EnhancerTrainConfig
from .enhance_data import cached_npz, highpass20, save_npz
from .enhance_sounds import clean_sound

__all__ = ["render_clip", "build_render_bank", "render_params"]


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


def render_params(rng: np.random.Generator, textures, sizes, amp_range, sigma_range) -> dict:
    """Random settings of one rendered video (size, texture, noise, bit depth, direction, motion)."""
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
            p = render_params(rng, TRAINING_TEXTURES, cfg.render_sizes, (0.003, 0.1), (0.5, 3.0))
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


