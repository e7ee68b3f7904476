"""Audio input and output: float arrays ``(n,)`` in, WAV files out (atomically).

:func:`read_audio` reads anything libsndfile reads (WAV, FLAC, OGG, MP3, ...)
through soundfile and falls back to FFmpeg (through PyAV) for other formats,
such as AAC in M4A or the audio track of a video.  :func:`write_audio` writes
WAV (float32 by default or 16-bit PCM), FLAC (24-bit or 16-bit PCM, lossless)
or OGG Vorbis (lossy) files, chosen by the file's extension, through
:func:`visualmic.io.atomic.atomic_path`: a temporary file beside the target is
renamed over it only when complete, and never over one of the inputs.
"""

from __future__ import annotations

import math
import numbers
import os
from pathlib import Path

import av
import numpy as np
import soundfile as sf

from .._errors import AudioError, InputFileError, OutputError, ParameterError
from .atomic import atomic_path

__all__ = ["read_audio", "write_audio", "AUDIO_FORMATS"]

_WAV_SUFFIXES = (".wav", ".wave")

#: Output formats of :func:`write_audio` by file suffix: (libsndfile format, what it stores).
AUDIO_FORMATS = {
    ".wav": ("WAV", "32-bit float, or 16-bit PCM with pcm16=True"),
    ".wave": ("WAV", "32-bit float, or 16-bit PCM with pcm16=True"),
    ".flac": ("FLAC", "lossless 24-bit PCM, or 16-bit with pcm16=True (FLAC holds no floats)"),
    ".ogg": ("OGG", "Vorbis: lossy (errors of about 1 % of full scale), for listening only"),
}


