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

:func:`recover_many` processes many videos, one task each.

Run it on a real cluster with ``dask scheduler`` and ``dask worker tcp://HOST:8786``
on each machine (every worker must see the videos at the same paths), then
``visualmic recover VIDEO --dask tcp://HOST:8786``; see ``docs/scale.md``.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._errors import ParameterError, VideoError, VisualMicError, VisualMicWarning
from ._progress import ProgressCallback, report

__all__ = [
    "FrameIndex",
    "DaskSignals",
    "BatchItem",
    "frame_index",
    "band_signals",
    "recover_many",
    "dask_client",
]


# --------------------------------------------------------------------------- Dask client


def _import_distributed():
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
    distributed = _import_distributed()
    if workers is not None and (isinstance(workers, bool) or not isinstance(
            workers, (int, np.integer)) or workers < 1):
        raise ParameterError(f"workers={workers!r} must be a positive integer")
    if client is None or client is True:
        n = int(workers) if workers else (os.cpu_count() or 1)
        with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=processes,
                                      dashboard_address=None) as cluster, \
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


# --------------------------------------------------------------------------- frame index


@dataclass(frozen=True)
class FrameIndex:
    """Packets of a video stream, in decoding order (one per frame).

    Attributes
    ----------
    pts : np.ndarray [shape=(n,), dtype=int64]
        Timestamps in the stream's time base (-1 when missing).
    pos : np.ndarray [shape=(n,), dtype=int64]
        Byte position of each packet in the file (-1 when unknown).
    key : np.ndarray [shape=(n,), dtype=bool]
        Whether decoding can start at the packet.
    seekable : bool
        Whether seeking to a key frame and recognising the landing packet by its
        position is exact for this stream (see :func:`frame_index`).
    """

    pts: np.ndarray
    pos: np.ndarray
    key: np.ndarray
    seekable: bool

    @property
    def n_frames(self) -> int:
        """Number of packets (frames) found."""
        return len(self.pos)

    def key_at_or_before(self, i: int) -> int:
        """Index of the last key frame at or before frame ``i`` (0 if none)."""
        keys = np.flatnonzero(self.key[: i + 1])
        return int(keys[-1]) if keys.size else 0

    def lookup(self, position: int | None) -> int | None:
        """Frame index of the packet at byte ``position`` (None if unknown)."""
        if position is None or position < 0:
            return None
        i = int(np.searchsorted(self._sorted_pos, position))
        if i < len(self._sorted_pos) and self._sorted_pos[i] == position:
            return int(self._order[i])
        return None

    @property
    def _order(self) -> np.ndarray:
        return np.argsort(self.pos, kind="stable")

    @property
    def _sorted_pos(self) -> np.ndarray:
        return self.pos[self._order]


def frame_index(path) -> FrameIndex:
    """Scan a video file's packets without decoding them (a fast demux-only pass).

    Parameters
    ----------
    path : path-like
        A video file FFmpeg reads.

    Returns
    -------
    FrameIndex
        ``seekable`` is True when the codec is lossless, every packet has a distinct
        byte position and a timestamp, and the stream has key frames: then decoding
        from a key frame reproduces exactly the frames of a decode from the start.

    Raises
    ------
    InputFileError, VideoError
        If the file is missing or not a video.
    """
    from .io.video import _AVSource

    src = _AVSource(Path(path), lambda message: None)
    container = src._open()
    pts, pos, key = [], [], []
    try:
        stream = container.streams[src._index]
        for packet in container.demux(stream):
            if packet.size == 0:
                continue  # the demuxer's end-of-stream packet
            pts.append(-1 if packet.pts is None else int(packet.pts))
            pos.append(-1 if packet.pos is None else int(packet.pos))
            key.append(bool(packet.is_keyframe))
    finally:
        container.close()
    pts_a = np.asarray(pts, dtype=np.int64)
    pos_a = np.asarray(pos, dtype=np.int64)
    key_a = np.asarray(key, dtype=bool)
    seekable = bool(
        src.lossless is True and pos_a.size > 0 and np.all(pos_a >= 0)
        and np.unique(pos_a).size == pos_a.size and np.all(pts_a >= 0) and key_a.any()
    )
    return FrameIndex(pts_a, pos_a, key_a, seekable)


