"""Spatial core benchmark: whole-frame ML vs cell-adaptive combination vs a hand ROI.

Composition (no CLI): frames -> SteerablePyramid -> estimator with cells (auto, 16 px
cells at 128x128) -> :func:`visualmic.core.spatial.combine_cells` with ``cutoff=20``
(fits on :func:`~visualmic.core.spatial.highpass_cells`, one exact high-pass of the
result). Today's result: each band summed over the frame, high-passed with
:func:`visualmic.core.post.highpass`, :func:`visualmic.core.combine.combine_bands`. Scenes are synthetic,
like those of issue 10's Bar: 2200 fps, 0.02-0.05 px RMS motion, noise sigma 1-1.5
grey levels (8-bit scale), a textured window Fourier-shifted in front of a static
textured wall; two halves in opposite phase; a 32x32 object in 16-bit video; and a
whole-frame translation. For each scene it prints the SNR (dB, 80-1000 Hz, after a
least-squares gain) of ``combine_bands`` on the whole-frame band signals (today),
of ``combine_cells`` (no ROI), of ``combine_bands`` on a hand ROI (the window's
bounding box), and the Cramér–Rao bound of the vibrating region
(``sigma**2 / sum_region (u . grad I)**2``, :mod:`visualmic.sim.bounds`).

Run::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/spatial_core.py [--seeds 3] [--seconds 1.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.fft as sfft

from visualmic.core.combine import combine_bands
from visualmic.core.post import highpass
from visualmic.core.pyramid import SteerablePyramid
from visualmic.core.spatial import combine_cells
from visualmic.engine.chain import build_estimator as motion_estimator
from visualmic.eval.metrics import snr
from visualmic.sim.bounds import crb_snr_db, periodic_gradients
from visualmic.sim.textures import make_texture

RATE = 2200.0
BAND = (80.0, 1000.0)


def sound(n: int, rng, *, kind: str = "noise", freq: float = 440.0) -> np.ndarray:
    """Unit-RMS test sound: band-limited noise (100-1000 Hz) or a tone."""
    t = np.arange(n) / RATE
    if kind == "tone":
        y = np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    else:
        spec = sfft.rfft(rng.normal(size=n))
        f = sfft.rfftfreq(n, 1 / RATE)
        spec[(f < 100) | (f > 1000)] = 0
        y = sfft.irfft(spec, n=n)
    return y / np.std(y)


def shifted(texture: np.ndarray, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """Frames ``(T, H, W)`` of a periodic texture Fourier-shifted by ``(dx, dy)`` px."""
    H, W = texture.shape
    F = sfft.fft2(texture)
    fy = sfft.fftfreq(H)[:, None]
    fx = sfft.fftfreq(W)[None, :]
    out = np.empty((len(dx), H, W), np.float32)
    for t0 in range(0, len(dx), 256):
        ph = np.exp(-2j * np.pi * (fx[None] * dx[t0:t0 + 256, None, None]
                                   + fy[None] * dy[t0:t0 + 256, None, None]))
        out[t0:t0 + 256] = sfft.ifft2(F[None] * ph, axes=(-2, -1)).real
    return out


def scene(parts, *, shape=(128, 128), sigma=1.0, bits=8, seed=0, wall=True):
    """Render a scene: a static wall and moving parts.

    ``parts``: list of dicts with ``box`` (x, y, w, h), ``motion`` (T,) px and
    ``direction`` (deg). Returns ``(frames (T,H,W) float32, crb (px²) of the union
    of the parts (each part's own gradients), per-part crb list)``.
    """
    rng = np.random.default_rng(seed)
    T = len(parts[0]["motion"])
    scale = 257.0 if bits == 16 else 1.0
    base = make_texture(shape, seed=seed + 100) if wall else np.full(shape, 128.0)
    frames = np.repeat(base[None].astype(np.float32), T, axis=0)
    info, crbs = 0.0, []
    for i, p in enumerate(parts):
        x, y, w, h = p["box"]
        tex = make_texture(shape, seed=seed + 200 + i)
        th = np.deg2rad(p.get("direction", 0.0))
        m = np.asarray(p["motion"])
        mov = shifted(tex, m * np.cos(th), m * np.sin(th))
        frames[:, y:y + h, x:x + w] = mov[:, y:y + h, x:x + w]
        gx, gy = periodic_gradients(tex)
        gu = (np.cos(th) * gx + np.sin(th) * gy)[y:y + h, x:x + w]
        info_i = float(np.sum(gu**2)) * scale**2
        info += info_i
        crbs.append((sigma * scale) ** 2 / info_i)
    frames *= scale
    frames += rng.normal(0, sigma * scale, frames.shape).astype(np.float32)
    np.clip(np.round(frames), 0, 2**bits - 1, out=frames)
    return frames, (sigma * scale) ** 2 / info, crbs


def highpass_rows(x: np.ndarray, cutoff: float = 20.0) -> np.ndarray:
    """:func:`visualmic.core.post.highpass` (20 Hz, zero phase, no edge transient) of every row."""
    return np.stack([highpass(row, RATE, cutoff=cutoff) for row in x])


def cell_signals(frames, *, method="auto", cell=None, roi=None):
    """High-passed cell signals ``(n_bands, n_cells, T)`` and the estimator."""
    if roi is not None:
        x, y, w, h = roi
        frames = frames[:, y:y + h, x:x + w]
    H, W = frames.shape[1:]
    pyr = SteerablePyramid((H, W), highpass=True)
    est = motion_estimator(pyr, frames[0].astype(np.float64), method=method, cell=cell)
    if cell is None:
        s = np.concatenate([est(frames[t:t + 256]) for t in range(0, len(frames), 256)], 1)
        return highpass_rows(s)[:, None], est
    c = np.concatenate([est.cell_signals(frames[t:t + 256])
                        for t in range(0, len(frames), 256)], axis=2)
    return c, est  # raw: combine_cells(..., cutoff=20) high-passes


def evaluate(frames, truth, crb, roi, *, cell=16, method="auto"):
    """SNRs (dB) of today's whole-frame ML, the cell combination and the hand ROI."""
    raw, est = cell_signals(frames, cell=cell, method=method)
    whole = combine_bands(highpass_rows(raw.sum(axis=1))).signal
    comb = combine_cells(raw, rate=RATE, share=est.cell_weights, cutoff=20.0)
    roi_hp, _ = cell_signals(frames, roi=roi)
    hand = combine_bands(roi_hp[:, 0]).signal
    out = {k: snr(v, truth, rate=RATE, band=BAND, max_lag=2)
           for k, v in (("whole", whole), ("cells", comb.signal), ("roi", hand))}
    out["bound"] = crb_snr_db(truth, crb, rate=RATE, band=BAND)
    return out, comb


def scenes(seed: int, n: int):
    """The benchmark scenes: name -> (parts, kwargs, hand ROI)."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.02, 0.05)
    sig = rng.uniform(1.0, 1.5)
    d = sound(n, rng) * a
    return {
        "window": ([dict(box=(40, 32, 48, 48), motion=d, direction=rng.uniform(0, 360))],
                   dict(sigma=sig), (40, 32, 48, 48), d),
        "halves": ([dict(box=(0, 0, 64, 128), motion=d), dict(box=(64, 0, 64, 128), motion=-d)],
                   dict(sigma=sig), (0, 0, 64, 128), d),
        "object32_16bit": ([dict(box=(48, 56, 32, 32), motion=d, direction=30.0)],
                           dict(sigma=sig, bits=16), (48, 56, 32, 32), d),
        "whole_frame": ([dict(box=(0, 0, 128, 128), motion=d, direction=rng.uniform(0, 360))],
                        dict(sigma=sig, wall=False), (0, 0, 128, 128), d),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=1.5)
    ap.add_argument("--method", default="auto", choices=("auto", "fast", "phase"),
                    help="estimator of the cell signals (default auto)")
    args = ap.parse_args(argv)
    n = int(args.seconds * RATE)
    rows = []
    print(f"{'scene':16s} {'seed':>4s} {'bound':>7s} {'whole':>7s} {'cells':>7s} {'roi':>7s}"
          f" {'gap':>6s}  (dB, {BAND[0]:g}-{BAND[1]:g} Hz)")
    for seed in range(args.seeds):
        for name, (parts, kw, roi, truth) in scenes(seed, n).items():
            frames, crb, _ = scene(parts, seed=seed, **kw)
            t0 = time.perf_counter()
            r, comb = evaluate(frames, truth, crb, roi, method=args.method)
            gap = r["bound"] - r["cells"]
            rows.append((name, gap, r["cells"] - r["whole"], r))
            print(f"{name:16s} {seed:4d} {r['bound']:7.2f} {r['whole']:7.2f} {r['cells']:7.2f}"
                  f" {r['roi']:7.2f} {gap:6.2f}  sig={int(comb.significant.sum())}"
                  f" adapted={int(comb.subband_adapted.sum())} {time.perf_counter() - t0:.1f}s")
    part = [g for name, g, _, _ in rows if name != "whole_frame"]
    wf = [dw for name, _, dw, _ in rows if name == "whole_frame"]
    print(f"partial scenes: gap to bound mean {np.mean(part):.2f} dB, worst {np.max(part):.2f} dB")
    print(f"whole frame: cells - today's ML mean {np.mean(wf):+.3f} dB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
