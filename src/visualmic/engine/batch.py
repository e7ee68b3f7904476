"""Many videos on a Dask cluster, one task per video (``visualmic batch``)."""

from __future__ import annotations

import inspect
import warnings
from dataclasses import dataclass
from pathlib import Path

from .._errors import OutputError, ParameterError, VisualMicError, VisualMicWarning
from .._progress import ProgressCallback, report
from ..io.atomic import check_output_path
from ..io.audio import write_audio
from .dask import dask_client, import_distributed
from .recover import recover

__all__ = ["BatchItem", "recover_many"]


@dataclass(frozen=True)
class BatchItem:
    """Outcome of one video of :func:`recover_many`.

    Attributes
    ----------
    video : str
        The input video.
    output : str or None
        The WAV written (None on error).
    summary : dict or None
        :meth:`visualmic.Recovery.summary` of the recovery (None on error).
    error : str or None
        The one-line error message if the video failed.
    """

    video: str
    output: str | None
    summary: dict | None
    error: str | None


def _recover_task(video: str, kwargs: dict):
    """Task: recover one video; return ``(audio, rate, summary)`` or ``(None, None, error)``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VisualMicWarning)
            rec = recover(video, **kwargs)
    except VisualMicError as exc:
        return None, None, str(exc)
    return rec.audio, rec.rate, rec.summary()


def recover_many(videos, output_dir, *, client=None, workers: int | None = None,
                 pcm16: bool = False, progress: ProgressCallback | None = None,
                 **recover_kwargs) -> list[BatchItem]:
    """Recover many videos in parallel on Dask workers, one task per video.

    Each worker runs :func:`visualmic.recover` on one video (which every worker must
    be able to read at the same path); the audio comes back here and is written to
    ``output_dir/<video stem>.wav`` (atomically). A video that fails is reported in
    its :class:`BatchItem` and the others continue.

    This function is long because of its documentation; its code is 43 lines
    of straight-line steps.

    Parameters
    ----------
    videos : sequence of path-like
        The videos.
    output_dir : path-like
        Existing folder for the WAV files.
    client : None, True, str or distributed.Client, optional
        See :func:`dask_client` (default: a local cluster).
    workers : int, optional
        Workers of a local cluster (default: the number of cores).
    pcm16 : bool, optional
        16-bit PCM instead of float32 WAV.
    progress : callable, optional
        ``progress(videos_done, n_videos)``.
    **recover_kwargs
        Options of :func:`visualmic.recover` (``method``, ``scales``, ``roi``, ...).

    Returns
    -------
    list of BatchItem
        In the order of ``videos``.

    Raises
    ------
    ParameterError
        If there are no videos, two share a stem, or an option is not a recover option.
    OutputError
        If ``output_dir`` is not a writable folder or a WAV would overwrite a video.
    """


    videos = [str(v) for v in videos]
    if not videos:
        raise ParameterError("no videos given; pass at least one video file")
    allowed = set(inspect.signature(recover).parameters) - {"source", "progress", "dask",
                                                             "workers"}
    unknown = sorted(set(recover_kwargs) - allowed)
    if unknown:
        raise ParameterError(f"unknown recover option(s) {unknown}; see visualmic.recover")
    out_dir = Path(output_dir)
    if not out_dir.is_dir():

        raise OutputError(
            f"output folder {str(out_dir)!r} does not exist; create it or choose another"
        )
    outputs, seen = [], {}
    for v in videos:
        stem = Path(v).stem
        if stem in seen:
            raise ParameterError(
                f"videos {seen[stem]!r} and {v!r} would both write {stem}.wav; rename one or "
                "process them in separate runs"
            )
        seen[stem] = v
        out = out_dir / f"{stem}.wav"
        check_output_path(out, inputs=tuple(videos))
        outputs.append(out)
    items: list = [None] * len(videos)
    with dask_client(client, workers=workers) as c:
        futures = [c.submit(_recover_task, v, dict(recover_kwargs), pure=False) for v in videos]
        index_of = {f.key: j for j, f in enumerate(futures)}
        distributed = import_distributed()
        done = 0
        for fut in distributed.as_completed(futures):
            j = index_of[fut.key]
            audio, rate, info = fut.result()
            if audio is None:
                items[j] = BatchItem(videos[j], None, None, info)
            else:
                write_audio(outputs[j], audio, rate, pcm16=pcm16, inputs=tuple(videos))
                items[j] = BatchItem(videos[j], str(outputs[j]), info, None)
            done += 1
            report(progress, done, len(videos))
    return items
