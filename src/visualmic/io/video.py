"""Video input: stream grey-level frames from files, frame folders and arrays.

:func:`open_video` inspects a source once and returns a :class:`VideoReader`
whose :meth:`VideoReader.chunks` streams the frames as float32 arrays of shape
``(t, H, W)`` in grey levels, so that memory does not grow with the length of
the video.  Sources:

* any video file FFmpeg reads, decoded through PyAV with its own threads;
* a folder of PNG, TIFF, BMP or JPEG frames, in natural order (``frame2`` before ``frame10``);
* Photron ``.cih``/``.cihx``/``.mraw``, Phantom ``.cine`` and multi-page TIFF files
  (readers in ``_photron.py``, ``_cine.py``, ``_tiffstack.py``, chosen in ``_formats.py``);
* a ``.npy`` file of shape ``(T, H, W)`` or ``(T, H, W, 3)`` (memory-mapped);
* an in-memory array of shape ``(T, H, W)`` or ``(T, H, W, 3)``.

Precision is kept: 8-bit sources give grey levels 0..255, 16-bit sources
0..65535 (10- and 12-bit sources keep their native range), and colour is reduced
to luminance (the Y plane of YUV formats exactly; ``0.299 R + 0.587 G +
0.114 B`` computed in floating point for RGB formats).  Frames are counted as
they are decoded: the container's frame count is only a hint for progress bars,
never a buffer size or a loop bound.  Frames before ``start`` are decoded and
dropped (exact whatever the container's index).  A file that decodes some frames
and then fails (truncated, corrupt tail) yields the frames decoded so far and
issues a :class:`visualmic.VisualMicWarning`; one that decodes none raises
:class:`visualmic.VideoError`.
"""

from __future__ import annotations

import math
import numbers
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .._errors import InputFileError, ParameterError, VideoError, VisualMicWarning
from .._progress import ProgressCallback, report
from .._validate import in_range
from ._av import LOSSY_ADVICE, AVSource, frame_index
from ._files import ArraySource, FolderSource, load_npy
from ._formats import open_format_source, playback_rate_hint
from ._photron import PHOTRON_SUFFIXES
from ._resample import Resampler
from ._source import Source

__all__ = ["open_video", "VideoReader", "parse_roi", "LOW_FPS", "playback_rate_hint",
           "input_files"]

#: Frame rates below this (frames per second) trigger a low-frame-rate warning.
LOW_FPS = 1000.0


# Codecs whose output equals their input.


# --------------------------------------------------------------------------- validation


def parse_roi(text: str) -> tuple[int, int, int, int]:
    """Parse a region of interest written ``"X,Y,W,H"``.

    Parameters
    ----------
    text : str
        Four integers separated by commas: the column ``X`` and row ``Y`` of the
        top-left corner, the width ``W`` and the height ``H``, in input pixels.

    Returns
    -------
    tuple of int
        ``(x, y, w, h)``.

    Raises
    ------
    ParameterError
        If the text is not four integers with ``x, y >= 0`` and ``w, h >= 1``.

    Examples
    --------
    >>> parse_roi("10, 20, 64, 48")
    (10, 20, 64, 48)
    """
    parts = str(text).split(",")
    try:
        if len(parts) != 4:
            raise ValueError
        x, y, w, h = (int(p.strip()) for p in parts)
    except ValueError:
        raise ParameterError(
            f"roi={text!r} is not X,Y,W,H; give four integers, e.g. --roi 10,20,64,48"
        ) from None
    return _check_roi((x, y, w, h))


def _check_roi(roi) -> tuple[int, int, int, int]:
    """Validate the form of ``roi`` (not yet against a frame size)."""
    if isinstance(roi, str):
        return parse_roi(roi)
    try:
        vals = tuple(roi)
    except TypeError:
        vals = ()
    if len(vals) != 4 or not all(
        isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in vals
    ):
        raise ParameterError(
            f"roi={roi!r} must be four integers (x, y, w, h): column, row, width, height"
        )
    x, y, w, h = (int(v) for v in vals)
    if x < 0 or y < 0 or w < 1 or h < 1:
        raise ParameterError(
            f"roi={roi!r} needs x, y >= 0 and w, h >= 1 (x, y = top-left column, row)"
        )
    return x, y, w, h


