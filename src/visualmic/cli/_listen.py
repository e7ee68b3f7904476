"""``visualmic listen``: live recovery from raw frames on stdin or a capture device."""

from __future__ import annotations

import argparse
import sys

from . import (
    add_common,
    add_force,
    check_outputs,
    non_negative_float,
    positive_float,
    positive_int,
    ranged,
)
from ._options import add_pyramid_options

HELP = "recover sound live from frames on stdin or a camera"

DESCRIPTION = """\
Recover sound live: frames come in (raw grey frames on stdin, or a capture device
or any video FFmpeg opens), audio goes out as it is computed, to a WAV file that is
valid at every moment while it grows, or as raw PCM on stdout (-o -).

Processing is causal: the reference frame is taken from the first frames (and
renewed every --rereference seconds), the band weights are estimated on a warm-up
(--warmup) and re-estimated every --update seconds, and the high-pass is a
linear-phase filter. Latency: one block (--block-ms) plus about 0.1 s of filter and
alignment delay plus computation; use the fast estimator (default) to keep up with
a high-speed camera.

Examples:
  ffmpeg -i video.mkv -f rawvideo -pix_fmt gray - | \\
      visualmic listen --raw 128x128 --pix-fmt gray8 --fps 2200 -o live.wav
  visualmic listen --input /dev/video0 --format v4l2 --fps 2000 -o - | aplay -f FLOAT_LE -r 2000"""


