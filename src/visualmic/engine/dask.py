"""Scale-out with Dask: frame ranges of a long video, or many videos, on a cluster.

:func:`band_signals` splits one video into consecutive frame ranges (aligned to the
chunk size, so that every chunk is exactly the chunk the single-process pipeline
would see). Each Dask task opens the video itself, decodes its own range by seeking,
estimates the band signals against the one reference frame computed here, and
returns them; they are stitched in order and :func:`visualmic.recover` finishes with
the same combination and post-processing as in a single process, so the output is
the same (to rounding, far below 1e-6).

Seeking is frame-exact: a demux-only pass (no decoding) records the byte position,
timestamp and key flag of every packet. A task seeks to the last key frame at or
before its first frame, recognises the packet it landed on by its byte position
(timestamps cannot do this: Matroska stores milliseconds, so at 2200 fps two or three
frames share one), and decodes from there, dropping the frames before its range.
Where this cannot be trusted (a lossy codec, no positions, a landing after the
range), the task decodes from the start of the file and drops frames, which is
always exact. Folders of frames and ``.npy`` files are read at any index directly;
in-memory arrays are sent to the workers in slices.

:func:`visualmic.engine.batch.recover_many` processes many videos, one task each.

Run it on a real cluster with ``dask scheduler`` and ``dask worker tcp://HOST:8786``
on each machine (every worker must see the videos at the same paths), then
``visualmic recover VIDEO --dask tcp://HOST:8786``; see ``docs/scale.md``.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from .._errors import ParameterError, VideoError, VisualMicWarning
from .._progress import ProgressCallback, report
from ..core.pyramid import SteerablePyramid
from ..io.video import open_video
from .chain import Chain, ChainSignals, reference_frame
from .threads import prefetch

__all__ = ["DaskSignals", "band_signals", "dask_client", "import_distributed"]


# --------------------------------------------------------------------------- Dask client


def import_distributed():
    try:
        import distributed
    except ImportError:
        raise ParameterError(
            "Dask is not installed; run `pip install 'dask[distributed]'` (or "
            "`pip install 'visualmic[dask]'`), or process without --dask"
        ) from None
    return distributed


@contextlib.contextmanager
def dask_client(client=None, *, workers: int | None = None,
                processes: bool = True) -> Iterator:
    """Yield a Dask client: the given one, one connected to an address, or a local cluster.

    Parameters
    ----------
    client : None, True, str or distributed.Client, optional
        ``None`` or ``True`` start a :class:`distributed.LocalCluster` (closed on
        exit); a string is a scheduler address such as ``"tcp://10.0.0.5:8786"``; a
        client is used as it is (and left open).
    workers : int, optional
        Worker processes of the local cluster (default: the number of cores). Only
        for a local cluster.
    processes : bool, optional
        Local workers as processes (default) or threads in this process.

    Yields
    ------
    distributed.Client

    Raises
    ------
    ParameterError
        If Dask is missing, ``workers`` is not positive or is given with an address
        or a client, or the scheduler cannot be reached.
    """
    distributed = import_distributed()
    if workers is not None and (isinstance(workers, bool) or not isinstance(
            workers, (int, np.integer)) or workers < 1):
        raise ParameterError(f"workers={workers!r} must be a positive integer")
    if client is None or client is True:
        n = int(workers) if workers else (os.cpu_count() or 1)
        # Dask's own log lines: as the caller configured the "distributed" logger (the
        # command line raises it to ERROR under --quiet), never below WARNING.
        silence = max(logging.WARNING, logging.getLogger("distributed").getEffectiveLevel())
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                      dashboard_address=None, silence_logs=silence) as cluster, \
                distributed.Client(cluster) as c:
            yield c
        return
    if workers is not None:
        raise ParameterError(
            f"workers={workers} applies to a local cluster only; the cluster {client!r} has "
            "its own workers (start more with `dask worker ADDRESS`)"
        )
    if isinstance(client, (str, os.PathLike)):
        try:
            c = distributed.Client(str(client), timeout="20s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise ParameterError(
                f"cannot reach the Dask scheduler at {str(client)!r} ({exc}); start one with "
                "`dask scheduler` and give its address, e.g. tcp://HOST:8786"
            ) from None
        try:
            yield c
        finally:
            c.close()
        return
    if not hasattr(client, "submit"):
        raise ParameterError(
            f"client={client!r} must be None, True, a scheduler address or a distributed.Client"
        )
    yield client


# --------------------------------------------------------------------------- one video


@dataclass
class DaskSignals(ChainSignals):
    """Band signals of one video computed by Dask workers (see :func:`band_signals`).

    As :class:`~visualmic.engine.chain.ChainSignals` (``signals``, ``n_frames``,
    ``messages``: notes from the workers' estimators, those that were warnings there
    issued once here), plus the frame ranges of the tasks (relative to the reader's
    start) in ``ranges``.
    """

    ranges: list = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """What a task needs to rebuild the reader and the chain (small, picklable)."""

    path: str | None
    fps: float
    start: int
    end: int | None
    roi: tuple | None
    downsample: float
    index: object  # a FrameIndex of the video file, or None
    shape: tuple
    scales: int
    orientations: int
    highpass_bands: bool
    dtype: str
    method: str
    device: str | None
    chunk_size: int
    reference: int
    cell: int | None = None


def _range_signals(job: _Job, lo: int, hi: int | None, ref: np.ndarray,
                   frames: np.ndarray | None = None) -> ChainSignals:
    """Task: band signals of frames ``[lo, hi)`` of the job's range (``hi=None``: to the end)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisualMicWarning)  # already issued by the client
        if frames is not None:
            reader = open_video(frames, fps=job.fps, roi=job.roi, downsample=job.downsample)
        else:
            end = job.end if hi is None else job.start + hi
            reader = open_video(job.path, fps=job.fps, start=job.start + lo, end=end,
                                roi=job.roi, downsample=job.downsample)
            if job.index is not None:
                reader.use_index(job.index)
        pyr = SteerablePyramid(job.shape, scales=job.scales, orientations=job.orientations,
                               highpass=job.highpass_bands, dtype=np.dtype(job.dtype))
        chain = Chain(pyr, method=job.method, device=job.device, reference=job.reference,
                      cell=job.cell)
        chain.set_reference(ref)
        chunks = prefetch(reader.chunks(job.chunk_size), depth=1)
        try:
            # The range that starts the video gathers its first chunks until they hold the
            # reference frames, exactly as a single process does.
            return chain.run(chunks, gather_first=lo == 0)
        finally:
            chunks.close()


