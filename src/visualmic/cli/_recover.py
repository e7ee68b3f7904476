"""``visualmic recover VIDEO -o OUT.wav``: classical recovery (Davis et al. 2014)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import (
    add_common,
    add_force,
    check_outputs,
    non_negative_float,
    positive_float,
    positive_int,
    print_json,
    progress_bar,
    ranged,
    workers,
)
from ._options import (
    add_pyramid_options,
    add_scale_option,
    add_source_options,
    default_output,
    write_spectrogram,
)

HELP = "recover sound from a high-speed video"

DESCRIPTION = """\
Recover the sound that made a surface vibrate, from a high-speed video of it.
Each frame goes through a complex steerable pyramid; local phase differences to
a reference frame are averaged per band (weighted by amplitude squared), the
bands are aligned to the strongest one and combined with noise-based weights,
high-passed, optionally denoised, and written as WAV at the frame rate.

Use lossless video (FFV1, raw, PNG/TIFF frames): lossy codecs such as H.264 or
MJPEG destroy the sub-pixel motion this relies on. The audio band is limited to
half the frame rate."""


def add_figure_options(g) -> None:
    """Spectrogram options (``--spectrogram-size``, ``--db-range``, ``--window``)."""
    g.add_argument("--spectrogram-size", metavar="WxH", default=None,
                   help="spectrogram size in pixels at 100 per inch, e.g. 1200x500 "
                   "(default about 520x360 per panel)")
    g.add_argument("--db-range", type=positive_float, default=80.0, metavar="DB",
                   help="spectrogram colour range in dB below the peak (default 80)")
    g.add_argument("--window", type=positive_float, default=None, metavar="SECONDS",
                   help="spectrogram window length in seconds (default about 0.06)")


def register(subparsers) -> None:
    """Add the ``recover`` sub-command."""
    from ..engine.recover import DEFAULTS

    p = subparsers.add_parser("recover", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", metavar="VIDEO", help="video file, camera file (.cih/.cihx/.mraw, "
                   ".cine, multi-page .tif), folder of frames, or .npy array")
    p.add_argument("-o", "--output", metavar="OUT.wav",
                   help="output audio: .wav, .flac or .ogg, by the extension (default: "
                   "<VIDEO stem>.recovered.wav beside the video)")
    add_source_options(p)
    _add_method_options(p, DEFAULTS)
    _add_output_options(p, DEFAULTS)
    from ._rolling import add_options as add_rolling_options

    add_rolling_options(p)
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def _add_method_options(p: argparse.ArgumentParser, DEFAULTS: dict) -> None:
    """How the motion is measured and combined, and where it is computed."""
    g = p.add_argument_group("method")
    add_pyramid_options(g)
    g.add_argument("--weighting", choices=("spatial", "ml", "uniform"),
                   default=DEFAULTS["weighting"],
                   help="combination: spatial (default; every cell of the frame weighted by "
                   "its own gain, sign and noise, per frequency: finds the vibrating part), ml "
                   "(whole bands, maximum likelihood) or uniform (Davis's plain sum)")
    g.add_argument("--cell", type=positive_int, default=None, metavar="PX",
                   help="cell size in pixels for --weighting spatial (default: about 8 cells "
                   "along the short side, 16 px at 128x128)")
    g.add_argument("--sources", type=_sources, default=None, metavar="N|auto",
                   help="separate N sources (cells whose motion agrees, clustered): an "
                   "N-channel WAV ordered by energy; auto chooses N")
    g.add_argument("--max-lag", type=ranged("max_lag", "--max-lag", integer=True), default=DEFAULTS["max_lag"], metavar="N",
                   help=f"bound on the band alignment shift in samples (default {DEFAULTS['max_lag']})")
    g.add_argument("--chunk-size", type=ranged("chunk_size", "--chunk-size", integer=True), default=DEFAULTS["chunk_size"],
                   metavar="N", help="frames per batch (memory vs speed; default 128)")
    g = p.add_argument_group("speed and scale")
    g.add_argument("--method", choices=("phase", "fast", "auto"), default=DEFAULTS["method"],
                   help="band estimator: auto (default: fast, with the phase method where the "
                   "motion is larger), phase (local phase differences) or fast (linear, one "
                   "matrix product per chunk; for motion below about 0.1 px, warns above)")
    g.add_argument("--device", metavar="DEV", help="run the estimator with PyTorch on DEV "
                   "(cuda, cuda:1, cpu); default: NumPy")
    g.add_argument("--dask", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="process frame ranges in parallel with Dask: a local cluster, or the "
                   "scheduler at ADDRESS (tcp://HOST:8786); put it after VIDEO or write "
                   "--dask=ADDRESS")
    g.add_argument("--workers", type=workers, default=None, metavar="N",
                   help="workers of the local Dask cluster (implies --dask; default: cores)")


def _add_output_options(p: argparse.ArgumentParser, DEFAULTS: dict) -> None:
    """Post-processing and the files written."""
    g = p.add_argument_group("post-processing and output")
    g.add_argument("--highpass", type=ranged("highpass", "--highpass"), default=DEFAULTS["highpass"],
                   metavar="HZ", help="zero-phase high-pass cut-off (default 20; 0 = off)")
    g.add_argument("--denoise", choices=("none", "specsub"), default=DEFAULTS["denoise"],
                   help="spectral subtraction (default none)")
    g.add_argument("--enhance", nargs="?", const=True, default=None, metavar="MODEL.pt",
                   help="hybrid enhancement: a neural network trained on synthetic videos removes "
                   "noise using the structure of sound (the shipped model, or a checkpoint from "
                   "'visualmic train-enhancer'); put it after VIDEO or write --enhance=MODEL.pt")
    g.add_argument("--specsub-window", type=ranged("window", "--specsub-window"), default=0.032, metavar="S",
                   help="spectral subtraction window in seconds (default 0.032)")
    g.add_argument("--specsub-hop", type=ranged("window", "--specsub-hop"), default=None, metavar="S",
                   help="spectral subtraction hop in seconds (default window/4)")
    g.add_argument("--specsub-oversubtraction", type=non_negative_float, default=1.0,
                   metavar="A", help="noise power multiple subtracted (default 1)")
    g.add_argument("--specsub-floor", type=non_negative_float, default=0.01, metavar="B",
                   help="spectral floor, fraction of the noise power (default 0.01)")
    g.add_argument("--output-rate", type=ranged("output_rate", "--output-rate"), default=None, metavar="HZ",
                   help="resample the WAV to this rate (e.g. 44100; many players refuse 2200 Hz)")
    g.add_argument("--pcm16", action="store_true", help="16-bit PCM WAV instead of float32")
    g.add_argument("--spectrogram", metavar="OUT.png", help="also write a spectrogram image: "
                   "PNG, SVG or PDF by the extension")
    add_figure_options(g)
    g.add_argument("--report", metavar="OUT.html", help="also write a self-contained HTML report "
                   "(parameters, warnings, band table, spectrogram, audio players, timings)")
    g.add_argument("--truth", metavar="WAV", help="ground-truth audio: shown beside the "
                   "spectrogram and scored (SNR, correlation, STOI)")
    g.add_argument("--displacement", metavar="OUT.csv",
                   help="also write the signed displacement per frame: t, dx, dy in pixels "
                   "(x right, y down; per source with --sources) as .csv or .npy")
    add_scale_option(g)
    g.add_argument("--json", action="store_true",
                   help="print a machine-readable summary (frames, fps, bands, weights, cells, "
                   "sources, timings)")


def _sources(text: str):
    """Argparse type of ``--sources``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    return positive_int(text)


