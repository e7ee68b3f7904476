"""Photron high-speed camera files: a ``.cih`` or ``.cihx`` header beside a ``.mraw`` file.

Photron FASTCAM Viewer (PFV) saves a recording as raw frames (``NAME.mraw``)
and a header: ``NAME.cih`` (text, one ``Key : Value`` per line) or
``NAME.cihx`` (an XML ``<cih>`` element inside the file).  Any of the files
may be given; the sibling is found by name.  The header gives the frame
size, the frame count, the record rate (the capture frame rate, used as the
frame rate) and the bit depth:

* ``Color Bit 8``: one byte per pixel;
* ``Color Bit 12``: packed, two pixels in three bytes, most significant bit
  first (see :mod:`._camera`);
* ``Color Bit 16``: little-endian 16-bit words; the ``EffectiveBit Depth``
  (often 12) and ``Side`` say which bits are used.  Grey levels are kept as
  stored (no shift), which changes nothing for motion.

Only monochrome files are read: colour recordings raise a clear error
(export them as TIFF or AVI from PFV; colour is reduced to luminance there).

Why not pyMRAW
--------------
pyMRAW (ladisk) reads the same files but needs numba and XML libraries, and
reads a 12-bit file into memory whole, which a recording of many gigabytes
cannot afford.  This reader streams: frames are read in blocks with ordinary
file reads, so memory is bounded by the block size.  Its 12-bit unpacking
follows pyMRAW's documented layout and is tested against an independent
bit-stream implementation.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .._errors import InputFileError, VideoError
from ._camera import FrameFileSource, PixelLayout

__all__ = ["PhotronSource", "read_cih", "PHOTRON_SUFFIXES"]

#: File-name suffixes of Photron recordings (header or frames).
PHOTRON_SUFFIXES = (".cih", ".cihx", ".mraw")

_MAX_HEADER = 16 << 20  # a .cih(x) is a few kB; anything this large is not one

# .cihx element paths of the fields read, by the .cih key that holds the same value.
_CIHX_FIELDS = {
    "Record Rate(fps)": "recordInfo/recordRate",
    "Total Frame": "frameInfo/totalFrame",
    "Image Width": "imageDataInfo/resolution/width",
    "Image Height": "imageDataInfo/resolution/height",
    "Color Type": "imageDataInfo/colorInfo/type",
    "Color Bit": "imageDataInfo/colorInfo/bit",
    "EffectiveBit Depth": "imageDataInfo/effectiveBit/depth",
    "EffectiveBit Side": "imageDataInfo/effectiveBit/side",
    "File Format": "imageFileInfo/fileFormat",
}


def _sibling(path: Path, suffixes: tuple[str, ...]) -> Path | None:
    """The file beside ``path`` with the same stem and one of ``suffixes`` (any case)."""
    for suffix in suffixes:
        for candidate in (path.with_suffix(suffix), path.with_suffix(suffix.upper())):
            if candidate.is_file():
                return candidate
    try:
        for p in path.parent.iterdir():
            if p.stem == path.stem and p.suffix.lower() in suffixes and p.is_file():
                return p
    except OSError:
        pass
    return None


def _pair(path: Path) -> tuple[Path, Path]:
    """Return ``(header, mraw)`` for any of the two files given."""
    if path.suffix.lower() == ".mraw":
        header = _sibling(path, (".cihx", ".cih"))
        if header is None:
            raise InputFileError(
                f"no Photron header beside {str(path)!r}: expected {path.stem}.cih or "
                f"{path.stem}.cihx (it holds the frame size, bit depth and rate); copy it beside "
                "the .mraw file"
            )
        return header, path
    mraw = _sibling(path, (".mraw",))
    if mraw is None:
        raise InputFileError(
            f"no frames beside the Photron header {str(path)!r}: expected {path.stem}.mraw; "
            "copy it beside the header (or, for a TIFF/BMP export, give the folder of images)"
        )
    return path, mraw


def read_cih(path: str | Path) -> dict[str, str]:
    """Read the fields of a Photron ``.cih`` or ``.cihx`` header.

    Parameters
    ----------
    path : path-like
        The header file.

    Returns
    -------
    dict of str to str
        Values by their ``.cih`` key (``"Record Rate(fps)"``, ``"Total Frame"``,
        ``"Image Width"``, ``"Image Height"``, ``"Color Bit"``, ...), as text.
        A ``.cihx`` file's XML fields are returned under the same keys.

    Raises
    ------
    VideoError
        If the file is not a readable Photron header.
    """
    path = Path(path)
    if path.stat().st_size > _MAX_HEADER:
        raise VideoError(f"{str(path)!r} is too large to be a Photron header; give the .cih file")
    data = path.read_bytes()
    if path.suffix.lower() == ".cihx" or b"<cih>" in data[:1 << 16]:
        return _read_cihx(path, data)
    fields: dict[str, str] = {}
    for line in data.decode("latin-1").splitlines():
        key, sep, value = line.partition(" : ")
        if not sep:
            key, sep, value = line.partition(":")
        if sep and key.strip() and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    if "Total Frame" not in fields and "Image Width" not in fields:
        raise VideoError(
            f"{str(path)!r} is not a Photron .cih header (no 'Total Frame' or 'Image Width' "
            "line); give the .cih/.cihx file PFV saved with the .mraw"
        )
    return fields


def _read_cihx(path: Path, data: bytes) -> dict[str, str]:
    start, stop = data.find(b"<cih>"), data.rfind(b"</cih>")
    if start < 0 or stop < start:
        raise VideoError(
            f"{str(path)!r} holds no <cih> XML header; the .cihx file is corrupt or truncated"
        )
    try:
        root = ET.fromstring(data[start: stop + len(b"</cih>")])
    except ET.ParseError as exc:
        raise VideoError(f"the XML header in {str(path)!r} is corrupt ({exc}); re-save it with PFV"
                         ) from None
    fields = {}
    for key, where in _CIHX_FIELDS.items():
        node = root.find(where)
        if node is not None and node.text is not None:
            fields[key] = node.text.strip()
    return fields


def _number(fields: dict, key: str, header: Path, *, integer: bool = True, required: bool = True):
    text = fields.get(key)
    if text is None:
        if required:
            raise VideoError(f"the Photron header {str(header)!r} has no '{key}' field; it is "
                             "incomplete or corrupt")
        return None
    try:
        value = float(text.split()[0]) if not integer else int(text.split()[0])
    except (ValueError, IndexError):
        m = re.match(r"\s*(\d+)\s*/\s*(\d+)", text)  # e.g. a shutter '1/20000'
        if m and not integer:
            return int(m.group(1)) / int(m.group(2))
        raise VideoError(f"'{key} : {text}' in {str(header)!r} is not a number; the header is "
                         "corrupt") from None
    return value


class PhotronSource(FrameFileSource):
    """Frames of a Photron ``.mraw`` file described by its ``.cih``/``.cihx`` header."""

    def __init__(self, path: Path, warn):
        super().__init__(warn)
        header, mraw = _pair(Path(path))
        fields = read_cih(header)
        name = header.name
        fmt = fields.get("File Format", "MRaw")
        if fmt.strip().lower() != "mraw":
            raise VideoError(
                f"{name} describes a '{fmt}' export, not an MRAW file; give the folder of images "
                "instead, with -s set to the header's Record Rate"
            )
        colour = fields.get("Color Type", "Mono").strip().lower()
        if colour not in ("mono", "monochrome", "gray", "grey"):
            raise VideoError(
                f"{name}: colour Photron recordings (Color Type '{fields['Color Type']}') are not "
                "supported; save the recording as monochrome, or export a TIFF/BMP sequence or "
                "a lossless AVI from PFV (colour is reduced to luminance there)"
            )
        width = _number(fields, "Image Width", header)
        height = _number(fields, "Image Height", header)
        total = _number(fields, "Total Frame", header)
        bits = _number(fields, "Color Bit", header)
        rate = _number(fields, "Record Rate(fps)", header, integer=False, required=False)
        if width < 1 or height < 1 or total < 1:
            raise VideoError(
                f"{name} announces {width}x{height} frames x {total}; the header is corrupt"
            )
        kinds = {8: "u8", 12: "p12", 16: "u16le"}
        if bits not in kinds:
            raise VideoError(
                f"{name}: Color Bit {bits} is not supported (8, 12 packed or 16); save the "
                "recording as 8, 12 or 16 bit in PFV"
            )
        self.layout = PixelLayout(kinds[bits], (height, width))
        eff = _number(fields, "EffectiveBit Depth", header, required=False)
        side = fields.get("EffectiveBit Side", "Lower").strip().lower()
        self.bit_depth = eff if (eff and 0 < eff < bits and side == "lower") else bits
        self.path = mraw
        self.input_shape = (height, width)
        self.codec = f"photron-mraw-{bits}bit"
        self.lossless = True
        self.source_fps = float(rate) if rate and rate > 0 else None
        self.frame_count_hint = total
        self.exact_count = self._check_size(total)

    def _check_size(self, total: int) -> int:
        """Frames actually present; warn when the file is shorter or longer than announced."""
        size = self.path.stat().st_size
        fb = self.layout.frame_bytes
        have = size // fb
        if have == 0:
            raise VideoError(
                f"{self.path.name} holds {size} bytes, less than one {self.input_shape[1]}x"
                f"{self.input_shape[0]} frame ({fb} bytes); the file is truncated or the header "
                "does not belong to it"
            )
        if have < total:
            self._warn(
                f"{self.path.name} holds {have} complete frames but its header announces {total}; "
                f"the file is truncated: using frames 0-{have - 1}"
            )
            return have
        if size > total * fb:
            self._warn(
                f"{self.path.name} is {size - total * fb} bytes longer than the {total} frames its "
                "header announces; check that the header (bit depth, size) belongs to this file"
            )
        return total
