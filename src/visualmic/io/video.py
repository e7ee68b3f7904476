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
import re
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import av
import numpy as np

from .._errors import InputFileError, ParameterError, VideoError, VisualMicWarning
from .._progress import ProgressCallback, report

__all__ = ["open_video", "VideoReader", "parse_roi", "LOW_FPS"]

#: Frame rates below this (frames per second) trigger a low-frame-rate warning.
LOW_FPS = 1000.0

#: File-name suffixes read from a folder of frames.
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")  # issue 12: + BMP, JPEG

#: Luminance weights (ITU-R BT.601) applied to R, G, B.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])

# Codecs whose output equals their input.
_LOSSLESS_CODECS = frozenset({
    "ffv1", "rawvideo", "png", "apng", "tiff", "huffyuv", "ffvhuff", "utvideo",
    "magicyuv", "qtrle", "bmp", "pam", "pgm", "pgmyuv", "ppm", "pbm", "v210", "v410",
    "r210", "r10k", "ayuv", "yuv4", "y41p", "lagarith", "zlib", "zmbv", "sgi", "targa",
})
# Codecs treated as lossy even where a lossless mode exists: whether a given file
# used it cannot be told from the stream header.
_LOSSY_CODECS = frozenset({
    "h264", "hevc", "vvc", "av1", "vp8", "vp9", "mpeg4", "mjpeg", "mjpegb", "prores",
    "mpeg1video", "mpeg2video", "h263", "h263p", "flv1", "theora", "dnxhd", "cinepak",
    "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "wmv3", "vc1", "svq1", "svq3",
    "dvvideo", "jpeg", "webp",
})

_LOSSY_ADVICE = ("lossy compression destroys sub-pixel motion; re-encode losslessly (FFV1) "
                 "or record uncompressed")

_ATTACHED_PIC = 1024  # AV_DISPOSITION_ATTACHED_PIC: cover art, not video


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
    return value


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