class _SeekingSource:
    """Wraps an ``_AVSource`` so that ``frames(start, end)`` seeks instead of decoding from 0."""

    def __init__(self, source, index: FrameIndex):
        self._src = source
        self._idx = index
        self.seeked_to: int | None = None  # key frame the last read started at (tests)

    def __getattr__(self, name):
        return getattr(self._src, name)

    def blocks(self, start, end, rows, cols, size):
        from .io.video import _Source

        return _Source.blocks(self, start, end, rows, cols, size)

    def frames(self, start, end, rows, cols):
        idx = self._idx
        if start == 0 or not idx.seekable or start >= idx.n_frames:
            self.seeked_to = 0
            yield from self._src.frames(start, end, rows, cols)
            return
        src = self._src
        container = src._open()
        try:
            stream = container.streams[src._index]
            stream.thread_type = "AUTO"
            k = idx.key_at_or_before(start)
            container.seek(int(idx.pts[k]), stream=stream, backward=True, any_frame=False)
            packets = container.demux(stream)
            first = next((p for p in packets if p.size), None)
            i = idx.lookup(None if first is None else first.pos)
            if i is None or i > start or not idx.key[i]:
                landed = None
            else:
                landed = i
            if landed is None:  # the seek cannot be trusted: decode from the start
                container.close()
                container = None
                self.seeked_to = 0
                yield from src.frames(start, end, rows, cols)
                return
            self.seeked_to = landed
            from .io.video import _frame_converter

            convert, fmt = src._convert, src._format
            height, width = src.input_shape
            stop = math.inf if end is None else end
            n = landed  # index of the next decoded frame

            def decoded():
                flushed = False
                yield from stream.decode(first)
                for packet in packets:
                    flushed = packet.size == 0  # the demuxer's end-of-stream packet
                    yield from stream.decode(packet)
                if not flushed:
                    yield from stream.decode(None)  # frames held by decoder threads

            for frame in decoded():
                if n >= stop:
                    return
                if n >= start:
                    if frame.height != height or frame.width != width:
                        raise VideoError(
                            f"frame {n} of {str(src.path)!r} is {frame.width}x{frame.height}, "
                            f"the first was {width}x{height}; re-encode the video at one size"
                        )
                    if frame.format.name != fmt:
                        convert, _ = _frame_converter(frame.format)
                        fmt = frame.format.name
                    yield convert(frame, rows, cols)
                n += 1
        finally:
            if container is not None:
                container.close()


# --------------------------------------------------------------------------- one video


@dataclass
class DaskSignals:
    """Band signals of one video computed by Dask workers (see :func:`band_signals`).

    Attributes
    ----------
    signals : np.ndarray [shape=(n_bands, T), dtype=float64]
        Band signals in radians, in frame order.
    n_frames : int
        Frames processed.
    ranges : list of (int, int)
        The frame ranges of the tasks (relative to the reader's start).
    messages : list of str
        Notes from the workers' estimators (those that were warnings there are issued
        once here).
    """

    signals: np.ndarray
    n_frames: int
    ranges: list = field(default_factory=list)
    messages: list = field(default_factory=list)


@dataclass(frozen=True)
class _Job:
    """What a task needs to rebuild the reader and the estimator (small, picklable)."""

    path: str | None
    fps: float
    start: int
    end: int | None
    roi: tuple | None
    downsample: float
    index: FrameIndex | None
    shape: tuple
    scales: int
    orientations: int
    highpass_bands: bool
    dtype: str
    method: str
    device: str | None
    chunk_size: int
    reference: int


def _range_signals(job: _Job, lo: int, hi: int | None, ref: np.ndarray,
                   frames: np.ndarray | None = None) -> tuple[np.ndarray, int, list]:
    """Task: band signals of frames ``[lo, hi)`` of the job's range (``hi=None``: to the end)."""
    from .fast import motion_estimator, prefetch
    from .io.video import _AVSource, open_video
    from .pyramid import SteerablePyramid

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisualMicWarning)  # already issued by the client
        if frames is not None:
            reader = open_video(frames, fps=job.fps, roi=job.roi, downsample=job.downsample)
        else:
            end = job.end if hi is None else job.start + hi
            reader = open_video(job.path, fps=job.fps, start=job.start + lo, end=end,
                                roi=job.roi, downsample=job.downsample)
            if job.index is not None and isinstance(reader._source, _AVSource):
                reader._source = _SeekingSource(reader._source, job.index)
        pyr = SteerablePyramid(job.shape, scales=job.scales, orientations=job.orientations,
                               highpass=job.highpass_bands, dtype=np.dtype(job.dtype))
        est = motion_estimator(pyr, ref, method=job.method, device=job.device)
        pieces, pending, n = [], [], 0
        for chunk in prefetch(reader.chunks(job.chunk_size), depth=1):
            if lo == 0 and job.reference > job.chunk_size and n == 0:
                # The single-process pipeline processes its first chunks as one batch
                # until it holds the reference frames: do the same.
                pending.append(chunk)
                if sum(len(c) for c in pending) < job.reference:
                    continue
                chunk = np.concatenate(pending)
                pending = []
            pieces.append(est(chunk))
            n += len(chunk)
        if pending:
            chunk = np.concatenate(pending)
            pieces.append(est(chunk))
            n += len(chunk)
    signals = np.concatenate(pieces, axis=1) if pieces else np.empty((est.n_bands, 0))
    return signals, n, (list(getattr(est, "messages", []) or []),
                        list(getattr(est, "warned", []) or []))


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


