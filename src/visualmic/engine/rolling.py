"""Sound from rolling-shutter video: open, stream, per-row motion, gaps, post-processing.

(The steps ``resolve_delay``, ``open_rows``, ``row_signals``, ``project_rows`` and
``fill_grid`` are shared with :mod:`visualmic.engine.rollmap`, the per-row-band map.)

:func:`recover_rolling` turns an ordinary (e.g. 60 fps) video of a vibrating
textured surface into audio at the row rate ``1 / line_delay`` (tens of kHz),
using :mod:`visualmic.core.rolling` for the numerics.  The video is read twice
in chunks (memory bounded by the chunk and the reference sample, not by the
video's length): once to build a robust reference (the median of up to
``reference`` frames spread over the range), once to measure every row of
every frame against it.  :func:`calibrate_rolling` estimates the readout of a
camera from a video of a known tone.
"""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np

from .._errors import ParameterError, VisualMicWarning
from .._progress import ProgressCallback, report
from .._validate import finite_number
from ..core import rolling as rs
from ..core.post import highpass as _highpass
from ..core.post import normalize, resample, spectral_subtraction
from ..io.video import open_video

__all__ = ["RollingRecovery", "recover_rolling", "Calibration", "calibrate_rolling", "GAP_METHODS"]

#: Ways to fill the unexposed part of each frame period.
GAP_METHODS = ("map", "ar", "linear", "zero")

#: Memory for the frames of the median reference when ``reference=None``.
REFERENCE_BYTES = 128 * 2**20
#: Memory for one block of frames when ``chunk_size=None``.
CHUNK_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True, eq=False)
class RollingRecovery:
    """The result of :func:`recover_rolling`.

    Attributes
    ----------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Recovered audio, gaps filled, high-passed, normalised to [-1, 1], at ``rate``.
    rate : float
        Sampling rate of ``audio`` (the row rate unless ``output_rate`` was given).
    row_rate : float
        ``1 / line_delay`` in Hz.
    motion : np.ndarray [shape=(m,), dtype=float64]
        Horizontal displacement in px on the row-rate grid, gaps filled,
        before high-pass (sample ``k`` is at ``k · line_delay`` s after the
        first frame's first sensor row).
    known : np.ndarray [shape=(m,), dtype=bool]
        Grid samples that were measured (the rest were filled).
    row_motion : np.ndarray [shape=(T, H), dtype=float64]
        Per-row displacement of every frame (px), fixed pattern removed.
    valid_rows : np.ndarray [shape=(H,), dtype=bool]
        Rows with enough texture to be measured.
    row_noise_var : np.ndarray [shape=(H,)]
        Estimated noise variance of each row's displacement (px²; inf for invalid rows).
    fps, line_delay, readout : float
        Frame rate (Hz), line delay (s), readout fraction.
    n_frames : int
    frame_shape : tuple (H, W)
        After the region of interest.
    sensor_rows : int
        Rows of the full frame (the timing model counts from its top row).
    timings, params : dict
    warnings : list of str
    """

    audio: np.ndarray
    rate: float
    row_rate: float
    motion: np.ndarray
    known: np.ndarray
    row_motion: np.ndarray
    valid_rows: np.ndarray
    row_noise_var: np.ndarray
    fps: float
    line_delay: float
    readout: float
    n_frames: int
    frame_shape: tuple
    sensor_rows: int
    timings: dict
    params: dict
    warnings: list

    @property
    def duration(self) -> float:
        """Duration of the audio in seconds."""
        return self.audio.size / self.rate

    def summary(self) -> dict:
        """A JSON-serialisable summary (what ``recover --rolling-shutter --json`` prints)."""
        return {
            "frames": self.n_frames, "fps": self.fps, "rate": self.rate,
            "row_rate": self.row_rate, "line_delay_s": self.line_delay,
            "readout": self.readout, "duration_s": round(self.duration, 6),
            "frame_shape": list(self.frame_shape), "sensor_rows": self.sensor_rows,
            "valid_rows": int(self.valid_rows.sum()),
            "axes": self.params.get("axes"), "direction_deg": self.params.get("direction_deg"),
            "measured_fraction": round(float(self.known.mean()), 6),
            "row_noise_std_px": float(np.sqrt(np.median(self.row_noise_var[self.valid_rows]))),
            "timings_s": {k: round(v, 4) for k, v in self.timings.items()},
            "params": self.params, "warnings": list(self.warnings),
        }


