"""``visualmic synth --scene FILE.json`` / ``--window X,Y,W,H ...``: scenes of vibrating windows.

Registered by ``cli/_synth.py``: :func:`add_scene_arguments` adds the options,
:func:`run_scene` renders when ``--scene`` or ``--window`` is given.
"""

from __future__ import annotations

import argparse
import math

from . import progress_bar

SCENE_HELP = """\
Scenes: --scene FILE.json renders a static textured wall with vibrating windows
(schema in docs/spatial.md); or give --window X,Y,W,H (repeatable) with the
per-window options below, each given once (for every window) or once per window
in the order of --window. Windows with the same --window-audio (and frequency)
share one sound: with --window-sign -1 they move in opposite phase (a mode).
--audio, --amplitude, --direction and --resonance are the windows' defaults,
--texture is the wall's. The JSON beside the video records each window's truth
and the Cramer-Rao bound of each vibrating region."""


def _rect(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--window {text!r} must be X,Y,W,H in pixels (left column, top row, width, height)"
        ) from None
    return x, y, w, h


def _sign(text: str) -> int:
    if text.strip() in ("1", "+1", "+"):
        return 1
    if text.strip() in ("-1", "-"):
        return -1
    raise argparse.ArgumentTypeError(f"--window-sign {text!r} must be +1 or -1")


def _resonance(text: str):
    if text.lower() == "none":
        return None
    try:
        f0, q = (float(p) for p in text.replace(" ", "").split(","))
    except ValueError:
        f0 = q = math.nan
    if not (math.isfinite(f0) and math.isfinite(q)) or f0 <= 0 or q <= 0:
        raise argparse.ArgumentTypeError(
            f"--window-resonance {text!r} must be F0,Q (Hz, quality factor) or none"
        )
    return f0, q


def add_scene_arguments(p: argparse.ArgumentParser) -> None:
    """Add ``--scene`` and the ``--window*`` options to the ``synth`` parser."""
    g = p.add_argument_group("scenes", SCENE_HELP)
    g.add_argument("--scene", default=None, metavar="FILE.json",
                   help="render the scene described in this JSON file (other scene flags "
                        "are then not allowed; --seed etc. come from the file)")
    g.add_argument("--window", type=_rect, action="append", default=None, metavar="X,Y,W,H",
                   help="a vibrating window in pixels (repeatable)")
    g.add_argument("--window-audio", action="append", default=None, metavar="KIND|WAV",
                   help="its sound (default --audio)")
    g.add_argument("--window-frequency", type=float, action="append", default=None,
                   metavar="HZ", help="frequency of --window-audio tone (default 440)")
    g.add_argument("--window-amplitude", type=float, action="append", default=None,
                   metavar="PX", help="peak displacement in px (default --amplitude)")
    g.add_argument("--window-direction", type=float, action="append", default=None,
                   metavar="DEG", help="direction in degrees (default --direction)")
    g.add_argument("--window-sign", type=_sign, action="append", default=None, metavar="+1|-1",
                   help="polarity: -1 moves in opposite phase to +1 (default +1)")
    g.add_argument("--window-texture", action="append", default=None, metavar="NAME",
                   help="'background' (the wall's texture moves; default) or a texture kind")
    g.add_argument("--window-resonance", type=_resonance, action="append", default=None,
                   metavar="F0,Q", help="its own resonance (default --resonance)")


def wants_scene(args: argparse.Namespace) -> bool:
    """True when ``--scene`` or ``--window`` was given."""
    return bool(args.scene or args.window)


def run_scene(args: argparse.Namespace) -> int:
    """Render a scene and print a one-line summary."""
    from .._errors import ParameterError
    from ..sim.scene import scene_from_options, synthesize_scene

    per_window = ("window_audio", "window_frequency", "window_amplitude", "window_direction",
                  "window_sign", "window_texture", "window_resonance")
    if args.scene:
        given = [n for n in ("window",) + per_window if getattr(args, n)]
        if given:
            raise ParameterError(
                f"--scene and --{given[0].replace('_', '-')} cannot be combined; put the "
                "windows in the scene file or drop --scene"
            )
        scene = args.scene
    else:
        scene = scene_from_options(
            args.window,
            audio=args.window_audio or [args.audio],
            frequency=args.window_frequency or [440.0],
            amplitude=args.window_amplitude or [args.amplitude],
            direction=args.window_direction or [args.direction],
            sign=args.window_sign or [1],
            texture=args.window_texture or ["background"],
            resonance=args.window_resonance or [args.resonance],
            lowpass=[args.lowpass],
            size=list(args.size), fps=args.fps, duration=args.duration,
            background_texture=args.texture, noise_sigma=args.noise,
            bit_depth=args.bit_depth, seed=args.seed,
        )
    callback, close = progress_bar(args, "synth")
    try:
        res = synthesize_scene(args.output, scene, progress=callback)
    finally:
        close()
    p = res.params
    bounds = ", ".join(f"{b:.1f}" for b in res.mode_crb_snr_db)
    print(
        f"wrote {res.video_path} ({p['n_frames']} frames, {res.fps:g} fps, "
        f"{p['size'][1]}x{p['size'][0]}, {p['bit_depth']}-bit, {len(p['windows'])} window(s), "
        f"{len(p['modes'])} mode(s)), {', '.join(str(t) for t in res.truth_paths)}, "
        f"{res.meta_path}; CRB SNR per mode {bounds} dB in 80-1000 Hz"
    )
    return 0
