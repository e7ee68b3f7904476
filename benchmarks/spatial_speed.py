"""Speed of the cell chain vs today's default, at 128x128, measured in one run.

Today: PhaseMotion band signals -> high-pass each band -> combine_bands.
Cells: AutoMotion (or FastMotion / PhaseMotion) cell signals (cell = default_cell) ->
combine_cells(cutoff=20) (vectorised high-pass for the fit, one exact high-pass of the
result; its time is in "combine").
Frames: a noise texture translated by 0.03 px RMS white motion plus noise sigma 1.
Prints seconds per 1000 frames and the ratio (today / cells: >= 0.7 is the bar).

Run::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/spatial_speed.py [--frames 2200]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.fft as sfft

from visualmic.core.cells import default_cell
from visualmic.core.combine import combine_bands
from visualmic.core.post import highpass
from visualmic.core.pyramid import SteerablePyramid
from visualmic.core.spatial import combine_cells
from visualmic.engine.chain import build_estimator as motion_estimator
from visualmic.sim.textures import make_texture

RATE = 2200.0


def run(frames, method, cell):
    pyr = SteerablePyramid(frames.shape[1:], highpass=True)
    t0 = time.perf_counter()
    est = motion_estimator(pyr, frames[0].astype(np.float64), method=method, cell=cell)
    t1 = time.perf_counter()
    if cell is None:
        s = np.concatenate([est(frames[i:i + 256]) for i in range(0, len(frames), 256)], 1)
    else:
        s = np.concatenate([est.cell_signals(frames[i:i + 256])
                            for i in range(0, len(frames), 256)], axis=2)
    t2 = time.perf_counter()
    if cell is None:
        hp = np.stack([highpass(r, RATE) for r in s])
        t3 = time.perf_counter()
        combine_bands(hp)
    else:  # the high-pass is inside (cutoff=20): counted in "combine"
        t3 = time.perf_counter()
        combine_cells(s, rate=RATE, share=est.cell_weights, cutoff=20.0)
    t4 = time.perf_counter()
    return dict(setup=t1 - t0, estimate=t2 - t1, highpass=t3 - t2, combine=t4 - t3, total=t4 - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=2200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    tex = make_texture((128, 128), seed=1)
    d = 0.03 * rng.normal(size=args.frames)  # a textured picture moving by 0.03 px RMS
    F = sfft.rfft2(tex)
    fx = sfft.rfftfreq(128)[None, None, :]
    frames = sfft.irfft2(F[None] * np.exp(-2j * np.pi * fx * d[:, None, None]), s=(128, 128))
    frames = (frames + rng.normal(0, 1.0, frames.shape)).astype(np.float32)
    cell = default_cell((128, 128))
    k = 1000.0 / args.frames
    configs = [("phase", None), ("auto", cell), ("fast", cell), ("phase", cell)]
    best = {}
    for _ in range(args.repeats):  # interleaved; the minimum of each (shared machine)
        for cfg in configs:
            r = run(frames, *cfg)
            best[cfg] = r if cfg not in best or r["total"] < best[cfg]["total"] else best[cfg]
    base = best[configs[0]]
    print("seconds per 1000 frames: setup estimate highpass combine total  (ratio today/this)")
    print("today phase, bands  " + " ".join(f"{base[x] * k:7.2f}" for x in base))
    for method, c in configs[1:]:
        r = best[(method, c)]
        print(f"{method:5s} cells={cell:<3d}     " + " ".join(f"{r[x] * k:7.2f}" for x in r)
              + f"   {base['total'] / r['total']:.2f}x  (without high-pass "
              f"{(base['total'] - base['highpass']) / (r['total'] - r['highpass']):.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
