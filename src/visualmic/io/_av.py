"""Video files decoded by FFmpeg through PyAV, with frame-exact seeking.

:class:`AVSource` decodes a file from the start, or from the key frame before the
first frame wanted when a :class:`FrameIndex` (:func:`frame_index`, a demux-only scan)
says that this is exact for the stream (lossless codecs whose packets have distinct
positions and timestamps). Both paths share one decoding loop, with the same
handling of corrupt and truncated files.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from .._errors import InputFileError, VideoError
from ._source import LUMA_WEIGHTS, Source

__all__ = ["AVSource", "FrameIndex", "frame_index", "frame_converter", "classify_codec",
           "av_reason", "LOSSY_ADVICE", "DecoderErrors"]

LOSSLESS_CODECS = frozenset({
    "ffv1", "rawvideo", "png", "apng", "tiff", "huffyuv", "ffvhuff", "utvideo",
    "magicyuv", "qtrle", "bmp", "pam", "pgm", "pgmyuv", "ppm", "pbm", "v210", "v410",
    "r210", "r10k", "ayuv", "yuv4", "y41p", "lagarith", "zlib", "zmbv", "sgi", "targa",
})
# Codecs treated as lossy even where a lossless mode exists: whether a given file
# used it cannot be told from the stream header.
LOSSY_CODECS = frozenset({
    "h264", "hevc", "vvc", "av1", "vp8", "vp9", "mpeg4", "mjpeg", "mjpegb", "prores",
    "mpeg1video", "mpeg2video", "h263", "h263p", "flv1", "theora", "dnxhd", "cinepak",
    "msmpeg4v1", "msmpeg4v2", "msmpeg4v3", "wmv1", "wmv2", "wmv3", "vc1", "svq1", "svq3",
    "dvvideo", "jpeg", "webp",
})

LOSSY_ADVICE = ("lossy compression destroys sub-pixel motion; re-encode losslessly (FFV1) "
                 "or record uncompressed")

ATTACHED_PIC = 1024  # AV_DISPOSITION_ATTACHED_PIC: cover art, not video


def av_reason(exc: BaseException) -> str:
    """Return the short reason of a PyAV/FFmpeg exception (without the errno noise)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(reason).rstrip(".")


def classify_codec(name: str | None) -> bool | None:
    """Return True for lossless codecs, False for lossy ones, None when unknown."""
    if name is None:
        return None
    if name in LOSSLESS_CODECS:
        return True
    if name in LOSSY_CODECS:
        return False
    try:
        codec = av.codec.Codec(name, "r")
    except av.codec.codec.UnknownCodecError:  # unknown to this FFmpeg build
        return None
    if codec.lossless and not codec.lossy:
        return True
    if codec.lossy and not codec.lossless:
        return False
    return None


Converter = Callable[[av.VideoFrame, slice, slice], np.ndarray]


def frame_converter(fmt: av.VideoFormat) -> tuple[Converter, int | None]:
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


