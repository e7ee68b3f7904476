"""The one progress hook every long loop reports through.

Library functions accept ``progress=None`` or a callable
``progress(done, total)`` where ``done`` is the number of work units finished so
far (frames, epochs, files) and ``total`` is the expected number or ``None``
when unknown.  The command line turns this into a tqdm bar on stderr; the
library itself never prints.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[int, int | None], None]

__all__ = ["ProgressCallback", "report"]


def report(progress: ProgressCallback | None, done: int, total: int | None) -> None:
    """Call ``progress(done, total)`` if a hook was given."""
    if progress is not None:
        progress(done, total)