def _check_fps(fps) -> float | None:
    if fps is None:
        return None
    if isinstance(fps, bool) or not isinstance(fps, numbers.Real):
        raise ParameterError(f"fps={fps!r} must be a positive number of frames per second")
    value = float(fps)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"fps={fps!r} must be a positive, finite number of frames per second")
    return in_range("fps", value, "fps")


def _check_index(name: str, value, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"{name}={value!r} must be an integer frame index")
    return int(value)


def _shrink_factor(downsample) -> float:
    """Return the size reduction (>= 1) meant by ``downsample``."""
    if isinstance(downsample, bool) or not isinstance(downsample, numbers.Real):
        raise ParameterError(
            f"downsample={downsample!r} must be a number: F > 1 shrinks by F, 0 < F < 1 scales by F"
        )
    f = float(downsample)
    if not math.isfinite(f) or f <= 0:
        raise ParameterError(
            f"downsample={downsample!r} must be positive: F > 1 shrinks by F (2 = half size), "
            "0 < F < 1 is a scale factor (0.5 = half size), 1 = none"
        )
    return f if f >= 1 else 1.0 / f


# --------------------------------------------------------------------------- reader


class VideoReader:
    """Streams the frames of one video source as float32 grey-level blocks.

    Created by :func:`open_video`; see there for the parameters.

    Attributes
    ----------
    path : Path or None
        The source file or folder (None for an in-memory array).
    fps : float
        Frame rate used for the audio, in frames per second: the override given
        to :func:`open_video`, else the container's.
    source_fps : float or None
        The frame rate the source declares (None for folders and arrays).
    input_shape : tuple of int
        ``(H, W)`` of the source frames, in pixels.
    shape : tuple of int
        ``(H, W)`` of the frames :meth:`chunks` yields, after ``roi`` and ``downsample``.
    start, end : int, int or None
        The frame range ``[start, end)`` read (``end=None``: to the last frame).
    roi : tuple of int or None
        ``(x, y, w, h)`` in input pixels.
    downsample : float
        The shrink factor applied after the ROI (1 = none).
    codec : str or None
        FFmpeg's codec name (``"ffv1"``, ``"h264"``, ``"png"``, ...); None for arrays.
    lossless : bool or None
        Whether the codec reproduces the recorded frames exactly (None: unknown).
    bit_depth : int or None
        Bits per grey sample of the source (8, 10, 12, 16); None for float data.
    frame_count_hint : int
        The frame count the container declares (0 when unknown).  Only a hint
        for progress bars: it may be wrong and is never used to size buffers
        or bound loops.
    frames_read : int or None
        Frames yielded by the last complete pass of :meth:`chunks`.
    warnings : list of str
        Every warning issued for this source (also sent through
        :func:`warnings.warn` as :class:`visualmic.VisualMicWarning`).
    """

    def __init__(self, source: Source, *, fps: float, start: int, end: int | None,
                 roi: tuple[int, int, int, int] | None, downsample: float,
                 shrink: float, warning_list: list[str]):
        self._source = source
        self.path = source.path
        self.fps = fps
        self.source_fps = source.source_fps
        self.input_shape = source.input_shape
        self.codec = source.codec
        self.lossless = source.lossless
        self.bit_depth = source.bit_depth
        self.frame_count_hint = source.frame_count_hint
        self.start, self.end, self.roi, self.downsample = start, end, roi, downsample
        self.frames_read: int | None = None
        self.warnings = warning_list
        height, width = self.input_shape
        x, y, w, h = roi if roi is not None else (0, 0, width, height)
        self._rows, self._cols = slice(y, y + h), slice(x, x + w)
        if shrink == 1.0:
            self.shape = (h, w)
            self._resample = None
        else:
            out = (max(1, int(round(h / shrink))), max(1, int(round(w / shrink))))
            self.shape = out
            self._resample = Resampler((h, w), out)
        #: Input pixels per processed pixel along x and y (1 without downsampling).
        self.pixel_scale = (w / self.shape[1], h / self.shape[0])

    def __repr__(self) -> str:
        src = str(self.path) if self.path is not None else "array"
        return (f"VideoReader({src!r}, fps={self.fps:g}, shape={self.shape}, "
                f"frames=[{self.start}, {self.end}), codec={self.codec!r})")

    def _expected(self) -> int | None:
        """Frames expected in the range, for progress bars only (None: unknown)."""
        n = self._source.exact_count or self.frame_count_hint or None
        if n is None:
            return None if self.end is None else self.end - self.start
        stop = n if self.end is None else min(self.end, n)
        return max(stop - self.start, 0)

    def chunks(self, size: int = 256, *,
               progress: ProgressCallback | None = None) -> Iterator[np.ndarray]:
        """Yield the frames of the range in consecutive blocks.

        Parameters
        ----------
        size : int, optional
            Frames per block (the last block may be shorter).  Memory use is
            about ``size * H * W * 4`` bytes (plus the decoder's), whatever the
            video's length.
        progress : callable, optional
            ``progress(done, total)`` after each block: frames read so far and
            the expected number (None when unknown; a hint, never trusted).

        Yields
        ------
        np.ndarray [shape=(t, H, W), dtype=float32]
            Grey levels (0..255 for 8-bit sources, 0..65535 for 16-bit), with
            ``(H, W) = reader.shape``.  Each block is a new array.

        Raises
        ------
        VideoError
            If no frame lies in ``[start, end)``, the file cannot be decoded, or a
            frame holds NaN or infinite values.  A file that decodes some frames
            and then fails ends the stream early with a warning instead.
        ParameterError
            If ``size`` is not a positive integer.
        """
        if isinstance(size, bool) or not isinstance(size, numbers.Integral) or size < 1:
            raise ParameterError(f"size={size!r} must be a positive integer number of frames")
        expected = self._expected()
        done = 0
        gen = self._source.blocks(self.start, self.end, self._rows, self._cols, int(size))
        try:
            for block in gen:
                if self._source.check_finite and not np.isfinite(block).all():
                    bad = self.start + done + int(np.argmin(np.isfinite(block).reshape(
                        len(block), -1).all(axis=1)))
                    raise VideoError(
                        f"frame {bad} of {self._name()} holds NaN or infinite values; "
                        "give finite grey levels"
                    )
                if self._resample is not None:
                    block = self._resample(block)
                done += len(block)
                report(progress, done, expected if expected is not None and done <= expected
                       else None)
                yield block
        finally:
            gen.close()
        if done == 0:
            raise VideoError(self._empty_message())
        self.frames_read = done

    def read(self, *, progress: ProgressCallback | None = None) -> np.ndarray:
        """Read every frame of the range at once.

        Returns
        -------
        np.ndarray [shape=(T, H, W), dtype=float32]
            Grey levels; ``T`` counts the frames actually decoded.
        """
        return np.concatenate(list(self.chunks(progress=progress)), axis=0)

    def reference(self, k: int = 1) -> np.ndarray:
        """Mean of the first ``k`` frames of the range.

        Parameters
        ----------
        k : int
            Number of frames averaged (>= 1).

        Returns
        -------
        np.ndarray [shape=(H, W), dtype=float64]
            Mean grey levels.

        Raises
        ------
        ParameterError
            If ``k`` is not a positive integer or the range holds fewer frames.
        """
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
            raise ParameterError(f"k={k!r} must be a positive integer number of frames")
        total = np.zeros(self.shape, np.float64)
        n = 0
        gen = self.chunks(size=min(int(k), 256))
        try:
            for block in gen:
                take = block[: k - n]
                total += take.sum(axis=0, dtype=np.float64)
                n += len(take)
                if n >= k:
                    break
        finally:
            gen.close()
        if n < k:
            raise ParameterError(
                f"k={k} reference frames requested but the range holds only {n}; use a smaller k"
            )
        return total / n

    # -- for runners that split the range (Dask) -------------------------------------------
    @property
    def in_memory(self) -> bool:
        """True when the frames are an in-memory array (not a file or folder)."""
        return self.path is None

    def frame_index(self):
        """A :class:`~visualmic.io._av.FrameIndex` of the video file, or None for other sources.

        Scanning the packets (no decoding) gives the exact frame count and lets readers
        of later ranges seek to a key frame instead of decoding from the start
        (:meth:`use_index`).
        """
        if not isinstance(self._source, AVSource):
            return None
        return frame_index(self.path)

    def use_index(self, index) -> None:
        """Let this reader seek with ``index`` (from :meth:`frame_index`) where exact."""
        if isinstance(self._source, AVSource):
            self._source.index = index

    @property
    def seeked_to(self) -> int | None:
        """Frame at which the last read of a video file started decoding (None otherwise)."""
        return getattr(self._source, "seeked_to", None)

    @property
    def exact_count(self) -> int | None:
        """The source's frame count when known exactly (arrays, folders), else None."""
        return self._source.exact_count

    def frames_array(self, lo: int, hi: int) -> np.ndarray:
        """Frames ``[start + lo, start + hi)`` of an in-memory source, as stored (no ROI)."""
        if not isinstance(self._source, ArraySource):
            raise ParameterError("frames_array() needs an in-memory array source")
        return self._source.array[self.start + lo : self.start + hi]

    def _name(self) -> str:
        return repr(str(self.path)) if self.path is not None else "the frame array"

    def _empty_message(self) -> str:
        count = self._source.exact_count
        rng = f"[{self.start}, {'end' if self.end is None else self.end})"
        if count is not None:
            return (f"no frames in range {rng} of {self._name()}, which has {count} frames; "
                    "choose start/end within the video")
        return (f"no frames decoded in range {rng} of {self._name()}; the video is shorter "
                "than start or holds no frames")