def band_signals(reader, pyramid, *, reference: int = 1, method: str = "phase",
                 device: str | None = None, chunk_size: int = 128, client=None,
                 workers: int | None = None, frames_per_task: int | None = None,
                 progress: ProgressCallback | None = None) -> DaskSignals:
    """Band signals of a whole video computed in parallel by Dask workers.

    The reference frame (mean of the first ``reference`` frames) is computed here and
    sent to every task; the ranges are aligned to ``chunk_size`` so that every
    estimator call sees the chunk a single process would, which makes the stitched
    result equal to the single-process one.

    Parameters
    ----------
    reader : VideoReader
        The opened video (from :func:`visualmic.open_video`): its source, range, ROI
        and downsampling are reproduced by every task.
    pyramid : SteerablePyramid
        The pyramid (its parameters are sent to the tasks).
    reference : int, optional
        Frames averaged into the reference frame (default 1).
    method : {"phase", "fast", "auto"}, optional
        Motion estimator (see :func:`visualmic.fast.motion_estimator`).
    device : str, optional
        PyTorch device for the estimator on the workers.
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
    from .io.video import _AVSource

    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) \
            or chunk_size < 1:
        raise ParameterError(f"chunk_size={chunk_size!r} must be a positive integer")
    if frames_per_task is not None and (isinstance(frames_per_task, bool) or not isinstance(
            frames_per_task, (int, np.integer)) or frames_per_task < 1):
        raise ParameterError(f"frames_per_task={frames_per_task!r} must be a positive integer")
    chunk_size = int(chunk_size)
    src = reader._source
    index = None
    if isinstance(src, _AVSource):
        index = frame_index(reader.path)
        count = index.n_frames
    else:
        count = src.exact_count
    stop = count if reader.end is None else min(reader.end, count)
    total = stop - reader.start
    if total < 2:
        raise VideoError(
            f"the video has {max(total, 0)} frame(s) in the selected range; at least 2 are "
            "needed (check --start/--end)"
        )
    # The reference frame, exactly as the single-process pipeline computes it.
    pending, have = [], 0
    for chunk in reader.chunks(chunk_size):
        pending.append(chunk)
        have += len(chunk)
        if have >= reference:
            break
    first = np.concatenate(pending) if len(pending) > 1 else pending[0]
    ref = first[:reference].astype(np.float64).mean(axis=0)
    del pending, first

    in_memory = reader.path is None
    job = _Job(
        path=None if in_memory else str(reader.path), fps=float(reader.fps),
        start=int(reader.start), end=reader.end, roi=reader.roi,
        downsample=float(reader.downsample), index=index, shape=tuple(pyramid.shape),
        scales=pyramid.scales, orientations=pyramid.orientations,
        highpass_bands=pyramid.highpass, dtype=pyramid.dtype.name, method=method,
        device=device, chunk_size=chunk_size, reference=int(reference),
    )
    first_len = max(1, math.ceil(reference / chunk_size)) * chunk_size
    with dask_client(client, workers=workers) as c:
        n_workers = max(1, len(c.scheduler_info(n_workers=-1).get("workers", {})) or 1)
        per_task = frames_per_task or max(8 * chunk_size, math.ceil(total / (4 * n_workers)))
        ranges = _ranges(total, chunk=chunk_size, first=first_len, per_task=per_task)
        ref_f = c.scatter(ref, broadcast=True)
        job_f = c.scatter(job, broadcast=True)  # the frame index is sent once per worker
        futures = []
        for j, (lo, hi) in enumerate(ranges):
            last = j == len(ranges) - 1
            data = None
            if in_memory:
                data = c.scatter(np.ascontiguousarray(
                    src._arr[reader.start + lo : reader.start + hi]))
            futures.append(c.submit(_range_signals, job_f, lo, None if last else hi, ref_f, data,
                                    pure=False))
        done = 0
        index_of = {f.key: j for j, f in enumerate(futures)}
        results: list = [None] * len(futures)
        distributed = _import_distributed()
        for fut in distributed.as_completed(futures):
            j = index_of[fut.key]
            results[j] = fut.result()  # re-raises a task's exception here
            done += results[j][1]
            report(progress, done, total)
    messages: list[str] = []
    for j, ((lo, hi), (_, n, (msgs, warned))) in enumerate(zip(ranges, results)):
        if j < len(ranges) - 1 and n != hi - lo:
            raise VideoError(
                f"frames {reader.start + lo}..{reader.start + hi} of {reader!r} decoded to {n} "
                f"frames instead of {hi - lo}; the file may be corrupt: run without --dask"
            )
        for m in msgs:
            if m not in messages:
                messages.append(m)
                if m in warned:  # as the estimator would have in this process
                    warnings.warn(m, VisualMicWarning, stacklevel=2)
    signals = np.concatenate([r[0] for r in results], axis=1)
    return DaskSignals(signals=signals, n_frames=signals.shape[1], ranges=ranges,
                       messages=messages)


# --------------------------------------------------------------------------- many videos


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
    from .pipeline import recover

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
    import inspect

    from ._atomic import check_output_path
    from .io.audio import write_audio
    from .pipeline import recover

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
        from ._errors import OutputError

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
        distributed = _import_distributed()
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
