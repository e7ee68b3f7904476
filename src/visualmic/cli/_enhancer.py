"""``visualmic train-enhancer``: (re)train the hybrid enhancer used by ``recover --enhance``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import (
    add_common,
    add_force,
    check_outputs,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    progress_bar,
)

HELP = "train the neural enhancer used by 'recover --enhance'"

DESCRIPTION = """\
Train the hybrid enhancer: a small neural network that takes the classical
motion signal (the combined steerable-pyramid bands) and removes noise using the
structure of sound (harmonics, formants, onsets, pauses), beyond what any
per-frame estimator can do. A safeguard keeps every time-frequency bin that
the classical estimate shows with high confidence, whatever the network says.

Training data are synthetic and made here, at frame rates from 400 fps up:
clean sounds (espeak-ng speech, or synthetic voices without it; music, tones,
chirps, plucked and bowed strings, percussion, engine hums, band-limited
noise, silence; random object responses) mixed at random SNRs with estimation
noise (white, or from videos rendered and recovered with --renders) and
recording artefacts (light flicker, compression, drift). Held-out mixtures at
600-5000 fps are the validation set. Data are cached in --cache and reused;
the checkpoint with the best validation gain is written to -o, the full
training state to -o + '.state' (for --resume).

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
    g.add_argument("--speech", type=non_negative_int, default=300, metavar="N",
                   help="clean speech sounds (default 300; synthetic voices without espeak-ng)")
    g.add_argument("--music", type=non_negative_int, default=250, metavar="N",
                   help="clean music sounds (default 250)")
    g.add_argument("--other", type=non_negative_int, default=120, metavar="N",
                   help="tones and chirps (default 120)")
    for kind, default, what in (("voice", 150, "synthetic voices (speech without espeak-ng)"),
                                ("plucked", 350, "plucked strings"), ("bowed", 150, "bowed strings"),
                                ("percussion", 120, "percussion"),
                                ("hum", 180, "engine and machine hums"),
                                ("noise", 60, "band-limited noises"), ("silence", 30, "silences")):
        g.add_argument(f"--{kind}", type=non_negative_int, default=default, metavar="N",
                       help=f"clean {what} (default {default})")
    g.add_argument("--snr", type=float, nargs=2, default=(3.0, 40.0), metavar=("LO", "HI"),
                   help="in-band SNR range (dB) of 75%% of the training mixtures (default 3 40; "
                   "the rest: -8 to 45)")
    g.add_argument("--renders", type=non_negative_int, default=0, metavar="N",
                   help="videos rendered and recovered for the noise bank (default 0: "
                   "synthetic white noise)")
    g.add_argument("--val-videos", type=positive_int, default=16, metavar="N",
                   help="held-out validation mixtures (default 16)")
    g.add_argument("--init", default="", metavar="MODEL.pt",
                   help="start from this enhancer checkpoint (default: a new model)")
    g.add_argument("--fps", type=positive_float, default=2200.0, metavar="HZ",
                   help="frame rate of the synthetic videos (default 2200)")
    p.add_argument("--json", action="store_true", help="print a JSON summary at the end")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Build the data (cached), train, write the checkpoint."""
    from ..learn.enhance_train import EnhancerTrainConfig, train_enhancer

    (out,) = check_outputs(args, (args.output,))
    cache = Path(args.cache) if args.cache else _default_cache()
    cfg = EnhancerTrainConfig(
        steps=args.steps or EnhancerTrainConfig.steps, batch_size=args.batch_size,
        learning_rate=args.learning_rate, segment=args.segment, val_every=args.val_every,
        seed=args.seed, rate=args.fps,
        n_speech=args.speech, n_music=args.music, n_other=args.other, n_renders=args.renders,
        n_voice=args.voice, n_plucked=args.plucked, n_bowed=args.bowed,
        n_percussion=args.percussion, n_hum=args.hum, n_noise=args.noise, n_silence=args.silence,
        n_val=args.val_videos, threads=args.threads, init=args.init, snr_db=tuple(args.snr),
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