def run(args: argparse.Namespace) -> int:
    """Recover, write the WAV (and spectrogram, report, displacement), print a summary."""
    from ._rolling import requested as rolling_requested
    from ._rolling import run as run_rolling

    if rolling_requested(args):
        return run_rolling(args)
    from ..io.audio import read_audio
    from ..io.video import input_files

    out = Path(args.output) if args.output else default_output(args.video)
    inputs = (*input_files(args.video), *([args.truth] if args.truth else []))
    _check_outputs(args, out, inputs)
    truth = read_audio(args.truth) if args.truth else None  # fail early on a bad truth file
    rec = _recover(args)
    summary = _write_outputs(args, rec, out, inputs, truth)
    if args.json:
        print_json(summary)
    else:
        _print_summary(rec, out, summary)
    sys.stdout.flush()
    return 0


def _check_outputs(args: argparse.Namespace, out: Path, inputs: tuple) -> None:
    """Every output can be written, none is an input, no two are the same file (--force)."""
    from .._errors import ParameterError

    if args.displacement and Path(args.displacement).suffix.lower() not in (".csv", ".npy"):
        raise ParameterError(f"--displacement {args.displacement!r} must end in .csv or .npy")
    check_outputs(args, (out, args.spectrogram, args.report, args.displacement), inputs)
    check_figure_outputs(args, inputs + (str(out),))


