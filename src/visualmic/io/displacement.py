"""Write per-frame 2-D displacements (``recover --displacement OUT.csv|OUT.npy``).

The columns are ``t, dx, dy`` for one track, or ``t, dx_0, dy_0, dx_1, dy_1, ...``
for several (one pair per source, in the order given): ``t`` in seconds from the
first processed frame, ``dx`` to the right and ``dy`` down, in pixels (or in
millimetres when the displacement was scaled with ``scale_mm_per_px``).  A
``.csv`` file has one header line with those names; a ``.npy`` file holds the same
table as a float64 array ``(T, 1 + 2·n_tracks)``.  Both are written atomically.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .._atomic import atomic_path
from .._errors import ParameterError

__all__ = ["DISPLACEMENT_SUFFIXES", "displacement_table", "write_displacement"]

#: File types :func:`write_displacement` writes.
DISPLACEMENT_SUFFIXES = (".csv", ".npy")


def displacement_table(displacement, *, fps: float, start_time: float = 0.0):
    """Build the ``(T, 1 + 2·n)`` table and its column names.

    Parameters
    ----------
    displacement : np.ndarray [shape=(2, T) or (2, n_tracks, T)]
        ``[dx, dy]`` per frame (from :func:`visualmic.core.displacement.displacement`).
    fps : float
        Frame rate in Hz (``t = start_time + i / fps``).
    start_time : float, default 0.0
        Time of the first row in seconds (e.g. ``start / fps`` for a frame range).

    Returns
    -------
    table : np.ndarray [shape=(T, 1 + 2·n_tracks)], float64
    columns : list of str
        ``["t", "dx", "dy"]`` or ``["t", "dx_0", "dy_0", ...]``.

    Raises
    ------
    ParameterError
        On a bad shape, non-finite values or a non-positive frame rate.
    """
    d = np.asarray(displacement, dtype=np.float64)
    if d.ndim == 2:
        d = d[:, None, :]
        names = ["dx", "dy"]
    elif d.ndim == 3:
        names = [f"{c}_{i}" for i in range(d.shape[1]) for c in ("dx", "dy")]
    else:
        names = []
    if not names or d.shape[0] != 2 or d.shape[-1] < 1 or d.shape[1] < 1:
        raise ParameterError(
            f"displacement of shape {np.shape(displacement)} must be (2, T) or (2, n_tracks, T)"
        )
    if not np.isfinite(d).all():
        raise ParameterError("displacement holds NaN or infinite values")
    try:
        rate = float(fps)
        t0 = float(start_time)
    except (TypeError, ValueError):
        rate, t0 = math.nan, math.nan
    if not math.isfinite(rate) or rate <= 0 or not math.isfinite(t0):
        raise ParameterError(f"fps={fps!r} must be a positive frame rate in Hz")
    n = d.shape[-1]
    t = t0 + np.arange(n) / rate
    # (2, n_tracks, T) -> (T, n_tracks, 2) -> (T, 2·n_tracks): dx_0, dy_0, dx_1, ...
    body = np.transpose(d, (2, 1, 0)).reshape(n, -1)
    return np.column_stack([t, body]), ["t"] + names


def write_displacement(path, displacement, *, fps: float, start_time: float = 0.0,
                       inputs: tuple = ()) -> Path:
    """Write a displacement table to ``.csv`` or ``.npy``, atomically.

    Parameters
    ----------
    path : path-like
        Output file ending in ``.csv`` or ``.npy``.
    displacement : np.ndarray [shape=(2, T) or (2, n_tracks, T)]
        ``[dx, dy]`` per frame (px or mm).
    fps : float
        Frame rate in Hz.
    start_time : float, default 0.0
        Time of the first frame in seconds.
    inputs : tuple of path-like
        Input files the output must not overwrite.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    ParameterError
        Unknown suffix, bad shape or values.
    OutputError
        The file cannot be written (or is an input).

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "d.csv"
    >>> _ = write_displacement(out, np.array([[0.0, 0.5], [0.0, -0.25]]), fps=2.0)
    >>> print(out.read_text().strip())
    t,dx,dy
    0,0,0
    0.5,0.5,-0.25
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in DISPLACEMENT_SUFFIXES:
        raise ParameterError(
            f"displacement output {str(out)!r} must end in .csv or .npy; choose one of those"
        )
    table, columns = displacement_table(displacement, fps=fps, start_time=start_time)
    with atomic_path(out, inputs=inputs) as tmp:
        if suffix == ".npy":
            np.save(tmp, table)
        else:
            # 12 significant digits: far below any displacement's noise.
            np.savetxt(tmp, table, fmt="%.12g", delimiter=",", header=",".join(columns),
                       comments="")
    return out

