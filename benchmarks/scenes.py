"""Spatial scenes: how close `visualmic recover` gets to the bound of the vibrating region.

Builds the scenes of the spatial issue's bar with :func:`visualmic.sim.scene.synthesize_scene`
(2200 fps, 0.02-0.05 px, sensor noise 1-1.5 grey levels, 128x128):

* ``patch``      a textured 40x40 patch on a static textured wall;
* ``halves``     a surface whose two halves move in opposite phase (a mode);
* ``small16``    a small 32x32 object in a 16-bit video;
* ``whole``      the whole frame moving (control: nothing to find);
* ``two-tones``  two parts carrying two tones (300 Hz, 700 Hz);
* ``two-sounds`` two patches carrying two different sounds (melody, chirp).

For every vibrating region (mode) it prints the Cramér-Rao bound of the region
(SNR in 80-1000 Hz, the union of its windows) and the SNR (80-1000 Hz,
least-squares scale, best lag within +-3 samples: :func:`visualmic.metrics.snr`,
exactly as ``benchmarks/quality.py`` scores) of:

* ``today``    whole-frame maximum-likelihood recovery, today's default
               (``recover(VIDEO, method="phase", weighting="ml", denoise="none")``);
* ``hand ROI`` the same with the best hand-typed ``roi=`` (each window of the region
               and their bounding box are tried; the best is kept);
* ``default``  ``recover(VIDEO, denoise="none")`` with whatever defaults the package
               has now (``--method`` passes a method), so that this column follows the
               spatial combiner once it is the default.

Gaps (bound - SNR, dB) are summarised over the partial-frame scenes (patch, halves,
small16), which the bar checks (default: mean <= 2 dB, worst <= 3 dB), and for the
whole-frame control.  For ``two-tones`` it also prints each tone's prominence
(peak over the local noise floor, dB) in the default track and with the ROI on its
own part (bar: default within 3 dB of the ROI's).

Run:  python benchmarks/scenes.py [--quick] [--method auto] [--out DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import signal as ssig

import visualmic
from visualmic.metrics import snr
from visualmic.sim.scene import synthesize_scene

BAND = (80.0, 1000.0)
MAX_LAG = 3  # as benchmarks/quality.py
TODAY = dict(method="phase", weighting="ml")


def scenes() -> dict[str, dict]:
    """The benchmark scenes (scene dicts for synthesize_scene, without duration)."""
    return {
        "patch": {"texture": "noise", "noise_sigma": 1.0, "seed": 11, "windows": [
            {"rect": [44, 36, 40, 40], "audio": "melody", "texture": "noise",
             "amplitude": 0.03, "direction": 30}]},
        "halves": {"texture": "brick", "noise_sigma": 1.5, "seed": 12,
                   "sounds": {"m": {"audio": "melody"}}, "windows": [
            {"rect": [0, 0, 64, 128], "sound": "m", "amplitude": 0.04, "direction": 0},
            {"rect": [64, 0, 64, 128], "sound": "m", "amplitude": 0.04, "direction": 0,
             "sign": -1}]},
        "small16": {"texture": "noise", "noise_sigma": 1.5, "bit_depth": 16, "seed": 13,
                    "windows": [{"rect": [70, 24, 32, 32], "audio": "chirp", "texture": "noise",
                                 "amplitude": 0.05, "direction": 60}]},
        "whole": {"texture": "noise", "noise_sigma": 1.0, "seed": 14, "windows": [
            {"rect": [0, 0, 128, 128], "audio": "melody", "amplitude": 0.02, "direction": 20}]},
        "two-tones": {"texture": "noise", "noise_sigma": 1.0, "seed": 15, "windows": [
            {"rect": [0, 0, 64, 128], "audio": "tone", "frequency": 300, "amplitude": 0.03},
            {"rect": [64, 0, 64, 128], "audio": "tone", "frequency": 700, "amplitude": 0.02,
             "direction": 90}]},
        "two-sounds": {"texture": "camera", "noise_sigma": 1.0, "seed": 16, "windows": [
            {"rect": [8, 16, 48, 48], "audio": "melody", "texture": "noise", "amplitude": 0.03},
            {"rect": [72, 64, 48, 48], "audio": "chirp", "texture": "noise", "amplitude": 0.03,
             "direction": 90}]},
    }


def prominence_db(y: np.ndarray, rate: float, f0: float) -> float:
    """Peak PSD within +-3 Hz of ``f0`` over the median PSD 15-60 Hz away (dB)."""
    f, p = ssig.welch(y, fs=rate, nperseg=min(len(y), 2048))
    peak = p[np.abs(f - f0) <= 3].max()
    ring = (np.abs(f - f0) >= 15) & (np.abs(f - f0) <= 60)
    return float(10 * np.log10(peak / np.median(p[ring])))


def _score(audio, truth, rate) -> float:
    return snr(audio, truth, rate=rate, band=BAND, max_lag=MAX_LAG)


def _rois(res, mode: dict) -> list[tuple]:
    """Hand ROIs for a mode: each of its windows, and their bounding box if different."""
    rects = [tuple(res.params["windows"][i]["rect"]) for i in mode["windows"]]
    box = tuple(mode["bbox"])
    h, w = res.params["size"]
    if box not in rects and box != (0, 0, w, h):
        rects.append(box)
    return rects


def run_scene(name: str, spec: dict, out: Path, duration: float, default_kw: dict) -> dict:
    """Synthesize one scene and score every mode; print one row per mode."""
    res = synthesize_scene(out / f"{name}.mkv", dict(spec, duration=duration))
    rate = res.fps
    today = visualmic.recover(res.video_path, denoise="none", **TODAY)
    default = visualmic.recover(res.video_path, denoise="none", **default_kw)
    rows = []
    for m, mode in enumerate(res.params["modes"]):
        truth = res.truths[m]
        best, best_roi, best_audio = -np.inf, None, None
        for roi in _rois(res, mode):
            rec = visualmic.recover(res.video_path, denoise="none", roi=roi, **TODAY)
            s = _score(rec.audio, truth, rate)
            if s > best:
                best, best_roi, best_audio = s, roi, rec.audio
        row = dict(scene=name, mode=m, bound=res.mode_crb_snr_db[m],
                   today=_score(today.audio, truth, rate), roi=best, roi_rect=best_roi,
                   default=_score(default.audio, truth, rate))
        sound = res.params["sounds"][[s["name"] for s in res.params["sounds"]].index(mode["sound"])]
        if sound["audio"] == "tone":
            f0 = sound["frequency"]
            row["prominence"] = {k: prominence_db(a, rate, f0) for k, a in
                                 (("today", today.audio), ("roi", best_audio),
                                  ("default", default.audio))}
            row["f0"] = f0
        rows.append(row)
        print(f"{name:<10} {m:>4} {row['bound']:>7.2f} "
              + "".join(f" {row[k]:>7.2f} {row['bound'] - row[k]:>5.2f}"
                        for k in ("today", "roi", "default"))
              + f"  roi={list(best_roi)}", flush=True)
    return {"rows": rows, "timing": default.timings.get("total", float("nan"))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="0.5 s scenes instead of 2 s")
    ap.add_argument("--duration", type=float, default=None, help="seconds per scene")
    ap.add_argument("--method", default=None, help="method of the 'default' column "
                    "(default: recover's own default)")
    ap.add_argument("--only", action="append", default=None, metavar="SCENE",
                    help="run only this scene (repeatable)")
    ap.add_argument("--out", default=None, help="keep the videos in this folder")
    args = ap.parse_args()
    duration = args.duration or (0.5 if args.quick else 2.0)
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vm-scenes-"))
    out.mkdir(parents=True, exist_ok=True)
    default_kw = {} if args.method is None else {"method": args.method}
    print(f"{'scene':<10} {'mode':>4} {'CRB':>7}"
          + "".join(f" {k + ' SNR':>7} {'gap':>5}" for k in ("today", "ROI", "dflt")))
    t0 = time.perf_counter()
    rows = []
    for name, spec in scenes().items():
        if args.only and name not in args.only:
            continue
        rows += run_scene(name, spec, out, duration, default_kw)["rows"]
    print()
    partial = [r for r in rows if r["scene"] in ("patch", "halves", "small16")]
    for label, sel in (("partial-frame scenes", partial),
                       ("whole-frame control", [r for r in rows if r["scene"] == "whole"])):
        if not sel:
            continue
        for k in ("today", "roi", "default"):
            g = np.array([r["bound"] - r[k] for r in sel])
            print(f"{label:<21} {k:<8} gap to the bound: mean {g.mean():5.2f} dB, "
                  f"worst {g.max():5.2f} dB")
    for r in rows:
        if "prominence" in r:
            p = r["prominence"]
            print(f"two-tones {r['f0']:>4.0f} Hz prominence: default {p['default']:5.1f} dB, "
                  f"ROI on its part {p['roi']:5.1f} dB, today {p['today']:5.1f} dB "
                  f"(default - ROI {p['default'] - p['roi']:+.1f} dB)")
    print(f"({time.perf_counter() - t0:.0f} s, {duration:g} s scenes; videos in {out})")


if __name__ == "__main__":
    main()