def resolve_delay(fps: float, rows: int, readout, delay) -> tuple[float, float]:
    """Resolve (line_delay, readout) from exactly one of them."""
    if (readout is None) == (delay is None):
        raise ParameterError("give exactly one of readout (fraction of the frame period, "
                             "e.g. 0.8) or line_delay (seconds per row)")
    if readout is not None:
        r = rs.check_readout(readout)
        return rs.line_delay(fps, rows, r), r
    d = finite_number("line_delay", delay, minimum=0, strict=True)
    r = d * fps * rows
    if r > 1.0 + 1e-9:
        raise ParameterError(
            f"line_delay={delay!r} s x {rows} rows exceeds the frame period 1/{fps:g} s "
            f"(readout {r:.3f} > 1); check the value or the sensor height"
        )
    return d, min(r, 1.0)


def open_rows(source, *, fps, start, end, roi):
    """Open the video; return the reader and the sensor row of its first row (the ROI's y)."""
    reader = open_video(source, fps=fps, start=start, end=end, roi=roi)
    y0 = reader.roi[1] if reader.roi is not None else 0
    return reader, y0


def row_signals(reader, *, reference: int | None, chunk_size: int | None, progress, min_info: float,
                axes: str):
    """Two passes over the video: robust reference, then per-row motion ``(T, H[, 2])``."""
    if reference is None:  # 64 frames, fewer for large frames (about 256 MB at most)
        reference = int(max(8, min(64, REFERENCE_BYTES // (4 * reader.shape[0] * reader.shape[1]))))
    sampler = rs.ReferenceSampler(reference)
    if chunk_size is None:  # 64 frames, fewer for large frames (about 64 MB per block)
        chunk_size = int(max(1, min(64, CHUNK_BYTES // (4 * reader.shape[0] * reader.shape[1]))))
    expected = reader.frame_count_hint or None

    def hook(offset):
        return lambda done, total: report(progress, offset + done,
                                          None if expected is None else 2 * expected)

    for block in reader.chunks(chunk_size, progress=hook(0) if progress else None):
        sampler.add(block)
    n_first = sampler.seen
    rm = rs.RowMotion(sampler.reference(), min_info=min_info, axes=axes)
    parts, energy = [], np.zeros(rm.shape[0])
    for block in reader.chunks(chunk_size, progress=hook(n_first) if progress else None):
        d = rm(block)
        parts.append(d)
        energy += rm.residual_energy(block, d).sum(axis=0)
    d = np.concatenate(parts, axis=0)
    # Noise variance of the frames: median over textured rows of the mean residual power.
    sigma2 = float(np.median(energy[rm.valid])) / (d.shape[0] * rm.columns)
    return d, rm, max(sigma2, np.finfo(np.float64).tiny)


def project_rows(d, rm, *, direction, fixed_pattern: bool):
    """Fixed-pattern removal and, for 2-D motion, projection on a direction.

    Returns the ``(T, H)`` displacement, the unit vector used (None for
    ``axes="x"``) and its angle in degrees.
    """
    if d.ndim == 2:
        return (rs.remove_fixed_pattern(d, rm.valid) if fixed_pattern else d), None, 0.0
    if fixed_pattern:
        d = np.stack([rs.remove_fixed_pattern(d[..., i], rm.valid) for i in range(2)], axis=-1)
    if direction is None:
        u = rs.principal_direction(d, rm.valid)
    else:
        theta = np.deg2rad(finite_number("direction", direction))
        u = np.array([np.cos(theta), np.sin(theta)])
    return d @ u, u, float(np.degrees(np.arctan2(u[1], u[0])))


def fill_grid(x, known, *, gaps: str, order, row_rate: float, per: float, noise_var=None):
    """Fill the grid's missing samples; return the signal and the AR order used."""
    gap = int(np.max(np.diff(rs.missing_runs(known), axis=1), initial=1))
    exposed = int(np.max(np.diff(rs.missing_runs(~known), axis=1), initial=1))
    p = int(order) if order is not None else rs.default_ar_order(row_rate, gap, exposed)
    if gaps == "ar":
        return rs.fill_gaps(x, known, order=p, context=int(np.ceil(3 * per))), p
    if gaps == "map":
        return rs.smooth_fill(x, known, noise_var, order=p, block=int(np.ceil(per)),
                              context=int(np.ceil(3 * per))), p
    if gaps == "linear":
        return rs.linear_fill(x, known), p
    return np.where(known, x, 0.0), p


def _post(y, row_rate: float, *, highpass, denoise, denoise_options, output_rate):
    """High-pass, optional spectral subtraction, resampling, normalisation."""
    if highpass:
        y = _highpass(y, row_rate, cutoff=float(highpass))
    if denoise == "specsub":
        y = spectral_subtraction(y, row_rate, **(denoise_options or {}))
    rate = row_rate
    if output_rate is not None and float(output_rate) != row_rate:
        y = resample(y, row_rate, float(output_rate))
        rate = float(output_rate)
    return normalize(y).astype(np.float32), rate


def recover_rolling(source, *, readout: float | None = None, line_delay: float | None = None,
                    fps: float | None = None, sensor_rows: int | None = None,
                    start: int = 0, end: int | None = None, roi=None, reference: int | None = None,
                    gaps: str = "map", order: int | None = None, highpass: float | None = 20.0,
                    denoise: str = "none", denoise_options: dict | None = None,
                    output_rate: float | None = None, chunk_size: int | None = None,
                    min_info: float = 0.05, fixed_pattern: bool = True, axes: str = "x",
                    direction: float | None = None,
                    progress: ProgressCallback | None = None) -> RollingRecovery:
    """Recover sound from a rolling-shutter video: one sample per row.

    This function is long because of its documentation; its code is 65 lines
    of straight-line steps.

    Parameters
    ----------
    source : path-like or np.ndarray
        Video file, frame folder, ``.npy`` or array ``(T, H, W)`` (see
        :func:`visualmic.io.video.open_video`).  Lossless video only.
    readout : float, optional
        Fraction of the frame period spent reading the rows, in (0, 1]
        (measure it with :func:`calibrate_rolling`).  Give this or ``line_delay``.
    line_delay : float, optional
        Seconds between two consecutive rows (``readout / (fps · rows)``).
    fps : float, optional
        Frame rate in Hz (default: the container's).
    sensor_rows : int, optional
        Rows of the full sensor frame (default: the video's height).  The
        row rate is ``fps · sensor_rows / readout``.
    start, end : int, optional
        Frame range ``[start, end)``.
    roi : tuple (x, y, w, h) or str, optional
        Region of interest; its rows keep their sensor timing (row ``y + i``).
    reference : int, optional
        Frames (spread evenly over the range) whose median is the reference
        (default 64, fewer for frames above 0.5 Mpixel: at most 128 MB, at least 8).
    gaps : {"map", "ar", "linear", "zero"}, default "map"
        How the unexposed instants (and untextured rows) are filled.
        ``"map"``: a local AR model of the signal fills the gaps and also
        denoises the measured samples, each according to its row's noise
        variance (:func:`visualmic.core.rolling.smooth_fill`); ``"ar"``:
        least-squares AR interpolation from both sides, measured samples
        kept as they are (:func:`visualmic.core.rolling.fill_gaps`);
        ``"linear"`` and ``"zero"``: the baselines.
    order : int, optional
        AR order (default: 5 ms at the row rate, e.g. 96 at 19.2 kHz).
    highpass : float or None, default 20.0
        High-pass cut-off in Hz (None: off).
    denoise : {"none", "specsub"}, default "none"
        Spectral subtraction after the high-pass (options as
        :func:`visualmic.core.post.spectral_subtraction`).
    output_rate : float, optional
        Resample the audio to this rate in Hz (e.g. 44100).
    chunk_size : int, optional
        Frames read at a time (default 64, fewer for frames above 0.25
        Mpixel: about 64 MB of float32 frames per block).
    min_info : float, default 0.05
        Rows whose texture information is below this fraction of the median
        are treated as gaps.
    fixed_pattern : bool, default True
        Subtract from each row its mean over the frames (the pattern that
        repeats every frame; see :func:`visualmic.core.rolling.remove_fixed_pattern`).
    axes : {"x", "xy"}, default "x"
        ``"x"``: motion along the rows only.  ``"xy"``: both components per
        row, using the reference's vertical gradient (see
        :class:`visualmic.core.rolling.RowMotion`), projected on
        ``direction``; for surfaces that move vertically or diagonally.
    direction : float, optional
        With ``axes="xy"``: direction of the motion in degrees (0 = right,
        90 = down); default: the principal direction of the measured motion.
    progress : callable, optional
        ``progress(done, total)`` over both passes (``total`` = twice the
        frame count, None when unknown).

    Returns
    -------
    RollingRecovery

    Raises
    ------
    ParameterError
        Bad readout/line delay, options or source parameters.
    InputFileError, VideoError
        Unreadable video, no frames, no texture.
    """
    t0 = time.perf_counter()
    if gaps not in GAP_METHODS:
        raise ParameterError(f"gaps={gaps!r} is unknown; choose one of {', '.join(GAP_METHODS)}")
    if denoise not in ("none", "specsub"):
        raise ParameterError(f"denoise={denoise!r} is unknown; choose 'none' or 'specsub'")
    if order is not None and (isinstance(order, bool) or not isinstance(order, (int, np.integer))
                              or order < 1):
        raise ParameterError(f"order={order!r} must be a positive integer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", VisualMicWarning)
        reader, y0 = open_rows(source, fps=fps, start=start, end=end, roi=roi)
    issued = [str(w.message) for w in caught
              if "frame rate" not in str(w.message)]  # low fps is the point here
    for msg in issued:
        warnings.warn(msg, VisualMicWarning, stacklevel=2)
    rows_full = reader.input_shape[0] if sensor_rows is None else sensor_rows
    if isinstance(rows_full, bool) or not isinstance(rows_full, (int, np.integer)) or \
            rows_full < y0 + reader.shape[0]:
        raise ParameterError(f"sensor_rows={sensor_rows!r} must be an integer >= the "
                             f"{y0 + reader.shape[0]} rows the video reaches")
    delay, r = resolve_delay(reader.fps, int(rows_full), readout, line_delay)
    row_rate = 1.0 / delay
    per = rs.samples_per_frame(reader.fps, delay)

    if axes not in ("x", "xy"):
        raise ParameterError(f"axes={axes!r} is unknown; choose 'x' or 'xy'")
    if direction is not None and axes != "xy":
        raise ParameterError("direction applies with axes='xy' only (2-D per-row motion)")
    d, rm, sigma2 = row_signals(reader, reference=reference, chunk_size=chunk_size,
                                 progress=progress, min_info=min_info, axes=axes)
    t1 = time.perf_counter()
    n_frames, h = d.shape[:2]
    if n_frames < 2:
        raise ParameterError(f"the range holds {n_frames} frame; give at least 2")
    d, u, angle = project_rows(d, rm, direction=direction, fixed_pattern=fixed_pattern)
    noise_var = rm.noise_var(sigma2, u)
    rows = y0 + np.arange(h)
    x, known = rs.place_samples(d, rm.valid, rows=rows, fps=reader.fps, delay=delay)
    if known.sum() < 2:
        raise ParameterError("fewer than 2 measured samples; give more frames or rows")
    var_rows = np.where(rm.valid, noise_var, 1.0)
    nv, _ = rs.place_samples(np.broadcast_to(var_rows, d.shape), rm.valid, rows=rows,
                             fps=reader.fps, delay=delay, length=x.size)
    motion, p = fill_grid(x, known, gaps=gaps, order=order, row_rate=row_rate, per=per,
                      noise_var=np.maximum(nv, np.finfo(np.float64).tiny))
    motion = rs.retime(motion, fps=reader.fps, delay=delay)
    t2 = time.perf_counter()
    audio, rate = _post(motion, row_rate, highpass=highpass, denoise=denoise,
                        denoise_options=denoise_options, output_rate=output_rate)
    t3 = time.perf_counter()
    params = {"readout": r, "line_delay": delay, "sensor_rows": int(rows_full),
              "roi": None if reader.roi is None else list(reader.roi), "start": reader.start,
              "end": reader.end, "reference": reference, "gaps": gaps,
              "order": p if gaps in ("ar", "map") else None, "highpass": highpass, "denoise": denoise,
              "output_rate": output_rate, "chunk_size": chunk_size,
              "min_info": float(min_info), "fixed_pattern": bool(fixed_pattern),
              "axes": axes, "direction_deg": angle}
    return RollingRecovery(
        audio=audio, rate=rate, row_rate=row_rate, motion=motion, known=known, row_motion=d,
        valid_rows=rm.valid, row_noise_var=noise_var, fps=reader.fps, line_delay=delay,
        readout=r, n_frames=n_frames, frame_shape=tuple(reader.shape),
        sensor_rows=int(rows_full),
        timings={"rows": t1 - t0, "gaps": t2 - t1, "post": t3 - t2, "total": t3 - t0},
        params=params, warnings=issued,
    )


@dataclasses.dataclass(frozen=True)
class Calibration:
    """The result of :func:`calibrate_rolling`.

    Attributes
    ----------
    readout : float
        Estimated fraction of the frame period spent reading the rows.
    line_delay : float
        ``readout / (fps · sensor_rows)`` in seconds.
    row_rate : float
        ``1 / line_delay`` in Hz.
    explained : float
        Fraction of the row signals' power a sinusoid at the tone explains
        with this readout (per frame); below about 0.2 the tone is hardly
        visible and the estimate is unreliable.
    fps, tone_hz : float
    sensor_rows, n_frames : int
    """

    readout: float
    line_delay: float
    row_rate: float
    explained: float
    fps: float
    tone_hz: float
    sensor_rows: int
    n_frames: int

    def summary(self) -> dict:
        """JSON-serialisable fields."""
        return dataclasses.asdict(self)


def calibrate_rolling(source, tone_hz: float, *, fps: float | None = None,
                      sensor_rows: int | None = None, start: int = 0, end: int | None = None,
                      roi=None, reference: int | None = None, bounds=(0.05, 1.0),
                      chunk_size: int | None = None,
                      axes: str = "x", progress: ProgressCallback | None = None) -> Calibration:
    """Estimate a camera's readout from a video of a surface vibrating with a known tone.

    Film a textured surface (e.g. a paper sheet near a loudspeaker) while a
    pure tone well above the frame rate plays (e.g. 400-1000 Hz at 60 fps).
    Within each frame the rows see the tone's phase advance by
    ``2π · tone_hz · line_delay`` per row; :func:`visualmic.core.rolling.estimate_readout`
    finds the readout that makes this ramp fit best.

    Parameters
    ----------
    source : path-like or np.ndarray
        The video (see :func:`recover_rolling`).
    tone_hz : float
        Frequency of the tone in Hz.
    fps, sensor_rows, start, end, roi, reference, chunk_size, progress
        As :func:`recover_rolling`.
    bounds : tuple of float, default (0.05, 1.0)
        Readouts searched.
    axes : {"x", "xy"}, default "x"
        As :func:`recover_rolling` (``"xy"`` uses the principal direction).

    Returns
    -------
    Calibration

    Raises
    ------
    ParameterError
        Bad tone frequency or options.
    VideoError
        Unreadable video or no texture.
    """
    tone = finite_number("tone_hz", tone_hz, minimum=0, strict=True)
    if axes not in ("x", "xy"):
        raise ParameterError(f"axes={axes!r} is unknown; choose 'x' or 'xy'")
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ParameterError(f"bounds={bounds!r} must be a pair (lo, hi) of readouts") from None
    if not 0 < lo < hi <= 1:
        raise ParameterError(f"bounds={bounds!r} must satisfy 0 < lo < hi <= 1")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*frame rate.*", category=VisualMicWarning)
        reader, y0 = open_rows(source, fps=fps, start=start, end=end, roi=roi)
    rows_full = reader.input_shape[0] if sensor_rows is None else int(sensor_rows)
    if rows_full < y0 + reader.shape[0]:
        raise ParameterError(f"sensor_rows={sensor_rows!r} must be >= the "
                             f"{y0 + reader.shape[0]} rows the video reaches")
    if tone * hi / (reader.fps * rows_full) >= 0.5:
        raise ParameterError(f"tone_hz={tone_hz!r} is above half the row rate; use a lower tone")
    d, rm, _ = row_signals(reader, reference=reference, chunk_size=chunk_size,
                            progress=progress, min_info=0.05, axes=axes)
    d, _, _ = project_rows(d, rm, direction=None, fixed_pattern=True)
    fit = rs.estimate_readout(d, rm.valid, rows=y0 + np.arange(d.shape[1]), n_rows=rows_full,
                              fps=reader.fps, tone_hz=tone, bounds=bounds)
    if fit.explained < 0.2:
        warnings.warn(f"the tone at {tone:g} Hz explains only {100 * fit.explained:.0f} % of the "
                      "row motion; the readout estimate is unreliable (louder tone, more "
                      "texture, or check the frequency)", VisualMicWarning, stacklevel=2)
    delay = fit.readout / (reader.fps * rows_full)
    return Calibration(readout=fit.readout, line_delay=delay, row_rate=1.0 / delay,
                       explained=fit.explained, fps=reader.fps, tone_hz=tone,
                       sensor_rows=rows_full, n_frames=d.shape[0])