def _ranges(total: int, *, chunk: int, first: int, per_task: int) -> list[tuple[int, int]]:
    """Chunk-aligned ``[lo, hi)`` ranges covering ``total`` frames."""
    bounds = [0]
    step = max(chunk, (per_task // chunk) * chunk)
    nxt = max(first, step)
    while nxt < total:
        bounds.append(nxt)
        nxt += step
    bounds.append(total)
    return list(zip(bounds[:-1], bounds[1:]))


def band_signals(reader, chain, *, chunk_size: int = 128, client=None,
                 workers: int | None = None, frames_per_task: int | None = None,
                 progress: ProgressCallback | None = None) -> DaskSignals:
    """Band signals of a whole video computed in parallel by Dask workers.

    The reference frame (mean of the first ``reference`` frames) is computed here and
    sent to every task; the ranges are aligned to ``chunk_size`` so that every
    estimator call sees the chunk a single process would, which makes the stitched
    result equal to the single-process one.

    This function is long because of its documentation; its code is 42 lines
    of straight-line steps.

    Parameters
    ----------
    reader : VideoReader
        The opened video (from :func:`visualmic.open_video`): its source, range, ROI
        and downsampling are reproduced by every task.
    chain : Chain
        The estimator chain (its pyramid, method, device and reference count are
        rebuilt by every task; its reference frame is computed here).
    chunk_size : int, optional
        Frames per estimator call (default 128).
    client : None, True, str or distributed.Client, optional
        See :func:`dask_client` (default: a local cluster).
    workers : int, optional
        Workers of a local cluster.
    frames_per_task : int, optional
        Frames per task (default: about a quarter of the video per worker, at least
        8 chunks), rounded to whole chunks.
    progress : callable, optional
        ``progress(frames_done, frames_total)`` as tasks finish.

    Returns
    -------
    DaskSignals

    Raises
    ------
    ParameterError
        For bad parameters or when Dask is missing.
    VideoError
        If the video has fewer than 2 frames or a task decodes fewer frames than
        its range holds.
    """
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ParameterError(f"chunk_size={chunk_size!r} must be a positive integer")
    if frames_per_task is not None and (isinstance(frames_per_task, bool) or not isinstance(
            frames_per_task, (int, np.integer)) or frames_per_task < 1):
        raise ParameterError(f"frames_per_task={frames_per_task!r} must be a positive integer")
    chunk_size = int(chunk_size)
    index = reader.frame_index()
    count = index.n_frames if index is not None else reader.exact_count
    stop = count if reader.end is None else min(reader.end, count)
    total = stop - reader.start
    if total < 2:
        raise VideoError(
            f"the video has {max(total, 0)} frame(s) in the selected range; at least 2 are "
            "needed (check --start/--end)"
        )
    # The reference frame, exactly as the single-process chain computes it.
    first = chain.first_batch(reader.chunks(chunk_size))
    ref = reference_frame(first, chain.reference)
    del first
    pyramid = chain.pyramid
    reference = chain.reference

    in_memory = reader.in_memory
    job = _Job(
        path=None if in_memory else str(reader.path), fps=float(reader.fps),
        start=int(reader.start), end=reader.end, roi=reader.roi,
        downsample=float(reader.downsample), index=index, shape=tuple(pyramid.shape),
        scales=pyramid.scales, orientations=pyramid.orientations,
        highpass_bands=pyramid.highpass, dtype=pyramid.dtype.name, method=chain.method,
        device=chain.device, chunk_size=chunk_size, reference=int(reference), cell=chain.cell,
    )
    first_len = max(1, math.ceil(reference / chunk_size)) * chunk_size
    with dask_client(client, workers=workers) as c:
        n_workers = max(1, len(c.scheduler_info(n_workers=-1).get("workers", {})) or 1)
        per_task = frames_per_task or max(8 * chunk_size, math.ceil(total / (4 * n_workers)))
        ranges = _ranges(total, chunk=chunk_size, first=first_len, per_task=per_task)
        results = _run_tasks(c, job, ref, ranges, reader, total, progress)
    messages = _check_and_collect(results, ranges, reader)
    signals = np.concatenate([r.signals for r in results], axis=1)
    cells = None
    chain.reference_image = ref
    brightness = None
    if chain.cell is not None:
        cells = np.concatenate([r.cells for r in results], axis=-1)
        brightness = np.concatenate([r.brightness for r in results], axis=-1)
        chain.set_reference(ref)  # the caller may need the cell grid and weights
    return DaskSignals(signals=signals, n_frames=signals.shape[1], ranges=ranges,
                       messages=messages, warned=[], cells=cells, brightness=brightness)


def _run_tasks(c, job: _Job, ref: np.ndarray, ranges: list, reader, total: int,
               progress) -> list[ChainSignals]:
    """Submit one task per range to the client ``c``; return their results in order."""
    ref_f = c.scatter(ref, broadcast=True)
    job_f = c.scatter(job, broadcast=True)  # the frame index is sent once per worker
    futures = []
    for j, (lo, hi) in enumerate(ranges):
        last = j == len(ranges) - 1
        data = None
        if reader.in_memory:
            data = c.scatter(np.ascontiguousarray(reader.frames_array(lo, hi)))
        futures.append(c.submit(_range_signals, job_f, lo, None if last else hi, ref_f, data,
                                pure=False))
    done = 0
    index_of = {f.key: j for j, f in enumerate(futures)}
    results: list = [None] * len(futures)
    for fut in import_distributed().as_completed(futures):
        j = index_of[fut.key]
        results[j] = fut.result()  # re-raises a task's exception here
        done += results[j].n_frames
        report(progress, done, total)
    return results


def _check_and_collect(results: list[ChainSignals], ranges: list, reader) -> list[str]:
    """Check that every range decoded fully; issue the workers' warnings once; return notes."""
    messages: list[str] = []
    for j, ((lo, hi), part) in enumerate(zip(ranges, results)):
        if j < len(ranges) - 1 and part.n_frames != hi - lo:
            raise VideoError(
                f"frames {reader.start + lo}..{reader.start + hi} of {reader!r} decoded to "
                f"{part.n_frames} frames instead of {hi - lo}; the file may be corrupt: run "
                "without --dask"
            )
        for m in part.messages:
            if m not in messages:
                messages.append(m)
                if m in part.warned:  # as the estimator would have in this process
                    warnings.warn(m, VisualMicWarning, stacklevel=3)
    return messages