def open_video(source, *, fps: float | None = None, start: int = 0, end: int | None = None,
               roi: tuple[int, int, int, int] | str | None = None,
               downsample: float = 1.0) -> VideoReader:
    """Open a video source for streaming grey-level frames.

    Nothing but the first frame is decoded here; frames are read by
    :meth:`VideoReader.chunks`.  Warnings for a lossy codec and a low frame
    rate are issued here (``warnings.warn(..., VisualMicWarning)``) and kept in
    ``reader.warnings``.

    This function is long because of its documentation; its code is 37 lines
    of straight-line steps.

    Parameters
    ----------
    source : path-like or np.ndarray
        A video file any FFmpeg reads; a Photron ``.cih``/``.cihx``/``.mraw``,
        Phantom ``.cine`` or multi-page TIFF file; a folder of PNG, TIFF, BMP or
        JPEG frames (natural order: ``frame2`` before ``frame10``); a ``.npy`` file; or an array of
        shape ``(T, H, W)`` (grey) or ``(T, H, W, 3)`` (RGB), in grey levels.
    fps : float, optional
        Frame rate in frames per second.  Overrides the container's rate;
        required for folders, ``.npy`` files and arrays.  ``fps=2200`` lets the
        audio reach 1.1 kHz.
    start : int, optional
        First frame read (0-based).
    end : int, optional
        One past the last frame read; None reads to the end of the video.
    roi : tuple of int or str, optional
        ``(x, y, w, h)`` in input pixels (``x`` = column, ``y`` = row of the
        top-left corner), or ``"X,Y,W,H"``; applied before downsampling.
    downsample : float, optional
        ``F > 1`` shrinks the frames by ``F`` (2 = half size), ``0 < F < 1``
        scales them by ``F`` (0.5 = half size), 1 = full size.  Shrinking is
        anti-aliased (Lanczos-3 low-pass before sampling).

    Returns
    -------
    VideoReader

    Raises
    ------
    InputFileError
        If the path does not exist or is unreadable, or a folder holds no frames.
    VideoError
        If the file is not a video FFmpeg can decode, holds no video stream or
        no frames, or an array or ``.npy`` file has the wrong shape.
    ParameterError
        For a non-positive or NaN ``fps``, ``start < 0``, ``end <= start``, a
        bad ``downsample`` or an ``roi`` outside the frame, or a missing ``fps``
        where the source has none.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.zeros((10, 32, 48), np.uint8)
    >>> reader = open_video(frames, fps=2200, roi=(8, 0, 32, 32), downsample=2)
    >>> reader.shape
    (16, 16)
    >>> [block.shape for block in reader.chunks(size=4)]
    [(4, 16, 16), (4, 16, 16), (2, 16, 16)]
    """
    fps_value = _check_fps(fps)
    start_i = _check_index("start", start)
    end_i = _check_index("end", end, allow_none=True)
    if start_i < 0:
        raise ParameterError(f"start={start} must be >= 0 (the first frame is 0)")
    if end_i is not None and end_i <= start_i:
        raise ParameterError(f"end={end} must be greater than start={start}")
    roi_t = None if roi is None else _check_roi(roi)
    shrink = _shrink_factor(downsample)

    issued: list[str] = []

    def warn(message: str) -> None:
        issued.append(message)
        warnings.warn(message, VisualMicWarning, stacklevel=4)

    src, name = _open_source(source, warn)

    if fps_value is None:
        if src.source_fps is None:
            raise ParameterError(
                f"{name} has no frame rate; give fps (on the command line: -s/--sampling-rate)"
            )
        fps_value = src.source_fps

    _check_geometry(src, roi_t, shrink, downsample, start_i, name)

    if src.lossless is False:
        warn(f"{name}: codec '{src.codec}' is lossy; {LOSSY_ADVICE}")
    elif src.lossless is None and src.codec is not None:
        warn(f"{name}: codec '{src.codec}' may be lossy; {LOSSY_ADVICE}")
    if fps_value < LOW_FPS:
        hint = "record at 2000 fps or more for speech"
        if fps is None:  # the rate came from the file
            hint = playback_rate_hint(fps_value)
        warn(f"frame rate {fps_value:g} fps is low: audio is limited to fps/2 = "
             f"{fps_value / 2:g} Hz; {hint}")

    return VideoReader(src, fps=fps_value, start=start_i, end=end_i, roi=roi_t,
                       downsample=float(downsample), shrink=shrink, warning_list=issued)


