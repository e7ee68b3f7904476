"""Camera-native files and image stacks: which reader opens a path (issue 12).

:func:`open_format_source` is called by :func:`visualmic.io.video.open_video`
for a file path before FFmpeg is tried; it returns a frame source for

* Photron ``.cih`` / ``.cihx`` / ``.mraw`` (:mod:`._photron`),
* Phantom ``.cine`` (:mod:`._cine`; FFmpeg cannot read packed 10/12-bit cines),
* multi-page TIFF ``.tif`` / ``.tiff`` (:mod:`._tiffstack`),

and None for anything else.  :func:`playback_rate_hint` is the advice added
to low-frame-rate warnings and Nyquist errors when the rate came from the file.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["open_format_source", "playback_rate_hint", "FORMAT_SUFFIXES"]

#: Suffixes handled here rather than by FFmpeg.
FORMAT_SUFFIXES = (".cih", ".cihx", ".mraw", ".cine", ".tif", ".tiff")


def open_format_source(path: Path, warn):
    """Open ``path`` with a camera-format reader, or return None for other files.

    Parameters
    ----------
    path : Path
        An existing, readable, non-empty file.
    warn : callable
        ``warn(message)`` issues a one-line :class:`visualmic.VisualMicWarning`.

    Returns
    -------
    source or None
        An object with the frame-source interface of :mod:`visualmic.io.video`.

    Raises
    ------
    VideoError
        For a corrupt or truncated header, or an unsupported bit depth or colour layout.
    InputFileError
        When the sibling file of a Photron pair is missing.
    """
    suffix = path.suffix.lower()
    if suffix in (".cih", ".cihx", ".mraw"):
        from ._photron import PhotronSource

        return PhotronSource(path, warn)
    if suffix == ".cine":
        from ._cine import CineSource

        return CineSource(path, warn)
    if suffix in (".tif", ".tiff"):
        from ._tiffstack import TiffStackSource

        return TiffStackSource(path, warn)
    return None


def playback_rate_hint(fps: float) -> str:
    """Advice for a low frame rate read from a file: it may be the playback rate.

    Examples
    --------
    >>> playback_rate_hint(30)[:40]
    'the file may carry a playback rate (30 f'
    """
    return (f"the file may carry a playback rate ({fps:g} fps) rather than the capture rate; "
            "give the capture rate with -s/--sampling-rate HZ (fps= in Python)")
