"""Live input and output: raw frames from a pipe or a capture device, growing WAV files.

:class:`WavStream` writes a WAV file whose header is rewritten after every block, so
that the file is a valid WAV at any moment while it grows (no library writer does
this: soundfile/libsndfile finalises the header only on close, so a reader of a live
file would see a broken or empty file); :class:`RawPCM` writes raw samples to a pipe;
:func:`raw_frames` reads raw grey frames from a pipe; :func:`capture_frames` opens a
camera or any video FFmpeg reads as a live source.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from .._errors import OutputError, ParameterError, VideoError
from .._validate import positive_number
from ._av import frame_converter
from .atomic import check_output_path

__all__ = ["WavStream", "RawPCM", "parse_size", "raw_frames", "capture_frames", "PIX_FMTS"]

PIX_FMTS = {"gray8": np.dtype(np.uint8), "gray": np.dtype(np.uint8),
            "gray16": np.dtype("<u2"), "gray16le": np.dtype("<u2"),
            "gray16be": np.dtype(">u2")}


class WavStream:
    """A mono WAV file that is valid at every moment while it is written.

    The RIFF and data sizes in the header are rewritten after every block (data
    first, then the header, each flushed), so a reader opening the file at any time
    finds a well-formed WAV holding the samples written so far.

    Parameters
    ----------
    path : path-like
        Output file (written in place, not through a temporary file, so that it can
        be read while it grows; it must not be an input).
    rate : float
        Sampling rate in Hz (rounded to an integer, as WAV requires).
    pcm16 : bool, optional
        16-bit PCM instead of 32-bit float (default False).
    """

    def __init__(self, path, rate: float, *, pcm16: bool = False):

        self.path = check_output_path(path)
        self.rate = int(round(positive_number("rate", rate)))
        self.pcm16 = bool(pcm16)
        self.n = 0
        try:
            self._f = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            raise OutputError(f"cannot write {str(self.path)!r}: {exc.strerror}; choose "
                              "another output path") from None
        self._f.write(self._header())
        self._f.flush()

    def _header(self) -> bytes:
        width = 2 if self.pcm16 else 4
        data = self.n * width
        if self.pcm16:
            fmt = struct.pack("<HHIIHH", 1, 1, self.rate, self.rate * 2, 2, 16)
            chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt
        else:
            fmt = struct.pack("<HHIIHHH", 3, 1, self.rate, self.rate * 4, 4, 32, 0)
            chunks = (b"fmt " + struct.pack("<I", len(fmt)) + fmt
                      + b"fact" + struct.pack("<II", 4, self.n))
        body = b"WAVE" + chunks + b"data" + struct.pack("<I", data)
        return b"RIFF" + struct.pack("<I", len(body) + data) + body

    def write(self, samples: np.ndarray) -> None:
        """Append samples in [-1, 1] and update the header."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not x.size:
            return
        if self.pcm16:
            data = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        else:
            data = x.astype("<f4").tobytes()
        self._f.seek(0, os.SEEK_END)
        self._f.write(data)
        self._f.flush()
        self.n += x.size
        self._f.seek(0)
        self._f.write(self._header())
        self._f.flush()

    def close(self) -> None:
        """Close the file (it is complete and valid)."""
        if not self._f.closed:
            self._f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class RawPCM:
    """Raw mono samples on a binary stream (float32 or int16, little-endian), flushed per block.

    Parameters
    ----------
    stream : binary file object
        E.g. ``sys.stdout.buffer``.
    pcm16 : bool, optional
        Signed 16-bit samples instead of 32-bit float.
    """

    def __init__(self, stream: BinaryIO, *, pcm16: bool = False):
        self._f = stream
        self.pcm16 = bool(pcm16)
        self.n = 0

    def write(self, samples: np.ndarray) -> None:
        """Write and flush samples in [-1, 1]."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        if not x.size:
            return
        if self.pcm16:
            data = np.round(np.clip(x, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()
        else:
            data = x.astype("<f4").tobytes()
        self._f.write(data)
        self._f.flush()
        self.n += x.size

    def close(self) -> None:
        """Flush the stream (it is left open)."""
        self._f.flush()


# --------------------------------------------------------------------------- inputs


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` into ``(H, W)``.

    Raises
    ------
    ParameterError
        If the text is not two positive integers separated by ``x``.
    """
    try:
        w, h = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise ParameterError(f"size {text!r} is not WxH; give e.g. --raw 128x128") from None
    if w < 1 or h < 1:
        raise ParameterError(f"size {text!r} must have positive width and height")
    return h, w


