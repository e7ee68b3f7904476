"""``visualmic recover VIDEO --rolling-shutter READOUT``: one audio sample per row.

Not a command of its own: :mod:`visualmic.cli._recover` adds the options with
:func:`add_options` and hands the parsed arguments to :func:`run` when one of
them is given.  Recover options of the pyramid method that mean nothing here
are refused with a one-line error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import positive_float, print_json, progress_bar

__all__ = ["readout_type", "add_options", "requested", "run"]

# Options of the pyramid method and their defaults: any other value is refused.
_NOT_APPLICABLE = {
    "scales": "--scales", "orientations": "--orientations", "highpass_bands": "--no-highpass-bands",
    "weighting": "--weighting", "max_lag": "--max-lag", "method": "--method",
    "device": "--device", "dask": "--dask", "workers": "--workers", "enhance": "--enhance",
}


def readout_type(text: str) -> float:
    """Argparse type: a number in (0, 1]."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a readout fraction in (0, 1], e.g. 0.8 (measure it with "
            "'visualmic calibrate-rolling')")
    return value


def add_options(p: argparse.ArgumentParser) -> None:
    """Add ``--rolling-shutter`` / ``--line-delay`` (mutually exclusive) and ``--sensor-rows``."""
    g = p.add_argument_group("rolling shutter (ordinary cameras: one sample per row)")
    x = g.add_mutually_exclusive_group()
    x.add_argument("--rolling-shutter", type=readout_type, default=None, metavar="READOUT",
                   help="treat the video as rolling shutter: READOUT in (0, 1] is the fraction "
                   "of the frame period spent reading the rows; audio comes out at the row "
                   "rate fps*rows/READOUT (60 fps x 256 rows / 0.8 = 19.2 kHz)")
    x.add_argument("--line-delay", type=positive_float, default=None, metavar="SECONDS",
                   help="rolling shutter given by the time between two rows instead")
    g.add_argument("--sensor-rows", type=positive_float, default=None, metavar="N",
                   help="rows of the full sensor frame (default: the video's height)")
    g.add_argument("--gaps", choices=("map", "ar", "linear", "zero"), default=None,
                   help="fill the unexposed part of each frame period: map (default: an AR "
                   "model fills the gaps and denoises the rows by their noise), ar (AR "
                   "interpolation only), linear, or zero")
    g.add_argument("--rolling-axes", choices=("x", "xy"), default=None,
                   help="x (default): motion along the rows; xy: both components per row "
                   "(with the reference's vertical gradient), for vertical or diagonal motion")
    g.add_argument("--rolling-direction", type=float, default=None, metavar="DEG",
                   help="with --rolling-axes xy: direction of the motion in degrees "
                   "(0 = right, 90 = down; default: the principal direction measured)")


_ROLLING_ONLY = ("rolling_shutter", "line_delay", "sensor_rows", "gaps", "rolling_axes",
                 "rolling_direction")


def requested(args: argparse.Namespace) -> bool:
    """Whether the rolling-shutter model (or one of its options) was asked for."""
    return any(getattr(args, a, None) is not None for a in _ROLLING_ONLY)


def _refuse_inapplicable(args: argparse.Namespace) -> None:
    from .._errors import ParameterError
    from ..engine.recover import DEFAULTS

    if args.rolling_shutter is None and args.line_delay is None:
        raise ParameterError("--sensor-rows, --gaps and --rolling-* need --rolling-shutter "
                             "READOUT or --line-delay SECONDS")
    if args.rolling_direction is not None and args.rolling_axes != "xy":
        raise ParameterError("--rolling-direction needs --rolling-axes xy")
    defaults = dict(DEFAULTS, device=None, dask=None, workers=None, enhance=None)
    for attr, flag in _NOT_APPLICABLE.items():
        if getattr(args, attr, defaults.get(attr)) != defaults.get(attr):
            raise ParameterError(f"{flag} does not apply with --rolling-shutter/--line-delay "
                                 "(rows are measured one by one); drop it")
    if args.downsample != 1.0:
        raise ParameterError("--downsample mixes rows exposed at different instants; with "
                             "--rolling-shutter use --roi to reduce the frame instead")
    if args.sensor_rows is not None and not float(args.sensor_rows).is_integer():
        raise ParameterError(f"--sensor-rows {args.sensor_rows:g} must be a whole number of rows")


def run(args: argparse.Namespace) -> int:
    """Recover with :func:`visualmic.engine.rolling.recover_rolling` and write the WAV."""
    from ..engine.recover import DEFAULTS
    from ..engine.rolling import recover_rolling
    from ..io.atomic import check_output_path
    from ..io.audio import read_audio, write_audio
    from ..io.video import parse_roi
    from ._options import default_output

    _refuse_inapplicable(args)
    out = Path(args.output) if args.output else default_output(args.video)
    inputs = tuple(x for x in (args.video, args.truth) if x)
    check_output_path(out, inputs=inputs)
    if args.spectrogram:
        check_output_path(args.spectrogram, inputs=inputs + (str(out),))
    if args.truth:
        truth, truth_rate = read_audio(args.truth)
    roi = parse_roi(args.roi) if args.roi else None
    reference = args.reference if args.reference != DEFAULTS["reference"] else None
    callback, close = progress_bar(args, "recover")
    try:
        rec = recover_rolling(
            args.video, readout=args.rolling_shutter, line_delay=args.line_delay, fps=args.fps,
            sensor_rows=None if args.sensor_rows is None else int(args.sensor_rows),
            start=args.start, end=args.end, roi=roi, reference=reference,
            gaps=args.gaps or "map", axes=args.rolling_axes or "x",
            direction=args.rolling_direction,
            highpass=args.highpass or None, denoise=args.denoise,
            denoise_options={
                "window": args.specsub_window, "hop": args.specsub_hop,
                "oversubtraction": args.specsub_oversubtraction, "floor": args.specsub_floor,
            },
            output_rate=args.output_rate,
            chunk_size=None if args.chunk_size == DEFAULTS["chunk_size"] else args.chunk_size,
            progress=callback,
        )
    finally:
        close()
    write_audio(out, rec.audio, rec.rate, pcm16=args.pcm16, inputs=inputs)
    summary = rec.summary()
    summary["output"] = str(out)
    if args.truth:
        from ..eval.metrics import evaluate

        summary["metrics"] = evaluate(rec.audio, truth, rate=rec.rate, ref_rate=truth_rate,
                                      band=None, max_lag=int(0.02 * rec.rate))
    if args.spectrogram:
        from ._options import write_spectrogram

        write_spectrogram(args.spectrogram, rec.audio, rec.rate, "recovered (rolling shutter)",
                          truth=(truth, truth_rate) if args.truth else None, inputs=inputs)
        summary["spectrogram"] = str(args.spectrogram)
    if args.json:
        print_json(summary)
    else:
        print(f"{out}: {rec.n_frames} frames at {rec.fps:g} fps, rolling shutter "
              f"(readout {rec.readout:.4g}, row rate {rec.row_rate:.0f} Hz): "
              f"{rec.duration:.2f} s of audio at {rec.rate:g} Hz, "
              f"{100 * summary['measured_fraction']:.0f} % of the samples measured"
              + (f", motion along {summary['direction_deg']:.1f} deg"
                 if summary["axes"] == "xy" else ""))
        if args.truth:
            m = summary["metrics"]
            print(f"vs truth: SNR {m['snr_db']:.2f} dB, r = {m['pearson']:.3f}")
    sys.stdout.flush()
    return 0
