"""The reference frame with a labelled pixel grid, to choose a region of interest.

``visualmic preview VIDEO -o FRAME.png`` writes the first frame of the range (or
the mean of the first ``k``) in input pixels, with grid lines and axis labels
every few pixels: the column is ``x`` and the row is ``y``, as ``--roi X,Y,W,H``
counts them.  A given ``--roi`` is drawn as a box, so a choice can be checked
before a long run.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

import numpy as np

from .._errors import ParameterError, VisualMicWarning

__all__ = ["preview_figure", "write_preview", "grid_step"]


def grid_step(size: int, *, lines: int = 10) -> int:
    """A round grid spacing in pixels giving about ``lines`` lines across ``size`` pixels.

    Steps are 1, 2 or 5 times a power of ten (at least 1).

    Examples
    --------
    >>> grid_step(128), grid_step(1024), grid_step(20)
    (10, 100, 2)
    """
    raw = max(size / max(lines, 1), 1.0)
    p = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * p >= raw * 0.75:
            return int(m * p)
    return int(10 * p)  # pragma: no cover - the loop always returns


def preview_figure(frame, *, roi=None, grid: int | None = None, title: str | None = None,
                   vmax: float | None = None, width: float | None = None):
    """Draw a grey frame with a labelled pixel grid (and an ROI box).

    Parameters
    ----------
    frame : np.ndarray [shape=(H, W)]
        Grey levels.
    roi : tuple of int (x, y, w, h), optional
        Region of interest to outline, in the frame's pixels.
    grid : int, optional
        Grid spacing in pixels; default :func:`grid_step` of the longer side.
    title : str, optional
        Figure title.
    width : float, optional
        Width of the image in inches at 100 pixels per inch (default: 6 to 12,
        by the frame's size).
    vmax : float, optional
        Grey level shown as white; default the frame's 99.9th percentile (black
        is 0, or the minimum when the frame holds negative values).

    Returns
    -------
    matplotlib.figure.Figure
        With an Agg canvas.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    img = np.asarray(frame, dtype=np.float64)
    if img.ndim != 2 or min(img.shape) < 1:
        raise ParameterError(f"frame of shape {img.shape} must be a 2-D grey image (H, W)")
    h, w = img.shape
    step = grid_step(max(h, w)) if grid is None else int(grid)
    if step < 1:
        raise ParameterError(f"grid={grid!r} must be a positive number of pixels")
    lo = min(0.0, float(img.min()))
    hi = float(np.percentile(img, 99.9)) if vmax is None else float(vmax)
    hi = hi if hi > lo else lo + 1.0
    # About 6 to 12 inches across, the image at a readable scale; margins for labels.
    scale = min(max(6.0 / w, 3.0 / h), 12.0 / w, 9.0 / h) if width is None else width / w
    fig = Figure(figsize=(w * scale + 1.2, h * scale + 1.0), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(img, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest",
              extent=(-0.5, w - 0.5, h - 0.5, -0.5))
    ticks_x = np.arange(0, w, step)
    ticks_y = np.arange(0, h, step)
    ax.set_xticks(ticks_x)
    ax.set_yticks(ticks_y)
    ax.tick_params(labelsize=8, top=True, labeltop=True, bottom=True, labelbottom=False)
    ax.tick_params(axis="x", labelrotation=90 if len(ticks_x) > 12 else 0)
    ax.grid(True, color="#4fc3f7", alpha=0.55, linewidth=0.6)
    ax.set_xlabel(f"x = column (px); grid every {step} px")
    ax.xaxis.set_label_position("top")
    ax.set_ylabel("y = row (px)")
    if roi is not None:
        x, y, rw, rh = (int(v) for v in roi)
        ax.add_patch(Rectangle((x - 0.5, y - 0.5), rw, rh, fill=False, edgecolor="#ff5252",
                               linewidth=1.8))
        ax.text(x - 0.5, y - 0.5, f"ROI {x},{y},{rw},{rh}", color="white", fontsize=8,
                va="bottom", ha="left", fontweight="bold",
                bbox={"facecolor": "#d32f2f", "edgecolor": "none", "pad": 1.5, "alpha": 0.85})
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def write_preview(path, source, *, fps: float | None = None, start: int = 0,
                  end: int | None = None, roi=None, reference: int = 1,
                  grid: int | None = None, inputs: tuple = ()) -> Path:
    """Write the reference frame of a video with a pixel grid, as PNG, SVG or PDF.

    Parameters
    ----------
    path : path-like
        Output ending in ``.png``, ``.svg`` or ``.pdf`` (written atomically).
    source : path-like or np.ndarray
        Anything :func:`visualmic.io.open_video` opens.
    fps : float, optional
        Frame rate (not needed for a preview; accepted so the recover options work).
    start, end : int, optional
        Frame range; the reference is taken from its start.
    roi : tuple of int or str, optional
        ``(x, y, w, h)`` or ``"X,Y,W,H"`` in input pixels, drawn as a box.
    reference : int, optional
        Mean of the first ``reference`` frames (as ``recover --reference``).
    grid : int, optional
        Grid spacing in pixels (default: about ten lines).
    inputs : tuple of path-like
        Files the output may not overwrite (``source`` is always one).

    Returns
    -------
    Path

    Raises
    ------
    ParameterError
        If the ROI is malformed or lies outside the frame.
    OutputError
        If the suffix is not ``.png``, ``.svg`` or ``.pdf``.
    """
    from ..io.atomic import atomic_path, check_output_path
    from ..io.video import open_video, parse_roi
    from .plot import figure_bytes, figure_format

    fmt = figure_format(path)
    srcs = (source,) if isinstance(source, (str, os.PathLike)) else ()
    check_output_path(path, inputs=tuple(inputs) + srcs)
    box = None if roi is None else parse_roi(roi if isinstance(roi, str) else
                                             ",".join(str(v) for v in roi))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        # The rate does not matter here; 1 Hz stands in when the source has none.
        reader = open_video(source, fps=fps or 1.0, start=start, end=end)
    for w in caught:  # keep the codec warnings, drop the (meaningless) low-rate one
        if not str(w.message).startswith("frame rate"):
            warnings.warn(str(w.message), VisualMicWarning, stacklevel=2)
    height, width = reader.input_shape
    if box is not None and (box[0] + box[2] > width or box[1] + box[3] > height):
        raise ParameterError(
            f"roi={box} reaches beyond the {width}x{height} (WxH) frame; keep x + w <= {width} "
            f"and y + h <= {height}"
        )
    ref = reader.reference(reference)
    name = os.fspath(source) if srcs else "array"
    fig = preview_figure(ref, roi=box, grid=grid,
                         title=f"{Path(name).name}: frame {start}"
                         + (f" (mean of {reference})" if reference > 1 else ""))
    data = figure_bytes(fig, fmt)
    with atomic_path(path, inputs=tuple(inputs) + srcs) as tmp:
        tmp.write_bytes(data)
    return Path(path)

