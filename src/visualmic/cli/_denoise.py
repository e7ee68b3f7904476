"""``visualmic denoise IN.wav -o OUT.wav``: standalone spectral subtraction."""

from __future__ import annotations

import argparse

from . import add_common, add_force, check_outputs, non_negative_float, positive_float, ranged

HELP = "remove stationary noise from a WAV file (spectral subtraction)"

DESCRIPTION = """\
Spectral subtraction as in Davis et al. (2014): the noise power of each
frequency is estimated as a quantile over time (the median by default) of the
short-time power, subtracted (times --oversubtraction) and limited below by
--floor times the noise power. The output keeps the input's length and, unless
--output-rate is given, its sampling rate; it never overwrites the input."""


def register(subparsers) -> None:
    """Add the ``denoise`` sub-command."""
    p = subparsers.add_parser("denoise", help=HELP, description=DESCRIPTION)
    p.add_argument("input", metavar="IN.wav", help="audio to denoise")
    p.add_argument("-o", "--output", required=True, metavar="OUT.wav",
                   help="denoised audio (WAV, float32 unless --pcm16)")
    p.add_argument("--window", type=ranged("window", "--window"), default=0.032, metavar="S",
                   help="STFT window in seconds (default 0.032)")
    p.add_argument("--hop", type=ranged("window", "--hop"), default=None, metavar="S",
                   help="STFT hop in seconds, at most half the window (default window/4)")
    p.add_argument("--oversubtraction", type=non_negative_float, default=1.0, metavar="A",
                   help="multiple of the noise power subtracted (default 1; 0 = no change)")
    p.add_argument("--floor", type=non_negative_float, default=0.01, metavar="B",
                   help="spectral floor as a fraction of the noise power (default 0.01)")
    p.add_argument("--noise-quantile", type=positive_float, default=0.5, metavar="Q",
                   help="quantile over time of each frequency's power taken as noise, "
                        "in (0, 1) (default 0.5, the median)")
    p.add_argument("--output-rate", type=ranged("output_rate", "--output-rate"), default=None, metavar="HZ",
                   help="resample the output to this rate in Hz (e.g. 44100)")
    p.add_argument("--pcm16", action="store_true", help="write 16-bit PCM instead of float32")
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read, denoise, optionally resample, write atomically."""
    import warnings

    import numpy as np

    from .._errors import VisualMicWarning
    from ..core.post import normalize, resample, spectral_subtraction
    from ..io.audio import read_audio, write_audio

    inputs = (args.input,)
    check_outputs(args, (args.output,), inputs)  # fail before any work
    y, rate = read_audio(args.input)
    out = spectral_subtraction(
        y, rate, window=args.window, hop=args.hop, oversubtraction=args.oversubtraction,
        floor=args.floor, noise_quantile=args.noise_quantile,
    )
    if args.output_rate is not None:
        out_rate = max(1, round(args.output_rate))  # WAV headers hold whole Hz
        if out_rate != rate:
            out = resample(out, rate, out_rate)
            rate = out_rate
    peak = float(np.max(np.abs(out)))
    if args.pcm16 and peak > 1.0:
        warnings.warn(f"denoised peak {peak:.3g} exceeds 16-bit full scale; scaled to [-1, 1]",
                      VisualMicWarning, stacklevel=1)
        out = normalize(out)
    write_audio(args.output, out, rate, pcm16=args.pcm16, inputs=inputs)
    return 0