def _natural_key(path: Path) -> list:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def _av_reason(exc: BaseException) -> str:
    """Return the short reason of a PyAV/FFmpeg exception (without the errno noise)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(reason).rstrip(".")


def _classify_codec(name: str | None) -> bool | None:
    """Return True for lossless codecs, False for lossy ones, None when unknown."""
    if name is None:
        return None
    if name in _LOSSLESS_CODECS:
        return True
    if name in _LOSSY_CODECS:
        return False
    try:
        codec = av.codec.Codec(name, "r")
    except Exception:  # noqa: BLE001 - unknown to this FFmpeg build
        return None
    if codec.lossless and not codec.lossy:
        return True
    if codec.lossy and not codec.lossless:
        return False
    return None


# --------------------------------------------------------------------------- frame conversion

Converter = Callable[[av.VideoFrame, slice, slice], np.ndarray]


def _frame_converter(fmt: av.VideoFormat) -> tuple[Converter, int | None]:
    """Build a function turning a decoded frame into a cropped 2-D luminance array.

    Returns ``(convert, bit_depth)``.  ``convert(frame, rows, cols)`` returns an
    array of shape ``(len(rows), len(cols))``: a view of the frame's luma plane
    in its native integer type for grey and YUV formats (exact), or float64
    luminance for RGB and palette formats.  The array may share memory with the
    frame; copy it before the frame is released.
    """
    name = fmt.name
    comps = fmt.components
    luma = [c for c in comps if c.is_luma]
    if luma and not fmt.has_palette and not fmt.is_bit_stream and not fmt.is_bayer:
        c = luma[0]
        alone = sum(1 for d in comps if d.plane == c.plane) == 1
        if alone:
            order = ">" if fmt.is_big_endian else "<"
            if re.search(r"f32", name):
                dtype, bits = np.dtype(order + "f4"), None
            elif re.search(r"f16", name):
                dtype, bits = np.dtype(order + "f2"), None
            elif c.bits <= 8:
                dtype, bits = np.dtype(np.uint8), c.bits
            elif c.bits <= 16:
                dtype, bits = np.dtype(order + "u2"), c.bits
            else:
                dtype = None
            # p010/p016-style formats store samples in the most significant bits.
            shift = 16 - c.bits if (dtype is not None and re.match(r"p\d{3}", name)) else 0
            if dtype is not None:
                index, itemsize = c.plane, dtype.itemsize

                def convert_luma(frame, rows, cols):
                    plane = frame.planes[index]
                    stride = plane.line_size // itemsize  # samples per row, with padding
                    data = np.frombuffer(plane, dtype, count=plane.height * stride)
                    out = data.reshape(plane.height, stride)[:, : plane.width][rows, cols]
                    return out >> shift if shift else out

                return convert_luma, bits
    depth = max((c.bits for c in comps), default=8)
    if fmt.is_rgb or fmt.has_palette:
        target, bits = ("rgb48le", 16) if depth > 8 else ("rgb24", 8)

        def convert_rgb(frame, rows, cols):
            rgb = frame.to_ndarray(format=target)
            return rgb[rows, cols] @ LUMA_WEIGHTS

        return convert_rgb, bits
    # Anything else (packed YUV, grey + alpha, 1-bit, ...): let swscale extract grey.
    target, bits = ("gray16le", 16) if depth > 8 else ("gray", 8)

    def convert_other(frame, rows, cols):
        return frame.to_ndarray(format=target)[rows, cols]

    return convert_other, bits


def _luminance(arr: np.ndarray) -> np.ndarray:
    """Reduce ``(..., H, W, C)`` colour to float64 luminance; pass grey through."""
    if arr.ndim >= 3 and arr.shape[-1] in (3, 4):
        return arr[..., :3] @ LUMA_WEIGHTS
    if arr.ndim >= 3 and arr.shape[-1] == 1:
        return arr[..., 0]
    return arr


# --------------------------------------------------------------------------- sources


class _Source:
    """A sequence of frames; subclasses fill in the metadata and the frame iterator."""

    path: Path | None = None
    input_shape: tuple[int, int] = (0, 0)
    codec: str | None = None
    lossless: bool | None = None
    bit_depth: int | None = None
    frame_count_hint: int = 0
    source_fps: float | None = None
    exact_count: int | None = None  # known exactly (arrays, folders), else None
    check_finite: bool = False

    def __init__(self, warn: Callable[[str], None]):
        self._warn = warn

    def frames(self, start: int, end: int | None, rows: slice, cols: slice) -> Iterator[np.ndarray]:
        """Yield 2-D cropped luminance frames ``start <= i < end``."""
        raise NotImplementedError

    def blocks(self, start: int, end: int | None, rows: slice, cols: slice,
               size: int) -> Iterator[np.ndarray]:
        """Yield float32 blocks ``(t <= size, h, w)`` of consecutive frames."""
        h = len(range(*rows.indices(self.input_shape[0])))
        w = len(range(*cols.indices(self.input_shape[1])))
        buf = np.empty((size, h, w), np.float32)
        n = 0
        gen = self.frames(start, end, rows, cols)
        try:
            for frame in gen:
                buf[n] = frame
                n += 1
                if n == size:
                    yield buf
                    buf = np.empty((size, h, w), np.float32)
                    n = 0
        finally:
            gen.close()
        if n:
            yield buf[:n]


class _AVSource(_Source):
    """A video file decoded by FFmpeg through PyAV."""

    def __init__(self, path: Path, warn):
        super().__init__(warn)
        self.path = path
        container = self._open()
        try:
            stream = self._stream(container)
            self._index = stream.index
            ctx = stream.codec_context
            codec = getattr(ctx, "codec", None)
            self.codec = (getattr(codec, "canonical_name", None) or ctx.name) if ctx else None
            self.lossless = _classify_codec(self.codec)
            self.frame_count_hint = _stream_frame_count(stream)
            rate = stream.average_rate
            self.source_fps = float(rate) if rate and float(rate) > 0 else None
            duration = None
            if stream.duration is not None and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1e6
            self._duration = duration
            # Resolution of the timestamps, which bounds the precision of the duration.
            self._tick = float(stream.time_base) if stream.time_base else 0.0
            # Decode the first frames: proves the file decodes and gives the pixel format
            # (and the frame rate from timestamps when the stream does not declare one).
            stream.thread_type = "AUTO"
            pts: list[float] = []
            first = None
            try:
                for frame in container.decode(stream):
                    if first is None:
                        first = frame
                    if frame.pts is not None and frame.time_base:
                        pts.append(float(frame.pts * frame.time_base))
                    if self.source_fps is not None or len(pts) >= 16:
                        break
            except (av.error.FFmpegError, OSError, ValueError) as exc:
                if first is None:
                    raise VideoError(
                        f"cannot decode {str(path)!r}: {_av_reason(exc)}; the file is corrupt "
                        "or not a video FFmpeg can read"
                    ) from exc
            if first is None:
                raise VideoError(
                    f"{str(path)!r} holds no decodable frames; check that the file is a "
                    "complete video"
                )
            if self.source_fps is None and len(pts) >= 2:
                steps = np.diff(np.asarray(pts))
                steps = steps[steps > 0]
                if steps.size:
                    self.source_fps = 1.0 / float(np.median(steps))
            self.input_shape = (first.height, first.width)
            self._convert, self.bit_depth = _frame_converter(first.format)
            self.check_finite = self.bit_depth is None  # floating-point pixel formats
            self._format = first.format.name
        finally:
            container.close()

    def _open(self):
        try:
            return av.open(str(self.path))
        except PermissionError as exc:
            raise InputFileError(
                f"cannot read {str(self.path)!r}: permission denied; check the file's permissions"
            ) from exc
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise VideoError(
                f"cannot open {str(self.path)!r} as a video: {_av_reason(exc)}; check that it "
                "is a video file FFmpeg can read"
            ) from exc

    def _stream(self, container):
        streams = [s for s in container.streams.video
                   if not int(getattr(s, "disposition", 0) or 0) & _ATTACHED_PIC]
        streams = streams or list(container.streams.video)
        if not streams:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
            raise VideoError(
                f"{str(self.path)!r} holds no video stream (it holds {kinds}); give a video file"
            )
        return streams[0]

    def frames(self, start, end, rows, cols):
        container = self._open()
        try:
            stream = container.streams[self._index]
            stream.thread_type = "AUTO"
            convert, fmt = self._convert, self._format
            height, width = self.input_shape
            stop = math.inf if end is None else end
            decoded = 0
            it = container.decode(stream)
            while decoded < stop:
                try:
                    frame = next(it)
                except StopIteration:
                    self._check_complete(decoded, end)
                    return
                except (av.error.FFmpegError, OSError, ValueError) as exc:
                    if decoded <= start:
                        raise VideoError(
                            f"cannot decode {str(self.path)!r} after {decoded} frames: "
                            f"{_av_reason(exc)}; the file is corrupt or truncated"
                        ) from exc
                    self._warn(
                        f"{self.path.name}: decoding stopped after {decoded} frames "
                        f"({_av_reason(exc)}); the file is corrupt or truncated, using the "
                        "frames decoded so far"
                    )
                    return
                if decoded >= start:
                    if frame.height != height or frame.width != width:
                        raise VideoError(
                            f"frame {decoded} of {str(self.path)!r} is {frame.width}x"
                            f"{frame.height}, the first was {width}x{height}; re-encode the "
                            "video at one frame size"
                        )
                    if frame.format.name != fmt:
                        convert, _ = _frame_converter(frame.format)
                        fmt = frame.format.name
                    yield convert(frame, rows, cols)
                decoded += 1
        finally:
            container.close()

    def _check_complete(self, decoded: int, end: int | None) -> None:
        """Warn when the decoder ran out well before the container said it would."""
        if end is not None and end <= decoded:
            return
        expected, slack = self.frame_count_hint, 0.0
        if not expected and self._duration and self.source_fps:
            expected = int(round(self._duration * self.source_fps))
            slack = 2 * self._tick * self.source_fps  # e.g. MKV durations are in ms
        if expected and decoded < expected - max(2.0, 0.01 * expected, slack):
            self._warn(
                f"{self.path.name}: decoded {decoded} frames but the container announces "
                f"{expected}; the file may be truncated (using the {decoded} frames decoded)"
            )


def _stream_frame_count(stream) -> int:
    """Return the container's frame count: a hint only (0 when unknown, possibly wrong)."""
    try:
        return max(0, int(stream.frames or 0))
    except (TypeError, ValueError):
        return 0


