"""``visualmic magnify VIDEO -o OUT.mkv --band LO,HI --factor A``: phase-based motion magnification."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_common, non_negative_float, positive_float, positive_int, progress_bar
from ._options import add_pyramid_options, add_source_options

HELP = "magnify the motion of a video in a frequency band (Wadhwa et al. 2013)"

DESCRIPTION = """\
Make small vibrations visible: the motion in a temporal frequency band is magnified
A times with the phase-based method of Wadhwa et al. (SIGGRAPH 2013), through the
same complex steerable pyramid as 'recover'. The output is lossless (FFV1/MKV, at
the source's frame rate); --preview also writes an H.264 MP4 for sharing, which
plays in slow motion (30 fps by default). Keep A times the motion below about a
pixel: larger magnified motions wrap and smear.

Example:
  visualmic magnify clip.mkv -o clip.x20.mkv --band 300,500 --factor 20 --preview clip.x20.mp4"""


def parse_band(text: str) -> tuple[float, float]:
    """Argparse type: ``LO,HI`` in Hz with 0 < LO < HI."""
    try:
        lo, hi = (float(v) for v in str(text).split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} must be LO,HI in Hz, e.g. 300,500") from None
    if not (0 < lo < hi < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be LO,HI with 0 < LO < HI (Hz)")
    return lo, hi


def register(subparsers) -> None:
    """Add the ``magnify`` sub-command."""
    p = subparsers.add_parser("magnify", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", metavar="VIDEO", help="video file, folder of frames, or .npy array")
    p.add_argument("-o", "--output", metavar="OUT.mkv",
                   help="lossless output, .mkv (FFV1) or .npy (default: <VIDEO stem>.magnified.mkv)")
    p.add_argument("--band", type=parse_band, required=True, metavar="LO,HI",
                   help="temporal band in Hz whose motion is magnified, inside (0, fps/2)")
    p.add_argument("--factor", type=positive_float, required=True, metavar="A",
                   help="magnification: motion in the band comes out A times as large")
    add_source_options(p)
    g = p.add_argument_group("method")
    add_pyramid_options(g, highpass_bands=False)
    g.add_argument("--order", type=positive_int, default=2, metavar="N",
                   help="Butterworth order of the temporal band-pass (default 2)")
    g.add_argument("--sigma", type=non_negative_float, default=0.0, metavar="PX",
                   help="amplitude-weighted spatial smoothing of the phase, in pixels "
                   "(default 0 = none; 1-2 quiets noisy, texture-less regions)")
    g.add_argument("--chunk-size", type=positive_int, default=32, metavar="N",
                   help="frames per batch (memory vs speed; default 32)")
    g = p.add_argument_group("output")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=None,
                   help="output grey depth (default: as the source)")
    g.add_argument("--preview", metavar="P.mp4",
                   help="also write an H.264 preview for sharing (lossy, 8-bit)")
    g.add_argument("--preview-fps", type=positive_float, default=30.0, metavar="HZ",
                   help="playback rate of the preview (default 30: slow motion)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Magnify and write the video (and preview); print one line."""
    from ..engine.magnify import magnify
    from ..io.video import parse_roi

    v = Path(args.video)
    out = Path(args.output) if args.output else v.with_name(v.stem + ".magnified.mkv")
    roi = parse_roi(args.roi) if args.roi else None
    callback, close = progress_bar(args, "magnify")
    try:
        res = magnify(args.video, out, band=args.band, factor=args.factor, fps=args.fps,
                      start=args.start, end=args.end, roi=roi, downsample=args.downsample,
                      reference=args.reference, scales=args.scales,
                      orientations=args.orientations, order=args.order, sigma=args.sigma,
                      bit_depth=args.bit_depth, chunk_size=args.chunk_size,
                      preview=args.preview, preview_fps=args.preview_fps, progress=callback)
    finally:
        close()
    extra = f", preview {res.preview}" if res.preview else ""
    t = res.timings["total"]
    print(f"{res.output}: {res.frames} frames at {res.fps:g} fps, motion in "
          f"{args.band[0]:g}-{args.band[1]:g} Hz x{args.factor:g}, {res.bit_depth}-bit{extra} "
          f"({res.frames / max(t, 1e-9):.0f} frames/s)")
    sys.stdout.flush()
    return 0
