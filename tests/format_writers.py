"""Minimal writers of camera files for tests and benchmarks (not part of the package).

They write what the readers in ``visualmic.io`` must read: Photron ``.cih``/``.cihx``
+ ``.mraw`` (8, 12 packed, 16 bit), Phantom ``.cine`` (8, 16, packed 10/12 bit,
24/48-bit colour), multi-page TIFF (tifffile) and BMP/JPEG frame folders (Pillow).
Bit packing here is written independently of the readers' unpacking: each
value is spelled out as bits, most significant first, and the bit stream is
cut into bytes with ``np.packbits``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


def pack_bits(values: np.ndarray, bits: int) -> bytes:
    """Concatenate ``bits``-bit values, most significant bit first, into bytes."""
    v = np.asarray(values, np.uint32).ravel()
    if v.size and int(v.max()) >= 1 << bits:
        raise ValueError(f"values do not fit in {bits} bits")
    stream = ((v[:, None] >> np.arange(bits - 1, -1, -1, dtype=np.uint32)) & 1).astype(np.uint8)
    return np.packbits(stream.ravel()).tobytes()


def frame_bytes(frame: np.ndarray, bits: int) -> bytes:
    """One grey frame ``(H, W)`` as stored: 8 bit, 16 bit little-endian, or packed 10/12."""
    if bits == 8:
        return np.ascontiguousarray(frame, np.uint8).tobytes()
    if bits == 16:
        return np.ascontiguousarray(frame, "<u2").tobytes()
    return pack_bits(frame, bits)


# --------------------------------------------------------------------------- Photron


def write_photron(stem, frames: np.ndarray, *, bits: int, fps: float, header: str = "cih",
                  effective: int | None = None, total: int | None = None,
                  colour: str = "Mono") -> tuple[Path, Path]:
    """Write ``stem.mraw`` and ``stem.cih`` (or ``.cihx``); return ``(header, mraw)``."""
    stem = Path(stem)
    frames = np.asarray(frames)
    t, h, w = frames.shape
    mraw = stem.with_suffix(".mraw")
    with open(mraw, "wb") as f:
        for frame in frames:
            f.write(frame_bytes(frame, bits))
    eff = effective or (12 if bits == 16 else bits)
    total = t if total is None else total
    if header == "cih":
        path = stem.with_suffix(".cih")
        lines = ["#Camera Information Header", "Date : 2026/12/04",
                 "Camera Type : FASTCAM test", f"Record Rate(fps) : {fps:g}",
                 f"Shutter Speed(s) : 1/{int(fps)}", f"Total Frame : {total}",
                 "Start Frame : 0", f"Image Width : {w}", f"Image Height : {h}",
                 f"Color Type : {colour}", f"Color Bit : {bits}", "File Format : MRaw",
                 f"EffectiveBit Depth : {eff}", "EffectiveBit Side : Lower", "", "END", ""]
        path.write_text("\n".join(lines), encoding="latin-1")
    else:
        path = stem.with_suffix(".cihx")
        xml = (f'<?xml version="1.0" encoding="utf-8" standalone="yes"?>\n<cih>\n'
               f"<fileInfo><date>2026/12/04</date></fileInfo>\n"
               f"<recordInfo><recordRate>{fps:g}</recordRate><shutterSpeed>{1 / fps:g}"
               f"</shutterSpeed></recordInfo>\n"
               f"<frameInfo><totalFrame>{total}</totalFrame><recordedFrame>{total}"
               f"</recordedFrame></frameInfo>\n"
               f"<imageDataInfo><resolution><width>{w}</width><height>{h}</height></resolution>"
               f"<colorInfo><type>{colour}</type><bit>{bits}</bit></colorInfo>"
               f"<effectiveBit><depth>{eff}</depth><side>Lower</side></effectiveBit>"
               f"</imageDataInfo>\n<imageFileInfo><fileFormat>MRaw</fileFormat></imageFileInfo>\n"
               "</cih>\n")
        # A binary preamble as in PFV's files, then the XML.
        path.write_bytes(b"\x01\x00\x00\x00cihx\x00\x00\x00\x10" + xml.encode())
    return path, mraw


# --------------------------------------------------------------------------- Phantom cine

_KIND = {8: (8, 0), 16: (16, 0), 10: (16, 256), 12: (16, 1024), 24: (24, 0), 48: (48, 0)}


def write_cine(path, frames: np.ndarray, *, bits: int, fps: float, real_bpp: int | None = None,
               annotation: bytes = b"", flip_v: bool = False, setup_length: int = 13484,
               count: int | None = None, truncate: int = 0) -> Path:
    """Write a minimal valid ``.cine``.

    ``frames`` is ``(T, H, W)`` grey (``bits`` 8, 16, 10 or 12) or ``(T, H, W, 3)``
    RGB (``bits`` 24 or 48), rows top first; they are stored as Phantom does
    (bottom-up when unpacked and ``flip_v`` is False, BGR for colour).
    ``count`` overrides the image count in the header; ``truncate`` cuts that
    many bytes off the end.
    """
    path = Path(path)
    frames = np.asarray(frames)
    t, h, w = frames.shape[:3]
    bitcount, bicompr = _KIND[bits]
    packed = bicompr != 0
    bottom_up = flip_v == packed

    def encode(frame):
        rows = frame[::-1] if bottom_up else frame
        if bits == 24:
            return np.ascontiguousarray(rows[..., ::-1], np.uint8).tobytes()
        if bits == 48:
            return np.ascontiguousarray(rows[..., ::-1], "<u2").tobytes()
        return frame_bytes(rows, bits)

    images = [encode(f) for f in frames]
    fbytes = len(images[0])
    count = t if count is None else count
    off_setup = 44 + 40
    off_offsets = off_setup + setup_length
    head = struct.pack("<2sHHHiIiIIII8s", b"CI", 44, 0, 1, 0, count, 0, count, 44, off_setup,
                       off_offsets, b"\0" * 8)
    bmp = struct.pack("<IiiHHIIiiII", 40, w, h, 1, bitcount, bicompr, fbytes, 0, 0, 0, 0)
    setup = bytearray(setup_length)
    struct.pack_into("<H", setup, 0, min(int(round(fps)), 65535))
    setup[140:142] = b"ST"
    struct.pack_into("<H", setup, 142, setup_length)
    struct.pack_into("<I", setup, 760, int(flip_v))
    struct.pack_into("<I", setup, 768, int(round(fps)))
    struct.pack_into("<I", setup, 896, real_bpp or (bits if bits <= 16 else bits // 3))
    if setup_length >= 13480:
        struct.pack_into("<d", setup, 13472, float(fps))
    block = 8 + len(annotation) + fbytes
    first = off_offsets + 8 * count
    offsets = [first + i * block for i in range(count)]
    body = bytearray()
    for img in images:
        body += struct.pack("<I", 8 + len(annotation)) + annotation + struct.pack("<I", fbytes)
        body += img
    data = head + bmp + bytes(setup) + np.asarray(offsets, "<i8").tobytes() + bytes(body)
    path.write_bytes(data[: len(data) - truncate] if truncate else data)
    return path


# --------------------------------------------------------------------------- stacks


def write_tiff_stack(path, frames: np.ndarray, *, fps: float | None = None, **kwargs) -> Path:
    """Write a multi-page TIFF (ImageJ, with the frame interval when ``fps`` is given)."""
    import tifffile

    path = Path(path)
    if fps is not None:
        tifffile.imwrite(path, frames, imagej=True,
                         metadata={"axes": "TYX", "finterval": 1.0 / fps, "unit": "px"}, **kwargs)
    else:
        tifffile.imwrite(path, frames, **kwargs)
    return path


def write_image_folder(folder, frames: np.ndarray, suffix: str = ".bmp", **kwargs) -> Path:
    """Write 8-bit frames as ``frame0.bmp``, ``frame1.bmp``, ... (Pillow)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        Image.fromarray(np.asarray(frame, np.uint8)).save(folder / f"frame{i}{suffix}", **kwargs)
    return folder
