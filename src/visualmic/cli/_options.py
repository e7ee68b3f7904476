"""Options and defaults shared by the commands that read a video (recover, map, preview...)."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import non_negative_float, non_negative_int, positive_float, positive_int

__all__ = ["add_source_options", "default_output"]


def add_source_options(p: argparse.ArgumentParser) -> None:
    """Options selecting which pixels and frames are read (shared with other commands)."""
    p.add_argument("-s", "--sampling-rate", "--fps", dest="fps", type=positive_float,
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
    p.add_argument("--downsample", type=positive_float, default=1.0, metavar="F",
                   help="shrink frames by F with anti-aliasing (2 or 0.5 halve each side; "
                   "default 1 = none)")


def default_output(video: str) -> Path:
    """``<stem>.recovered.wav`` beside the video."""
    v = Path(video)
    return v.with_name(v.stem + ".recovered.wav") if v.suffix else v.with_name(v.name + ".recovered.wav")
