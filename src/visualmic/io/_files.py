"""Frames held in arrays (in memory or ``.npy``) and folders of image files."""

from __future__ import annotations

import re
import tokenize
from pathlib import Path

import av
import numpy as np

from .._errors import InputFileError, ParameterError, VideoError
from ._av import av_reason, classify_codec, frame_converter
from ._source import Source, luminance

__all__ = ["ArraySource", "FolderSource", "IMAGE_SUFFIXES", "natural_key", "load_npy",
           "missing_numbers"]

#: File-name suffixes read from a folder of frames.
IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".bmp", ".jpg", ".jpeg")


def natural_key(path: Path) -> list:
    """Sort key putting ``frame2`` before ``frame10``."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def load_npy(path: Path) -> np.ndarray:
    """Memory-map a ``.npy`` file after checking its header against the file's size.

    Raises
    ------
    VideoError
        If the file is not a ``.npy`` array (e.g. an ``.npz`` archive renamed), its
        header is damaged (negative or impossible shape, unknown dtype), or the file
        is shorter than its header announces.
    """
    fmt = np.lib.format
    advice = "give a .npy file written by numpy.save"
    try:
        with open(path, "rb") as fh:
            if fh.read(6) != fmt.MAGIC_PREFIX:
                raise VideoError(f"{str(path)!r} is not a NumPy .npy array (no .npy header; an "
                                 f".npz archive or another file renamed?); {advice}")
            fh.seek(0)
            version = fmt.read_magic(fh)
            reader = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
            if version not in reader:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = reader[version](fh)
            offset = fh.tell()
    except (ValueError, OSError, EOFError, SyntaxError, TypeError, RecursionError,
            tokenize.TokenError) as exc:  # what parsing a damaged header raises
        raise VideoError(f"cannot read {str(path)!r} as a NumPy array: {exc}; {advice}") from exc
    if any(int(n) < 0 for n in shape):
        raise VideoError(f"{str(path)!r} announces the impossible shape {shape}; the header is "
                         f"damaged ({advice})")
    need = offset + int(np.prod(shape, dtype=object)) * dtype.itemsize
    size = path.stat().st_size
    if dtype.hasobject or need > size:
        what = "Python objects" if dtype.hasobject else f"{need} bytes but has {size}"
        raise VideoError(f"{str(path)!r} needs {what}; the file is truncated or its header "
                         f"damaged ({advice})")
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise VideoError(f"cannot read {str(path)!r} as a NumPy array: {exc}; {advice}") from exc


def missing_numbers(files: list[Path]) -> list[int]:
    """Frame numbers missing from a numbered sequence of files (sorted naturally).

    The number of a file is the last run of digits in its name; the step is the
    greatest common divisor of the steps between consecutive numbers (so that
    ``f0, f10, f20`` is complete). Returns ``[]`` when any name has no number.

    Examples
    --------
    >>> missing_numbers([Path(f"f{i:03d}.png") for i in (1, 2, 3, 5, 8)])
    [4, 6, 7]
    >>> missing_numbers([Path(f"f{i}.png") for i in (0, 10, 20, 40)])
    [30]
    """
    nums = []
    for f in files:
        digits = re.findall(r"\d+", f.stem)
        if not digits:
            return []
        nums.append(int(digits[-1]))
    nums = sorted(set(nums))
    if len(nums) < 3:
        return []
    steps = np.diff(nums)
    step = int(np.gcd.reduce(steps))
    if step <= 0 or (nums[-1] - nums[0]) // step > 10 * len(nums) + 1000:
        return []  # not one sequence (e.g. time stamps in the names)
    have = set(nums)
    return [n for n in range(nums[0], nums[-1], step) if n not in have]


class ArraySource(Source):
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
        self.array = arr
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
            yield luminance(self.array[t, rows, cols])

    def blocks(self, start, end, rows, cols, size):
        stop = self.exact_count if end is None else min(end, self.exact_count)
        for t0 in range(start, stop, size):
            t1 = min(t0 + size, stop)
            if self._colour:  # frame by frame: float64 luminance of one frame at a time
                block = np.empty((t1 - t0,) + self._crop_shape(rows, cols), np.float32)
                for i in range(t1 - t0):
                    block[i] = luminance(self.array[t0 + i, rows, cols])
            else:
                block = np.array(self.array[t0:t1, rows, cols], dtype=np.float32)
            yield block


class FolderSource(Source):
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
            found = ", ".join(f"{len(v)} {k}" for k, v in sorted(kinds.items()))
            raise InputFileError(
                f"folder {str(path)!r} mixes frame types ({found}); keep the frames of one "
                "type in the folder (move the others out)"
            )
        self._files = sorted(files, key=natural_key)
        missing = missing_numbers(self._files)
        if missing:
            shown = ", ".join(str(n) for n in missing[:10]) + (", ..." if len(missing) > 10 else "")
            warn(f"{path.name}: {len(missing)} frame number(s) missing from the sequence "
                 f"({shown}); the frames around each gap are treated as consecutive")
        self.frame_count_hint = self.exact_count = len(self._files)
        first, self.bit_depth, self.codec, self.lossless, floating = self._load(self._files[0])
        self.check_finite = floating
        self.input_shape = (int(first.shape[0]), int(first.shape[1]))

    def _load(self, file: Path) -> tuple[np.ndarray, int | None, str, bool | None, bool]:
        """Read one image: ``(luma (H, W), bit_depth, codec, lossless, floating)``."""
        if file.suffix.lower() in (".tif", ".tiff"):
            import tifffile  # a dependency (of scikit-image, and of io/_tiffstack.py)

            try:
                with tifffile.TiffFile(file) as tif:
                    page = tif.pages[0]
                    arr = page.asarray()
                    compression = getattr(page.compression, "name", str(page.compression))
            except Exception as exc:  # noqa: BLE001 - tifffile raises many types
                raise VideoError(
                    f"cannot read frame {str(file)!r}: {exc}; replace or remove the file"
                ) from exc
            arr = luminance(np.squeeze(arr)) if arr.ndim == 3 else arr
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
                convert, bits = frame_converter(frame.format)
                arr = np.array(convert(frame, slice(None), slice(None)))
                ctx = container.streams.video[0].codec_context
                codec = ctx.name
        except (av.error.FFmpegError, OSError, ValueError, StopIteration, IndexError) as exc:
            raise VideoError(
                f"cannot read frame {str(file)!r}: {av_reason(exc)}; replace or remove the file"
            ) from exc
        return arr, bits, codec, classify_codec(codec), arr.dtype.kind == "f"

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
