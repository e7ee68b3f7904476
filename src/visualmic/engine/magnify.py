"""``visualmic magnify``: phase-based motion magnification of a video file, streamed.

:func:`magnify` opens any source :func:`visualmic.io.open_video` reads, streams
it through :class:`visualmic.core.magnify.PhaseMagnifier` chunk by chunk (memory
does not grow with the video's length), and writes the result losslessly
(FFV1 in Matroska ``.mkv``, or ``.npy``) with the source's frame rate, plus an
optional H.264 preview (``.mp4``) for sharing, which is lossy and plays in slow
motion at ``preview_fps``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from .._errors import OutputError, ParameterError, VisualMicWarning
from .._progress import ProgressCallback
from .._validate import finite_number, positive_number
from ..core.magnify import PhaseMagnifier
from ..io.atomic import atomic_path, check_output_path

__all__ = ["magnify", "MagnifyResult", "PREVIEW_SUFFIXES"]

#: Containers accepted for the H.264 preview.
PREVIEW_SUFFIXES = (".mp4", ".mkv", ".mov")


@dataclass(frozen=True)
class MagnifyResult:
    """What :func:`magnify` wrote.

    Attributes
    ----------
    output : Path
        The lossless magnified video.
    preview : Path or None
        The H.264 preview, if asked for.
    frames : int
        Frames written.
    fps : float
        Frame rate of the output (the source's), Hz.
    shape : tuple of int
        ``(H, W)`` of the frames.
    bit_depth : int
        8 or 16.
    params : dict
        Band, factor and the other parameters used.
    timings : dict
        Seconds: ``total``.
    warnings : list of str
        Warnings issued while reading.
    """

    output: Path
    preview: Path | None
    frames: int
    fps: float
    shape: tuple
    bit_depth: int
    params: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)


class _PreviewWriter:
    """H.264 (libx264, yuv420p, CRF 18) writer of 8-bit grey frames; even sizes (crops one line)."""

    def __init__(self, path: Path, fps: float, top: float):
        import av

        self._av = av
        self.path = path
        self.top = top
        self.container = av.open(str(path), mode="w")
        self.stream = None
        self.rate = Fraction(fps).limit_denominator(1000)
        self.n = 0

    def write(self, frames: np.ndarray) -> None:
        av = self._av
        h, w = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2
        if self.stream is None:
            if h < 2 or w < 2:
                raise ParameterError(f"frames of {frames.shape[2]}x{frames.shape[1]} are too "
                                     "small for an H.264 preview")
            self.stream = self.container.add_stream("libx264", rate=self.rate,
                                                    options={"crf": "18", "preset": "medium"})
            self.stream.width, self.stream.height, self.stream.pix_fmt = w, h, "yuv420p"
        grey = np.clip(np.rint(frames[:, :h, :w] * (255.0 / self.top)), 0, 255).astype(np.uint8)
        for g in grey:
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(g), format="gray")
            vf = vf.reformat(format="yuv420p")
            vf.pts = self.n
            self.n += 1
            self.container.mux(self.stream.encode(vf))

    def close(self) -> None:
        try:
            if self.stream is not None:
                self.container.mux(self.stream.encode(None))
        finally:
            self.container.close()


def _output_depth(bit_depth, source_depth) -> int:
    if bit_depth is None:
        return 8 if source_depth == 8 else 16
    if bit_depth not in (8, 16):
        raise ParameterError(f"bit_depth={bit_depth!r} must be 8 or 16 (or None: as the source)")
    return int(bit_depth)


def _check_paths(source, output, preview) -> tuple[Path, Path | None]:
    out = Path(output)
    if out.suffix.lower() not in (".mkv", ".npy"):
        raise OutputError(f"output {str(out)!r} must end in .mkv (lossless FFV1) or .npy")
    srcs = (source,) if isinstance(source, (str, Path)) else ()
    check_output_path(out, inputs=srcs)
    prev = None
    if preview is not None:
        prev = Path(preview)
        if prev.suffix.lower() not in PREVIEW_SUFFIXES:
            raise OutputError(f"preview {str(prev)!r} must end in .mp4, .mkv or .mov")
        check_output_path(prev, inputs=srcs + (out,))
        if prev.resolve() == out.resolve():
            raise OutputError("the preview and the output are the same file; choose two names")
    return out, prev


def magnify(
    source,
    output,
    *,
    band,
    factor: float,
    fps: float | None = None,
    start: int = 0,
    end: int | None = None,
    roi=None,
    downsample: float = 1.0,
    reference: int = 1,
    scales: int | None = None,
    orientations: int = 4,
    highpass_bands: bool = True,
    order: int = 2,
    sigma: float = 0.0,
    bit_depth: int | None = None,
    chunk_size: int = 32,
    preview=None,
    preview_fps: float = 30.0,
    progress: ProgressCallback | None = None,
) -> MagnifyResult:
    """Magnify the motion of a video in a temporal band and write it losslessly.

    This function is long because of its documentation; its code is 58 lines
    of straight-line steps.

    Parameters
    ----------
    source : path-like or np.ndarray [shape=(T, H, W)]
        Anything :func:`visualmic.io.open_video` opens.
    output : path-like
        ``.mkv`` (FFV1, lossless, the source's frame rate) or ``.npy``; written atomically.
    band : (float, float)
        Temporal band ``(lo, hi)`` in Hz, inside ``(0, fps/2)``.
    factor : float
        Motion in the band comes out ``factor`` times as large (e.g. 10).
    fps, start, end, roi, downsample
        As in :func:`visualmic.io.open_video` (``fps`` overrides the container's rate).
    reference : int, optional
        Reference = mean of the first ``reference`` frames (default 1).
    scales, orientations, highpass_bands, order, sigma
        As in :class:`visualmic.core.magnify.PhaseMagnifier`.
    bit_depth : {8, 16}, optional
        Output grey depth; default as the source (8 for 8-bit sources, else 16).
        Float sources whose reference frame stays within 0..255 are scaled by
        257 into 16 bits (keeping their sub-level precision).
    chunk_size : int, optional
        Frames per batch (memory ~ ``chunk_size * H * W * 8 * bands/2`` bytes); default 32.
    preview : path-like, optional
        Also write an H.264 preview (``.mp4``, 8-bit, CRF 18): lossy, for sharing only.
    preview_fps : float, optional
        Playback rate of the preview (default 30: slow motion for high-speed video).
    progress : callable, optional
        ``progress(frames_done, total_or_None)``.

    Returns
    -------
    MagnifyResult

    Raises
    ------
    ParameterError
        For a band outside ``(0, fps/2)``, a factor <= 0, or other bad parameters.
    OutputError
        For an output that is not ``.mkv``/``.npy`` (preview: ``.mp4``/``.mkv``/``.mov``),
        is the input, or cannot be written.
    InputFileError, VideoError
        If the source cannot be opened or decoded.
    """
    from ..io.video import open_video
    from ..sim.render import write_video

    t0 = time.perf_counter()
    out, prev = _check_paths(source, output, preview)
    finite_number("factor", factor, minimum=0.0, strict=True)
    chunk = positive_number("chunk_size", chunk_size, integer=True)
    k = positive_number("reference", reference, integer=True)
    pfps = finite_number("preview_fps", preview_fps, minimum=0.0, strict=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = open_video(source, fps=fps, start=start, end=end, roi=roi, downsample=downsample)
    messages = [str(w.message) for w in caught]
    for msg in messages:
        warnings.warn(msg, VisualMicWarning, stacklevel=2)
    ref = reader.reference(k)
    depth = _output_depth(bit_depth, reader.bit_depth)
    scale = 1.0
    if depth == 16 and reader.bit_depth in (None, 8) and float(ref.max()) <= 255.5:
        scale = 257.0  # 8-bit grey scale into 16 bits, as visualmic synth does
    top = 255.0 if depth == 8 else 65535.0
    mag = PhaseMagnifier(ref, fps=reader.fps, band=band, factor=factor, scales=scales,
                         orientations=orientations, highpass_bands=highpass_bands, order=order,
                         sigma=sigma)
    dtype = np.uint8 if depth == 8 else np.uint16

    def frames(pw):
        for block in reader.chunks(chunk, progress=progress):
            m = mag(block)
            if scale != 1.0:
                m *= scale
            q = np.clip(np.rint(m), 0, top).astype(dtype)
            if pw is not None:
                pw.write(q)
            yield q

    if prev is None:
        n = write_video(out, frames(None), fps=reader.fps, bit_depth=depth)
    else:
        with atomic_path(prev) as tmp:
            pw = _PreviewWriter(tmp, pfps, top)
            try:
                n = write_video(out, frames(pw), fps=reader.fps, bit_depth=depth)
            finally:
                pw.close()
    if mag.overflow > 0.01:
        msg = (f"the magnified phase exceeds pi/2 in {100 * mag.overflow:.0f} % of the image "
               f"structure: motion x{factor:g} is too large to magnify cleanly and smears; lower "
               "--factor or narrow --band")
        messages.append(msg)
        warnings.warn(msg, VisualMicWarning, stacklevel=2)
    params = {"band": list(mag.band), "factor": float(factor), "reference": k,
              "scales": mag.pyr.scales, "orientations": mag.pyr.orientations,
              "highpass_bands": bool(highpass_bands), "order": int(order), "sigma": float(sigma),
              "grey_scale": scale, "preview_fps": pfps if prev is not None else None}
    return MagnifyResult(output=out, preview=prev, frames=n, fps=float(reader.fps),
                         shape=tuple(reader.shape), bit_depth=depth, params=params,
                         timings={"total": time.perf_counter() - t0}, warnings=messages)
