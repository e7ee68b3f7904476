"""The exception hierarchy of visualmic.

Every error the library raises on bad input or failed processing derives from
:class:`VisualMicError`.  Each class carries the process exit code the command
line maps it to: 2 for usage errors (bad arguments, missing files), 1 for
processing errors (corrupt data, failed decoding).  Messages are one line and
say what was wrong and what to do about it.
"""

from __future__ import annotations

__all__ = [
    "VisualMicError",
    "ParameterError",
    "InputFileError",
    "VideoError",
    "AudioError",
    "OutputError",
    "ModelError",
    "VisualMicWarning",
]


class VisualMicError(Exception):
    """Root of every error raised by visualmic."""

    exit_code: int = 1


class ParameterError(VisualMicError, ValueError):
    """An argument has an invalid value (a usage error, exit code 2)."""

    exit_code = 2


class InputFileError(VisualMicError, FileNotFoundError):
    """An input file or folder is missing or cannot be opened (exit code 2)."""

    exit_code = 2


class VideoError(VisualMicError):
    """A video could not be decoded or holds unusable data (exit code 1)."""

    exit_code = 1


class AudioError(VisualMicError):
    """An audio file could not be read or holds unusable data (exit code 1)."""

    exit_code = 1


class OutputError(VisualMicError):
    """An output could not be written (exit code 2: choose another path)."""

    exit_code = 2


class ModelError(VisualMicError):
    """A model or checkpoint is missing, corrupt or incompatible (exit code 1)."""

    exit_code = 1


class VisualMicWarning(UserWarning):
    """A condition that degrades results but does not stop processing.

    Examples: a lossy video codec (destroys sub-pixel motion), a low frame rate
    (audio limited to fps/2).
    """