def register(subparsers) -> None:
    """Add the ``listen`` sub-command."""
    p = subparsers.add_parser("listen", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    src = p.add_argument_group("input (one of)")
    src.add_argument("--raw", metavar="WxH", help="raw frames of this size on stdin")
    src.add_argument("--input", metavar="URL", help="a capture device (e.g. /dev/video0) or any "
                     "video FFmpeg opens, read as a live source")
    src.add_argument("--pix-fmt", default="gray8",
                     choices=("gray8", "gray", "gray16", "gray16le", "gray16be"),
                     help="sample format of --raw frames (default gray8; gray16 = little-endian)")
    src.add_argument("--format", dest="input_format", metavar="FMT",
                     help="FFmpeg input format of --input (v4l2, avfoundation, dshow, ...)")
    src.add_argument("--input-option", action="append", default=[], metavar="KEY=VALUE",
                     help="FFmpeg option for --input (repeatable), e.g. framerate=2000")
    src.add_argument("--roi", metavar="X,Y,W,H", help="region of interest of --input frames")
    src.add_argument("-s", "--fps", "--sampling-rate", dest="fps", type=ranged("fps", "--fps"),
                     metavar="HZ", help="frame rate in Hz (required with --raw)")
    src.add_argument("--max-frames", type=positive_int, metavar="N",
                     help="stop after N frames (default: at the end of the input)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav",
                   help="WAV file written as it grows, or - for raw PCM on stdout "
                   "(float32 little-endian, or s16le with --pcm16)")
    p.add_argument("--pcm16", action="store_true", help="16-bit samples instead of float32")
    g = p.add_argument_group("method")
    g.add_argument("--method", choices=("fast", "auto", "phase"), default="fast",
                   help="band estimator (default fast; phase is usually slower than real time)")
    g.add_argument("--device", metavar="DEV", help="run the estimator with PyTorch on DEV "
                   "(cuda, cuda:1, cpu); default: NumPy")
    add_pyramid_options(g)
    g.add_argument("--rereference", type=non_negative_float, default=10.0, metavar="S",
                   help="renew the reference every S seconds (default 10; 0 = never)")
    g.add_argument("--highpass", type=ranged("highpass", "--highpass"), default=20.0, metavar="HZ",
                   help="high-pass cut-off (default 20; 0 = off)")
    g.add_argument("--warmup", type=positive_float, default=0.25, metavar="S",
                   help="seconds used for the first band weights (default 0.25)")
    g.add_argument("--update", type=non_negative_float, default=2.0, metavar="S",
                   help="re-estimate the band weights every S seconds (default 2; 0 = never)")
    g.add_argument("--window", type=positive_float, default=2.0, metavar="S",
                   help="seconds of recent signal the re-estimation uses (default 2)")
    g.add_argument("--max-lag", type=ranged("max_lag", "--max-lag", integer=True), default=10, metavar="N",
                   help="bound on band alignment shifts in samples (default 10)")
    g.add_argument("--block-ms", type=positive_float, default=50.0, metavar="MS",
                   help="frames are processed in blocks of this duration (default 50 ms)")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read frames, recover live, write the audio; print a one-line summary on stderr."""
    from .._errors import ParameterError
    from ..engine.stream import listen
    from ..io.live import capture_frames, parse_size, raw_frames
    from ..io.video import parse_roi

    if (args.raw is None) == (args.input is None):
        raise ParameterError("give exactly one input: --raw WxH (frames on stdin) or "
                             "--input URL (a capture device or video)")
    if args.output != "-":
        check_outputs(args, (args.output,), (args.input,) if args.input else ())
    if args.output == "-" and sys.stdout.isatty():
        raise ParameterError("refusing to write raw audio to a terminal; pipe it (-o - | aplay "
                             "...) or give a WAV path")
    if args.raw is not None:
        if args.fps is None:
            raise ParameterError("--raw needs the frame rate: add --fps HZ")
        if args.roi:
            raise ParameterError("--roi applies to --input only; crop raw frames before "
                                 "piping them")
        shape = parse_size(args.raw)
        block = max(1, int(round(args.fps * args.block_ms / 1000)))
        frames = raw_frames(sys.stdin.buffer, shape, pix_fmt=args.pix_fmt, block=block)
        fps = args.fps
    else:
        options = {}
        for item in args.input_option:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ParameterError(f"--input-option {item!r} is not KEY=VALUE")
            options[key] = value
        roi = parse_roi(args.roi) if args.roi else None
        probe_block = 1
        frames, stream_fps, _ = capture_frames(args.input, format=args.input_format,
                                               options=options, block=probe_block, roi=roi)
        fps = args.fps or stream_fps
        if not fps:
            raise ParameterError(f"{args.input!r} declares no frame rate; add --fps HZ")
        block = max(1, int(round(fps * args.block_ms / 1000)))
        frames = _rebatch(frames, block)
    callback = None
    if not args.quiet and args.output != "-":
        from . import progress_bar

        callback, close = progress_bar(args, "listen")
    else:
        close = lambda: None  # noqa: E731
    try:
        result = listen(
            frames, args.output, fps=fps, pcm16=args.pcm16, max_frames=args.max_frames,
            progress=callback, method=args.method, device=args.device, scales=args.scales,
            orientations=args.orientations, highpass_bands=args.highpass_bands,
            reference=args.reference, rereference=args.rereference or None,
            highpass=args.highpass or None, warmup=args.warmup, update=args.update or None,
            window=args.window, max_lag=args.max_lag, background=True,
        )
    finally:
        close()
    if not args.quiet:
        where = "stdout" if args.output == "-" else args.output
        print(f"{where}: {result.samples} samples at {result.rate} Hz from {result.frames} frames "
              f"in {result.seconds:.2f} s ({result.frames / max(result.seconds, 1e-9):.0f} "
              f"frames/s), worst block {1000 * result.max_block_latency:.0f} ms",
              file=sys.stderr)
    return 0


def _rebatch(blocks, size: int):
    """Regroup a stream of frame blocks into blocks of ``size`` frames."""
    import numpy as np

    pending, have = [], 0
    for b in blocks:
        pending.append(b)
        have += len(b)
        if have >= size:
            data = np.concatenate(pending)
            for i in range(0, len(data) - size + 1, size):
                yield data[i : i + size]
            rest = data[(len(data) // size) * size :]
            pending, have = ([rest], len(rest)) if len(rest) else ([], 0)
    if pending:
        yield np.concatenate(pending)