class AVSource(Source):
    """A video file decoded by FFmpeg through PyAV."""

    def __init__(self, path: Path, warn):
        super().__init__(warn)
        self.path = path
        #: A :class:`FrameIndex` that lets :meth:`frames` seek (None: decode from frame 0).
        self.index: FrameIndex | None = None
        self.seeked_to: int | None = None  # the frame the last read started decoding at
        container = self.open_container()
        try:
            stream = self._stream(container)
            self.stream_index = stream.index
            ctx = stream.codec_context
            codec = getattr(ctx, "codec", None)
            self.codec = (getattr(codec, "canonical_name", None) or ctx.name) if ctx else None
            # Names under which the decoder logs (not the demuxer: its errors are truncation).
            self.decoder_names = {n for n in (self.codec, getattr(codec, "name", None),
                                              getattr(ctx, "name", None)) if n}
            self.lossless = classify_codec(self.codec)
            self.frame_count_hint = stream_frame_count(stream)
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
                        f"cannot decode {str(path)!r}: {av_reason(exc)}; the file is corrupt "
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
            self._convert, self.bit_depth = frame_converter(first.format)
            self.check_finite = self.bit_depth is None  # floating-point pixel formats
            self._format = first.format.name
        finally:
            container.close()

    def open_container(self):
        """Open the file with PyAV (one-line errors for unreadable files)."""
        try:
            return av.open(str(self.path))
        except PermissionError as exc:
            raise InputFileError(
                f"cannot read {str(self.path)!r}: permission denied; check the file's permissions"
            ) from exc
        except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
            raise VideoError(
                f"cannot open {str(self.path)!r} as a video: {av_reason(exc)}; check that it "
                "is a video file FFmpeg can read"
            ) from exc

    def _stream(self, container):
        streams = [s for s in container.streams.video
                   if not int(getattr(s, "disposition", 0) or 0) & ATTACHED_PIC]
        streams = streams or list(container.streams.video)
        if not streams:
            kinds = ", ".join(sorted({s.type for s in container.streams})) or "nothing"
            raise VideoError(
                f"{str(self.path)!r} holds no video stream (it holds {kinds}); give a video file"
            )
        return streams[0]

    def frames(self, start, end, rows, cols):
        """Yield cropped luminance frames ``start <= i < end`` (seeking when exact).

        Errors the decoder logs (e.g. a slice CRC mismatch in FFV1 level 3: the
        frame was concealed, not decoded) become one warning with the frame range.
        """
        precise = self.source_fps and 0 < self._tick * self.source_fps <= 0.5
        watch = DecoderErrors(self.path.name, self._warn, self.decoder_names,
                              fps=self.source_fps if precise else None)
        with watch:
            yield from self._decode(start, end, rows, cols, watch)

    def _decode(self, start, end, rows, cols, watch: "DecoderErrors"):
        holder = [self.open_container()]
        try:
            stream, decoded, it = self._start_decoding(holder, start)
            self.seeked_to = decoded
            convert, fmt = self._convert, self._format
            height, width = self.input_shape
            stop = math.inf if end is None else end
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
                            f"{av_reason(exc)}; the file is corrupt or truncated"
                        ) from exc
                    self._warn(
                        f"{self.path.name}: decoding stopped after {decoded} frames "
                        f"({av_reason(exc)}); the file is corrupt or truncated, using the "
                        "frames decoded so far"
                    )
                    return
                watch.frame(decoded, frame.key_frame,
                            None if frame.pts is None else float(frame.pts * frame.time_base))
                if decoded >= start:
                    if frame.height != height or frame.width != width:
                        raise VideoError(
                            f"frame {decoded} of {str(self.path)!r} is {frame.width}x"
                            f"{frame.height}, the first was {width}x{height}; re-encode the "
                            "video at one frame size"
                        )
                    if frame.format.name != fmt:
                        convert, _ = frame_converter(frame.format)
                        fmt = frame.format.name
                    yield convert(frame, rows, cols)
                decoded += 1
        finally:
            watch.mute()  # before FFmpeg joins its decoder threads (see DecoderErrors.mute)
            holder[0].close()

    def _start_decoding(self, holder: list, start: int):
        """Return ``(stream, index of the next frame, decoded-frame iterator)``.

        With a seekable :attr:`index`, decoding starts at the key frame at or before
        ``start`` (recognised by its packet's byte position); otherwise, or when the
        landing packet cannot be recognised, at frame 0 of a freshly opened file.
        """
        container = holder[0]
        stream = container.streams[self.stream_index]
        stream.thread_type = "AUTO"
        idx = self.index
        if start == 0 or idx is None or not idx.seekable or start >= idx.n_frames:
            return stream, 0, container.decode(stream)
        k = idx.key_at_or_before(start)
        container.seek(int(idx.pts[k]), stream=stream, backward=True, any_frame=False)
        packets = container.demux(stream)
        first = next((p for p in packets if p.size), None)
        i = idx.lookup(None if first is None else first.pos)
        if i is None or i > start or not idx.key[i]:  # the seek cannot be trusted
            container.close()
            holder[0] = container = self.open_container()
            stream = container.streams[self.stream_index]
            stream.thread_type = "AUTO"
            return stream, 0, container.decode(stream)

        def decoded():
            flushed = False
            yield from stream.decode(first)
            for packet in packets:
                flushed = packet.size == 0  # the demuxer's end-of-stream packet
                yield from stream.decode(packet)
            if not flushed:
                yield from stream.decode(None)  # frames held by decoder threads

        return stream, i, decoded()

    def _check_complete(self, decoded: int, end: int | None) -> None:
        """Warn when the decoder ran out well before the container said it would."""
        if end is not None and end <= decoded:
            return
        # A frame count in the header (AVI, MP4) is exact: one frame short is a frame lost
        # (a damaged chunk; the frames after it are shifted in time). A count estimated
        # from the duration is as precise as the timestamps (MKV: milliseconds).
        expected, slack = self.frame_count_hint, 0.0
        if not expected and self._duration and self.source_fps:
            expected = int(round(self._duration * self.source_fps))
            slack = max(2.0, 0.01 * expected, 2 * self._tick * self.source_fps)
        if expected and decoded < expected - slack:
            self._warn(
                f"{self.path.name}: decoded {decoded} frames but the container announces "
                f"{expected}; the file may be truncated or damaged, frames lost (using the {decoded} "
                "frames decoded)"
            )


