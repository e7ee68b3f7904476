"""Throughput of visualmic against decoding and a per-frame pyrtools implementation.

For each frame size (128x128 and 512x512 by default) a lossless 2200 fps video is
synthesised (FFV1 in Matroska, 0.02 px of motion), then, in this one run, on the same
video, each of these is timed end to end from the file (decoding included), every
one in a fresh subprocess so that its peak memory is its own:

* ``decode``: decoding only (``VideoReader.chunks``), the ceiling for the others;
* ``phase``: ``visualmic.recover(method="phase")``;
* ``fast``: ``visualmic.recover(method="fast")``;
* ``phase-mem``, ``pyrtools-mem``: the two methods alone on frames decoded beforehand
  (the decoder's cost, which bounds every end-to-end ratio, left out);
* ``pyrtools``: a straightforward per-frame implementation of the same method:
  ``pyrtools.pyramids.SteerablePyramidFreq(frame, height=2, order=3, is_complex=True)``
  for every frame, then the same amplitude²-weighted phase difference per band in
  NumPy (for the high-pass variant the pyrtools high-pass residual is split into the
  same oriented bands with an FFT); run on the first ``--pyrtools-frames`` frames.

Two pyramid configurations: ``2x4`` (2 scales x 4 orientations, classical) and
``2x4+hp`` (plus the 4 oriented high-pass bands, the default of ``recover``).
Printed per row: frames/s on the wall clock, frames/s per CPU-second (all threads:
what the work costs, less sensitive to other load), peak RSS, and the ratios
``fast / decode`` and ``phase / pyrtools`` from this same run. It also checks that
the pyrtools implementation computes the same band signals as visualmic's phase
method (``compact=False``).

Run:  python benchmarks/speed.py [--sizes 128 512] [--seconds 2] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

CONFIGS = {"2x4": False, "2x4+hp": True}


# --------------------------------------------------------------------------- pyrtools


def _hp_angular_masks(shape, orientations):
    """The angular masks visualmic applies to the high-pass residual (unshifted FFT order)."""
    from math import factorial

    import scipy.fft as sfft

    H, W = shape
    K = orientations
    order = K - 1
    xr, yr = np.meshgrid(np.linspace(-1, 1, W + 1)[:-1], np.linspace(-1, 1, H + 1)[:-1])
    angle = np.arctan2(yr, xr)
    const = (2 ** (2 * order)) * (factorial(order) ** 2) / float(K * factorial(2 * order))
    masks = []
    for k in range(K):
        alfa = np.mod(np.pi + angle - np.pi * k / K, 2 * np.pi) - np.pi
        amask = 2.0 * np.sqrt(const) * np.cos(alfa) ** order * (np.abs(alfa) < np.pi / 2)
        masks.append(sfft.ifftshift(((-1j) ** order) * amask))
    return masks


def pyrtools_bands(frame, *, highpass, hp_masks):
    """Complex bands of one frame with pyrtools, (level, orientation) order, hp first."""
    import pyrtools as pt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyr = pt.pyramids.SteerablePyramidFreq(frame, height=2, order=3, is_complex=True)
    bands = []
    if highpass:
        spec = np.fft.fft2(pyr.pyr_coeffs["residual_highpass"])
        bands += [np.fft.ifft2(spec * m) for m in hp_masks]
    bands += [pyr.pyr_coeffs[(level, k)] for level in range(2) for k in range(4)]
    return bands


def pyrtools_signals(frames_iter, *, highpass, shape):
    """The phase method, one frame at a time with pyrtools: (n_bands, T)."""
    hp_masks = _hp_angular_masks(shape, 4) if highpass else None
    ref_conj = weights = None
    out = []
    for frame in frames_iter:
        bands = pyrtools_bands(np.asarray(frame, dtype=np.float64), highpass=highpass,
                               hp_masks=hp_masks)
        if ref_conj is None:
            ref_conj = [np.conj(b) for b in bands]
            weights = [np.abs(b) ** 2 for b in bands]
        out.append([np.sum(w * np.angle(b * r)) / w.sum()
                    for b, r, w in zip(bands, ref_conj, weights)])
    return np.array(out).T


# --------------------------------------------------------------------------- one measurement


def measure(kind: str, video: str, config: str, limit: int | None) -> dict:
    """Run one measurement in this process; return fps and peak RSS."""
    import visualmic
    from visualmic.io.video import open_video

    highpass = CONFIGS[config]
    # Warm up on a few frames (imports, FFT plans), outside the timed region.
    import pyrtools  # noqa: F401

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sum(len(c) for c in open_video(video, end=64).chunks(32))
        visualmic.recover(open_video(video, end=256), method="auto", scales=2)
        pyrtools_signals(iter(open_video(video, end=3).read()), highpass=True,
                         shape=open_video(video, end=3).shape)
    reader = open_video(video, end=limit)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if kind == "decode":
        n = sum(len(c) for c in reader.chunks(128))
    elif kind in ("phase", "fast"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = visualmic.recover(reader, method=kind, scales=2, orientations=4,
                                    highpass_bands=highpass)
        n = rec.n_frames
    elif kind == "pyrtools":
        frames = (f for c in reader.chunks(128) for f in c)
        n = pyrtools_signals(frames, highpass=highpass, shape=reader.shape).shape[1]
    elif kind in ("phase-mem", "pyrtools-mem"):  # the method alone, frames already decoded
        from visualmic.core.motion import PhaseMotion
        from visualmic.core.pyramid import SteerablePyramid

        frames = reader.read()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if kind == "phase-mem":
            pyr = SteerablePyramid(reader.shape, scales=2, orientations=4, highpass=highpass)
            motion = PhaseMotion(pyr, frames[0])
            n = sum(motion(frames[i : i + 128]).shape[1] for i in range(0, len(frames), 128))
        else:
            n = pyrtools_signals(iter(frames), highpass=highpass, shape=reader.shape).shape[1]
    else:
        raise SystemExit(f"unknown measurement {kind}")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"frames": n, "fps": n / wall, "cpu_fps": n / cpu, "seconds": wall,
            "maxrss_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (VmHWM: unlike ru_maxrss, reset by exec)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_sub(kind, video, config, limit=None) -> dict:
    cmd = [sys.executable, __file__, "--measure", kind, video, config, str(limit or 0)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def check_same_method(video: str) -> float:
    """Largest relative difference between pyrtools and visualmic phase band signals."""
    from visualmic.io.video import open_video
    from visualmic.core.motion import PhaseMotion
    from visualmic.core.pyramid import SteerablePyramid

    frames = open_video(video, end=64).read()
    worst = 0.0
    for highpass in (False, True):
        ref = pyrtools_signals(iter(frames), highpass=highpass, shape=frames.shape[1:])
        pyr = SteerablePyramid(frames.shape[1:], scales=2, orientations=4, highpass=highpass,
                               dtype=np.float64)
        ours = PhaseMotion(pyr, frames[0].astype(np.float64), compact=False)(
            frames.astype(np.float64))
        scale = np.abs(ref).max(axis=1, keepdims=True)
        worst = max(worst, float(np.max(np.abs(ours - ref) / scale)))
    return worst


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    p.add_argument("--seconds", type=float, default=2.0,
                   help="video length at 128x128 (larger sizes get proportionally fewer "
                   "frames, at least 0.25 s)")
    p.add_argument("--pyrtools-frames", type=int, default=300,
                   help="frames timed for pyrtools at 128x128 (scaled down for larger sizes)")
    p.add_argument("--out", default=None, help="folder for the videos (default: temporary)")
    p.add_argument("--quick", action="store_true", help="128x128 only, 1 s")
    p.add_argument("--measure", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.measure:
        kind, video, config, limit = args.measure
        print(json.dumps(measure(kind, video, config, int(limit) or None)))
        return 0
    if args.quick:
        args.sizes, args.seconds = [128], 1.0

    import visualmic

    out = Path(args.out or tempfile.mkdtemp(prefix="visualmic-speed-"))
    out.mkdir(parents=True, exist_ok=True)
    load = os.getloadavg()
    print(f"# visualmic speed benchmark: {os.cpu_count()} cores, load average "
          f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (other work on the machine lowers "
          "wall-clock numbers; ratios are from this one run)")
    rows = []
    for size in args.sizes:
        seconds = max(0.25, args.seconds * (128 / size) ** 2) if size > 128 else args.seconds
        video = out / f"speed{size}.mkv"
        if not video.exists():
            visualmic.synthesize(video, audio="melody", duration=seconds, amplitude=0.02,
                                 size=(size, size), noise_sigma=1.0, seed=1)
        n_pyr = max(20, int(args.pyrtools_frames * (128 / size) ** 2))
        dec = run_sub("decode", str(video), "2x4")
        for config in CONFIGS:
            res = {"decode": dec}
            for kind in ("phase", "fast"):
                res[kind] = run_sub(kind, str(video), config)
            res["pyrtools"] = run_sub("pyrtools", str(video), config, n_pyr)
            res["phase-mem"] = run_sub("phase-mem", str(video), config)
            res["pyrtools-mem"] = run_sub("pyrtools-mem", str(video), config, n_pyr)
            rows.append((size, config, res))
            print(f"\n{size}x{size}, {config} ({res['phase']['frames']} frames; pyrtools on "
                  f"{res['pyrtools']['frames']})")
            print(f"  {'':10s} {'frames/s':>10s} {'per CPU-s':>10s} {'peak RSS':>10s}")
            for kind in ("decode", "phase", "fast", "pyrtools", "phase-mem", "pyrtools-mem"):
                r = res[kind]
                print(f"  {kind:10s} {r['fps']:10.0f} {r['cpu_fps']:10.0f} "
                      f"{r['maxrss_mb']:8.0f} MB")
            fd = res["fast"]["fps"] / res["decode"]["fps"]
            pp = res["phase"]["fps"] / res["pyrtools"]["fps"]
            pp_cpu = res["phase"]["cpu_fps"] / res["pyrtools"]["cpu_fps"]
            pm = res["phase-mem"]["fps"] / res["pyrtools-mem"]["fps"]
            print(f"  fast / decode = {fd:.2f}   fast = {res['fast']['fps']:.0f} frames/s "
                  f"({res['fast']['fps'] / 2200:.2f}x real time at 2200 fps)")
            print(f"  phase / pyrtools = {pp:.1f}x from the file (per CPU-s {pp_cpu:.1f}x), "
                  f"{pm:.1f}x on decoded frames")
    worst = check_same_method(str(out / f"speed{args.sizes[0]}.mkv"))
    print(f"\npyrtools reference vs visualmic phase method (full bands): max difference "
          f"{100 * worst:.3f}% of each band's peak")
    print("peak memory at 20k vs 80k frames: python benchmarks/memory.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
