"""``visualmic train-enhancer``: (re)train the hybrid enhancer used by ``recover --enhance``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import add_common, add_force, check_outputs, non_negative_int, positive_float, positive_int, print_json, progress_bar

HELP = "train the neural enhancer used by 'recover --enhance'"

DESCRIPTION = """\
Train the hybrid enhancer: a small neural network that takes the classical
motion signal (the combined steerable-pyramid bands) and removes noise using the
structure of sound (harmonics, formants, pauses), beyond what any per-frame
estimator can do.

Training data are synthetic and made here: clean sounds (espeak-ng speech with
training voices and texts, random music, tones, chirps, random object
responses), and videos rendered in memory and recovered with the classical
pipeline, whose estimation noise is remixed with the clean sounds at random
SNRs. Held-out videos (unseen textures, voices, texts and music) are the
validation set. Data are cached in --cache and reused; the checkpoint with the
best validation gain is written to -o, the full training state to -o + '.state'
(for --resume).

Use the result with: visualmic recover VIDEO -o OUT.wav --enhance MODEL.pt"""


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "visualmic" / "enhancer-data"


def register(subparsers) -> None:
    """Add the ``train-enhancer`` sub-command."""
    p = subparsers.add_parser("train-enhancer", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", default="enhancer.pt", metavar="MODEL.pt",
                   help="checkpoint to write (default enhancer.pt)")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help=f"folder for the cached training data (default {_default_cache()})")
    p.add_argument("--resume", action="store_true",
                   help="continue the run saved in MODEL.pt.state (its settings are reused, "
                   "except --steps)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default 0)")
    p.add_argument("--time-limit", type=positive_float, default=None, metavar="MIN",
                   help="stop after this many minutes (checkpointed; continue with --resume)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--steps", type=positive_int, default=None,
                   help="optimiser steps (default 4000; with --resume: train to this many)")
    g.add_argument("--batch-size", type=positive_int, default=16, help="examples per step (default 16)")
    g.add_argument("--learning-rate", type=positive_float, default=2e-3, metavar="LR",
                   help="peak Adam learning rate, cosine schedule (default 2e-3)")
    g.add_argument("--segment", type=positive_float, default=2.0, metavar="S",
                   help="seconds per training example (default 2)")
    g.add_argument("--val-every", type=positive_int, default=200, metavar="N",
                   help="steps between validations and checkpoints (default 200)")
    g.add_argument("--threads", type=positive_int, default=1,
                   help="torch threads (default 1; more only help on an idle machine)")
    g = p.add_argument_group("synthetic data")
    g.add_argument("--speech", type=non_negative_int, default=500, metavar="N",
                   help="clean speech sounds (default 500)")
    g.add_argument("--music", type=non_negative_int, default=400, metavar="N",
                   help="clean music sounds (default 400)")
    g.add_argument("--other", type=non_negative_int, default=100, metavar="N",
                   help="tones and chirps (default 100)")
    g.add_argument("--renders", type=positive_int, default=24, metavar="N",
                   help="videos rendered and recovered for the noise bank (default 24)")
    g.add_argument("--val-videos", type=positive_int, default=12, metavar="N",
                   help="held-out validation videos (default 12)")
    g.add_argument("--fps", type=positive_float, default=2200.0, metavar="HZ",
                   help="frame rate of the synthetic videos (default 2200)")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the data (cached), train, write the checkpoint."""
    from ..learn.enhance_train import TrainConfig, train_enhancer

    (out,) = check_outputs(args, (args.output,))
    cache = Path(args.cache) if args.cache else _default_cache()
    cfg = TrainConfig(
        steps=args.steps or TrainConfig.steps, batch_size=args.batch_size,
        learning_rate=args.learning_rate, segment=args.segment, val_every=args.val_every,
        seed=args.seed, rate=args.fps,
        n_speech=args.speech, n_music=args.music, n_other=args.other, n_renders=args.renders,
        n_val=args.val_videos, threads=args.threads,
    )

    def log(msg: str) -> None:
        if not args.quiet:
            print(f"visualmic train-enhancer: {msg}", file=sys.stderr, flush=True)

    callback, close = progress_bar(args, "train-enhancer", unit="unit")
    try:
        res = train_enhancer(out, cache=cache, config=cfg, resume=args.resume, steps=args.steps,
                             time_limit=args.time_limit * 60 if args.time_limit else None,
                             progress=callback, log=log)
    finally:
        close()
    summary = {"output": str(res.output), "steps": res.step, "best": res.best,
               "seconds": round(res.seconds, 1), "cache": str(cache)}
    if args.json:
        print_json(summary)
    else:
        b = res.best
        if "step" in b:
            print(f"{res.output}: best at step {b['step']}: validation SNR {b['snr_db']:.2f} dB, "
                  f"{b['gain_db']:+.2f} dB over the better of raw and specsub "
                  f"({res.step} steps, {res.seconds / 60:.1f} min)")
        else:
            print(f"{res.output}: no checkpoint improved on the start ({res.step} steps)")
    sys.stdout.flush()
    return 0
