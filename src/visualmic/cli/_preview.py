"""``visualmic preview VIDEO -o FRAME.png``: the reference frame with a pixel grid, to choose --roi."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import add_common, positive_int
from ._options import add_source_options

HELP = "write the reference frame with a pixel grid, to choose --roi"

DESCRIPTION = """\
Write the frame 'recover' measures against (the first frame of the range, or the
mean of the first K with --reference) with grid lines and labels in input pixels:
x is the column and y the row, as --roi X,Y,W,H counts them. With --roi the region
is drawn as a box, to check it before a long run. PNG, SVG or PDF by the extension.
The recover options (-s, --start, --end, --roi) are accepted; --downsample is
ignored (the grid is in input pixels)."""


def register(subparsers) -> None:
    """Add the ``preview`` sub-command."""
    p = subparsers.add_parser("preview", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", metavar="VIDEO", help="video file, folder of frames, or .npy array")
    p.add_argument("-o", "--output", metavar="FRAME.png",
                   help="output image: .png, .svg or .pdf (default: <VIDEO stem>.preview.png)")
    add_source_options(p)
    p.add_argument("--reference", type=positive_int, default=1, metavar="K",
                   help="show the mean of the first K frames (default 1)")
    p.add_argument("--grid", type=positive_int, default=None, metavar="PX",
                   help="grid spacing in pixels (default: about ten lines)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the preview image and print its path."""
    from ..eval.preview import write_preview

    v = Path(args.video)
    out = Path(args.output) if args.output else v.with_name(v.stem + ".preview.png")
    write_preview(out, args.video, fps=args.fps, start=args.start, end=args.end, roi=args.roi,
                  reference=args.reference, grid=args.grid)
    print(f"{out}: reference frame with a pixel grid")
    return 0
