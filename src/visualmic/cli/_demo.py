"""``visualmic demo``: synthesise a clip, recover it, print a metrics table."""

from __future__ import annotations

import argparse

from . import add_common, positive_float, print_json, progress_bar

HELP = "synthesise a video, recover its sound and score it (into ./visualmic-demo/)"


def register(subparsers) -> None:
    """Add the ``demo`` sub-command."""
    p = subparsers.add_parser("demo", help=HELP, description=HELP)
    p.add_argument("--output-dir", default="visualmic-demo", metavar="DIR",
                   help="where to write the files (default ./visualmic-demo)")
    p.add_argument("--duration", type=positive_float, default=2.5, metavar="S",
                   help="seconds of video (default 2.5)")
    p.add_argument("--amplitude", type=positive_float, default=0.02, metavar="PX",
                   help="peak surface motion in pixels (default 0.02)")
    p.add_argument("--texture", default="noise", help="texture (default noise; e.g. camera)")
    p.add_argument("--audio", default="melody", help="sound (default melody; tone, chirp, speech)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the demo and print what it measured."""
    from ..engine.demo import run_demo

    callback, close = progress_bar(args, "demo")
    try:
        res = run_demo(args.output_dir, duration=args.duration, amplitude=args.amplitude,
                       texture=args.texture, audio=args.audio, seed=args.seed,
                       progress=callback)
    finally:
        close()
    if args.json:
        print_json(res)
        return 0
    print(f"visualmic demo: a {res['texture']} surface moved by at most "
          f"{res['amplitude_px']:g} px by a {res['audio']}, {res['frames']} frames at "
          f"{res['fps']:g} fps")
    print()
    print(f"  {'metric (80-1000 Hz)':<26}{'value':>10}")
    print(f"  {'SNR':<26}{res['snr_db']:>10.2f} dB")
    print(f"  {'Cramér-Rao bound on SNR':<26}{res['crb_snr_db']:>10.2f} dB")
    print(f"  {'segmental SNR':<26}{res['segsnr_db']:>10.2f} dB")
    print(f"  {'Pearson r':<26}{res['pearson']:>10.3f}")
    print(f"  {'STOI':<26}{res['stoi']:>10.3f}")
    print(f"  {'recovery speed':<26}{res['frames_per_second']:>10.0f} frames/s")
    print()
    for key in ("video", "truth", "recovered", "recovered_44k", "spectrogram"):
        print(f"  {key:<14} {res[key]}")
    return 0
