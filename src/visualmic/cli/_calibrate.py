"""``visualmic calibrate-rolling VIDEO --tone HZ``: measure a camera's rolling-shutter readout."""

from __future__ import annotations

import argparse
import sys

from . import add_common, non_negative_int, positive_float, positive_int, print_json, progress_bar

HELP = "estimate the rolling-shutter readout of a camera from a video of a known tone"

DESCRIPTION = """\
Film a textured surface vibrating with a pure tone (a sheet of paper or a chip
bag next to a loudspeaker playing e.g. 440-1000 Hz) with the camera to
calibrate, at the frame rate and resolution you will use, and give the tone's
frequency. Within each frame the rows see the tone's phase advance by
2*pi*HZ*line_delay per row; the readout (fraction of the frame period spent
reading the rows) whose phase ramp fits best is printed, ready for
'visualmic recover VIDEO --rolling-shutter READOUT'."""


def _range(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        lo = hi = float("nan")
    if not 0 < lo < hi <= 1:
        raise argparse.ArgumentTypeError(f"--range {text!r} must be LO,HI with 0 < LO < HI <= 1")
    return lo, hi


def register(subparsers) -> None:
    """Add the ``calibrate-rolling`` sub-command."""
    p = subparsers.add_parser("calibrate-rolling", help=HELP, description=DESCRIPTION)
    p.add_argument("video", metavar="VIDEO", help="video file, folder of frames, or .npy array")
    p.add_argument("--tone", type=positive_float, required=True, metavar="HZ",
                   help="frequency of the tone in the video, in Hz")
    p.add_argument("-s", "--sampling-rate", "--fps", dest="fps", type=positive_float,
                   metavar="HZ", help="frame rate in Hz (default: the container's)")
    p.add_argument("--start", type=non_negative_int, default=0, metavar="N",
                   help="first frame to use (default 0)")
    p.add_argument("--end", type=positive_int, default=None, metavar="N",
                   help="stop before this frame (default: the last frame)")
    p.add_argument("--roi", metavar="X,Y,W,H", help="region of interest in pixels")
    p.add_argument("--sensor-rows", type=positive_int, default=None, metavar="N",
                   help="rows of the full sensor frame (default: the video's height)")
    p.add_argument("--range", type=_range, default=(0.05, 1.0), metavar="LO,HI",
                   help="readouts searched (default 0.05,1)")
    p.add_argument("--reference", type=positive_int, default=None, metavar="K",
                   help="frames in the median reference (default 64; fewer for large frames)")
    p.add_argument("--axes", choices=("x", "xy"), default="x",
                   help="x (default): motion along the rows; xy: any direction (uses the "
                   "reference's vertical gradient)")
    p.add_argument("--json", action="store_true", help="print a machine-readable summary")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Estimate and print the readout."""
    from ..engine.rolling import calibrate_rolling
    from ..io.video import parse_roi

    roi = parse_roi(args.roi) if args.roi else None
    callback, close = progress_bar(args, "calibrate")
    try:
        cal = calibrate_rolling(args.video, args.tone, fps=args.fps, sensor_rows=args.sensor_rows,
                                start=args.start, end=args.end, roi=roi,
                                reference=args.reference, bounds=args.range, axes=args.axes,
                                progress=callback)
    finally:
        close()
    if args.json:
        print_json(cal.summary())
    else:
        print(f"readout {cal.readout:.4f} (line delay {cal.line_delay * 1e6:.3f} us, row rate "
              f"{cal.row_rate:.0f} Hz at {cal.fps:g} fps x {cal.sensor_rows} rows); the "
              f"{cal.tone_hz:g} Hz tone explains {100 * cal.explained:.0f} % of the row motion")
    sys.stdout.flush()
    return 0
