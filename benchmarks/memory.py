"""Peak memory of `visualmic recover` does not grow with the length of the video.

Synthesises lossless 2200 fps videos of 20 000 and 80 000 frames (64x64 by default,
FFV1 in Matroska; cached in ``--out``), recovers each in a fresh subprocess and
prints its peak resident memory (``VmHWM``), the memory after the imports, and the
ratio 80k / 20k. Frames are streamed in chunks and decoded on a background thread;
the band signals are the only per-frame state kept ((n_bands, T) float64: 12.8 MB
for 80 000 frames of 20 bands) and the band combination is estimated on a bounded
excerpt (:func:`visualmic.core.linear.combine_long`), so the growth is a few MB.

Run:  python benchmarks/memory.py [--frames 20000 80000] [--size 64] [--method fast]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child(video: str, method: str) -> dict:
    import warnings

    import visualmic
    import visualmic.core.combine  # noqa: F401 - count the imports in the baseline
    import visualmic.core.post  # noqa: F401
    import visualmic.core.linear  # noqa: F401
    from visualmic.io.video import open_video

    # a short warm-up, so that the baseline holds every module and FFT plan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        visualmic.recover(open_video(video, end=300), method=method)
    base = peak_rss_mb()
    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = visualmic.recover(video, method=method)
    return {"frames": rec.n_frames, "bands": len(rec.bands), "seconds": time.perf_counter() - t,
            "baseline_mb": base, "peak_mb": peak_rss_mb()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, nargs="+", default=[20_000, 80_000])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--method", default="fast", choices=("phase", "fast", "auto"))
    p.add_argument("--out", default=None, help="folder for the videos (default: temporary)")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    import visualmic

    out = Path(args.out or tempfile.mkdtemp(prefix="visualmic-memory-"))
    out.mkdir(parents=True, exist_ok=True)
    print(f"# peak memory of visualmic recover --method {args.method}, {args.size}x{args.size}")
    results = []
    for n in args.frames:
        video = out / f"long{n}_{args.size}.mkv"
        if not video.exists():
            t = time.perf_counter()
            visualmic.synthesize(video, audio="melody", duration=n / 2200.0, amplitude=0.03,
                                 size=(args.size, args.size), noise_sigma=1.0, seed=1)
            print(f"  (synthesised {video.name} in {time.perf_counter() - t:.0f} s)")
        res = subprocess.run([sys.executable, __file__, "--child", str(video), args.method],
                             capture_output=True, text=True, check=True)
        r = json.loads(res.stdout.strip().splitlines()[-1])
        results.append(r)
        print(f"  {r['frames']:7d} frames ({r['frames'] / 2200:5.1f} s, {r['bands']} bands): "
              f"peak {r['peak_mb']:6.1f} MB (after imports and warm-up {r['baseline_mb']:6.1f} "
              f"MB), {r['frames'] / r['seconds']:.0f} frames/s")
    if len(results) >= 2:
        a, b = results[0], results[-1]
        print(f"  peak ratio {b['frames']} / {a['frames']} frames = "
              f"{b['peak_mb'] / a['peak_mb']:.3f} (bar: within 1.20)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
