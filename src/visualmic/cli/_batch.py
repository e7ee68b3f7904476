"""``visualmic batch VIDEO... -o DIR``: recover many videos in parallel with Dask."""

from __future__ import annotations

import argparse
import sys

from . import (
    add_common,
    add_force,
    print_json,
    ranged,
    workers,
)
from ._options import add_pyramid_options

HELP = "recover many videos in parallel (Dask)"

DESCRIPTION = """\
Recover every VIDEO with the same settings, one Dask task per video, and write
DIR/<video stem>.wav for each. By default a local cluster with one worker per core
runs the tasks; --dask ADDRESS uses a running cluster instead (start one with
`dask scheduler` and `dask worker tcp://HOST:8786` on each machine; every worker
must read the videos at the same paths). --sequential processes the videos one
after the other in this process, without Dask.

A video that fails is reported and the others go on; the exit code is then 1."""


def register(subparsers) -> None:
    """Add the ``batch`` sub-command."""
    from ..engine.recover import DEFAULTS

    p = subparsers.add_parser("batch", help=HELP, description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files")
    p.add_argument("-o", "--output-dir", required=True, metavar="DIR",
                   help="folder for the WAV files (created if missing)")
    p.add_argument("-s", "--sampling-rate", "--fps", dest="fps", type=ranged("fps", "--fps"),
                   metavar="HZ", help="frame rate in Hz for every video (default: each "
                   "container's)")
    p.add_argument("--roi", metavar="X,Y,W,H", help="region of interest, the same for all")
    p.add_argument("--downsample", type=ranged("downsample", "--downsample"), default=1.0, metavar="F",
                   help="shrink frames by F with anti-aliasing (default 1)")
    g = p.add_argument_group("method")
    g.add_argument("--method", choices=("phase", "fast", "auto"), default=DEFAULTS["method"],
                   help="band estimator (default phase)")
    add_pyramid_options(g, reference=False)
    g.add_argument("--highpass", type=ranged("highpass", "--highpass"), default=DEFAULTS["highpass"],
                   metavar="HZ", help="zero-phase high-pass cut-off (default 20; 0 = off)")
    g.add_argument("--denoise", choices=("none", "specsub"), default=DEFAULTS["denoise"],
                   help="spectral subtraction (default none)")
    g.add_argument("--output-rate", type=ranged("output_rate", "--output-rate"), default=None, metavar="HZ",
                   help="resample the WAV files to this rate")
    g.add_argument("--pcm16", action="store_true", help="16-bit PCM WAV instead of float32")
    g = p.add_argument_group("cluster")
    g.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="scheduler address of a running Dask cluster (default: a local cluster)")
    g.add_argument("--workers", type=workers, default=None, metavar="N",
                   help="workers of the local cluster (default: the number of cores)")
    g.add_argument("--sequential", action="store_true",
                   help="no Dask: process the videos one after the other here")
    p.add_argument("--json", action="store_true", help="print one JSON summary of all videos")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Recover the videos; print one line per video (or JSON); exit 1 if any failed."""
    from pathlib import Path

    from .._errors import OutputError, ParameterError
    from ..engine.batch import recover_many
    from ..io.video import parse_roi
    from . import check_outputs, progress_bar

    if args.sequential and (args.dask or args.workers):
        raise ParameterError("--sequential runs without Dask: drop --dask/--workers")
    out_dir = Path(args.output_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {str(out_dir)!r}: "
                          f"{exc.strerror}; choose another -o") from None
    options = dict(
        fps=args.fps, roi=parse_roi(args.roi) if args.roi else None,
        downsample=args.downsample, method=args.method, scales=args.scales,
        orientations=args.orientations, highpass_bands=args.highpass_bands,
        highpass=args.highpass or None, denoise=args.denoise, output_rate=args.output_rate,
    )
    from ..io.video import input_files

    check_outputs(args, [out_dir / f"{Path(v).stem}.wav" for v in args.videos],
                  [f for v in args.videos for f in input_files(v)])
    callback, close = progress_bar(args, "batch", unit="video")
    try:
        if args.sequential:
            items = _sequential(args.videos, out_dir, args.pcm16, callback, options)
        else:
            items = recover_many(args.videos, out_dir, client=args.dask, workers=args.workers,
                                 pcm16=args.pcm16, progress=callback, **options)
    finally:
        close()
    failed = [it for it in items if it.error]
    if args.json:
        print_json([{"video": it.video, "output": it.output, "error": it.error,
                     "summary": it.summary} for it in items])
    else:
        for it in items:
            if it.error:
                print(f"{it.video}: error: {it.error}", file=sys.stderr)
            else:
                s = it.summary
                print(f"{it.output}: {s['frames']} frames at {s['fps']:g} fps "
                      f"({s['duration_s']:.2f} s)")
    return 1 if failed else 0


def _sequential(videos, out_dir, pcm16, callback, options):
    """The batch without Dask (same outputs)."""
    from pathlib import Path

    from .._api import recover
    from .._errors import ParameterError, VisualMicError
    from ..engine.batch import BatchItem
    from ..io.audio import write_audio

    stems: dict = {}
    for v in videos:
        stem = Path(v).stem
        if stem in stems:
            raise ParameterError(f"videos {stems[stem]!r} and {v!r} would both write "
                                 f"{stem}.wav; rename one or process them in separate runs")
        stems[stem] = v
    items = []
    for i, v in enumerate(videos):
        out = out_dir / f"{Path(v).stem}.wav"
        try:
            rec = recover(v, **options)
        except VisualMicError as exc:
            items.append(BatchItem(v, None, None, str(exc)))
        else:
            write_audio(out, rec.audio, rec.rate, pcm16=pcm16, inputs=tuple(videos))
            items.append(BatchItem(v, str(out), rec.summary(), None))
        if callback is not None:
            callback(i + 1, len(videos))
    return items
