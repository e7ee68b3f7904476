"""The research design's results table, filled in: each frame-pair model trained and scored.

For each model (Siamese CNN, FPN, ResNet-50 at reduced input size) this

1. builds a synthetic training set with ``visualmic.learn.data`` (as
   ``visualmic dataset build --synthetic N`` does: random textures, sounds,
   amplitudes 0.05-0.2 px, noise, directions in (-85, 85) degrees), from
   which the hold-out textures are excluded;
2. trains it (``train_model``, the CLI's defaults unless overridden) and
   times the training;
3. renders held-out videos with ``visualmic.synthesize`` — textures and
   sounds the training never saw (speech when espeak-ng is installed, else a
   melody with an unseen seed; tones), 0.1 px peak motion, sensor noise
   sigma = 1, 2200 fps, 128x128, direction 0 unless ``--directions`` says
   otherwise — and generates audio from each with ``generate``;
4. prints, per model and video, the Pearson r of the output against the
   truth (raw, no sign or scale fitting), the RMSE and MAE of the output
   (peak-normalised like the truth) and of predicting zero, the RMSE ratio,
   r and RMSE after least-squares fitting (``visualmic.metrics``), and
   training time and device; then the bar of issue 3 (Siamese: r >= 0.8 and
   RMSE <= 50% of predict-zero; FPN: r >= 0.6).

The machine's load matters: on a shared machine the times are pessimistic.

Run:
    python benchmarks/models.py                              # all, with the research fusions
    python benchmarks/models.py --models siamese --epochs 20 # the bar's recipe only
    python benchmarks/models.py --out /tmp/mb                # keep (and reuse) the data
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from visualmic.learn.data import PairConfig, SyntheticSpec, build_dataset, synthetic_sources
from visualmic.learn.generate import generate
from visualmic.learn.train import ModelTrainConfig, train_model
from visualmic.metrics import evaluate
from visualmic.synth import TEXTURES, synthesize

HOLDOUT_TEXTURES = ("coffee", "brick", "chelsea")


def holdout_videos(out: Path, directions: list[float], seconds: float) -> list[dict]:
    speech = shutil.which("espeak-ng") is not None
    kinds = [("speech" if speech else "melody", 9001), ("tones", 9002), ("melody", 9003)]
    vids = []
    for i, tex in enumerate(HOLDOUT_TEXTURES):
        audio, seed = kinds[i % len(kinds)]
        for d in directions:
            path = out / f"hold_{tex}_{audio}_{d:+.0f}.mkv"
            if not path.exists():
                synthesize(path, audio=audio, texture=tex, amplitude=0.1, noise_sigma=1.0,
                           direction=d, duration=seconds, seed=seed)
            vids.append({"video": path, "truth": path.with_name(path.stem + ".truth.wav"),
                         "texture": tex, "audio": audio, "direction": d})
    return vids


def dataset(out: Path, n: int, duration: float, size: int, every: int, seed: int):
    root = out / f"train_s{size}_e{every}"
    if (root / "dataset.json").exists():
        from visualmic.learn.data import load_dataset

        return load_dataset(root)
    textures = tuple(t for t in TEXTURES if t not in HOLDOUT_TEXTURES)
    spec = SyntheticSpec(duration=duration, textures=textures)
    srcs = synthetic_sources(out / "train_videos", n, spec=spec, seed=seed)
    return build_dataset(root, srcs, config=PairConfig(input_size=size, every=every), seed=seed)


def score(y: np.ndarray, truth: np.ndarray) -> dict:
    n = min(y.size, truth.size)
    y, t = y[:n].astype(np.float64), truth[:n].astype(np.float64)
    fitted = evaluate(y, t, rate=2200.0, max_lag=0)
    zero = float(np.sqrt(np.mean(t**2)))
    rmse = float(np.sqrt(np.mean((y - t) ** 2)))
    # a constant output (a model that did not learn) has no correlation: report 0, not nan
    pearson = float(np.corrcoef(y, t)[0, 1]) if np.std(y) > 0 else 0.0
    return {"pearson": pearson, "rmse": rmse,
            "mae": float(np.mean(np.abs(y - t))), "zero_rmse": zero,
            "zero_mae": float(np.mean(np.abs(t))), "ratio": rmse / zero,
            "fit_pearson": fitted["pearson"], "fit_ratio": fitted["rmse"] / zero}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="siamese,siamese:late,fpn,fpn:late,resnet",
                    help="models to run; NAME:late is the research design's fusion")
    ap.add_argument("--out", default=None, help="working folder (default: a temporary one)")
    ap.add_argument("--videos", type=int, default=8, help="synthetic training videos")
    ap.add_argument("--duration", type=float, default=0.5, help="seconds per training video")
    ap.add_argument("--epochs", type=int, default=20, help="epochs for siamese and fpn")
    ap.add_argument("--resnet-size", type=int, default=64, help="ResNet-50 input size on CPU")
    ap.add_argument("--resnet-epochs", type=int, default=4)
    ap.add_argument("--resnet-every", type=int, default=8,
                    help="use every K-th frame for ResNet-50 (CPU time)")
    ap.add_argument("--resnet-tiles", type=int, default=2, help="tiles per frame at generation")
    ap.add_argument("--directions", default="0", help="hold-out directions in degrees")
    ap.add_argument("--holdout-seconds", type=float, default=2.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the results as JSON here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    import tempfile

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="vm-models-"))
    out.mkdir(parents=True, exist_ok=True)
    dirs = [float(d) for d in args.directions.split(",")]
    t0 = time.perf_counter()
    vids = holdout_videos(out, dirs, args.holdout_seconds)
    print(f"hold-out: {len(vids)} videos ({time.perf_counter() - t0:.0f} s); work in {out}",
          flush=True)
    rows = []
    for spec in args.models.split(","):
        name, _, variant = spec.partition(":")
        if variant == "late" and name == "fpn":
            variant = "none"  # the research design: the pair image alone
        mcfg = {"fusion": variant} if variant else None
        size = args.resnet_size if name == "resnet" else 32
        every = args.resnet_every if name == "resnet" else 1
        t0 = time.perf_counter()
        ds = dataset(out, args.videos, args.duration, size, every, args.seed)
        t_data = time.perf_counter() - t0
        epochs = args.resnet_epochs if name == "resnet" else args.epochs
        cfg = ModelTrainConfig(epochs=epochs, device=args.device, seed=args.seed)
        ckpt = out / f"{spec.replace(':', '-')}.pt"
        res = train_model(ds.root, model=name, model_config=mcfg, config=cfg, save_path=ckpt,
                          on_epoch=lambda r, n=spec: print(
                              f"  {n} epoch {r['epoch']}: val r {r['val']['pearson']:+.3f} "
                              f"({r['seconds']:.0f} s)", flush=True))
        for v in vids:
            gen = generate(ckpt, v["video"],
                           tiles=args.resnet_tiles if name == "resnet" else "auto",
                           device=args.device)
            from visualmic.io.audio import read_audio

            truth, _ = read_audio(v["truth"])
            rows.append({"model": spec, "video": v["video"].name, **score(gen.audio, truth),
                         "train_s": res.seconds, "data_s": t_data, "generate_s": gen.seconds,
                         "samples": len(ds), "epochs": epochs, "device": args.device,
                         "best_epoch": res.best_epoch})
            r = rows[-1]
            print(f"  {spec} {v['video'].name}: r {r['pearson']:+.3f}, RMSE ratio "
                  f"{r['ratio']:.3f} ({gen.seconds:.0f} s)", flush=True)

    print()
    hdr = (f"{'model':12s} {'video':32s} {'RMSE':>7s} {'MAE':>7s} {'Pearson':>8s} "
           f"{'zeroRMSE':>9s} {'ratio':>6s} {'fit r':>6s} {'fit ratio':>9s} "
           f"{'train s':>8s} {'gen s':>6s} device")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print(f"{r['model']:12s} {r['video']:32s} {r['rmse']:7.4f} {r['mae']:7.4f} "
              f"{r['pearson']:+8.3f} {r['zero_rmse']:9.4f} {r['ratio']:6.3f} "
              f"{r['fit_pearson']:6.3f} {r['fit_ratio']:9.3f} {r['train_s']:8.0f} "
              f"{r['generate_s']:6.0f} {r['device']}")
    print()
    for name, need_r, need_ratio in (("siamese", 0.8, 0.5), ("fpn", 0.6, None)):
        sel = [r for r in rows if r["model"] == name]
        if not sel:
            continue
        worst_r = min(r["pearson"] for r in sel)
        worst_ratio = max(r["ratio"] for r in sel)
        ok = worst_r >= need_r and (need_ratio is None or worst_ratio <= need_ratio)
        print(f"bar {name}: worst r {worst_r:+.3f} (need >= {need_r})"
              + (f", worst RMSE ratio {worst_ratio:.3f} (need <= {need_ratio})"
                 if need_ratio else "") + f" -> {'PASS' if ok else 'FAIL'}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
