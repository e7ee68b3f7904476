"""Command-line options shared by several sub-commands (not a sub-command itself)."""

from __future__ import annotations

import argparse

__all__ = ["scale_type", "add_scale_option"]


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
