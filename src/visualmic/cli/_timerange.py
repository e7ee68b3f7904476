"""``--start-time/--end-time``: the frame range in seconds, beside ``--start/--end`` in frames.

:func:`add_time_options` adds the two options; :class:`GivenStore` marks
``--start``/``--end`` as given on the command line (their defaults cannot tell),
so that :func:`resolve_frame_range` can refuse both forms at once.  Seconds
become frames with the frame rate: ``-s`` when given, else the file's own rate
(read from its header, as ``recover`` would).
"""

from __future__ import annotations

import argparse
import warnings

from .._errors import ParameterError

__all__ = ["GivenStore", "add_time_options", "resolve_frame_range"]


class GivenStore(argparse.Action):
    """Store the value and remember that the option was given explicitly."""

    def __call__(self, parser, namespace, values, option_string=None):  # noqa: D102
        setattr(namespace, self.dest, values)
        given = set(getattr(namespace, "given_frame_options", set()))
        given.add(self.dest)
        namespace.given_frame_options = given


def add_time_options(p, *, positive_float, non_negative_float) -> None:
    """Add ``--start-time S`` and ``--end-time S`` (seconds) to a parser or group."""
    p.add_argument("--start-time", type=non_negative_float, default=None, metavar="S",
                   help="first frame as a time in seconds (nearest frame at the frame rate); "
                   "instead of --start")
    p.add_argument("--end-time", type=positive_float, default=None, metavar="S",
                   help="stop at this time in seconds (nearest frame, excluded); instead of --end")


def resolve_frame_range(args: argparse.Namespace) -> tuple[int, int | None]:
    """Return ``(start, end)`` frames from ``--start/--end`` or ``--start-time/--end-time``.

    Raises
    ------
    ParameterError
        If a frame option and its time twin are both given, or the times give
        an empty range.  Errors of opening the video (to read its rate) pass through.
    """
    start, end = args.start, args.end
    t0, t1 = getattr(args, "start_time", None), getattr(args, "end_time", None)
    if t0 is None and t1 is None:
        return start, end
    given = getattr(args, "given_frame_options", set())
    for t, name in ((t0, "start"), (t1, "end")):
        if t is not None and name in given:
            raise ParameterError(f"give --{name} (frames) or --{name}-time (seconds), not both")
    fps = args.fps if args.fps else _file_rate(args.video)
    if t0 is not None:
        start = int(round(t0 * fps))
    if t1 is not None:
        end = int(round(t1 * fps))
        if end <= start:
            raise ParameterError(
                f"--end-time {t1:g} s is frame {end} at {fps:g} fps, not after the first frame "
                f"{start}; give a later --end-time"
            )
    return start, end


def _file_rate(video: str) -> float:
    from ..io.video import open_video

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # recover issues them when it opens the video
        return float(open_video(video).fps)
