"""``visualmic train``, ``evaluate-model`` and ``generate``: the deep-learning models."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import (
    add_common,
    check_outputs,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    progress_bar,
    ranged,
)

TRAIN_DESCRIPTION = """\
Train a model that regresses the audio sample of each frame from a frame pair,
on a dataset from 'visualmic dataset build': Adam, MSE loss, StepLR schedule.
The last --val-split of every video (in time, with a gap so that no neighbouring
frames straddle the split) validates each epoch; --kfold K instead trains K
models on K contiguous segments. The best epoch is saved with everything needed
to rebuild the model (architecture, input normalisation fitted on the training
samples only, epoch, metrics); the latest epoch goes to <stem>.last.pt for
--resume, and the run's configuration and history to <stem>.json.

models:
  siamese  shared conv trunk 32-64-128-256 on both halves, head 2048-1024-512-256-1
           (--fusion cross, the default, shows each branch both frames;
           --fusion late is the research design's trunk on each half alone)
  resnet   ResNet-50 trunk per half (torchvision-compatible; --backbone-weights
           loads a local ImageNet checkpoint), head 4096-2048-1024-512-256-1
           (--fusion as for siamese)
  fpn      feature pyramid 16/32/128 over the whole pair (--fusion cross, the
           default, adds the pair with swapped halves as a second channel);
           pooling head (default) or the research design's 839M-weight
           flattening head (--fpn-head flatten)"""

EXAMPLES = """\
examples:
  visualmic dataset build --synthetic 8 -o data/
  visualmic train --model siamese --data-path data/ --save-model siamese.pt --epochs 20
  visualmic generate --model-path siamese.pt clip.mkv -o clip.wav --truth clip.truth.wav"""


def _learn_import():
    """Import the torch-based package or explain how to install it."""
    from .._errors import ModelError

    try:
        import torch  # noqa: F401
    except ModuleNotFoundError:
        raise ModelError("PyTorch is not installed; install it with "
                         "pip install 'visualmic[learn]' (torch==2.13.0)") from None


def _word_or_count(option: str, words: tuple[str, ...]):
    """An argparse type accepting one of ``words`` or a positive integer."""
    allowed = ", ".join(words)

    def parse(text: str):
        if text in words:
            return text
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(
                f"{option} {text!r} must be {allowed} or a positive integer")
        return value

    return parse


_threads = _word_or_count("--threads", ("auto",))
_tiles = _word_or_count("--tiles", ("auto", "all"))


def _set_threads(value) -> int:
    """Set torch's CPU threads (``"auto"``: :func:`visualmic.learn.train.auto_threads`)."""
    import torch

    from ..learn.train import auto_threads

    n = auto_threads() if value == "auto" else int(value)
    torch.set_num_threads(n)
    return n


def register(subparsers) -> None:
    """Add ``train``, ``evaluate-model`` and ``generate``."""
    _register_train(subparsers)
    _register_evaluate(subparsers)
    _register_generate(subparsers)


def _register_train(subparsers) -> None:
    p = subparsers.add_parser("train", help="train a frame-pair model (siamese, resnet, fpn)",
                              description=TRAIN_DESCRIPTION, epilog=EXAMPLES,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=("siamese", "resnet", "fpn"), default="siamese",
                   help="architecture (default siamese)")
    p.add_argument("--data-path", required=True, metavar="DIR", help="dataset folder")
    p.add_argument("--save-model", metavar="PATH", default="model.pt",
                   help="best checkpoint (default model.pt)")
    g = p.add_argument_group("optimisation (research-design defaults)")
    g.add_argument("--epochs", type=positive_int, default=100, help="epochs (default 100)")
    g.add_argument("--batch-size", type=positive_int, default=32, help="batch size (default 32)")
    g.add_argument("--learning-rate", "--lr", type=positive_float, default=1e-3, metavar="LR",
                   help="Adam learning rate (default 1e-3)")
    g.add_argument("--step-size", type=positive_int, default=30, metavar="N",
                   help="StepLR: decay the learning rate every N epochs (default 30)")
    g.add_argument("--gamma", type=positive_float, default=0.1,
                   help="StepLR decay factor (default 0.1)")
    g.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                   help="Adam weight decay (default 0)")
    g.add_argument("--val-split", type=non_negative_float, default=0.2, metavar="F",
                   help="fraction at the end of each video for validation (default 0.2)")
    g.add_argument("--gap", type=non_negative_int, default=32, metavar="FRAMES",
                   help="training frames dropped next to each train/validation boundary (default 32)")
    g.add_argument("--kfold", type=non_negative_int, default=0, metavar="K",
                   help="K-fold cross-validation over contiguous video segments (default off)")
    g.add_argument("--no-augment", dest="augment", action="store_false",
                   help="no random flips of the training pairs")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    g.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                   help="continue from <save-model stem>.last.pt (or PATH)")
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--threads", type=_threads, default="auto", metavar="N|auto",
                   help="CPU threads for torch (default auto: the idle cores)")
    g = p.add_argument_group("architecture")
    g.add_argument("--fusion", choices=("cross", "late"), default="cross",
                   help="cross (default) lets the first convolution see both "
                        "frames at each position; late is the research design")
    g.add_argument("--fpn-head", choices=("pool", "flatten"), default="pool",
                   help="fpn: pooling head (default) or the 81920->10240 flattening head")
    g.add_argument("--dropout", type=non_negative_float, default=0.0,
                   help="dropout between head layers (default 0)")
    g.add_argument("--backbone-weights", metavar="PATH",
                   help="resnet: local torchvision resnet50 state dict (never downloaded)")
    g.add_argument("--freeze-backbone", action="store_true",
                   help="resnet: keep the trunk's weights and BatchNorm statistics fixed")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    add_common(p)
    p.set_defaults(func=run_train)


