"""Live recovery: frames in, audio out, incrementally and causally, with bounded latency.

:class:`Listener` turns blocks of frames into audio samples as they arrive. Offline
recovery looks at the whole video (zero-phase filters, band weights from all of it);
live recovery may only look back:

* **reference**: the mean of the first ``reference`` frames; with ``rereference``
  seconds it is renewed periodically from the latest frames, and an offset keeps the
  band signals continuous across the switch (a slowly drifting camera or object
  would otherwise take the estimate out of its small-motion range);
* **band signals** from the fast estimator by default (:mod:`visualmic.core.linear`; the
  phase method is usually slower than real time);
* **high-pass**: a linear-phase FIR filter per band with kept state (a pure delay
  of half its length, about 90 ms at 2200 fps and 20 Hz, instead of the phase
  distortion a causal IIR filter would add below a few hundred Hz), started at the
  first sample's value (no start-up spike);
* **band combination**: lags, signs and maximum-likelihood weights are estimated
  (:func:`visualmic.core.combine.combine_bands`) on a warm-up window (default 0.25 s), then
  re-estimated every ``update`` seconds on the last ``window`` seconds, made
  continuous with the previous estimate (same polarity, timing and level). Bands are
  shifted by at most ``max_lag`` samples, so the output is delayed by ``max_lag``
  samples (4.5 ms at 2200 fps with the default 10);
* **level**: set on the warm-up (its peak at half of full scale), lowered by a
  limiter when the sound gets louder, never raised: the output never clips.

The latency is the block of frames read at once (50 ms by default), plus the
filter's delay and ``max_lag`` samples (:attr:`Listener.latency`), plus the
computation time; once, at the start, the warm-up.

:class:`visualmic.io.live.WavStream` writes a WAV file whose header is rewritten after every block,
so that the file is a valid WAV at any moment while it grows; :func:`listen` ties a
frame source (raw frames on a pipe, :func:`visualmic.io.live.raw_frames`; a capture device or any
video FFmpeg opens, :func:`visualmic.io.live.capture_frames`) to a listener and an output.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy import signal as ssig

from .._errors import ParameterError, VideoError
from .._validate import check_choice, positive_number
from ..core.combine import best_lag, combine_bands
from ..core.pyramid import SteerablePyramid
from ..io.live import RawPCM, WavStream
from .chain import Chain, reference_frame
from .threads import single_blas_thread

__all__ = ["Listener", "ListenResult", "listen"]


class Listener:
    """Incremental, causal recovery of sound from a stream of frames.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the frames.
    fps : float
        Frame rate in Hz (the audio rate).
    scales, orientations, highpass_bands :
        Pyramid (see :func:`visualmic.recover`); by default every scale the frame
        size allows, 4 orientations, with the oriented high-pass bands.
    method : {"fast", "auto", "phase"}, optional
        Band estimator (default "fast", the one fast enough for real time).
    device : str, optional
        PyTorch device for the estimator (default: NumPy).
    reference : int, optional
        Frames averaged into the reference frame (default 1).
    rereference : float or None, optional
        Renew the reference every this many seconds from the latest frames (default
        10; None keeps the first).
    highpass : float or None, optional
        High-pass cut-off in Hz (default 20; None disables it): a linear-phase FIR
        filter of ``2 * round(1.8 * fps / highpass) + 1`` taps (at most 1023; the
        transition band is about ``highpass`` wide).
    warmup : float, optional
        Seconds of band signals on which the first band weights are estimated
        (default 0.25).
    update : float or None, optional
        Re-estimate the weights every this many seconds (default 2; None: never).
    window : float, optional
        Seconds of recent band signals the re-estimation uses (default 2).
    max_lag : int, optional
        Bound on band alignment shifts in samples (default 10); also the output delay.
    weighting : {"ml", "uniform"}, optional
        Band weights (default "ml").
    background : bool, optional
        Re-estimate the weights on a background thread so that no block waits for it
        (default False: deterministic output).

    Attributes
    ----------
    n_in : int
        Frames received.
    n_out : int
        Audio samples emitted (sample ``i`` belongs to frame ``i``).
    delay : int
        Samples held back for the band alignment (``max_lag``).
    filter_delay : int
        Delay of the linear-phase high-pass, in samples.
    updates : int
        Weight re-estimations applied.
    gain : float
        Current output gain.

    Examples
    --------
    >>> import numpy as np
    >>> from visualmic.sim.synthesize import make_texture, render_frames
    >>> motion = 0.02 * np.sin(np.arange(1200) * 0.5)
    >>> frames = np.concatenate(list(render_frames(make_texture((64, 64)), motion, size=32)))
    >>> lis = Listener((32, 32), fps=2200.0)
    >>> out = [lis.push(frames[i:i + 100]) for i in range(0, 1200, 100)]
    >>> sum(len(o) for o in out) + len(lis.flush())
    1200
    """

    def __init__(self, shape, *, fps: float, scales: int | None = None, orientations: int = 4,
                 highpass_bands: bool = True, method: str = "fast", device: str | None = None,
                 reference: int = 1, rereference: float | None = 10.0,
                 highpass: float | None = 20.0, warmup: float = 0.25,
                 update: float | None = 2.0, window: float = 2.0, max_lag: int = 10,
                 weighting: str = "ml", background: bool = False):
        self.fps = positive_number("fps", fps)
        check_choice("weighting", weighting, ("ml", "uniform"))
        self.reference = positive_number("reference", reference, integer=True)
        self.rereference = positive_number("rereference", rereference, allow_none=True)
        self.warmup = max(2, int(round(positive_number("warmup", warmup) * self.fps)))
        self.update = positive_number("update", update, allow_none=True)
        self.window = max(self.warmup, int(round(positive_number("window", window) * self.fps)))
        self.delay = positive_number("max_lag", max_lag, integer=True, allow_zero=True)
        if highpass is not None and highpass != 0:
            highpass = positive_number("highpass", highpass)
            if highpass >= self.fps / 2:
                raise ParameterError(
                    f"highpass={highpass:g} Hz must be below the Nyquist frequency "
                    f"{self.fps / 2:g} Hz"
                )
            taps = min(2 * int(round(1.8 * self.fps / highpass)) + 1, 1023)
            self._fir = ssig.firwin(taps, highpass, pass_zero=False, fs=self.fps,
                                    window=("kaiser", 6.0))
        else:
            self._fir = None
        self.filter_delay = 0 if self._fir is None else (len(self._fir) - 1) // 2
        self._skip = self.filter_delay  # filter outputs that precede frame 0
        self.method, self.device, self.weighting = method, device, weighting
        self.pyramid = SteerablePyramid(tuple(shape), scales=scales, orientations=orientations,
                                        highpass=highpass_bands)
        # The one estimator chain; renewing the reference builds a new estimator from it.
        self._chain = Chain(self.pyramid, method=method, device=device, reference=self.reference)
        self.n_bands = self.pyramid.n_bands
        self.n_in = 0
        self.n_out = 0
        self.updates = 0
        self.gain = None
        self.messages: list[str] = []
        self._est = None
        self._ref_frames: list[np.ndarray] = []
        self._offset = np.zeros(self.n_bands)
        self._since_ref = 0
        self._zi = None
        self._hist = np.empty((self.n_bands, 0))  # high-passed band signals kept
        self._hist_start = 0  # sample index of _hist[:, 0]
        self._comb = None  # (coefficients, lags)
        self._next_update = None
        self._recent = None
        self._pool = concurrent.futures.ThreadPoolExecutor(1) if background else None
        self._pending = None

    # -- public -------------------------------------------------------------------------------
    @property
    def latency(self) -> int:
        """Samples between a frame's arrival and its audio sample (after the warm-up)."""
        return self.delay + self.filter_delay

    def push(self, frames: np.ndarray) -> np.ndarray:
        """Feed consecutive frames; return the audio samples that are ready.

        Parameters
        ----------
        frames : np.ndarray [shape=(t, H, W) or (H, W)]
            The next frames in grey levels.

        Returns
        -------
        np.ndarray [shape=(k,), dtype=float32]
            The next ``k`` audio samples in [-1, 1] (``k`` is 0 during the warm-up,
            then about ``t``).
        """
        frames = np.asarray(frames, dtype=np.float32)
        if frames.ndim == 2:
            frames = frames[None]
        if frames.ndim != 3 or frames.shape[1:] != self.pyramid.shape:
            raise ParameterError(
                f"frames of shape {frames.shape} do not match the listener's frame shape "
                f"{self.pyramid.shape}; give (t, {self.pyramid.shape[0]}, "
                f"{self.pyramid.shape[1]}) blocks"
            )
        if len(frames) == 0:
            return np.zeros(0, np.float32)
        self.n_in += len(frames)
        if self._est is None:
            self._ref_frames.append(frames)
            have = sum(len(f) for f in self._ref_frames)
            if have < self.reference:
                return np.zeros(0, np.float32)
            frames = np.concatenate(self._ref_frames)
            self._ref_frames = []
            self._est = self._estimator(frames[: self.reference])
        self._add(self._bands(frames))
        return self._emit(final=False)

    def flush(self) -> np.ndarray:
        """End of stream: return every remaining sample (the output has ``n_in`` samples)."""
        if self._est is None and self._ref_frames:
            frames = np.concatenate(self._ref_frames)
            self._ref_frames = []
            self._est = self._estimator(frames)
            self._add(self._bands(frames))
        if self._fir is not None and self._zi is not None:
            # Run the filter on past the last frame (held constant) to get its outputs.
            self._add(np.repeat(self._last, self.filter_delay, axis=1))
        out = self._emit(final=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        return out

    # -- internals ----------------------------------------------------------------------------
    def _estimator(self, ref_frames: np.ndarray):
        return self._chain.set_reference(reference_frame(ref_frames, len(ref_frames)))

    def _bands(self, frames: np.ndarray) -> np.ndarray:
        """Band signals of a block, continuous across reference renewals.

        The reference is renewed exactly every ``rereference * fps`` frames, whatever
        the blocks, from the ``reference`` frames before that point.
        """
        period = int(round(self.rereference * self.fps)) if self.rereference else 0
        out = []
        while len(frames):
            n = len(frames) if not period else min(len(frames), period - self._since_ref)
            seg, frames = frames[:n], frames[n:]
            out.append(self._est(seg) + self._offset[:, None])
            self._since_ref += n
            self._recent = np.concatenate([self._recent, seg])[-self.reference:] \
                if self._recent is not None else seg[-self.reference:]
            if period and self._since_ref >= period:
                new = self._estimator(self._recent)
                # Continuity: the new signals are offset to match the old ones on the
                # frames that define the new reference.
                old = self._est(self._recent) + self._offset[:, None]
                self._offset = np.mean(old - new(self._recent), axis=1)
                self._est = new
                self._since_ref = 0
        for m in getattr(self._est, "messages", []):
            if m not in self.messages:
                self.messages.append(m)
        return np.concatenate(out, axis=1)

    def _add(self, s: np.ndarray) -> None:
        """High-pass a block of band signals and append it to the history."""
        if self._fir is not None:
            if self._zi is None:  # steady state for a constant input: no start-up spike
                self._zi = ssig.lfilter_zi(self._fir, [1.0])[None, :] * s[:, :1]
            self._last = s[:, -1:].copy()
            s, self._zi = ssig.lfilter(self._fir, [1.0], s, axis=1, zi=self._zi)
            if self._skip:  # the first outputs belong to the (constant) past before frame 0
                cut = min(self._skip, s.shape[1])
                s = s[:, cut:]
                self._skip -= cut
        self._hist = np.concatenate([self._hist, s], axis=1)

    def _window(self, a: int, e: int) -> np.ndarray:
        """High-passed band signals of samples ``[a, e)`` (a copy)."""
        return self._hist[:, a - self._hist_start : e - self._hist_start].copy()

    def _estimate(self, hist: np.ndarray):
        """Combination ``(coefficients, lags)`` from high-passed band signals."""
        with single_blas_thread():
            comb = combine_bands(hist, max_lag=self.delay, weighting=self.weighting)
        return comb.weights * comb.signs, np.clip(comb.lags, -self.delay, self.delay)

    def _combine(self, coef, lags, a: int, e: int, hist=None, start=None) -> np.ndarray:
        """Combined signal for samples ``[a, e)`` from the history (zeros outside it)."""
        if hist is None:
            hist, start = self._hist, self._hist_start
        y = np.zeros(e - a)
        n_hist = hist.shape[1]
        for b in range(self.n_bands):
            src = np.arange(a, e) - int(lags[b]) - start
            ok = (src >= 0) & (src < n_hist)
            y[ok] += coef[b] * hist[b, src[ok]]
        return y

    def _apply(self, new, hist: np.ndarray) -> None:
        """Adopt new weights, keeping the output's polarity, timing and level."""
        coef, lags = new
        old_coef, old_lags = self._comb
        span = (0, hist.shape[1], hist, 0)
        y_old = self._combine(old_coef, old_lags, *span)
        y_new = self._combine(coef, lags, *span)
        shift, _ = best_lag(y_new, y_old, max_lag=self.delay)
        lags = np.clip(lags + shift, -self.delay, self.delay)
        y_new = self._combine(coef, lags, *span)
        nn = float(y_new @ y_new)
        if nn > 0:
            coef = coef * (float(y_new @ y_old) / nn)
        if np.all(np.isfinite(coef)) and np.any(coef != 0):
            self._comb = (coef, lags)
            self.updates += 1

    def _emit(self, *, final: bool) -> np.ndarray:
        """Combine, scale and return the samples that can be computed now.

        Weights change exactly every ``update * fps`` samples after the warm-up (or,
        with ``background=True``, as soon as the re-estimation started there ends),
        so that the output does not depend on how the frames were split into blocks.
        """
        n_total = self._hist_start + self._hist.shape[1]
        if self._comb is None:
            if n_total < self.warmup and not final:
                return np.zeros(0, np.float32)
            w = min(self.warmup, n_total)
            if w < 2:
                out = np.zeros(n_total - self.n_out, np.float32)
                self.n_out = n_total
                return out
            self._comb = self._estimate(self._window(0, w))
            peak = float(np.max(np.abs(self._combine(*self._comb, 0, w))))
            self.gain = 0.5 / peak if peak > 0 else 1.0
            self._next_update = self.warmup + int(round(self.update * self.fps)) \
                if self.update else None
        stop = n_total if final else max(self.n_out, n_total - self.delay)
        pieces = []
        a = self.n_out
        while True:
            if self._pending is not None and self._pending.done():
                self._apply(*self._pending.result())
                self._pending = None
            nxt = self._next_update
            e = stop if nxt is None else min(stop, nxt)
            if e > a:
                pieces.append(self._combine(*self._comb, a, e))
                a = e
            if nxt is None or a < nxt:
                break
            hist = self._window(max(self._hist_start, nxt - self.window), nxt)
            if self._pool is None:
                self._apply(self._estimate(hist), hist)
            elif self._pending is None:
                self._pending = self._pool.submit(lambda h=hist: (self._estimate(h), h))
            self._next_update = nxt + int(round(self.update * self.fps))
        y = np.concatenate(pieces) if pieces else np.zeros(0)
        # Limiter, sample by sample: the gain only ever goes down, and never clips.
        if y.size:
            need = 0.99 / np.maximum(np.abs(y), 1e-300)
            gains = np.minimum.accumulate(np.minimum(need, self.gain))
            self.gain = float(gains[-1])
            y = y * gains
        out = y.astype(np.float32)
        self.n_out = stop
        # Keep only what is still needed: the band samples later outputs read (lags up
        # to +delay) and the samples of the next re-estimation window.
        first_needed = self.n_out - self.delay
        if self._next_update is not None:
            first_needed = min(first_needed, self._next_update - self.window)
        drop = max(0, first_needed - self._hist_start)
        if drop:
            self._hist = self._hist[:, drop:]
            self._hist_start += drop
        return out


# --------------------------------------------------------------------------- driver


@dataclass(frozen=True)
class ListenResult:
    """Summary of a :func:`listen` run.

    Attributes
    ----------
    frames : int
        Frames read.
    samples : int
        Audio samples written (equal to ``frames``).
    rate : int
        Audio sampling rate in Hz.
    seconds : float
        Wall-clock time.
    max_block_latency : float
        Largest time, in seconds, from a block's arrival to its audio being written
        (computation only; the block's own duration comes on top).
    updates : int
        Weight re-estimations.
    messages : list of str
        Warnings.
    """

    frames: int
    samples: int
    rate: int
    seconds: float
    max_block_latency: float
    updates: int
    messages: list


def listen(frames: Iterable[np.ndarray], output, *, fps: float, pcm16: bool = False,
           max_frames: int | None = None, progress=None, **options) -> ListenResult:
    """Recover sound live from blocks of frames and write it as it comes.

    Parameters
    ----------
    frames : iterable of np.ndarray [shape=(t, H, W)]
        Blocks of frames (from :func:`visualmic.io.live.raw_frames` or :func:`visualmic.io.live.capture_frames`).
    output : path-like, "-" or binary file object
        A WAV file (valid at every moment while written), ``"-"`` for raw PCM on
        stdout, or a binary stream for raw PCM.
    fps : float
        Frame rate in Hz.
    pcm16 : bool, optional
        16-bit samples instead of float32.
    max_frames : int, optional
        Stop after this many frames.
    progress : callable, optional
        ``progress(frames_done, None)`` after each block.
    **options
        Options of :class:`Listener`.

    Returns
    -------
    ListenResult
    """
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise VideoError("no frames arrived on the input; check the source") from None
    first = np.asarray(first)
    if max_frames is not None:
        max_frames = positive_number("max_frames", max_frames, integer=True)
    lis = Listener(first.shape[-2:], fps=fps, **options)
    if isinstance(output, (str, os.PathLike)) and str(output) == "-":
        sink = RawPCM(sys.stdout.buffer, pcm16=pcm16)
    elif isinstance(output, (str, os.PathLike)):
        sink = WavStream(output, fps, pcm16=pcm16)
    else:
        sink = RawPCM(output, pcm16=pcm16)
    t0 = time.perf_counter()
    worst = 0.0
    try:
        block = first
        while block is not None:
            if max_frames is not None and lis.n_in + len(block) > max_frames:
                block = block[: max_frames - lis.n_in]
            t_in = time.perf_counter()
            sink.write(lis.push(block))
            if lis.n_out:
                worst = max(worst, time.perf_counter() - t_in)
            if progress is not None:
                progress(lis.n_in, None)
            if max_frames is not None and lis.n_in >= max_frames:
                break
            block = next(it, None)
        sink.write(lis.flush())
    finally:
        sink.close()
        close = getattr(it, "close", None)
        if close is not None:
            close()
    return ListenResult(frames=lis.n_in, samples=lis.n_out, rate=int(round(fps)),
                        seconds=time.perf_counter() - t0, max_block_latency=worst,
                        updates=lis.updates, messages=list(lis.messages))
