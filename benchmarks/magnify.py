"""Motion magnification: accuracy of the factor, throughput, and memory vs video length.

1. Accuracy. Synthesises a 440 Hz horizontal motion of ``--amplitude`` px (16-bit,
   no sensor noise, and 8-bit with sensor noise sigma=1), magnifies it with
   ``visualmic magnify`` (band 300-650 Hz) for several factors, and measures the
   motion's amplitude at 440 Hz before and after with an estimator independent of
   the pyramid (least-squares slope of the cross-spectrum phase); prints the ratio
   against the factor.
2. Memory. Magnifies videos of ``--frames`` lengths in fresh subprocesses and prints
   each one's peak resident memory (VmHWM) and frames per second.

Run:  python benchmarks/magnify.py [--size 64] [--frames 2000 8000]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

FPS = 2200.0
TONE = 440.0


def shift_x(frames: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Horizontal displacement per frame (a fixed fraction of it: only ratios are used)."""
    T, H, W = frames.shape
    win = np.outer(np.hanning(H), np.hanning(W))
    ky = np.fft.fftfreq(H)[:, None]
    kx = np.fft.fftfreq(W)[None, :]
    sel = (np.sqrt(kx**2 + ky**2) < 0.15) & (kx != 0)
    g0 = np.fft.fft2(ref * win)
    g = np.fft.fft2(frames * win, axes=(1, 2))
    phase = np.angle(g * np.conj(g0))[:, sel]
    w = np.abs(g0[sel]) ** 2
    k = np.broadcast_to(kx, (H, W))[sel]
    return -(phase * w * k).sum(axis=1) / (2 * np.pi * (w * k * k).sum())


def amplitude(x: np.ndarray, skip: int = 150) -> float:
    x = x[skip:]
    n = int(x.size * TONE / FPS) * int(FPS / TONE)
    t = (np.arange(n) + skip) / FPS
    return float(2 * np.abs(np.mean(x[:n] * np.exp(-2j * np.pi * TONE * t))))


def accuracy(d: Path, size: int, amp: float) -> None:
    import visualmic
    from visualmic.cli import main
    from visualmic.io.video import open_video

    print(f"accuracy: {size}x{size}, 440 Hz, {amp} px, band 300-650 Hz")
    print(f"  {'video':28s} {'factor':>6s} {'measured':>9s} {'error':>7s}")
    for depth, sigma in ((16, 0.0), (8, 1.0)):
        syn = visualmic.synthesize(d / f"tone{depth}.mkv", audio="tone", fps=FPS, duration=0.5,
                                   size=(size, size), amplitude=amp, noise_sigma=sigma,
                                   bit_depth=depth, seed=1)
        src = open_video(syn.video_path).read().astype(np.float64)
        before = amplitude(shift_x(src, src[0]))
        for factor in (2, 5, 10, 20):
            out = d / f"m{depth}_{factor}.mkv"
            with contextlib.redirect_stdout(io.StringIO()):
                main(["magnify", str(syn.video_path), "-o", str(out), "--band", "300,650",
                      "--factor", str(factor), "-q"])
            mag = open_video(out).read().astype(np.float64)
            ratio = amplitude(shift_x(mag, mag[0])) / before
            name = f"{depth}-bit, noise sigma {sigma:g}"
            print(f"  {name:28s} {factor:6d} {ratio:9.3f} {100 * (ratio / factor - 1):+6.1f}%")


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM")


def child(video: str, out: str) -> dict:
    from visualmic.engine.magnify import magnify

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        res = magnify(video, out, band=(300, 650), factor=10)
    return {"frames": res.frames, "seconds": time.perf_counter() - t, "peak_mb": peak_rss_mb()}


def memory(d: Path, size: int, lengths: list[int]) -> None:
    import visualmic

    print(f"memory: {size}x{size}, chunks of 32 frames")
    for n in lengths:
        syn = visualmic.synthesize(d / f"long{n}.mkv", audio="tone", fps=FPS, duration=n / FPS,
                                   size=(size, size), amplitude=0.02, seed=1)
        out = subprocess.run([sys.executable, __file__, "--child", str(syn.video_path),
                              str(d / f"long{n}.x10.mkv")], capture_output=True, text=True,
                             check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        print(f"  {r['frames']:6d} frames: peak {r['peak_mb']:7.1f} MB, "
              f"{r['frames'] / r['seconds']:6.0f} frames/s")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--amplitude", type=float, default=0.02)
    p.add_argument("--frames", type=int, nargs="+", default=[2000, 8000])
    p.add_argument("--child", nargs=2, metavar=("VIDEO", "OUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(*args.child)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        accuracy(d, args.size, args.amplitude)
        memory(d, args.size, args.frames)
    return 0


if __name__ == "__main__":
    sys.exit(main())
