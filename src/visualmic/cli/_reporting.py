"""Assemble the HTML reports of ``visualmic recover --report`` and ``visualmic map --report``."""

from __future__ import annotations

import argparse
import warnings

__all__ = ["recover_report", "map_report"]


def recover_report(args: argparse.Namespace, rec, summary: dict, *, truth=None,
                   inputs: tuple = ()) -> None:
    """Write ``args.report``: players, spectrogram, reference frame, tables, timings.

    Parameters
    ----------
    args : argparse.Namespace
        The ``recover`` arguments (``report``, ``video``, ``roi``, ``start``, ``end``, ``fps``,
        ``reference``, ``db_range``, ``spectrogram_size``, ``window``).
    rec : visualmic.Recovery
        The finished run.
    summary : dict
        ``rec.summary()`` with the command's additions (output, metrics).
    truth : (np.ndarray, float), optional
        Ground-truth samples and rate, shown and played beside the recovery.
    inputs : tuple of path-like
        Files the report may not overwrite.
    """
    from .._errors import VisualMicError
    from ..eval.plot import spectrogram_figure
    from ..eval.preview import preview_figure
    from ..eval.report import write_report
    from ..io.video import open_video

    label = "recovered (enhanced)" if rec.params.get("enhance") else "recovered"
    audio = [(label, rec.audio, rec.rate)]
    if rec.sources_audio is not None:
        audio += [(f"source {i}", a, rec.rate) for i, a in enumerate(rec.sources_audio)]
    signals, titles = [(rec.audio, rec.rate)], [label]
    if truth is not None:
        audio.append(("ground truth", truth[0], truth[1]))
        signals.append(truth)
        titles.append("ground truth")
    spec = spectrogram_figure(signals, titles=titles, dynamic_range=args.db_range,
                              size=args.spectrogram_size, window=args.window)
    images = []
    try:  # the frame the motion was measured against, with the ROI outlined
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # already reported by the run
            reader = open_video(args.video, fps=args.fps or 1.0, start=args.start, end=args.end)
            ref = reader.reference(min(args.reference, 8))
        images.append(("Reference frame, input pixels (the box is the ROI)",
                       preview_figure(ref, roi=rec.params.get("roi"), width=4.0)))
    except VisualMicError:
        ref = None  # the report still holds everything else
    vmap = None
    if rec.cells is not None and ref is not None:
        from ..eval.vibmap import cells_figure

        vmap = cells_figure(rec.cells, ref, sources=rec.sources)
    write_report(args.report, summary, title="visualmic recover", source=args.video,
                 audio=audio, spectrogram=spec, images=images, sources=rec.sources,
                 vibration_map=vmap, inputs=inputs)


def map_report(args: argparse.Namespace, res, figure, *, inputs: tuple = ()) -> None:
    """Write ``args.report`` for ``visualmic map``: input, parameters, map, cell table, timings.

    Parameters
    ----------
    args : argparse.Namespace
        The ``map`` arguments (``report``, ``video``, ``output``, ``npz``).
    res : visualmic.engine.vibmap.MapResult
        The finished map (a pyramid map or a rolling-shutter map over bands of rows).
    figure : matplotlib.figure.Figure
        The map figure (as written to ``-o``).
    inputs : tuple of path-like
        Files the report may not overwrite.
    """
    from ..eval.report import write_report
    from ..eval.vibmap import map_table

    m = res.map
    rolling = "row_rate" in res.params
    fps = float(res.params.get("fps", m.fps))
    summary = {"output": str(args.output), "frames": res.n_frames, "fps": fps,
               "duration_s": round(res.n_frames / fps, 6), "warnings": list(res.warnings),
               "params": dict(res.params, npz=args.npz),
               "timings_s": {k: round(v, 4) for k, v in res.timings.items()}}
    if rolling:
        title = (f"Bands of rows ({len(m.tiles)}): RMS horizontal displacement per frequency "
                 f"band, sampled at the row rate {m.fps:.0f} Hz")
    else:
        title = f"Cells ({len(m.tiles)}): RMS displacement per frequency band"
    write_report(args.report, summary, title="visualmic map", source=args.video,
                 vibration_map=figure, tables={title: map_table(m)}, inputs=inputs)