def read_audio(path: str | os.PathLike, *, mono: bool = True) -> tuple[np.ndarray, float]:
    """Read an audio file as float samples.

    Parameters
    ----------
    path : path-like
        An audio file: WAV, FLAC, OGG, MP3 (soundfile), or any other audio
        FFmpeg decodes (M4A/AAC, the audio track of a video, ...).
    mono : bool, optional
        Mix all channels down to one by averaging them (default).  With
        ``mono=False`` every channel is returned.

    Returns
    -------
    y : np.ndarray [shape=(n,) or (channels, n), dtype=float64]
        Samples, full scale = 1 for integer formats.  Time is the last axis.
    rate : float
        Sampling rate in Hz.

    Raises
    ------
    InputFileError
        If the file does not exist, is a folder, or cannot be read (permissions).
    AudioError
        If the file is not audio, holds no samples, or holds NaN or infinite values.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileError(f"audio file {str(p)!r} does not exist; check the path")
    if p.is_dir():
        raise InputFileError(f"{str(p)!r} is a folder; give an audio file")
    if not os.access(p, os.R_OK):
        raise InputFileError(
            f"cannot read {str(p)!r}: permission denied; check the file's permissions"
        )
    try:
        data, rate = sf.read(str(p), dtype="float64", always_2d=True)
        y = np.ascontiguousarray(data.T)
    except (sf.SoundFileError, RuntimeError, TypeError, ValueError):
        y, rate = _read_with_ffmpeg(p)
    if y.shape[1] == 0:
        raise AudioError(f"audio file {str(p)!r} holds no samples; give a non-empty recording")
    if not np.isfinite(y).all():
        raise AudioError(
            f"audio file {str(p)!r} holds NaN or infinite samples; repair or re-export it"
        )
    return (y.mean(axis=0) if mono else y), float(rate)


def _read_with_ffmpeg(p: Path) -> tuple[np.ndarray, float]:
    """Decode the first audio stream of ``p`` with PyAV: ``(y (channels, n), rate)``."""
    pieces: list[np.ndarray] = []
    try:
        with av.open(str(p)) as container:
            if not container.streams.audio:
                raise AudioError(
                    f"{str(p)!r} holds no audio stream; give an audio file (WAV, FLAC, ...)"
                )
            stream = container.streams.audio[0]
            rate = stream.codec_context.sample_rate or stream.rate
            resampler = None
            for frame in container.decode(stream):
                if resampler is None:
                    rate = frame.sample_rate or rate
                    resampler = av.AudioResampler(format="dblp", layout=frame.layout,
                                                  rate=frame.sample_rate)
                pieces.extend(out.to_ndarray() for out in resampler.resample(frame))
            if resampler is not None:
                pieces.extend(out.to_ndarray() for out in resampler.resample(None))
    except AudioError:
        raise
    except PermissionError as exc:
        raise InputFileError(
            f"cannot read {str(p)!r}: permission denied; check the file's permissions"
        ) from exc
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise AudioError(
            f"cannot read {str(p)!r} as audio: {reason}; give a WAV, FLAC or other audio file"
        ) from exc
    if not pieces:
        raise AudioError(f"audio file {str(p)!r} holds no samples; give a non-empty recording")
    if not rate:
        raise AudioError(f"audio file {str(p)!r} declares no sampling rate; re-export it as WAV")
    return np.concatenate(pieces, axis=1).astype(np.float64, copy=False), float(rate)


def _check_rate(rate) -> int:
    """Round a sampling rate to the positive integer a WAV header needs."""
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
        raise ParameterError(f"rate={rate!r} must be a positive number of samples per second")
    value = float(rate)
    if not math.isfinite(value) or value <= 0:
        raise ParameterError(f"rate={rate!r} must be a positive, finite number of samples per "
                             "second")
    rounded = int(round(value))
    if rounded < 1:
        raise ParameterError(f"rate={rate!r} rounds to 0 Hz; WAV files need a rate of at least "
                             "1 Hz")
    return rounded


def write_audio(path: str | os.PathLike, y: np.ndarray, rate: float, *, pcm16: bool = False,
                inputs: tuple = ()) -> Path:
    """Write samples to a WAV, FLAC or OGG file (by its extension), atomically.

    Parameters
    ----------
    path : path-like
        Output file ending in ``.wav`` (float32, or 16-bit PCM), ``.flac``
        (lossless integer PCM: 24-bit, or 16-bit with ``pcm16``; FLAC holds no
        floats, so samples are clipped to [-1, 1] and rounded, an error below
        -140 dB at 24 bits) or ``.ogg`` (Vorbis: lossy, a
        :class:`visualmic.VisualMicWarning` says so; ``pcm16`` does not apply).
        Written to a temporary file beside it and renamed into place when
        complete, so a failure never leaves a partial file.
    y : np.ndarray [shape=(n,) or (channels, n)]
        Samples, full scale = 1.  Time is the last axis.
    rate : float
        Sampling rate in Hz, rounded to the nearest integer (WAV headers hold
        integers: a 2199.8 fps video gives a 2200 Hz file).
    pcm16 : bool, optional
        Write 16-bit PCM (``y`` clipped to [-1, 1], scaled by 32767 and
        rounded) instead of 32-bit float (WAV) or 24-bit PCM (FLAC).  Some
        players refuse float WAV files.
    inputs : tuple of path-like, optional
        The user's input files: ``path`` may not be one of them.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ParameterError
        If ``y`` is empty, not 1-D or 2-D, not real, or holds NaN or infinite
        values, or ``rate`` is not positive.
    OutputError
        If ``path`` is an input, a folder, not a ``.wav``, ``.flac`` or ``.ogg``
        name, in a missing or read-only folder, or the write fails.
    """
    data = np.asarray(y)
    if data.dtype.kind not in "uif" or data.ndim not in (1, 2):
        raise ParameterError(
            f"audio of shape {data.shape} and dtype {data.dtype} cannot be written; give real "
            "samples (n,) or (channels, n)"
        )
    if data.size == 0:
        raise ParameterError(f"audio of shape {data.shape} holds no samples; nothing to write")
    if not np.isfinite(data).all():
        raise ParameterError(
            f"audio holds {int(np.count_nonzero(~np.isfinite(data)))} NaN or infinite samples; "
            "fix the signal before writing"
        )
    rate_hz = _check_rate(rate)
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in AUDIO_FORMATS:
        raise OutputError(f"cannot write audio to {str(out)!r}: the name must end in .wav, .flac "
                          "or .ogg (the extension chooses the format)")
    frames = data.T if data.ndim == 2 else data
    if suffix not in _WAV_SUFFIXES:
        return _write_compressed(out, frames, rate_hz, suffix, pcm16=pcm16, inputs=inputs)
    if pcm16:
        samples = np.round(np.clip(frames, -1.0, 1.0) * 32767.0).astype(np.int16)
        subtype = "PCM_16"
    else:
        samples = frames.astype(np.float32)
        subtype = "FLOAT"
    with atomic_path(out, inputs=inputs) as tmp:
        try:
            sf.write(str(tmp), samples, rate_hz, subtype=subtype, format="WAV")
            _clear_peak_timestamp(tmp)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise OutputError(
                f"cannot write {str(out)!r}: {exc}; check the disk and the folder"
            ) from exc
    return out


def _write_compressed(out: Path, frames: np.ndarray, rate_hz: int, suffix: str, *,
                      pcm16: bool, inputs: tuple) -> Path:
    """Write FLAC (integer PCM) or OGG Vorbis (lossy) through soundfile, atomically."""
    import warnings

    from .._errors import VisualMicWarning

    clipped = np.clip(frames.astype(np.float64), -1.0, 1.0)
    if suffix == ".flac":
        fmt, subtype = "FLAC", ("PCM_16" if pcm16 else "PCM_24")
        if pcm16:
            samples = np.round(clipped * 32767.0).astype(np.int16)
        else:  # int32 container, 24 significant bits: libsndfile keeps the top 24
            samples = (np.round(clipped * 8388607.0).astype(np.int32) << 8)
        if rate_hz > 655350:
            raise OutputError(f"FLAC cannot store a rate of {rate_hz} Hz; write a .wav file")
    else:
        fmt, subtype = "OGG", "VORBIS"
        samples = clipped.astype(np.float32)
        warnings.warn(f"{out.name}: OGG Vorbis is lossy; write .wav or .flac to keep the exact "
                      "samples", VisualMicWarning, stacklevel=3)
    with atomic_path(out, inputs=inputs) as tmp:
        try:
            sf.write(str(tmp), samples, rate_hz, subtype=subtype, format=fmt)
        except (sf.SoundFileError, RuntimeError, OSError) as exc:
            raise OutputError(
                f"cannot write {str(out)!r} as {fmt}: {exc}; write a .wav file instead"
            ) from exc
    return out


def _clear_peak_timestamp(path: Path) -> None:
    """Zero the write time libsndfile stores in a float WAV's PEAK chunk.

    The chunk holds each channel's peak and the time of writing (seconds
    since 1970); with the time zeroed, the same samples give the same bytes.
    """
    with open(path, "r+b") as f:
        head = f.read(12)
        if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return
        pos = 12
        while True:
            f.seek(pos)
            chunk = f.read(8)
            if len(chunk) < 8 or chunk[:4] == b"data":
                return
            size = int.from_bytes(chunk[4:], "little")
            if chunk[:4] == b"PEAK" and size >= 8:
                f.seek(pos + 12)  # after the id, the size and the 4-byte version
                f.write(b"\0\0\0\0")
                return
            pos += 8 + size + (size & 1)