class DecoderErrors:
    """Collect the errors FFmpeg logs while decoding; warn once with the frames concerned.

    FFmpeg conceals damaged data (a slice whose CRC does not match is replaced by a
    prediction) and logs an error instead of failing, so the frames look valid. Used
    as a context manager around the decoding loop, with :meth:`frame` called for every
    decoded frame. Logs arrive before the frame they concern is returned (decoder
    threads work ahead), so the range reported starts at the frame decoded when the
    first error arrived and ends before the second key frame after the last one (the
    damage of a frame persists until the next key frame).
    """

    def __init__(self, name: str, warn, decoders=None, fps: float | None = None):
        self.name, self._warn = name, warn
        self._fps = fps  # timestamps precise to half a frame: missing frames are seen
        self._shift: int | None = None  # frames between timestamps and the decoded index
        self.missing: list[tuple[int, int]] = []  # (index of the frame after a gap, frames)
        self._decoders = set(decoders) if decoders else None  # log names counted (None: all)
        self.first: int | None = None
        self.last: int | None = None
        self.count = 0
        self.message = ""
        self._keys_after = 0
        self._end: int | None = None
        self._logs: list = []
        self._capture = None
        self._level = None
        self._seen: int | None = None
        self._muted = False

    def __enter__(self):
        self._capture = av.logging.Capture(local=False)  # also the decoder's own threads
        self._logs = self._capture.__enter__()
        self._level = av.logging.get_level()
        if self._level is None or self._level < av.logging.ERROR:
            av.logging.set_level(av.logging.ERROR)
        return self

    def frame(self, index: int, key: bool, time: float | None = None) -> None:
        """Note that frame ``index`` (a key frame or not, at ``time`` seconds) was decoded."""
        if self._fps and time is not None:
            shift = round(time * self._fps) - index
            if self._shift is not None and shift > self._shift:
                self.missing.append((index, shift - self._shift))
            self._shift = shift if self._shift is None else max(shift, self._shift)
        errors = [m for lvl, who, m in self._logs if lvl <= av.logging.ERROR
                  and not m.startswith("at ")
                  and (self._decoders is None or who in self._decoders)]
        self._logs.clear()
        self._seen = index
        if errors:
            self.count += len(errors)
            self.message = self.message or errors[0].strip().rstrip("!.")
            self.first = index if self.first is None else self.first
            self.last, self._keys_after, self._end = index, 0, None
        elif self.last is not None and self._end is None and key and index > self.last:
            self._keys_after += 1
            if self._keys_after == 2:
                self._end = index - 1

    def mute(self) -> None:
        """Stop routing FFmpeg's log to Python; let log calls already waiting finish.

        Must run before the decoder is closed or freed: FFmpeg then joins its threads
        while PyAV holds the GIL, and a thread logging through PyAV's Python callback
        waits for the GIL, a deadlock. First the level goes to PANIC: new messages are
        then dropped before the callback takes the GIL, while calls already in flight
        still compare their level with a number; a sleep (which releases the GIL) lets
        them through; only then is the level restored (None: no Python callback at all).
        Restoring None at once made an in-flight call compare its level with None, a
        TypeError that PyAV prints as a traceback (seen under load by the fuzz campaign).
        """
        if self._muted:
            return
        self._muted = True
        av.logging.set_level(av.logging.PANIC)
        time.sleep(0.05)
        av.logging.set_level(self._level)

    def __exit__(self, *exc):
        self.mute()
        self._capture.__exit__(*exc)
        if self._logs and self._seen is not None:
            self.frame(self._seen, False)  # errors logged after the last frame returned
        if self.missing:
            gaps = ", ".join(f"{n} before frame {i}" for i, n in self.missing[:5])
            more = ", ..." if len(self.missing) > 5 else ""
            self._warn(f"{self.name}: {sum(n for _, n in self.missing)} frame(s) are missing "
                       f"from the stream ({gaps}{more}; the timestamps skip them): the audio "
                       "after each gap is shifted; repair the file or stop before the first "
                       "gap with --end")
        if self.count:
            end = self._end if self._end is not None else self._seen
            span = f"frame {self.first}" if end == self.first else \
                f"frames {self.first}-{end}"
            self._warn(f"{self.name}: the decoder found corrupt data ({self.message}; "
                       f"{self.count} error(s)) in {span}; those frames were concealed, not "
                       "decoded: repair or re-record the file, or exclude them with --start/--end")
        return False


def stream_frame_count(stream) -> int:
    """Return the container's frame count: a hint only (0 when unknown, possibly wrong)."""
    try:
        return max(0, int(stream.frames or 0))
    except (TypeError, ValueError):
        return 0


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
    src = AVSource(Path(path), lambda message: None)
    container = src.open_container()
    pts, pos, key = [], [], []
    try:
        stream = container.streams[src.stream_index]
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
