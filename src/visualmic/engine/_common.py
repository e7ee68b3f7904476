"""Steps shared by the engine's entry points: open a source, run the chain, post-process.

``recover`` and ``map`` open and run; ``recover`` post-processes its combined signal.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from ..core import post
from ..io.video import VideoReader, open_video
from .chain import Chain, ChainSignals
from .threads import prefetch

__all__ = ["open_reader", "run_chain", "postprocess", "enhance_effect"]


def open_reader(source, **options) -> tuple[VideoReader, list[str]]:
    """Open the source (or take an opened reader); return it and the warnings raised."""
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as wlist:
        warnings.simplefilter("always")
        reader = source if isinstance(source, VideoReader) else open_video(source, **options)
    for w in wlist:
        caught.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return reader, caught


def run_chain(chain: Chain, reader: VideoReader, *, chunk_size: int, dask, workers,
                  progress) -> ChainSignals:
    """Run the chain over the whole range: here (decoding ahead on a thread) or on Dask."""
    if dask is not None or workers is not None:  # Dask: workers process frame ranges
        from .dask import band_signals

        return band_signals(reader, chain, chunk_size=chunk_size, client=dask, workers=workers,
                            progress=progress)
    chunks = prefetch(reader.chunks(chunk_size, progress=progress), depth=1)
    try:
        return chain.run(chunks)
    finally:  # stop the decoding thread, also when the estimator fails
        chunks.close()


def postprocess(y: np.ndarray, rate: float, *, highpass, enhance, denoise, denoise_options,
                output_rate, noise_ref=None) -> tuple[np.ndarray, float, float]:
    """High-pass, enhance, denoise, resample, normalise; return audio, its rate, enhance time.

    ``noise_ref`` (a noise reference of ``y``'s estimation noise, raw) goes to the
    enhancer as ``noise=``, high-passed like ``y``.
    """
    if highpass:
        y = post.highpass(y, rate, cutoff=highpass)
        if noise_ref is not None:
            noise_ref = post.highpass(noise_ref, rate, cutoff=highpass)
    t_enhance = 0.0
    if enhance is not None:
        t_e = time.perf_counter()
        y = enhance(y, rate) if noise_ref is None else enhance(y, rate, noise=noise_ref)
        t_enhance = time.perf_counter() - t_e
    if denoise == "specsub":
        y = post.spectral_subtraction(y, rate, **(denoise_options or {}))
    out_rate = rate
    if output_rate is not None and float(output_rate) != rate:
        y = post.resample(y, rate, float(output_rate))
        out_rate = float(output_rate)
    return post.normalize(y).astype(np.float32), out_rate, t_enhance


def enhance_effect(enhance) -> dict | None:
    """What the enhancer reported about its last call (how much of the signal it changed)."""
    if enhance is None:
        return None
    info = getattr(enhance, "info", None) or {}
    keys = ("changed_fraction", "guarded_fraction", "excess_removal", "fallback", "rate",
            "noise_reference")
    return {k: info[k] for k in keys if k in info} or None
