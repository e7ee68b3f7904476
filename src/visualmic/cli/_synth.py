"""``visualmic synth -o VIDEO.mkv``: render a synthetic video with its ground truth."""

from __future__ import annotations

import argparse
import math

from . import add_common, add_force, check_outputs, progress_bar, ranged

HELP = "render a synthetic video of a surface moved by sound (with ground truth)"

DESCRIPTION = """\
Render a lossless video (FFV1 in MKV, or .npy) of a textured surface translated
by AMPLITUDE*a(t) pixels along a direction, where a(t) is an audio signal
(built in or a WAV file) optionally shaped by an object resonance, with
Gaussian sensor noise and 8- or 16-bit quantisation. Writes the ground truth
beside the video as <stem>.truth.wav and every parameter, with the
Cramer-Rao bound of the video, as <stem>.json. The same --seed gives the
same files."""


def _size(text: str) -> tuple[int, int]:
    """Parse ``N`` (square) or ``WxH`` into ``(H, W)``."""
    parts = text.lower().replace(" ", "").split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) == 1:
        nums = nums * 2
    if len(nums) != 2 or min(nums) < 16 or max(nums) > 8192:
        raise argparse.ArgumentTypeError(
            f"--size {text!r} must be N or WxH in pixels, each from 16 to 8192 (e.g. 128 or "
            "160x120)"
        )
    w, h = nums
    return h, w


def _resonance(text: str) -> tuple[float, float]:
    try:
        f0, q = (float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--resonance {text!r} must be F0,Q (Hz, quality factor), e.g. 400,10"
        ) from None
    if not (math.isfinite(f0) and math.isfinite(q)) or f0 <= 0 or q <= 0:
        raise argparse.ArgumentTypeError(
            f"--resonance {text!r} needs F0 > 0 Hz and Q > 0, e.g. 400,10"
        )
    return f0, q


def _duration(text: str) -> float | None:
    if text.lower() in ("all", "file"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError(
            f"--duration {text!r} must be seconds, more than 0 and at most 3600 (or 'all' for "
            "the whole WAV file)"
        )
    return value


def register(subparsers) -> None:
    """Add the ``synth`` sub-command."""
    from ..sim.sounds import AUDIO_KINDS
    from ..sim.textures import TEXTURES

    p = subparsers.add_parser("synth", help=HELP, description=DESCRIPTION)
    p.add_argument("-o", "--output", required=True, metavar="VIDEO",
                   help="output video, .mkv (lossless FFV1) or .npy")
    p.add_argument("--audio", default="melody", metavar="KIND|WAV",
                   help=f"sound: one of {', '.join(AUDIO_KINDS)}, or an audio file "
                        "(default melody)")
    p.add_argument("--fps", type=ranged("fps", "--fps"), default=2200.0,
                   help="frame rate in Hz (default 2200: audio up to 1.1 kHz)")
    p.add_argument("--duration", type=_duration, default=2.0, metavar="SECONDS",
                   help="length in seconds (default 2; 'all' = the whole WAV file)")
    p.add_argument("--amplitude", type=float, default=0.02, metavar="PX",
                   help="peak displacement in pixels (default 0.02)")
    p.add_argument("--direction", type=float, default=0.0, metavar="DEG",
                   help="direction of motion in degrees, 0 = right, 90 = down (default 0)")
    p.add_argument("--size", type=_size, default=(128, 128), metavar="N|WxH",
                   help="frame size in pixels: N for NxN or WIDTHxHEIGHT (default 128)")
    p.add_argument("--texture", default="noise", metavar="NAME",
                   help=f"surface texture: {', '.join(TEXTURES)} (default noise)")
    p.add_argument("--noise", type=float, default=1.0, metavar="SIGMA",
                   help="sensor noise standard deviation in 8-bit grey levels (default 1)")
    p.add_argument("--bit-depth", type=int, default=8, choices=(8, 16),
                   help="quantisation (default 8; 16-bit values are 257x the 8-bit scale)")
    p.add_argument("--resonance", type=_resonance, default=None, metavar="F0,Q",
                   help="object resonance: frequency in Hz and quality factor, e.g. 400,10")
    p.add_argument("--lowpass", type=float, default=None, metavar="HZ",
                   help="object low-pass cut-off in Hz")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--voice", default=None, help="espeak-ng voice for --audio speech (e.g. en-us)")
    p.add_argument("--text", default=None, help="text spoken by --audio speech")
    p.add_argument("--wpm", type=int, default=None, help="speaking rate of --audio speech")
    from ._rolling import readout_type

    p.add_argument("--rolling-shutter", type=readout_type, default=None, metavar="READOUT",
                   help="render a rolling-shutter video (each row at its own instant; READOUT "
                   "in (0, 1] is the fraction of the frame period spent reading the rows); "
                   "use with an ordinary --fps such as 60: the truth is at the row rate")
    from ._synth_scene import add_scene_arguments

    add_scene_arguments(p)  # --scene FILE.json, --window X,Y,W,H ... (sim/scene.py)
    add_common(p)
    add_force(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Render the video and print a one-line summary."""
    from ..sim.sounds import is_audio_path
    from ..sim.synthesize import sidecar_paths, synthesize
    from ._synth_scene import run_scene, wants_scene

    audio_in = (args.audio,) if is_audio_path(args.audio) else ()
    check_outputs(args, (args.output, *sidecar_paths(args.output)), audio_in)

    if wants_scene(args):
        return run_scene(args)

    if args.rolling_shutter is not None and wants_scene(args):
        from .._errors import ParameterError

        raise ParameterError("--rolling-shutter cannot be combined with --scene/--window")
    if args.rolling_shutter is not None:
        from ..sim.rolling import synthesize_rolling

        make, extra = synthesize_rolling, {"readout": args.rolling_shutter}
    else:
        make, extra = synthesize, {}
    callback, close = progress_bar(args, "synth")
    try:
        res = make(
            args.output,
            audio=args.audio,
            fps=args.fps,
            duration=args.duration,
            amplitude=args.amplitude,
            direction=args.direction,
            size=args.size,
            texture=args.texture,
            noise_sigma=args.noise,
            bit_depth=args.bit_depth,
            resonance=args.resonance,
            lowpass=args.lowpass,
            seed=args.seed,
            voice=args.voice,
            text=args.text,
            wpm=args.wpm,
            progress=callback,
            **extra,
        )
    finally:
        close()
    p = res.params
    print(
        f"wrote {res.video_path} ({p['n_frames']} frames, {res.fps:g} fps, "
        f"{p['size'][1]}x{p['size'][0]}, {p['bit_depth']}-bit), {res.truth_path}, "
        f"{res.meta_path}; CRB SNR {res.crb_snr_db:.1f} dB in "
        f"{'-'.join(f'{b:g}' for b in p.get('crb_band_hz', (80, 1000)))} Hz"
    )
    return 0