class _ArraySource(_Source):
    """Frames held in an array ``(T, H, W)`` or ``(T, H, W, 3)`` (in memory or memory-mapped)."""

    def __init__(self, arr: np.ndarray, warn, *, path: Path | None = None):
        super().__init__(warn)
        error = VideoError if path is not None else ParameterError
        what = f"{str(path)!r}" if path is not None else "the frame array"
        if arr.ndim == 4 and arr.shape[-1] not in (1, 3, 4) or arr.ndim not in (3, 4):
            raise error(
                f"{what} has shape {arr.shape}; give frames as (T, H, W) grey or (T, H, W, 3) RGB"
            )
        if arr.dtype.kind not in "uif":
            raise error(
                f"{what} has dtype {arr.dtype}; give integer or floating-point grey levels"
            )
        if arr.shape[0] == 0 or arr.shape[1] == 0 or arr.shape[2] == 0:
            raise VideoError(f"{what} of shape {arr.shape} holds no pixels; give at least 1 frame")
        self._arr = arr
        self.path = path
        self.input_shape = (int(arr.shape[1]), int(arr.shape[2]))
        self.frame_count_hint = self.exact_count = int(arr.shape[0])
        if arr.dtype.kind == "f":
            self.bit_depth, self.check_finite = None, True
        elif arr.dtype.kind == "u" and arr.dtype.itemsize <= 2:
            self.bit_depth = arr.dtype.itemsize * 8
        else:
            self.bit_depth = None
        self._colour = arr.ndim == 4

    def _crop_shape(self, rows: slice, cols: slice) -> tuple[int, int]:
        return (len(range(*rows.indices(self.input_shape[0]))),
                len(range(*cols.indices(self.input_shape[1]))))

    def frames(self, start, end, rows, cols):  # pragma: no cover - blocks() is used
        stop = self.exact_count if end is None else min(end, self.exact_count)
        for t in range(start, stop):
            yield _luminance(self._arr[t, rows, cols])

    def blocks(self, start, end, rows, cols, size):
        stop = self.exact_count if end is None else min(end, self.exact_count)
        for t0 in range(start, stop, size):
            t1 = min(t0 + size, stop)
            if self._colour:  # frame by frame: float64 luminance of one frame at a time
                block = np.empty((t1 - t0,) + self._crop_shape(rows, cols), np.float32)
                for i in range(t1 - t0):
                    block[i] = _luminance(self._arr[t0 + i, rows, cols])
            else:
                block = np.array(self._arr[t0:t1, rows, cols], dtype=np.float32)
            yield block


