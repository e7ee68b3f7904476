"""Steps shared by the engine's entry points (recover, map): open a source, run the chain."""

from __future__ import annotations

import warnings

from ..io.video import VideoReader, open_video
from .chain import Chain, ChainSignals
from .threads import prefetch

__all__ = ["open_reader", "run_chain"]


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
