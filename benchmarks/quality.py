"""Quality of `visualmic recover` against the Cramér-Rao bound, on synthetic videos.

For a grid of lossless 2200 fps videos (procedural and photographic textures,
120-160 px, 0.01-0.03 px motion in several directions, sensor noise 1-2 grey
levels, 8 and 16 bit) this prints, per video, the SNR of the recovered audio
(80-1000 Hz band, least-squares scale, best lag within +-3 samples), the bound
on that SNR from var(d) >= sigma^2 / sum (dI/du)^2 per frame, and the gap,
for three configurations:

* ``default``: ``visualmic recover VIDEO --denoise none`` (what the bar checks);
* ``davis-2x4``: the plain Davis method (2 scales x 4 orientations, no
  high-pass bands, unweighted sign-aligned sum);
* ``ml-2x4``: 2 x 4 with maximum-likelihood weights (no high-pass bands).

Run:  python benchmarks/quality.py [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

import visualmic
from visualmic.eval.metrics import snr

CONFIGS = {
    "default": {},
    "phase-ml": dict(method="phase", weighting="ml"),
    "auto-ml": dict(method="auto", weighting="ml"),
    "ml-2x4": dict(scales=2, orientations=4, highpass_bands=False, weighting="ml",
                   method="phase"),
    "davis-2x4": dict(scales=2, orientations=4, highpass_bands=False, weighting="uniform",
                      method="phase"),
}


def grid(quick: bool):
    textures = ["noise", "camera", "brick", "astronaut", "grass", "coffee"]
    audios = ["melody", "speech", "chirp"]
    rng = np.random.default_rng(2014)
    cases = []
    n = 6 if quick else 18
    for i in range(n):
        cases.append(dict(
            texture=textures[i % len(textures)],
            audio=audios[i % len(audios)],
            amplitude=float(rng.choice([0.01, 0.02, 0.03])),
            direction=float(rng.uniform(0, 180)),
            size=int(rng.choice([120, 128, 144, 160])),
            noise_sigma=float(rng.choice([1.0, 1.5, 2.0])),
            bit_depth=int(rng.choice([8, 16])),
            seed=i,
        ))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 videos instead of 18")
    ap.add_argument("--duration", type=float, default=2.0)
    ap.add_argument("--out", default=None, help="keep the videos in this folder")
    ap.add_argument("--configs", default="default,ml-2x4,davis-2x4",
                    help=f"comma-separated, from {', '.join(CONFIGS)}")
    args = ap.parse_args()
    configs = {k: CONFIGS[k] for k in args.configs.split(",")}
    tmp = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vm-quality-"))
    tmp.mkdir(parents=True, exist_ok=True)
    head = (f"{'#':>2} {'texture':<9} {'audio':<6} {'px':>5} {'dir':>4} {'size':>4} {'sig':>3} "
            f"{'bit':>3} {'CRB':>6}")
    head += "".join(f" {name + ' SNR':>14} {'gap':>5}" for name in configs)
    print(head)
    gaps = {k: [] for k in configs}
    seconds = {k: 0.0 for k in configs}
    t_all = time.perf_counter()
    for i, case in enumerate(grid(args.quick)):
        audio = case["audio"]
        try:
            syn = visualmic.synthesize(tmp / f"v{i}.mkv", duration=args.duration,
                                       size=(case["size"], case["size"]),
                                       **{k: v for k, v in case.items() if k != "size"})
        except visualmic.ParameterError:  # espeak-ng missing: use a melody instead
            case["audio"] = audio = "melody"
            syn = visualmic.synthesize(tmp / f"v{i}.mkv", duration=args.duration,
                                       size=(case["size"], case["size"]),
                                       **{k: v for k, v in case.items() if k != "size"})
        row = (f"{i:>2} {case['texture']:<9} {audio:<6} {case['amplitude']:>5.2f} "
               f"{case['direction']:>4.0f} {case['size']:>4} {case['noise_sigma']:>3.1f} "
               f"{case['bit_depth']:>3} {syn.crb_snr_db:>6.2f}")
        for name, kw in configs.items():
            t0 = time.perf_counter()
            rec = visualmic.recover(syn.video_path, denoise="none", **kw)
            seconds[name] += time.perf_counter() - t0
            s = snr(rec.audio, syn.truth, rate=rec.rate, band=(80, 1000), max_lag=3)
            gap = syn.crb_snr_db - s
            gaps[name].append(gap)
            row += f" {s:>14.2f} {gap:>5.2f}"
        print(row, flush=True)
    print()
    for name, g in gaps.items():
        g = np.array(g)
        print(f"{name:<10} gap to the Cramér-Rao bound: mean {g.mean():.2f} dB, "
              f"worst {g.max():.2f} dB, best {g.min():.2f} dB over {len(g)} videos; "
              f"{seconds[name]:.1f} s of recover")
    print(f"({time.perf_counter() - t_all:.0f} s; videos in {tmp})")


if __name__ == "__main__":
    main()