def _register_evaluate(subparsers) -> None:
    e = subparsers.add_parser("evaluate-model", help="score a trained model on a dataset",
                              description="RMSE, MAE and Pearson r of a trained model's "
                              "predictions on a dataset, beside predicting zero everywhere.")
    e.add_argument("--model-path", required=True, metavar="PATH", help="checkpoint")
    e.add_argument("--data-path", required=True, metavar="DIR", help="dataset folder")
    e.add_argument("--split", choices=("all", "train", "val"), default="all",
                   help="samples scored: all (default) or the training run's split")
    e.add_argument("--batch-size", type=positive_int, default=512, help="pairs per pass")
    e.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    e.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_common(e)
    e.set_defaults(func=run_evaluate)


def _register_generate(subparsers) -> None:
    g = subparsers.add_parser(
        "generate", help="generate audio from a video with a trained model",
        description="Run a trained model over every frame pair of a video (streamed, "
        "batched, on a grid of tiles combined with noise-based weights) and write the "
        "audio at the frame rate.", formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES)
    g.add_argument("video", metavar="VIDEO", help="video file, folder of frames or .npy array")
    g.add_argument("-o", "--output", metavar="OUT.wav",
                   help="output WAV (default <VIDEO stem>.generated.wav)")
    g.add_argument("--model-path", required=True, metavar="PATH", help="checkpoint")
    g.add_argument("-s", "--sampling-rate", "--fps", dest="fps", type=ranged("fps", "--fps"),
                   metavar="HZ", help="frame rate in Hz (overrides the container's)")
    g.add_argument("--start", type=non_negative_int, default=0, metavar="N", help="first frame")
    g.add_argument("--end", type=positive_int, default=None, metavar="N",
                   help="stop before this frame")
    g.add_argument("--roi", metavar="X,Y,W,H", help="region of interest in pixels")
    g.add_argument("--tiles", type=_tiles, default="auto", metavar="auto|all|N",
                   help="tiles per frame, those with the most texture (default auto: up to 8)")
    g.add_argument("--combine", choices=("ml", "mean"), default="ml",
                   help="tile combination: noise-based weights (default) or the mean")
    g.add_argument("--highpass", type=ranged("highpass", "--highpass"), default=20.0, metavar="HZ",
                   help="zero-phase high-pass cut-off (default 20; 0 = off)")
    g.add_argument("--no-normalize", dest="normalize", action="store_false",
                   help="keep the model's scale (default: peak 1)")
    g.add_argument("--output-rate", type=ranged("output_rate", "--output-rate"), default=None, metavar="HZ",
                   help="resample the output WAV (e.g. 44100)")
    g.add_argument("--pcm16", action="store_true", help="16-bit PCM WAV instead of float32")
    g.add_argument("--spectrogram", metavar="PNG", help="also write a spectrogram image")
    g.add_argument("--truth", metavar="WAV",
                   help="ground-truth audio: shown beside the spectrogram and scored")
    g.add_argument("--batch-size", type=positive_int, default=512, help="pairs per pass")
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--threads", type=_threads, default="auto", metavar="N|auto",
                   help="CPU threads for torch (default auto: the idle cores)")
    g.add_argument("--json", action="store_true", help="print a JSON summary")
    add_common(g)
    g.set_defaults(func=run_generate)


