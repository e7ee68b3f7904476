"""Video and audio input/output.

Frames are streamed as float32 blocks ``(t, H, W)`` in grey levels by
:func:`open_video`; audio is read and written as float arrays ``(n,)`` by
:func:`read_audio` and :func:`write_audio` (atomic, never over an input).
"""

from .audio import read_audio, write_audio
from .video import VideoReader, open_video, parse_roi

__all__ = ["open_video", "VideoReader", "parse_roi", "read_audio", "write_audio"]
