"""``visualmic dataset build``: frame-pair datasets for the deep-learning models."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from . import add_common, positive_float, positive_int, print_json, progress_bar

HELP = "build a frame-pair dataset for training models"

DESCRIPTION = """\
Cut (reference frame, frame t) pairs -- or (frame t-1, frame t) with
--pairs adjacent -- from videos with their ground-truth audio, label each pair
with the audio at frame t (resampled to the frame rate; normalised per video to
peak 1, or for synthetic videos, whose motion in pixels is known, the
displacement over the dataset's largest so that the label is not ambiguous)
and store them in one memory-mapped array with the research layout's
metadata.csv and SampledData.csv.

Sources: --video V --audio A (repeatable, in pairs), --video-dir DIR (each video
with the audio file of the same name), or --synthetic N random videos rendered
with 'visualmic synth' (random textures, sounds, amplitudes, noise and
directions in a half-plane).

By default each sample is a 32x32 crop at a random position of the frame (the
same position in both frames), which shows the model many different patches of
each surface; 'visualmic generate' then runs the model on a grid of tiles and
combines them."""

BUILD_EPILOG = """\
examples:
  visualmic dataset build --synthetic 8 -o data/
  visualmic dataset build --video a.mkv --audio a.wav --video b.mkv --audio b.wav -o data/
  visualmic dataset build --video-dir recordings/ --input-size 64 -o data64/"""


def _range(text: str) -> tuple[float, float]:
    try:
        parts = [float(p) for p in text.replace(" ", "").split(",")]
    except ValueError:
        parts = []
    if len(parts) == 1:
        parts = parts * 2
    if len(parts) != 2 or not all(math.isfinite(p) for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} must be LO,HI (or one number), e.g. 0.05,0.2")
    return (min(parts), max(parts))


def _names(text: str) -> tuple[str, ...]:
    names = tuple(t for t in (s.strip() for s in text.split(",")) if t)
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} must be a comma-separated list of names")
    return names


def register(subparsers) -> None:
    """Add the ``dataset`` sub-command and its ``build`` action."""
    p = subparsers.add_parser("dataset", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    b = sub.add_parser("build", help="build a dataset from videos and audio, or synthetic videos",
                       description=DESCRIPTION, epilog=BUILD_EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("-o", "--output", required=True, metavar="DIR", help="dataset folder")
    g = b.add_argument_group("sources")
    g.add_argument("--video", action="append", default=[], metavar="VIDEO",
                   help="a video (repeat with one --audio each)")
    g.add_argument("--audio", action="append", default=[], metavar="WAV",
                   help="the ground-truth audio of the preceding --video")
    g.add_argument("--video-dir", metavar="DIR",
                   help="folder of videos, each with an audio file of the same name")
    g.add_argument("--synthetic", type=positive_int, default=0, metavar="N",
                   help="render N random synthetic videos into DIR/videos/")
    g.add_argument("--fps", "-s", "--sampling-rate", dest="fps", type=positive_float,
                   default=None, metavar="HZ",
                   help="frame rate: overrides the videos' (synthetic default 2200)")
    g.add_argument("--roi", metavar="X,Y,W,H", help="region of interest of every video")
    g.add_argument("--audio-offset", type=float, default=0.0, metavar="SECONDS",
                   help="time in the audio of the first frame (default 0)")
    g.add_argument("--stretch", action="store_true",
                   help="stretch the audio to the video's length when they differ by over 1%%")
    g = b.add_argument_group("pairs")
    g.add_argument("--input-size", type=positive_int, default=32, metavar="S",
                   help="side of each half in pixels (default 32: Siamese CNN, FPN; "
                        "ResNet-50: 224 on a GPU, 64 on a CPU)")
    g.add_argument("--pairs", choices=("reference", "adjacent"), default="reference",
                   help="(reference, t) pairs (default) or (t-1, t)")
    g.add_argument("--reference-frames", type=positive_int, default=1, metavar="K",
                   help="average the first K frames into the reference (default 1)")
    g.add_argument("--crop", choices=("random", "grid", "center", "resize"), default="random",
                   help="where halves are cut: random positions (default), every tile, the "
                        "centre, or the whole frame resized (anti-aliased)")
    g.add_argument("--crops-per-frame", type=positive_int, default=1, metavar="K",
                   help="random crops per frame (default 1)")
    g.add_argument("--every", type=positive_int, default=1, metavar="K",
                   help="use every K-th frame (default 1: all)")
    g.add_argument("--labels", choices=("auto", "displacement", "per-video"), default="auto",
                   help="label scale: each video's audio at peak 1, or the displacement in "
                        "pixels over the dataset's largest (auto: displacement when known, as "
                        "for synthetic videos)")
    g.add_argument("--png", action="store_true", help="also write every pair as a PNG file")
    g.add_argument("--seed", type=int, default=0, help="seed of crops and synthetic draws")
    g.add_argument("--overwrite", action="store_true", help="replace an existing dataset")
    g = b.add_argument_group("synthetic videos (--synthetic)")
    g.add_argument("--duration", type=positive_float, default=0.5, metavar="SECONDS",
                   help="seconds per video (default 0.5)")
    g.add_argument("--size", type=positive_int, default=128, metavar="N",
                   help="frame side in pixels (default 128)")
    g.add_argument("--amplitude", type=_range, default=(0.05, 0.2), metavar="LO,HI",
                   help="peak motion in pixels, log-uniform (default 0.05,0.2)")
    g.add_argument("--noise", type=_range, default=(0.5, 2.0), metavar="LO,HI",
                   help="sensor noise sigma in 8-bit grey levels (default 0.5,2)")
    g.add_argument("--direction", type=_range, default=(-85.0, 85.0), metavar="LO,HI",
                   help="motion direction in degrees, keep within a half-plane "
                        "(default -85,85)")
    g.add_argument("--textures", type=_names, default=(), metavar="A,B,...",
                   help="textures to draw from (default: all of 'visualmic synth')")
    g.add_argument("--audio-kinds", type=_names, default=("tones", "chirp", "melody"),
                   metavar="A,B,...", help="sounds, cycled (default tones,chirp,melody)")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=8,
                   help="quantisation of synthetic videos (default 8)")
    g.add_argument("--json", action="store_true", help="print a JSON summary")
    add_common(b)
    b.set_defaults(func=run)
    p.set_defaults(func=lambda args: _no_action(p))


def _no_action(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    """Build the dataset and print a summary."""
    from .._errors import ParameterError
    from ..io.video import parse_roi
    from ..learn.data import (
        PairConfig,
        PairSource,
        SyntheticSpec,
        build_dataset,
        match_video_dir,
        synthetic_sources,
    )

    if len(args.video) != len(args.audio):
        raise ParameterError(f"{len(args.video)} --video but {len(args.audio)} --audio; give one "
                             "--audio after each --video")
    if not (args.video or args.video_dir or args.synthetic):
        raise ParameterError("no sources; give --video V --audio A, --video-dir DIR or "
                             "--synthetic N")
    cfg = PairConfig(input_size=args.input_size, pairs=args.pairs, crop=args.crop,
                     crops_per_frame=args.crops_per_frame,
                     reference_frames=args.reference_frames, every=args.every)
    roi = parse_roi(args.roi) if args.roi else None
    opts = {"fps": args.fps, "roi": roi, "audio_offset": args.audio_offset,
            "stretch": args.stretch}
    sources = [PairSource(v, a, **opts) for v, a in zip(args.video, args.audio)]
    if args.video_dir:
        sources += match_video_dir(args.video_dir, **opts)
    extra = {}
    out = Path(args.output)
    if args.synthetic:
        spec = SyntheticSpec(duration=args.duration, fps=args.fps or 2200.0, size=args.size,
                             amplitude=args.amplitude, noise_sigma=args.noise,
                             direction=args.direction, textures=args.textures,
                             audio=args.audio_kinds, bit_depth=args.bit_depth)
        import dataclasses

        extra["synthetic"] = dataclasses.asdict(spec)
        callback, close = progress_bar(args, "synth", unit="video")
        try:
            sources += synthetic_sources(out / "videos", args.synthetic, spec=spec,
                                         seed=args.seed, progress=callback)
        finally:
            close()
    callback, close = progress_bar(args, "pairs")
    try:
        ds = build_dataset(out, sources, config=cfg, seed=args.seed, labels=args.labels, png=args.png,
                           overwrite=args.overwrite, extra_info=extra, progress=callback)
    finally:
        close()
    summary = {"output": str(out), "samples": len(ds), "videos": len(ds.videos),
               "shape": list(ds.pairs.shape), "config": ds.info["config"],
               "per_video": [{"video_name": v["video_name"], "num_frames": v["num_frames"],
                              "num_samples": v["num_samples"], "frame_rate": v["frame_rate"]}
                             for v in ds.videos]}
    if args.json:
        print_json(summary)
    else:
        s = ds.config.input_size
        print(f"{out}: {len(ds)} pairs of {s}x{2 * s} px from {len(ds.videos)} videos "
              f"({ds.config.pairs} pairs, {ds.config.crop} crops)")
    return 0