def _fmt(m: dict | None) -> str:
    if not m:
        return "-"
    return (f"loss {m['loss']:.4f} rmse {m['rmse']:.4f} mae {m['mae']:.4f} "
            f"r {m['pearson']:+.3f}")


def run_train(args: argparse.Namespace) -> int:
    """Train and save the best checkpoint."""
    _learn_import()
    from ..learn.train import ModelTrainConfig, train_model

    threads = _set_threads(args.threads)

    cfg = ModelTrainConfig(epochs=args.epochs, batch_size=args.batch_size,
                      learning_rate=args.learning_rate, step_size=args.step_size,
                      gamma=args.gamma, weight_decay=args.weight_decay, val_split=args.val_split,
                      gap=args.gap, kfold=args.kfold, augment=args.augment, seed=args.seed,
                      device=args.device, threads=threads)
    mcfg: dict = {"dropout": args.dropout}
    if args.model == "siamese":
        mcfg["fusion"] = args.fusion
    elif args.model == "fpn":
        mcfg["head"] = args.fpn_head
        mcfg["fusion"] = "none" if args.fusion == "late" else "cross"
    elif args.model == "resnet":
        mcfg["freeze_backbone"] = args.freeze_backbone
        mcfg["fusion"] = args.fusion
    if args.model == "resnet" and not args.backbone_weights and not args.quiet:
        print("visualmic train: note: ResNet-50 starts from random weights (give "
              "--backbone-weights PATH to start from a local ImageNet checkpoint)",
              file=sys.stderr)
    quiet = args.quiet or args.json

    def on_epoch(rec: dict) -> None:
        if quiet:
            return
        fold = "" if rec.get("fold") is None else f"fold {rec['fold'] + 1} "
        print(f"{fold}epoch {rec['epoch']:3d}/{args.epochs}  train {_fmt(rec['train'])}  |  "
              f"val {_fmt(rec['val'])}  lr {rec['lr']:.1e}  {rec['seconds']:.1f}s", flush=True)

    callback, close = progress_bar(args, "train", unit="batch")
    try:
        res = train_model(args.data_path, model=args.model, model_config=mcfg, config=cfg,
                          save_path=args.save_model, resume=args.resume,
                          backbone_weights=args.backbone_weights, on_epoch=on_epoch,
                          progress=callback)
    finally:
        close()
    ck = res.checkpoint
    summary = {"model": args.model, "save_model": str(res.path), "best_epoch": res.best_epoch,
               "metrics": ck["metrics"], "folds": res.folds, "seconds": res.seconds,
               "device": args.device, "threads": threads}
    if args.json:
        print_json(summary)
    else:
        m = ck["metrics"]
        which = "val" if m.get("val") else "train"
        print(f"{res.path}: best epoch {res.best_epoch} ({which} {_fmt(m.get(which))}), "
              f"{res.seconds:.0f} s on {args.device}"
              + (f" ({threads} threads)" if args.device == "cpu" else ""))
        for f in res.folds:
            print(f"  fold {f['fold'] + 1}: best epoch {f['best_epoch']}, val {_fmt(f['val'])}")
        if res.folds:
            vals = [f["val"]["rmse"] for f in res.folds if f["val"]]
            rs = [f["val"]["pearson"] for f in res.folds if f["val"]]
            if vals:
                print(f"  mean over folds: val rmse {sum(vals) / len(vals):.4f}, "
                      f"r {sum(rs) / len(rs):+.3f}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    """Score a model against predict-zero."""
    _learn_import()
    from ..learn.generate import evaluate_model

    res = evaluate_model(args.model_path, args.data_path, split=args.split,
                         batch_size=args.batch_size, device=args.device)
    if args.json:
        print_json(res)
        return 0
    m, z = res["model"], res["zero"]
    print(f"{res['model_name']} on {res['data_path']} ({res['split']}, {res['n']} pairs)")
    print(f"{'':14s}{'RMSE':>9s}{'MAE':>9s}{'Pearson':>9s}")
    print(f"{'model':14s}{m['rmse']:9.4f}{m['mae']:9.4f}{m['pearson']:9.3f}")
    print(f"{'predict zero':14s}{z['rmse']:9.4f}{z['mae']:9.4f}{'n/a':>9s}")
    ratio = m["rmse"] / z["rmse"] if z["rmse"] > 0 else math.nan
    print(f"RMSE / predict-zero RMSE = {ratio:.3f}")
    return 0


def default_output(video: str) -> Path:
    """``<stem>.generated.wav`` beside the video."""
    v = Path(video)
    return v.with_name(v.stem + ".generated.wav")


def run_generate(args: argparse.Namespace) -> int:
    """Generate audio from a video and write it."""
    _learn_import()
    from ..io.audio import read_audio, write_audio
    from ..io.video import parse_roi
    from ..learn.generate import generate

    _set_threads(args.threads)
    out = Path(args.output) if args.output else default_output(args.video)
    from ..io.video import input_files

    inputs = (*input_files(args.video), *(x for x in (args.truth, args.model_path) if x))
    check_outputs(args, (out, args.spectrogram), inputs)
    if args.truth:
        truth, truth_rate = read_audio(args.truth)
    roi = parse_roi(args.roi) if args.roi else None
    callback, close = progress_bar(args, "generate")
    try:
        gen = generate(args.model_path, args.video, fps=args.fps, roi=roi, start=args.start,
                       end=args.end, tiles=args.tiles, combine=args.combine,
                       highpass=args.highpass or None, normalize=args.normalize,
                       batch_size=args.batch_size, device=args.device, progress=callback)
    finally:
        close()
    audio, rate = gen.audio, gen.rate
    if args.output_rate:
        from ..core.post import resample

        audio, rate = resample(audio, gen.rate, args.output_rate), args.output_rate
    write_audio(out, audio, rate, pcm16=args.pcm16, inputs=inputs)
    summary = {"output": str(out), "frames": int(gen.audio.size), "fps": gen.rate,
               "rate": rate, "tiles": gen.tiles, "weights": gen.weights,
               "seconds": gen.seconds}
    if args.truth:
        from ..eval.metrics import evaluate

        summary["metrics"] = evaluate(gen.audio, truth, rate=gen.rate, ref_rate=truth_rate,
                                      max_lag=3)
    if args.spectrogram:
        from ._options import write_spectrogram

        write_spectrogram(args.spectrogram, gen.audio, gen.rate, "generated",
                          truth=(truth, truth_rate) if args.truth else None, inputs=inputs)
        summary["spectrogram"] = str(args.spectrogram)
    if args.json:
        print_json(summary)
    else:
        print(f"{out}: {gen.audio.size} frames at {gen.rate:g} fps, {len(gen.tiles)} tiles, "
              f"{gen.audio.size / max(gen.seconds, 1e-9):.0f} frames/s")
        if args.truth:
            m = summary["metrics"]
            print(f"vs truth: r = {m['pearson']:.3f}, RMSE {m['rmse']:.4f}, "
                  f"SNR {m['snr_db']:.2f} dB")
    return 0
