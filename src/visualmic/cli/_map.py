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
  visualmic map clip.mkv -o map.png --json --scale 0.05   # millimetres, 0.05 mm/px
  visualmic map clip.mkv -o map.png --report map.html     # one self-contained page
  visualmic map phone.mkv -o map.png --rolling-shutter 0.8  # bands of rows, row rate

With --rolling-shutter READOUT (or --line-delay SECONDS) the video is read as
rolling shutter (docs/rolling.md): each tile is a band of --cell rows across the
whole width, its horizontal motion sampled at the row instants (up to half the
row rate fps*rows/READOUT), the unexposed part of each frame period filled as
--gaps says; "fps" in --json is then the row rate."""


def _band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not LO,HI in Hz (e.g. 80,1000)") from None
    return lo, hi


def register(subparsers) -> None:
    """Add the ``map`` sub-command."""
    from ._options import add_pyramid_options, add_source_options

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
                   "along the short side); with --rolling-shutter, rows per band (default: "
                   "an eighth of the frame, at least 16)")
    g.add_argument("--method", choices=("auto", "phase", "fast"), default="auto",
                   help="band estimator (default auto)")
    add_pyramid_options(g, highpass_bands=False)
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
    g.add_argument("--report", metavar="OUT.html", help="also write ONE self-contained HTML "
                   "page: input, parameters, warnings, the map, the table of cells, timings")
    _add_rolling_options(p)
    add_common(p)
    p.set_defaults(func=run)


def _add_rolling_options(p: argparse.ArgumentParser) -> None:
    from ._rolling import readout_type

    g = p.add_argument_group("rolling shutter (ordinary cameras: a map over bands of rows)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--rolling-shutter", type=readout_type, default=None, metavar="READOUT",
                   help="rolling-shutter video: READOUT in (0, 1] is the fraction of the frame "
                   "period spent reading the rows; frequencies up to half the row rate")
    x.add_argument("--line-delay", type=positive_float, default=None, metavar="SECONDS",
                   help="rolling shutter given by the time between two rows instead")
    g.add_argument("--sensor-rows", type=positive_int, default=None, metavar="N",
                   help="rows of the full sensor frame (default: the video's height)")
    g.add_argument("--gaps", choices=("map", "ar", "linear", "zero"), default=None,
                   help="fill each band's unexposed instants (default map, as recover)")


def run(args: argparse.Namespace) -> int:
    """Compute the map, draw it, print or save the numbers (and the report)."""
    import numpy as np

    out = Path(args.output)
    _check_outputs(args, out)
    rolling = args.rolling_shutter is not None or args.line_delay is not None
    callback, close = progress_bar(args, "map")
    try:
        res = _rolling_map(args, callback) if rolling else _pyramid_map(args, callback)
    finally:
        close()
    _write_outputs(args, out, res)
    if args.json:
        from ..eval.vibmap import map_json

        doc = map_json(res.map)
        if rolling:
            doc["rolling_shutter"] = {k: res.params[k] for k in (
                "readout", "line_delay", "row_rate", "fps", "sensor_rows", "band_rows")}
        print_json(doc)
    else:
        m = res.map
        best = int(np.argmax(m.amplitude[0]))
        x, y, w, h = m.tiles[best]
        what = f"bands of {res.cell} rows" if rolling else f"cells of {res.cell} px"
        print(f"{out}: {len(m.tiles)} {what} over {res.n_frames} frames; "
              f"strongest at x={x}, y={y} ({w}x{h}): {m.amplitude[0, best]:.3g} {m.unit} RMS "
              f"in {m.bands_hz[0][0]:g}-{m.bands_hz[0][1]:g} Hz, peak {m.peak_hz[best]:.0f} Hz")
    sys.stdout.flush()
    return 0


def _check_outputs(args: argparse.Namespace, out: Path) -> None:
    """Every output can be written, none is the input, no two are the same file."""
    from .._errors import ParameterError
    from ..eval.report import check_report_path
    from ..io.atomic import check_output_path

    if out.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise ParameterError(f"map output {str(out)!r} must end in .png, .svg or .pdf")
    check_output_path(out, inputs=(args.video,))
    seen = {out.resolve(): "-o"}
    for flag, path in (("--npz", args.npz), ("--report", args.report)):
        if not path:
            continue
        key = Path(path).resolve()
        if key in seen:
            raise ParameterError(f"{flag} and {seen[key]} name the same file {str(path)!r}; "
                                 "give each output its own path")
        seen[key] = flag
        if flag == "--report":
            check_report_path(path, inputs=(args.video,))
        else:
            check_output_path(path, inputs=(args.video,))
    if args.rolling_shutter is None and args.line_delay is None and (
            args.sensor_rows is not None or args.gaps is not None):
        raise ParameterError("--sensor-rows and --gaps need --rolling-shutter READOUT or "
                             "--line-delay SECONDS")


def _pyramid_map(args: argparse.Namespace, callback):
    from ..engine.vibmap import vibration_map
    from ..io.video import parse_roi
    from ._timerange import resolve_frame_range

    start, end = resolve_frame_range(args)
    return vibration_map(
        args.video, fps=args.fps, start=start, end=end,
        roi=parse_roi(args.roi) if args.roi else None, downsample=args.downsample,
        bands=args.band, cell=args.cell, method=args.method, scales=args.scales,
        orientations=args.orientations, reference=args.reference,
        highpass=args.highpass, chunk_size=args.chunk_size, scale_mm_per_px=args.scale,
        progress=callback)


def _rolling_map(args: argparse.Namespace, callback):
    from .._errors import ParameterError
    from ..engine.rollmap import rolling_map
    from ..io.video import parse_roi
    from ._timerange import resolve_frame_range

    for flag, bad in (("--method", args.method != "auto"), ("--scales", args.scales is not None),
                      ("--orientations", args.orientations != 4)):
        if bad:
            raise ParameterError(f"{flag} does not apply with --rolling-shutter/--line-delay "
                                 "(rows are measured one by one); drop it")
    if args.downsample != 1.0:
        raise ParameterError("--downsample mixes rows exposed at different instants; with "
                             "--rolling-shutter use --roi to reduce the frame instead")
    start, end = resolve_frame_range(args)
    return rolling_map(
        args.video, readout=args.rolling_shutter, line_delay=args.line_delay, fps=args.fps,
        sensor_rows=args.sensor_rows, start=start, end=end,
        roi=parse_roi(args.roi) if args.roi else None, bands=args.band, band_rows=args.cell,
        reference=args.reference if args.reference != 1 else None, gaps=args.gaps or "map",
        highpass=args.highpass, scale_mm_per_px=args.scale,
        chunk_size=None if args.chunk_size == 128 else args.chunk_size, progress=callback)


def _write_outputs(args: argparse.Namespace, out: Path, res) -> None:
    """The figure, the arrays (--npz) and the report (--report)."""
    import numpy as np

    from ..eval.vibmap import map_figure, save_figure
    from ..io.atomic import atomic_path

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
    if args.report:
        from ._reporting import map_report

        map_report(args, res, fig, inputs=(args.video, str(out)))
