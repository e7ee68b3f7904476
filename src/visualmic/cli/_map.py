"""``visualmic map VIDEO -o MAP.png``: where the video vibrates, per frequency band."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import add_common, non_negative_float, positive_float, positive_int, print_json, progress_bar

HELP = "vibration map: where things vibrate, how much (px or mm), at which frequency"

DESCRIPTION = """\
Draw a vibration map over the reference frame: the frame is cut into cells, each
cell's motion is measured from every oriented pyramid band (signed, in pixels of
the input frame, x right and y down), and for each frequency band (--band LO,HI,
repeatable; default everything above the high-pass) the map shows each cell's RMS
displacement, with a panel of each cell's dominant frequency. --json prints the
numbers per cell (position, amplitude and SNR per band, dominant frequency,
direction of motion); --npz saves the arrays.

Examples:
  visualmic map clip.mkv -o map.png --band 80,300 --band 300,1000
  visualmic map clip.mkv -o map.png --json --scale 0.05   # millimetres, 0.05 mm/px"""


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO,HI in Hz (e.g. 80,1000)") from None
    return lo, hi


def register(subparsers) -> None:
    """Add the ``map`` sub-command."""
    from ._options import add_source_options

    p = subparsers.add_parser("map", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", metavar="VIDEO", help="video file, camera file, folder of frames, "
                   "or .npy array")
    p.add_argument("-o", "--output", metavar="MAP.png", required=True,
                   help="the map image (.png, .svg or .pdf)")
    add_source_options(p)
    g = p.add_argument_group("map")
    g.add_argument("--band", type=_band, action="append", default=None, metavar="LO,HI",
                   help="frequency band in Hz (repeatable; default: everything above the "
                   "high-pass)")
    g.add_argument("--cell", type=positive_int, default=None, metavar="PX",
                   help="cell size in pixels of the processed frame (default: about 8 cells "
                   "along the short side)")
    g.add_argument("--method", choices=("auto", "phase", "fast"), default="auto",
                   help="band estimator (default auto)")
    g.add_argument("--scales", type=positive_int, default=None, metavar="N",
                   help="pyramid scales (default: as many as the frame size allows)")
    g.add_argument("--orientations", type=positive_int, default=4, metavar="K",
                   help="orientations per scale (default 4)")
    g.add_argument("--reference", type=positive_int, default=1, metavar="K",
                   help="reference frame = mean of the first K frames (default 1)")
    g.add_argument("--highpass", type=non_negative_float, default=20.0, metavar="HZ",
                   help="high-pass cut-off (default 20)")
    g.add_argument("--scale", type=positive_float, default=None, metavar="MM_PER_PX",
                   help="size of an input pixel on the object: displacement in mm")
    g.add_argument("--chunk-size", type=positive_int, default=128, metavar="N",
                   help="frames per batch (default 128)")
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="print the per-cell numbers as JSON")
    g.add_argument("--npz", metavar="FILE.npz", help="also save the arrays (amplitude, snr_db, "
                   "peak_hz, direction_deg, tiles, bands_hz, displacement)")
    add_common(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute the map, draw it, print or save the numbers."""
    import numpy as np

    from .._errors import ParameterError
    from ..engine.vibmap import vibration_map
    from ..eval.vibmap import map_figure, map_json, save_figure
    from ..io.atomic import atomic_path, check_output_path
    from ..io.video import parse_roi
    from ._timerange import resolve_frame_range

    out = Path(args.output)
    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ParameterError(f"map output {str(out)!r} must end in .png, .svg or .pdf")
    check_output_path(out, inputs=(args.video,))
    if args.npz:
        if Path(args.npz).resolve() == out.resolve():
            raise ParameterError("--npz and -o name the same file; give two different paths")
        check_output_path(args.npz, inputs=(args.video, str(out)))
    start, end = resolve_frame_range(args)
    callback, close = progress_bar(args, "map")
    try:
        res = vibration_map(
            args.video, fps=args.fps, start=start, end=end,
            roi=parse_roi(args.roi) if args.roi else None, downsample=args.downsample,
            bands=args.band, cell=args.cell, method=args.method, scales=args.scales,
            orientations=args.orientations, reference=args.reference,
            highpass=args.highpass, chunk_size=args.chunk_size, scale_mm_per_px=args.scale,
            progress=callback)
    finally:
        close()
    fig = map_figure(res.map, res.frame, title=Path(args.video).name)
    save_figure(fig, out, inputs=(args.video,))
    if args.npz:
        m = res.map
        with atomic_path(args.npz, inputs=(args.video,)) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, amplitude=m.amplitude, snr_db=m.snr_db, peak_hz=m.peak_hz,
                         direction_deg=m.direction_deg, tiles=np.asarray(m.tiles),
                         bands_hz=np.asarray(m.bands_hz), displacement=res.displacement,
                         fps=m.fps, unit=m.unit)
    if args.json:
        print_json(map_json(res.map))
    else:
        m = res.map
        best = int(np.argmax(m.amplitude[0]))
        x, y, w, h = m.tiles[best]
        print(f"{out}: {len(m.tiles)} cells of {res.cell} px over {res.n_frames} frames; "
              f"strongest at x={x}, y={y} ({w}x{h}): {m.amplitude[0, best]:.3g} {m.unit} RMS "
              f"in {m.bands_hz[0][0]:g}-{m.bands_hz[0][1]:g} Hz, peak {m.peak_hz[best]:.0f} Hz")
    sys.stdout.flush()
    return 0
