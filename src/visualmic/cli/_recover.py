"""``visualmic recover VIDEO -o OUT.wav``: classical recovery (Davis et al. 2014)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import (
    workers,
    ranged,
    add_common,
    add_force,
    check_outputs,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    print_json,
    progress_bar,
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


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Options selecting which pixels and frames are read (shared with other commands)."""
    p.add_argument("-s", "--sampling-rate", "--fps", dest="fps", type=ranged("fps", "--fps"),
                   metavar="HZ", help="frame rate in Hz; overrides the container's "
                   "(required for frame folders and .npy arrays)")
    from ._timerange import GivenStore, add_time_options

    p.add_argument("--start", type=non_negative_int, default=0, metavar="N", action=GivenStore,
                   help="first frame to use (default 0)")
    p.add_argument("--end", type=positive_int, default=None, metavar="N", action=GivenStore,
                   help="stop before this frame (default: the last frame)")
    add_time_options(p, positive_float=positive_float, non_negative_float=non_negative_float)
    p.add_argument("--roi", metavar="X,Y,W,H", help="region of interest in pixels "
                   "(x = column, y = row of the top-left corner, width, height)")
    p.add_argument("--downsample", type=ranged("downsample", "--downsample"), default=1.0, metavar="F",
                   help="shrink frames by F with anti-aliasing (2 or 0.5 halve each side; "
                   "default 1 = none)")


def register(subparsers) -> None:
    """Add the ``recover`` sub-command."""
    from ..engine.recover import DEFAULTS

    p = subparsers.add_parser("recover", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", metavar="VIDEO", help="video file, camera file (.cih/.cihx/.mraw, "
                   ".cine, multi-page .tif), folder of frames, or .npy array")
    p.add_argument("-o", "--output", metavar="OUT.wav",
                   help="output WAV (default: <VIDEO stem>.recovered.wav beside the video)")
    add_source_options(p)
    g = p.add_argument_group("method")
    g.add_argument("--scales", type=ranged("scales", "--scales", integer=True), default=DEFAULTS["scales"], metavar="N",
                   help="pyramid scales (default: as many as the frame size allows)")
    g.add_argument("--orientations", type=ranged("orientations", "--orientations", integer=True), default=DEFAULTS["orientations"],
                   metavar="K", help=f"orientations per scale (default {DEFAULTS['orientations']})")
    g.add_argument("--no-highpass-bands", dest="highpass_bands", action="store_false",
                   help="do not use the oriented high-pass bands (classical pyramid only)")
    g.add_argument("--reference", type=ranged("reference", "--reference", integer=True), default=DEFAULTS["reference"], metavar="K",
                   help="reference frame = mean of the first K frames (default 1)")
    g.add_argument("--weighting", choices=("ml", "uniform"), default=DEFAULTS["weighting"],
                   help="band weights: maximum-likelihood (default) or Davis's plain sum")
    g.add_argument("--max-lag", type=ranged("max_lag", "--max-lag", integer=True), default=DEFAULTS["max_lag"], metavar="N",
                   help=f"bound on the band alignment shift in samples (default {DEFAULTS['max_lag']})")
    g.add_argument("--chunk-size", type=ranged("chunk_size", "--chunk-size", integer=True), default=DEFAULTS["chunk_size"],
                   metavar="N", help="frames per batch (memory vs speed; default 128)")
    g = p.add_argument_group("speed and scale")
    g.add_argument("--method", choices=("phase", "fast", "auto"), default=DEFAULTS["method"],
                   help="band estimator: phase differences (default), fast (linear, one matrix "
                   "product per chunk; for motion below about 0.1 px, warns above) or auto "
                   "(fast, with the phase method where the motion is larger)")
    g.add_argument("--device", metavar="DEV", help="run the estimator with PyTorch on DEV "
                   "(cuda, cuda:1, cpu); default: NumPy")
    g.add_argument("--dask", nargs="?", const=True, default=None, metavar="ADDRESS",
                   help="process frame ranges in parallel with Dask: a local cluster, or the "
                   "scheduler at ADDRESS (tcp://HOST:8786); put it after VIDEO or write "
                   "--dask=ADDRESS")
    g.add_argument("--workers", type=workers, default=None, metavar="N",
                   help="workers of the local Dask cluster (implies --dask; default: cores)")
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
    g.add_argument("--spectrogram", metavar="PNG", help="also write a spectrogram image")
    g.add_argument("--truth", metavar="WAV", help="ground-truth audio: shown beside the "
                   "spectrogram and scored (SNR, correlation, STOI)")
    g.add_argument("--json", action="store_true",
                   help="print a machine-readable summary (frames, fps, bands, weights, timings)")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def default_output(video: str) -> Path:
    """``<stem>.recovered.wav`` beside the video."""
    v = Path(video)
    return v.with_name(v.stem + ".recovered.wav") if v.suffix else v.with_name(v.name + ".recovered.wav")


def run(args: argparse.Namespace) -> int:
    """Recover, write the WAV (and spectrogram), print a summary."""
    from .._api import recover
    from ..io.audio import read_audio, write_audio
    from ..io.video import parse_roi

    out = Path(args.output) if args.output else default_output(args.video)
    from ..io.video import input_files

    inputs = (*input_files(args.video), *([args.truth] if args.truth else []))
    check_outputs(args, (out, args.spectrogram), inputs)
    if args.truth:
        truth, truth_rate = read_audio(args.truth)  # fail early on a bad truth file
    roi = parse_roi(args.roi) if args.roi else None
    from ._timerange import resolve_frame_range

    start, end = resolve_frame_range(args)  # --start-time/--end-time (issue 12)
    callback, close = progress_bar(args, "recover")
    try:
        rec = recover(
            args.video, fps=args.fps, start=start, end=end, roi=roi,
            downsample=args.downsample, scales=args.scales, orientations=args.orientations,
            highpass_bands=args.highpass_bands, reference=args.reference,
            max_lag=args.max_lag, weighting=args.weighting,
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
    write_audio(out, rec.audio, rec.rate, pcm16=args.pcm16, inputs=inputs)
    summary = rec.summary()
    summary["output"] = str(out)
    if args.truth:
        from ..eval.metrics import evaluate

        summary["metrics"] = evaluate(rec.audio, truth, rate=rec.rate, ref_rate=truth_rate,
                                      band=None, max_lag=3)
    if args.spectrogram:
        from ..eval.plot import spectrogram_png

        signals = [(rec.audio, rec.rate)]
        titles = ["recovered"]
        if args.truth:
            signals.append((truth, truth_rate))
            titles.append("ground truth")
        spectrogram_png(args.spectrogram, signals, titles=titles, inputs=inputs)
        summary["spectrogram"] = str(args.spectrogram)
    if args.json:
        print_json(summary)
    else:
        t = rec.timings["total"]
        print(f"{out}: {rec.n_frames} frames at {rec.fps:g} fps "
              f"({rec.duration:.2f} s of audio at {rec.rate:g} Hz), "
              f"{len(rec.bands)} bands, {rec.n_frames / max(t, 1e-9):.0f} frames/s")
        if args.truth:
            m = summary["metrics"]
            print(f"vs truth: SNR {m['snr_db']:.2f} dB, r = {m['pearson']:.3f}, "
                  f"STOI {m['stoi']:.3f}" if m.get("stoi") is not None else
                  f"vs truth: SNR {m['snr_db']:.2f} dB, r = {m['pearson']:.3f}")
    sys.stdout.flush()
    return 0