def raw_frames(stream: BinaryIO, shape: tuple[int, int], *, pix_fmt: str = "gray8",
               block: int = 110) -> Iterator[np.ndarray]:
    """Read raw grey frames from a binary stream (e.g. stdin) in blocks.

    Parameters
    ----------
    stream : binary file object
        Concatenated frames, row-major, no headers (as ``ffmpeg -f rawvideo`` writes).
    shape : tuple of int
        ``(H, W)`` of a frame.
    pix_fmt : {"gray8", "gray16", "gray16le", "gray16be"}, optional
        Sample format (``gray16`` is little-endian).
    block : int, optional
        Frames per block (default 110: 50 ms at 2200 fps); a block is yielded as soon
        as it is complete, the last one when the stream ends.

    Yields
    ------
    np.ndarray [shape=(t, H, W), dtype=float32]
        Grey levels.

    Raises
    ------
    ParameterError
        For an unknown ``pix_fmt``.
    """
    if pix_fmt not in PIX_FMTS:
        raise ParameterError(
            f"pix_fmt={pix_fmt!r} is unknown; use one of {', '.join(sorted(PIX_FMTS))}"
        )
    dtype = PIX_FMTS[pix_fmt]
    h, w = shape
    frame_bytes = h * w * dtype.itemsize
    block = positive_number("block", block, integer=True)
    buf = bytearray(block * frame_bytes)
    view = memoryview(buf)
    readinto = getattr(stream, "readinto", None)
    while True:
        got = 0
        while got < len(buf):
            if readinto is not None:
                n = readinto(view[got:])
            else:
                data = stream.read(len(buf) - got)
                n = len(data)
                view[got : got + n] = data
            if not n:
                break
            got += n
        frames = got // frame_bytes
        if frames:
            arr = np.frombuffer(buf, dtype=dtype, count=frames * h * w).reshape(frames, h, w)
            yield arr.astype(np.float32)
        if got < len(buf):
            return


def capture_frames(url: str, *, format: str | None = None, options: dict | None = None,
                   block: int = 110, roi: tuple | None = None) -> tuple[Iterator[np.ndarray], float,
                                                                       tuple[int, int]]:
    """Open a capture device or any video FFmpeg reads, as a live frame source.

    This function is long because of its documentation; its code is 54 lines
    of straight-line steps.

    Parameters
    ----------
    url : str
        Device or URL, e.g. ``/dev/video0`` with ``format="v4l2"``, or a file.
    format : str, optional
        FFmpeg input format (``v4l2``, ``avfoundation``, ``dshow``, ...).
    options : dict, optional
        FFmpeg input options (``{"framerate": "2000", "video_size": "128x128"}``).
    block : int, optional
        Frames per block.
    roi : tuple of int (x, y, w, h), optional
        Region of interest.

    Returns
    -------
    frames : iterator of np.ndarray [shape=(t, h, w), dtype=float32]
        Blocks of grey levels (luminance).
    fps : float
        The stream's frame rate (0 when it declares none).
    shape : tuple of int
        ``(h, w)`` of the yielded frames.

    Raises
    ------
    VideoError
        If the device or file cannot be opened or decoded.
    """
    import av


    try:
        container = av.open(url, format=format, options=options or {})
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"cannot open {url!r}: {exc}; check the device, its --format and "
                         "options") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{url!r} holds no video stream; give a camera or a video")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    rate = stream.average_rate or stream.base_rate
    fps = float(rate) if rate else 0.0
    frames_iter = container.decode(stream)
    try:
        first = next(frames_iter)
    except (StopIteration, av.error.FFmpegError) as exc:
        container.close()
        raise VideoError(f"no frame could be decoded from {url!r} ({exc})") from None
    H, W = first.height, first.width
    x, y, w, h = roi if roi is not None else (0, 0, W, H)
    if x < 0 or y < 0 or x + w > W or y + h > H:
        container.close()
        raise ParameterError(f"roi={roi} reaches beyond the {W}x{H} frame")
    rows, cols = slice(y, y + h), slice(x, x + w)

    def gen():
        convert, fmt = frame_converter(first.format)
        fmt_name = first.format.name
        buf = np.empty((block, h, w), np.float32)
        n = 0
        try:
            frame = first
            while True:
                if frame.format.name != fmt_name:
                    convert, _ = frame_converter(frame.format)
                    fmt_name = frame.format.name
                buf[n] = convert(frame, rows, cols)
                n += 1
                if n == block:
                    yield buf.copy()
                    n = 0
                try:
                    frame = next(frames_iter)
                except StopIteration:
                    break
            if n:
                yield buf[:n].copy()
        finally:
            container.close()

    return gen(), fps, (h, w)
