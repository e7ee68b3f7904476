"""Options and defaults shared by several sub-commands (not a sub-command itself)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import non_negative_float, non_negative_int, positive_float, positive_int, ranged

__all__ = ["add_source_options", "default_output", "scale_type", "add_scale_option",
           "write_spectrogram"]


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
    p.add_argument("--downsample", type=ranged("downsample", "--downsample"), default=1.0,
                   metavar="F",
                   help="shrink frames by F with anti-aliasing (2 or 0.5 halve each side; "
                   "default 1 = none)")


def add_pyramid_options(g, *, highpass_bands: bool = True, reference: bool = True) -> None:
    """``--scales``, ``--orientations``, ``--no-highpass-bands`` and ``--reference``.

    One definition (and one range check, :data:`visualmic._validate.LIMITS`) for every
    command that builds a pyramid; the defaults are the engine's (all scales the frame
    allows, 4 orientations, the oriented high-pass bands, the first frame).
    """
    g.add_argument("--scales", type=ranged("scales", "--scales", integer=True), default=None,
                   metavar="N", help="pyramid scales (default: as many as the frame size allows)")
    g.add_argument("--orientations", type=ranged("orientations", "--orientations", integer=True),
                   default=4, metavar="K", help="orientations per scale (default 4)")
    if highpass_bands:
        g.add_argument("--no-highpass-bands", dest="highpass_bands", action="store_false",
                       help="do not use the oriented high-pass bands (classical pyramid only)")
    if reference:
        g.add_argument("--reference", type=ranged("reference", "--reference", integer=True),
                       default=1, metavar="K",
                       help="reference frame = mean of the first K frames (default 1)")


def default_output(video: str) -> Path:
    """``<stem>.recovered.wav`` beside the video."""
    v = Path(video)
    return v.with_name(v.stem + ".recovered.wav") if v.suffix else v.with_name(v.name + ".recovered.wav")


def scale_type(text: str) -> float:
    """Argparse type of ``--scale``: a positive number of millimetres per pixel."""
    from .._errors import ParameterError
    from .._validate import check_scale

    try:
        return check_scale(float(text) if text.strip() else text)
    except (ValueError, ParameterError):
        raise argparse.ArgumentTypeError(
            f"{text!r} must be a positive number of millimetres per pixel, e.g. 0.05"
        ) from None


def add_scale_option(p) -> None:
    """Add ``--scale MM_PER_PX`` (displacement outputs in mm instead of pixels)."""
    p.add_argument("--scale", type=scale_type, default=None, metavar="MM_PER_PX",
                   help="size of one pixel on the surface in mm (e.g. 0.05 = 20 px/mm): "
                   "displacement outputs (--displacement, the vibration map) are then in mm "
                   "instead of pixels")


def write_spectrogram(path, audio, rate: float, title: str, *, truth=None, inputs=(),
                      **figure_options) -> None:
    """The spectrogram of a command's audio, beside the ground truth ``(samples, rate)`` if
    given; PNG, SVG or PDF by the extension (``figure_options``: size, dB range, window)."""
    from ..eval.plot import save_spectrogram

    signals, titles = [(audio, rate)], [title]
    if truth is not None:
        signals.append(truth)
        titles.append("ground truth")
    save_spectrogram(path, signals, titles=titles, inputs=inputs, **figure_options)
