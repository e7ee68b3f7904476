"""``visualmic evaluate REC.wav TRUTH.wav``: compare recovered audio with the ground truth."""

from __future__ import annotations

import argparse
import json
import math

from . import add_common

HELP = "compare recovered audio with the ground truth (SNR, STOI, ...)"

DESCRIPTION = """\
Compare a recovered WAV file with the ground-truth WAV. The recovered signal
is resampled to the truth's rate if they differ, both are optionally
band-limited (--band), aligned at the best integer lag within --max-lag
samples and the recovered signal is scaled by least squares onto the truth
(so its gain and sign do not matter). Prints SNR, segmental SNR, Pearson r,
RMSE, MAE, STOI and the lag."""


def _band(text: str) -> tuple[float, float]:
    parts = text.replace(" ", "").split(",")
    try:
        lo, hi = (float(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--band {text!r} must be LO,HI in Hz, e.g. --band 80,1000"
        ) from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or not 0 < lo < hi:
        raise argparse.ArgumentTypeError(
            f"--band {text!r} must satisfy 0 < LO < HI, e.g. --band 80,1000"
        )
    return lo, hi


def _max_lag(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"--max-lag {text!r} must be a whole number of samples >= 0"
        )
    return value


def register(subparsers) -> None:
    """Add the ``evaluate`` sub-command."""
    p = subparsers.add_parser("evaluate", help=HELP, description=DESCRIPTION)
    p.add_argument("recovered", metavar="REC.wav", help="recovered audio")
    p.add_argument("truth", metavar="TRUTH.wav", help="ground-truth audio")
    p.add_argument("--band", type=_band, metavar="LO,HI", default=None,
                   help="compare only this band, in Hz (e.g. 80,1000); default the full band")
    p.add_argument("--max-lag", type=_max_lag, default=3, metavar="K",
                   help="largest alignment lag searched, in samples of REC (default 3; "
                        "the same time span is searched if TRUTH has another rate)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    add_common(p)
    p.set_defaults(func=run)


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def format_table(m: dict) -> str:
    """Render the metrics of :func:`visualmic.eval.metrics.evaluate` as an aligned table."""
    band = "full" if m["band"] is None else f"{m['band'][0]:g}-{m['band'][1]:g} Hz"
    rows = [
        ("SNR", _fmt(m["snr_db"], ".2f"), "dB"),
        ("segmental SNR", _fmt(m["segsnr_db"], ".2f"), "dB"),
        ("Pearson r", _fmt(m["pearson"], ".4f"), ""),
        ("RMSE", _fmt(m["rmse"], ".4g"), ""),
        ("MAE", _fmt(m["mae"], ".4g"), ""),
        ("STOI", _fmt(m["stoi"], ".3f"), ""),
        ("lag", f"{m['lag']:d}", "samples"),
        ("scale", _fmt(m["scale"], ".4g"), ""),
        ("band", band, ""),
        ("compared", f"{m['samples']:d}", f"samples at {m['rate']:g} Hz"),
    ]
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    return "\n".join(f"{name:<{width}}  {value:>{vwidth}}  {unit}".rstrip()
                     for name, value, unit in rows)


def run(args: argparse.Namespace) -> int:
    """Read both files, compute the metrics, print them."""
    from ..eval.metrics import evaluate
    from ..io.audio import read_audio

    rec, rec_rate = read_audio(args.recovered)
    truth, truth_rate = read_audio(args.truth)
    metrics = evaluate(rec, truth, rate=rec_rate, ref_rate=truth_rate, band=args.band,
                       max_lag=args.max_lag)
    if args.json:
        print(json.dumps(metrics))
    else:
        print(format_table(metrics))
    return 0