def _recover(args: argparse.Namespace):
    """Call :func:`visualmic.recover` with the command line's options."""
    from .._api import recover
    from ..io.video import parse_roi
    from ._timerange import resolve_frame_range

    start, end = resolve_frame_range(args)  # --start-time/--end-time
    callback, close = progress_bar(args, "recover")
    try:
        return recover(
            args.video, fps=args.fps, start=start, end=end,
            roi=parse_roi(args.roi) if args.roi else None,
            downsample=args.downsample, scales=args.scales, orientations=args.orientations,
            highpass_bands=args.highpass_bands, reference=args.reference,
            max_lag=args.max_lag, weighting=args.weighting, cell=args.cell,
            sources=args.sources, displacement=bool(args.displacement),
            highpass=args.highpass or None, denoise=args.denoise,
            denoise_options={
                "window": args.specsub_window, "hop": args.specsub_hop,
                "oversubtraction": args.specsub_oversubtraction, "floor": args.specsub_floor,
            },
            enhance=args.enhance,
            method=args.method, device=args.device, dask=args.dask, workers=args.workers,
            output_rate=args.output_rate, chunk_size=args.chunk_size, progress=callback,
        )
    finally:
        close()


def _write_outputs(args: argparse.Namespace, rec, out: Path, inputs: tuple, truth) -> dict:
    """Write the audio and every optional output; return the JSON summary."""
    from ..io.audio import write_audio

    audio = rec.sources_audio if rec.sources_audio is not None else rec.audio
    write_audio(out, audio, rec.rate, pcm16=args.pcm16, inputs=inputs)
    summary = rec.summary()
    low = warn_low_rate(rec.rate)
    if low:
        summary["warnings"].append(low)
    summary["output"] = str(out)
    if rec.sources_audio is not None:
        summary["channels"] = int(len(rec.sources_audio))
    if truth is not None:
        from ..eval.metrics import evaluate

        summary["metrics"] = evaluate(rec.audio, truth[0], rate=rec.rate, ref_rate=truth[1],
                                      band=None, max_lag=3)
    if args.spectrogram:
        _write_spectrogram(args, rec, truth, inputs)
        summary["spectrogram"] = str(args.spectrogram)
    if args.displacement:
        _write_displacement(args, rec, inputs + (str(out),))
        summary["displacement"] = str(args.displacement)
    if args.report:
        from ._reporting import recover_report

        recover_report(args, rec, summary, truth=truth, inputs=inputs + (str(out),))
        summary["report"] = str(args.report)
    return summary


def _write_spectrogram(args: argparse.Namespace, rec, truth, inputs: tuple) -> None:
    write_spectrogram(args.spectrogram, rec.audio, rec.rate, "recovered", truth=truth,
                      inputs=inputs, dynamic_range=args.db_range, size=args.spectrogram_size,
                      window=args.window)


def _write_displacement(args: argparse.Namespace, rec, inputs: tuple) -> None:
    from .._validate import displacement_units
    from ..io.displacement import write_displacement

    _, factor = displacement_units(args.scale)
    start = (rec.params.get("start") or 0) / rec.fps
    write_displacement(args.displacement, rec.displacement * factor, fps=rec.fps,
                       start_time=start, inputs=inputs)


def _print_summary(rec, out: Path, summary: dict) -> None:
    t = rec.timings["total"]
    what = (f"{len(rec.sources_audio)} sources" if rec.sources_audio is not None
            else f"{len(rec.bands)} bands")
    print(f"{out}: {rec.n_frames} frames at {rec.fps:g} fps "
          f"({rec.duration:.2f} s of audio at {rec.rate:g} Hz), "
          f"{what}, {rec.n_frames / max(t, 1e-9):.0f} frames/s")
    if "metrics" in summary:
        m = summary["metrics"]
        print(f"vs truth: SNR {m['snr_db']:.2f} dB, r = {m['pearson']:.3f}, "
              f"STOI {m['stoi']:.3f}" if m.get("stoi") is not None else
              f"vs truth: SNR {m['snr_db']:.2f} dB, r = {m['pearson']:.3f}")


def check_figure_outputs(args: argparse.Namespace, inputs: tuple) -> None:
    """Fail before any work on a spectrogram or report name, or size, that cannot be written."""
    from ..eval.plot import figure_format, parse_size
    from ..eval.report import check_report_path
    from ..io.atomic import check_output_path

    if args.spectrogram:
        figure_format(args.spectrogram)
        check_output_path(args.spectrogram, inputs=inputs)
    if args.spectrogram_size:
        parse_size(args.spectrogram_size)
    if args.report:
        check_report_path(args.report, inputs=inputs)


def warn_low_rate(rate: float) -> str | None:
    """Warn (one line) when an audio file's rate is below 8 kHz; return the message or None."""
    if rate >= 8000:
        return None
    import warnings

    from .._errors import VisualMicWarning

    msg = (f"the audio is written at {rate:g} Hz (the frame rate: the faithful choice), which "
           "some players refuse; --output-rate 44100 makes it playable everywhere")
    warnings.warn(msg, VisualMicWarning, stacklevel=2)
    return msg
