"""Hybrid enhancement vs the classical method on held-out synthetic videos.

For lossless 2200 fps videos written by ``visualmic.synthesize`` (speech with
synth's own espeak-ng voices and texts, which the enhancer never heard in
training; music: the built-in melody and random music from a seed range the
training never used; any texture), this prints per video the Cramér-Rao bound
on the SNR and, for

* ``raw``: ``visualmic recover VIDEO`` (``--denoise none``),
* ``specsub``: ``visualmic recover VIDEO --denoise specsub``,
* ``hybrid``: ``visualmic recover VIDEO --enhance``,

the SNR and segmental SNR (80-1000 Hz band, least-squares scale, best lag
within +-3 samples) and STOI (same fit and band; the summary also gives
full-band STOI), then the averages and the
bar of issue 4: the hybrid's mean SNR gain over the better of raw and specsub
(>= 3 dB), its mean STOI gain over the same (>= 0.05), its worst SNR gain
over raw (>= 0 dB), and the time to enhance a 4 s clip (< 1 s).

Each video is recovered once; ``specsub`` and ``hybrid`` post-process that
recovery exactly as ``recover`` does (checked on the first video against
``recover(..., enhance=...)``).  With ``--out DIR`` the videos and recoveries
are kept and reused, so another checkpoint is scored in seconds.

Run:
    python benchmarks/enhance.py --bar            # the bar's conditions: 0.01-0.03 px, sigma 1-2, 120-160 px
    python benchmarks/enhance.py                  # the issue's sweep: 0.003-0.1 px
    python benchmarks/enhance.py --model M.pt     # a checkpoint of your own
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

import visualmic
from visualmic.core.post import highpass, normalize, spectral_subtraction
from visualmic.learn.enhance import Enhancer, load_enhancer, model_from_checkpoint, read_checkpoint
from visualmic.learn.enhance_train import random_music

BAND = (80.0, 1000.0)


def cases(bar: bool, n: int, seed: int) -> list[dict]:
    from visualmic.sim.synthesize import TEXTURES as ALL

    rng = np.random.default_rng(seed)
    kinds = ["speech", "melody", "speech", "music"]
    out = []
    for i in range(n):
        if bar:
            amp = float(rng.uniform(0.01, 0.03))
            sigma = float(rng.choice([1.0, 1.5, 2.0]))
        else:
            amp = float([0.003, 0.01, 0.03, 0.1][(i // 2) % 4])
            sigma = float(rng.choice([1.0, 1.5, 2.0]))
        out.append(dict(
            kind=kinds[i % len(kinds)],
            amplitude=amp,
            noise_sigma=sigma,
            texture=str(ALL[int(rng.integers(len(ALL)))]),
            size=int(rng.choice([120, 128, 144, 160])),
            bit_depth=int(rng.choice([8, 16])),
            direction=float(rng.uniform(0, 360)),
            seed=10_000 + seed * 100 + i,
        ))
    return out


def render(case: dict, folder: Path, duration: float):
    audio = case["kind"]
    if audio == "music":  # random music from a seed stream training never used
        import soundfile as sf

        y = random_music(2200.0, int(2200 * duration), np.random.default_rng([99, case["seed"]]))
        wav = folder / f"music_{case['seed']}.wav"
        sf.write(str(wav), y.astype(np.float32), 2200, subtype="FLOAT")
        audio = str(wav)
    return visualmic.synthesize(
        folder / f"v{case['seed']}.mkv", audio=audio, fps=2200.0, duration=duration,
        amplitude=case["amplitude"], direction=case["direction"], size=case["size"],
        texture=case["texture"], noise_sigma=case["noise_sigma"], bit_depth=case["bit_depth"],
        seed=case["seed"],
    )


def recovered(case: dict, folder: Path, duration: float):
    """Render (or reuse) a video and its classical recovery, cached in ``folder``."""
    key = json.dumps({**case, "duration": duration}, sort_keys=True)
    cache = folder / f"v{case['seed']}.rec.npz"
    if cache.is_file():
        data = np.load(cache, allow_pickle=False)
        if str(data["key"]) == key:
            meta = json.loads(str(data["meta"]))
            res = SimpleNamespace(video_path=folder / f"v{case['seed']}.mkv", truth=data["truth"],
                                  crb_snr_db=meta["crb_snr_db"])
            return res, data["audio"], data["motion"], meta["fps"]
    res = render(case, folder, duration)
    rec = visualmic.recover(res.video_path)
    np.savez(cache, key=key, truth=res.truth, audio=rec.audio, motion=rec.motion,
             meta=json.dumps({"crb_snr_db": res.crb_snr_db, "fps": rec.fps}))
    return res, rec.audio, rec.motion, rec.fps


def score(audio, truth, rate) -> dict:
    m = visualmic.evaluate(audio, truth, rate=rate, band=BAND, max_lag=3)
    full = visualmic.evaluate(audio, truth, rate=rate, band=None, max_lag=3)
    return {"snr": m["snr_db"], "segsnr": m["segsnr_db"], "stoi": m["stoi"],
            "stoi_full": full["stoi"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bar", action="store_true",
                    help="the bar's conditions (0.01-0.03 px, sigma 1-2) instead of 0.003-0.1 px")
    ap.add_argument("--videos", type=int, default=12, help="number of videos (default 12)")
    ap.add_argument("--duration", type=float, default=4.0, help="seconds per video (default 4)")
    ap.add_argument("--model", default=None, help="enhancer checkpoint (default: the shipped one)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the video grid")
    ap.add_argument("--out", default=None, help="keep the videos, their recoveries (reused by "
                    "later runs with the same settings) and a JSON of results here")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    enhancer = load_enhancer(args.model)
    folder = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="visualmic-enh-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    head = (f"{'kind':7s} {'texture':>10s} {'px':>4s} {'sig':>4s} {'bit':>3s} {'amp':>6s} "
            f"{'CRB':>6s} | {'raw':>6s} {'specsub':>7s} {'hybrid':>6s} | "
            f"{'seg raw':>7s} {'seg ss':>6s} {'seg hyb':>7s} | {'stoi r':>6s} {'stoi s':>6s} "
            f"{'stoi h':>6s}")
    print(head)
    print("-" * len(head))
    checked = False
    for case in cases(args.bar, args.videos, args.seed):
        res, raw_audio, motion, rate = recovered(case, folder, args.duration)
        y = highpass(motion, rate, cutoff=20.0)
        variants = {
            "raw": raw_audio,
            "specsub": normalize(spectral_subtraction(y, rate)),
            "hybrid": normalize(enhancer(y, rate)),
        }
        if not checked:  # the shortcut equals the real pipeline
            full = visualmic.recover(res.video_path, enhance=args.model or True)
            diff = float(np.max(np.abs(full.audio - variants["hybrid"])))
            if diff > 1e-5:
                raise SystemExit(f"post-processing differs from recover(enhance=...): {diff}")
            checked = True
        s = {k: score(v, res.truth, rate) for k, v in variants.items()}
        row = {**case, "crb_snr_db": res.crb_snr_db, **{f"{k}_{m}": v[m] for k, v in s.items()
                                                         for m in ("snr", "segsnr", "stoi", "stoi_full")}}
        rows.append(row)
        print(f"{case['kind']:7s} {case['texture'][:10]:>10s} {case['size']:4d} "
              f"{case['noise_sigma']:4.1f} {case['bit_depth']:3d} {case['amplitude']:6.3f} "
              f"{res.crb_snr_db:6.2f} | {s['raw']['snr']:6.2f} {s['specsub']['snr']:7.2f} "
              f"{s['hybrid']['snr']:6.2f} | {s['raw']['segsnr']:7.2f} {s['specsub']['segsnr']:6.2f} "
              f"{s['hybrid']['segsnr']:7.2f} | {s['raw']['stoi']:6.3f} {s['specsub']['stoi']:6.3f} "
              f"{s['hybrid']['stoi']:6.3f}", flush=True)

    def mean(key):
        return float(np.mean([r[key] for r in rows]))

    best_snr = [max(r["raw_snr"], r["specsub_snr"]) for r in rows]
    best_stoi = [max(r["raw_stoi"], r["specsub_stoi"]) for r in rows]
    gain = np.array([r["hybrid_snr"] for r in rows]) - best_snr
    stoi_gain = np.array([r["hybrid_stoi"] for r in rows]) - best_stoi
    stoi_gain_full = np.array([r["hybrid_stoi_full"] - max(r["raw_stoi_full"],
                                                            r["specsub_stoi_full"]) for r in rows])
    worst = min(r["hybrid_snr"] - r["raw_snr"] for r in rows)
    print("-" * len(head))
    print(f"mean SNR (dB): CRB {mean('crb_snr_db'):.2f}, raw {mean('raw_snr'):.2f}, specsub "
          f"{mean('specsub_snr'):.2f}, hybrid {mean('hybrid_snr'):.2f}")
    print(f"mean segmental SNR (dB): raw {mean('raw_segsnr'):.2f}, specsub "
          f"{mean('specsub_segsnr'):.2f}, hybrid {mean('hybrid_segsnr'):.2f}")
    print(f"mean STOI: raw {mean('raw_stoi'):.3f}, specsub {mean('specsub_stoi'):.3f}, "
          f"hybrid {mean('hybrid_stoi'):.3f}   (full band, no band-pass: raw "
          f"{mean('raw_stoi_full'):.3f}, specsub {mean('specsub_stoi_full'):.3f}, hybrid "
          f"{mean('hybrid_stoi_full'):.3f})")
    for kind in sorted({r["kind"] for r in rows}):
        sel = [i for i, r in enumerate(rows) if r["kind"] == kind]
        print(f"  {kind:7s}: SNR gain over best-of {np.mean(gain[sel]):+.2f} dB, "
              f"STOI gain {np.mean(stoi_gain[sel]):+.3f} ({len(sel)} videos)")

    # Time to enhance a 4 s clip (the enhancer alone, model loaded, after one warm-up call).
    clip = np.random.default_rng(0).standard_normal(int(4 * 2200))
    enhancer(clip, 2200.0)
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        enhancer(clip, 2200.0)
        times.append(time.perf_counter() - t0)
    t_load = time.perf_counter()
    ckpt = read_checkpoint(enhancer.info["path"])
    Enhancer(model_from_checkpoint(ckpt))(clip, 2200.0)
    t_cold = time.perf_counter() - t_load

    print()
    print("bar (issue 4):")
    print(f"  SNR gain over the better of raw and specsub: mean {gain.mean():+.2f} dB "
          f"(>= +3), min {gain.min():+.2f} dB  -> {'PASS' if gain.mean() >= 3 else 'FAIL'}")
    print(f"  STOI gain over the better of raw and specsub: mean {stoi_gain.mean():+.3f} "
          f"(>= +0.05)  -> {'PASS' if stoi_gain.mean() >= 0.05 else 'FAIL'}"
          f"   [full-band STOI: {stoi_gain_full.mean():+.3f}]")
    print(f"  worst SNR gain over raw: {worst:+.2f} dB (>= 0)  -> {'PASS' if worst >= 0 else 'FAIL'}")
    print(f"  enhancing a 4 s clip at 2200 Hz: median {np.median(times) * 1000:.0f} ms "
          f"(reading the checkpoint + first call {t_cold * 1000:.0f} ms)  -> "
          f"{'PASS' if np.median(times) < 1 else 'FAIL'}")
    if args.out:
        (folder / "results.json").write_text(json.dumps(rows, indent=2))
        print(f"results: {folder / 'results.json'}")


if __name__ == "__main__":
    main()
