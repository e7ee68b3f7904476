"""Threads: decoding on a background thread, and BLAS thread control.

:func:`prefetch` runs the video decoder ahead of the computation; PyAV, NumPy and
SciPy's FFTs release the GIL, so on two cores decoding and computing overlap.
:class:`single_blas_thread` keeps the BLAS on one thread meanwhile, through
threadpoolctl (the library scikit-learn uses to control every BLAS and OpenMP
runtime: OpenBLAS, MKL, BLIS...), instead of reaching into a particular BLAS.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator

import numpy as np

from .._errors import ParameterError

__all__ = ["prefetch", "single_blas_thread"]

_CONTROLLER = None
_LOCK = threading.Lock()


def _controller():
    """The process's threadpoolctl controller (inspecting the loaded libraries once)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


class single_blas_thread:
    """Context manager: the BLAS computes on one thread inside (restored on exit).

    While a video is decoded on another thread, a multi-threaded BLAS call on two
    cores makes its threads wait for the decoder (OpenBLAS threads spin while they
    wait): measured here, the fast estimator's matrix products then cost ten times
    the CPU time. Small products gain nothing from threads anyway. Re-entrant
    within a thread; serialised between threads, since the limit is process-wide.
    """

    _depth = threading.local()

    def __enter__(self):
        depth = getattr(self._depth, "n", 0)
        self._limiter = None
        if depth == 0:
            _LOCK.acquire()
            try:
                self._limiter = _controller().limit(limits=1, user_api="blas")
            except BaseException:
                _LOCK.release()
                raise
        self._depth.n = depth + 1
        return self

    def __exit__(self, *exc):
        self._depth.n -= 1
        if self._limiter is not None:
            try:
                self._limiter.restore_original_limits()
            finally:
                _LOCK.release()
        return False


_DONE = object()


def prefetch(iterable: Iterable, *, depth: int = 2) -> Iterator:
    """Iterate ``iterable`` on a background thread, ``depth`` items ahead.

    Used to decode video while the previous chunk is processed: PyAV, NumPy and
    SciPy's FFTs release the GIL, so on two cores decoding and computing overlap.

    Parameters
    ----------
    iterable : iterable
        Produces the items (e.g. ``reader.chunks(...)``); it is iterated, and closed,
        on the background thread.
    depth : int, optional
        Items buffered ahead (default 2): memory is ``depth + 2`` items at most.

    Yields
    ------
    object
        The items, in order. An exception raised by the iterable is re-raised here.
    """
    if not isinstance(depth, (int, np.integer)) or depth < 1:
        raise ParameterError(f"depth={depth!r} must be a positive integer")
    q: queue.Queue = queue.Queue(maxsize=int(depth))
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        it = iter(iterable)
        try:
            for item in it:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((False, exc))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=work, name="visualmic-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get(timeout=0.05)
            except queue.Empty:
                pass
        thread.join()