class _FolderSource(_Source):
    """A folder of image files, one frame each, in natural order."""

    def __init__(self, path: Path, warn):
        super().__init__(warn)
        self.path = path
        files = [p for p in path.iterdir()
                 if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")]
        if not files:
            raise InputFileError(
                f"folder {str(path)!r} holds no frames ({', '.join(IMAGE_SUFFIXES)} files); "
                "give a folder of images or a video file"
            )
        kinds: dict[str, list[Path]] = {}
        for p in files:
            suffix = p.suffix.lower()
            kinds.setdefault({".tiff": ".tif", ".jpeg": ".jpg"}.get(suffix, suffix), []).append(p)
        if len(kinds) > 1:
            keep = max(kinds, key=lambda k: len(kinds[k]))
            dropped = len(files) - len(kinds[keep])
            warn(f"{path.name}: using the {len(kinds[keep])} {keep} frames, ignoring {dropped} "
                 "image files of other types")
            files = kinds[keep]
        self._files = sorted(files, key=_natural_key)
        self.frame_count_hint = self.exact_count = len(self._files)
        first, self.bit_depth, self.codec, self.lossless, floating = self._load(self._files[0])
        self.check_finite = floating
        self.input_shape = (int(first.shape[0]), int(first.shape[1]))

    def _load(self, file: Path) -> tuple[np.ndarray, int | None, str, bool | None, bool]:
        """Read one image: ``(luma (H, W), bit_depth, codec, lossless, floating)``."""
        if file.suffix.lower() in (".tif", ".tiff"):
            try:
                import tifffile
            except ImportError:  # pragma: no cover - tifffile ships with scikit-image
                pass
            else:
                try:
                    with tifffile.TiffFile(file) as tif:
                        page = tif.pages[0]
                        arr = page.asarray()
                        compression = getattr(page.compression, "name", str(page.compression))
                except Exception as exc:  # noqa: BLE001 - tifffile raises many types
                    raise VideoError(
                        f"cannot read frame {str(file)!r}: {exc}; replace or remove the file"
                    ) from exc
                arr = _luminance(np.squeeze(arr)) if arr.ndim == 3 else arr
                if arr.ndim != 2 or arr.dtype.kind not in "uif":
                    raise VideoError(
                        f"frame {str(file)!r} has shape {arr.shape} and dtype {arr.dtype}; "
                        "give single grey or RGB images"
                    )
                lossy = any(k in compression.upper() for k in ("JPEG", "WEBP", "LERC"))
                bits = None if arr.dtype.kind == "f" else (
                    8 if arr.dtype.itemsize == 1 else 16 if arr.dtype.itemsize == 2 else None)
                return arr, bits, "tiff", not lossy, arr.dtype.kind == "f"
        try:
            with av.open(str(file)) as container:
                frame = next(container.decode(video=0))
                convert, bits = _frame_converter(frame.format)
                arr = np.array(convert(frame, slice(None), slice(None)))
                ctx = container.streams.video[0].codec_context
                codec = ctx.name
        except (av.error.FFmpegError, OSError, ValueError, StopIteration, IndexError) as exc:
            raise VideoError(
                f"cannot read frame {str(file)!r}: {_av_reason(exc)}; replace or remove the file"
            ) from exc
        return arr, bits, codec, _classify_codec(codec), arr.dtype.kind == "f"

    def frames(self, start, end, rows, cols):
        stop = self.exact_count if end is None else min(end, self.exact_count)
        for file in self._files[start:stop]:
            arr = self._load(file)[0]
            if arr.shape != self.input_shape:
                raise VideoError(
                    f"frame {str(file)!r} is {arr.shape[1]}x{arr.shape[0]}, the first frame is "
                    f"{self.input_shape[1]}x{self.input_shape[0]}; all frames must have one size"
                )
            yield arr[rows, cols]


# --------------------------------------------------------------------------- resampling


class _Resampler:
    """Anti-aliased shrinking of frame blocks ``(t, H, W) -> (t, Ho, Wo)`` (float32).

    Each axis is filtered with a Lanczos-3 kernel stretched by the shrink factor
    (the kernel PIL and ImageMagick use to shrink images), which low-passes the
    frame below the new Nyquist frequency before sampling, so fine texture is
    attenuated instead of aliased into coarse texture.  Weights are renormalised
    where the kernel overhangs the frame edge (no wrap-around, constant frames
    stay constant).  The operator is precomputed once as banded matrices and
    applied to a whole block with matrix products.
    """

    lobes = 3

    def __init__(self, in_shape: tuple[int, int], out_shape: tuple[int, int]):
        self.in_shape, self.out_shape = tuple(in_shape), tuple(out_shape)
        self._rows = self._axis(in_shape[0], out_shape[0])
        self._cols = self._axis(in_shape[1], out_shape[1])

    @classmethod
    def weights(cls, n_in: int, n_out: int) -> np.ndarray:
        """Dense ``(n_out, n_in)`` resampling matrix for one axis (rows sum to 1)."""
        scale = n_in / n_out
        centres = (np.arange(n_out) + 0.5) * scale - 0.5
        offsets = (np.arange(n_in)[None, :] - centres[:, None]) / max(scale, 1.0)
        a = cls.lobes
        w = np.sinc(offsets) * np.sinc(offsets / a) * (np.abs(offsets) < a)
        return w / w.sum(axis=1, keepdims=True)

    @classmethod
    def _axis(cls, n_in: int, n_out: int, block: int = 64):
        """Split the banded matrix into (out_lo, out_hi, in_lo, in_hi, dense block) pieces."""
        full = cls.weights(n_in, n_out).astype(np.float32)
        if n_in <= 4 * block:
            return [(0, n_out, 0, n_in, full)]
        pieces = []
        for o0 in range(0, n_out, block):
            o1 = min(o0 + block, n_out)
            nz = np.flatnonzero(np.any(full[o0:o1] != 0, axis=0))
            i0, i1 = int(nz[0]), int(nz[-1]) + 1
            pieces.append((o0, o1, i0, i1, np.ascontiguousarray(full[o0:o1, i0:i1])))
        return pieces

    def __call__(self, x: np.ndarray) -> np.ndarray:
        t, h, w = x.shape
        ho, wo = self.out_shape
        # Along columns: (t*h, w) @ (w, wo), one matrix product per band block.
        flat = x.reshape(t * h, w)
        cols = np.empty((t * h, wo), np.float32)
        for o0, o1, i0, i1, m in self._cols:
            np.matmul(flat[:, i0:i1], m.T, out=cols[:, o0:o1])
        # Along rows: bring rows first, (ho, h) @ (h, t*wo).
        rows_first = np.ascontiguousarray(cols.reshape(t, h, wo).transpose(1, 0, 2)).reshape(
            h, t * wo)
        out = np.empty((ho, t * wo), np.float32)
        for o0, o1, i0, i1, m in self._rows:
            np.matmul(m, rows_first[i0:i1], out=out[o0:o1])
        return np.ascontiguousarray(out.reshape(ho, t, wo).transpose(1, 0, 2))


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

    def __init__(self, source: _Source, *, fps: float, start: int, end: int | None,
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
            self._resample = _Resampler((h, w), out)

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

    if isinstance(source, np.ndarray):
        src: _Source = _ArraySource(source, warn)
        name = "the frame array"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = path.name
        if not path.exists():
            raise InputFileError(f"video {str(path)!r} does not exist; check the path")
        if path.is_dir():
            src = _FolderSource(path, warn)
        elif not os.access(path, os.R_OK):
            raise InputFileError(
                f"cannot read {str(path)!r}: permission denied; check the file's permissions"
            )
        elif path.stat().st_size == 0:
            raise VideoError(f"video file {str(path)!r} is empty (0 bytes); give a complete video")
        elif path.suffix.lower() == ".npy":
            try:
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
            except (ValueError, OSError, EOFError) as exc:
                raise VideoError(
                    f"cannot read {str(path)!r} as a NumPy array: {exc}; give a .npy file "
                    "written by numpy.save"
                ) from exc
            src = _ArraySource(arr, warn, path=path)
        else:
            # Camera files and TIFF stacks (issue 12; readers in io/_formats.py), else FFmpeg.
            from ._formats import open_format_source

            src = open_format_source(path, warn) or _AVSource(path, warn)
    else:
        raise ParameterError(
            f"source of type {type(source).__name__} is not a path or a NumPy array; give a "
            "video file, a folder of frames, a .npy file or an array (T, H, W)"
        )

    if fps_value is None:
        if src.source_fps is None:
            raise ParameterError(
                f"{name} has no frame rate; give fps (on the command line: -s/--sampling-rate)"
            )
        fps_value = src.source_fps

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

    if src.lossless is False:
        warn(f"{name}: codec '{src.codec}' is lossy; {_LOSSY_ADVICE}")
    elif src.lossless is None and src.codec is not None:
        warn(f"{name}: codec '{src.codec}' may be lossy; {_LOSSY_ADVICE}")
    if fps_value < LOW_FPS:
        hint = "record at 2000 fps or more for speech"
        if fps is None:  # the rate came from the file (issue 12)
            from ._formats import playback_rate_hint

            hint = playback_rate_hint(fps_value)
        warn(f"frame rate {fps_value:g} fps is low: audio is limited to fps/2 = "
             f"{fps_value / 2:g} Hz; {hint}")

    return VideoReader(src, fps=fps_value, start=start_i, end=end_i, roi=roi_t,
                       downsample=float(downsample), shrink=shrink, warning_list=issued)