def input_files(source) -> list[Path]:
    """The files (or folder) a video source reads: the path, and its companion files.

    A Photron recording is a header (``.cih``/``.cihx``) and a ``.mraw`` beside it;
    an output must never be written over either. Other sources are one path (a
    folder of frames counts as one: :func:`visualmic.io.atomic.check_outputs`
    keeps outputs out of an input folder).

    Examples
    --------
    >>> [p.name for p in input_files("cam.cih")]
    ['cam.cih', 'cam.cihx', 'cam.mraw']
    """
    path = Path(source)
    if path.suffix.lower() in PHOTRON_SUFFIXES:
        return [path] + [path.with_suffix(s) for s in PHOTRON_SUFFIXES
                         if s != path.suffix.lower()]
    return [path]


def _open_source(source, warn) -> tuple[Source, str]:
    """The frame source for ``source`` (array, folder, ``.npy`` or video file) and its name."""
    if isinstance(source, np.ndarray):
        src: Source = ArraySource(source, warn)
        name = "the frame array"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.exists():
            raise InputFileError(f"video {str(path)!r} does not exist; check the path")
        if path.is_dir():
            src = FolderSource(path, warn)
        elif not os.access(path, os.R_OK):
            raise InputFileError(
                f"cannot read {str(path)!r}: permission denied; check the file's permissions"
            )
        elif path.stat().st_size == 0:
            raise VideoError(f"video file {str(path)!r} is empty (0 bytes); give a complete video")
        elif path.suffix.lower() == ".npy":
            src = ArraySource(load_npy(path), warn, path=path)
        else:
            # Camera files and TIFF stacks (readers chosen in io/_formats.py), else FFmpeg.
            src = open_format_source(path, warn) or AVSource(path, warn)
    else:
        raise ParameterError(
            f"source of type {type(source).__name__} is not a path or a NumPy array; give a "
            "video file, a folder of frames, a .npy file or an array (T, H, W)"
        )

    return src, name


def _check_geometry(src: Source, roi_t, shrink: float, downsample, start_i: int, name: str) -> None:
    """Check that the ROI, the downsampling and the first frame fit the source."""
    height, width = src.input_shape
    if roi_t is not None:
        x, y, w, h = roi_t
        if x + w > width or y + h > height:
            raise ParameterError(
                f"roi=({x}, {y}, {w}, {h}) reaches beyond the {width}x{height} (WxH) frame; "
                f"keep x + w <= {width} and y + h <= {height}"
            )
        height, width = h, w
    if shrink > 1.0 and (height / shrink < 1 or width / shrink < 1):
        raise ParameterError(
            f"downsample={downsample} leaves less than one pixel of the {width}x{height} frame; "
            "use a smaller factor"
        )
    if src.exact_count is not None and start_i >= src.exact_count:
        raise VideoError(
            f"start={start_i} is past the last frame of {name}, which has {src.exact_count} "
            "frames; choose a smaller start"
        )
