"""Synthetic rolling-shutter videos with a known answer.

Like :func:`visualmic.synth.synthesize`, but each *row* of each frame shows
the surface displaced by the motion at that row's own exposure instant
``t(n, y) = n / fps + y · line_delay`` with ``line_delay = readout / (fps ·
rows)`` (see :mod:`visualmic.core.rolling`).  Each row is an exact sub-pixel
Fourier shift of one row of a texture larger than the frame (the same
band-limited interpolant as the global renderer, evaluated per row), then
Gaussian noise is added and the frame quantised.  The ground truth is written
on the uniform grid of the row rate ``1 / line_delay`` (the instants of every
row, including the unexposed part of each frame period).
"""

from __future__ import annotations

import json
import math
import operator
from pathlib import Path

import numpy as np
from scipy import fft as sfft

from .._atomic import atomic_path, check_output_path
from .._errors import AudioError, ParameterError
from .._progress import ProgressCallback
from .._validate import finite_number
from ..bounds import crb_snr_db, periodic_gradients, unit_vector
from ..core.rolling import check_readout, line_delay, samples_per_frame
from ..io.audio import write_audio
from ..synth import (
    SCALE_16,
    TEXTURES,
    SynthResult,
    make_audio,
    make_texture,
    object_response,
    sidecar_paths,
    write_video,
)

__all__ = ["render_rolling_frames", "sample_at", "synthesize_rolling"]

_MARGIN = 16
_CRB_BAND = (100.0, 4000.0)


def sample_at(y, positions, *, half: int = 32) -> np.ndarray:
    """Evaluate a band-limited signal between its samples (Kaiser-windowed sinc).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Samples of a signal band-limited well below Nyquist (zero outside).
    positions : np.ndarray [shape=(m,)]
        Fractional sample indices.
    half : int, default 32
        Taps on each side (Kaiser β = 8: error below 1e-4 of full scale for
        content up to 0.4 · rate, 1.5e-4 at 0.45 · rate).

    Returns
    -------
    np.ndarray [shape=(m,)], float64
        ``y`` interpolated at ``positions``; exact at integer positions.
    """
    y = np.asarray(y, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    base = np.floor(pos).astype(np.int64)
    frac = pos - base
    k = np.arange(-half + 1, half + 1)
    idx = base[:, None] + k[None, :]
    dist = frac[:, None] - k[None, :]
    beta = 8.0  # Kaiser window evaluated exactly at the fractional distances
    arg = np.clip(1.0 - (dist / half) ** 2, 0.0, None)
    w = np.sinc(dist) * np.i0(beta * np.sqrt(arg)) / np.i0(beta)
    inside = (idx >= 0) & (idx < y.size)
    vals = np.where(inside, y[np.clip(idx, 0, y.size - 1)], 0.0)
    return np.sum(w * vals, axis=1)


def _ramp(n: int, shift: np.ndarray, *, real: bool) -> np.ndarray:
    """``exp(-2πi k shift)`` per bin (..., n_bins); the Nyquist bin of even ``n`` as ``cos(π shift)``."""
    k = sfft.rfftfreq(n) if real else sfft.fftfreq(n)
    out = np.exp(-2j * np.pi * shift[..., None] * k)
    if n % 2 == 0:
        out[..., -1 if real else n // 2] = np.cos(np.pi * shift)
    return out


def render_rolling_frames(texture_big, motion_rows, *, direction: float = 0.0, size=(128, 128),
                          noise_sigma: float = 1.0, bit_depth: int = 8, seed=0, chunk: int = 32):
    """Render frames whose every row is displaced by its own amount, chunk by chunk.

    Row ``y`` of frame ``n`` is row ``top + y`` of the periodic band-limited
    interpolant of ``texture_big`` translated by ``motion_rows[n, y]`` px
    along ``direction`` (exact: the vertical part is a DFT evaluation of the
    columns at the shifted position, the horizontal part a Fourier phase
    ramp), cropped to the centred ``size`` window, plus white Gaussian noise,
    rounded and clipped.

    Parameters
    ----------
    texture_big : np.ndarray [shape=(Hb, Wb)]
        Periodic texture on the 8-bit scale, larger than the frame by at
        least ``ceil(max|motion|) + 2`` px on every side.
    motion_rows : np.ndarray [shape=(T, H)]
        Displacement of each row of each frame in px.
    direction, size, noise_sigma, bit_depth, seed
        As :func:`visualmic.synth.render_frames`.
    chunk : int, default 32
        Frames per block.

    Yields
    ------
    np.ndarray [shape=(t, H, W)], uint8 or uint16
    """
    tex = np.asarray(texture_big, dtype=np.float64)
    d = np.asarray(motion_rows, dtype=np.float64)
    h, w = size
    if tex.ndim != 2 or d.ndim != 2 or d.shape[1] != h:
        raise ParameterError(f"motion_rows of shape {d.shape} must be (frames, {h} rows)")
    hb, wb = tex.shape
    top, left = (hb - h) // 2, (wb - w) // 2
    need = math.ceil(float(np.max(np.abs(d)))) + 2
    if min(top, left) < need:
        raise ParameterError(f"texture_big of shape {tex.shape} is too small for the motion")
    if bit_depth not in (8, 16):
        raise ParameterError(f"bit_depth={bit_depth!r} is not supported; choose 8 or 16")
    scale = SCALE_16 if bit_depth == 16 else 1
    top_val, dtype = (65535, np.uint16) if bit_depth == 16 else (255, np.uint8)
    ux, uy = unit_vector(direction)
    spec_x = sfft.rfft(tex * scale, axis=1)  # (Hb, Kx)
    spec_2d = sfft.fft(spec_x, axis=0) / hb if uy != 0 else None  # (Hb, Kx)
    rng = np.random.default_rng(seed)
    rows = np.arange(h) + top
    for s in range(0, d.shape[0], int(chunk)):
        dd = d[s:s + int(chunk)]
        if spec_2d is None:
            spec = np.broadcast_to(spec_x[rows], (dd.shape[0],) + spec_x[rows].shape)
        else:
            # Column interpolant at y' = top + y - dy: sum_ky F[ky] e^{2πi ky y'/Hb}
            ypos = rows[None, :] - dd * uy  # (t, H)
            e = np.conj(_ramp(hb, ypos, real=False))  # e^{+2πi fy y'}; Nyquist as cos(π y')
            spec = e @ spec_2d  # (t, H, Kx)
        spec = spec * _ramp(wb, dd * ux, real=True)
        frames = sfft.irfft(spec, n=wb, axis=2)[:, :, left:left + w].astype(np.float32)
        if noise_sigma > 0:
            frames += rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(
                noise_sigma * scale)
        np.rint(frames, out=frames)
        np.clip(frames, 0, top_val, out=frames)
        yield frames.astype(dtype)


def _row_truth(sound, *, per: float, rows: int, fps: float, amp: float, rate: float,
               resonance, lowpass) -> tuple[np.ndarray, np.ndarray]:
    """Truth on the row grid (peak 1) and the motion of every row of every frame ``(T, H)``."""
    n_frames = int(sound.size // per)
    if n_frames < 2:
        raise ParameterError(f"the duration gives fewer than 2 frames at {fps:g} fps; "
                             "give a longer duration")
    n_grid = int(round(n_frames * per))
    sound = np.concatenate([sound, np.zeros(max(0, n_grid - sound.size))])[:n_grid]
    shaped = object_response(sound, rate=rate, resonance=resonance, lowpass=lowpass)
    peak = float(np.max(np.abs(shaped)))
    if peak == 0 or not math.isfinite(peak):
        raise AudioError("the audio is silent after the object response; change it")
    truth = shaped / peak
    pos = np.arange(n_frames)[:, None] * per + np.arange(rows)[None, :]
    if float(per).is_integer():
        return truth, amp * truth[pos.astype(np.int64)]
    return truth, amp * sample_at(truth, pos.ravel()).reshape(pos.shape)


def _row_crb(tex: np.ndarray, window, theta: float, sigma: float) -> float:
    """Median over rows of the Cramér–Rao bound σ² / Σ_x (u · ∇I)² (px²) of one row sample."""
    top, left, h, w = window
    gx, gy = periodic_gradients(tex)
    ux, uy = unit_vector(theta)
    gu = (ux * gx + uy * gy)[top:top + h, left:left + w]
    info = np.sum(gu * gu, axis=1)
    row_var = np.where(info > 0, sigma ** 2 / np.maximum(info, 1e-300), np.inf)
    return float(np.median(row_var))


def synthesize_rolling(path, *, readout: float, audio="melody", fps: float = 60.0,
                       duration: float | None = 2.0, amplitude: float = 0.05,
                       direction: float = 0.0, size=(256, 128), texture: str = "noise",
                       noise_sigma: float = 1.0, bit_depth: int = 8, resonance=None,
                       lowpass: float | None = None, seed=0, voice=None, text=None, wpm=None,
                       progress: ProgressCallback | None = None) -> SynthResult:
    """Render a rolling-shutter video with its ground truth at the row instants.

    Parameters are those of :func:`visualmic.synth.synthesize`, plus:

    readout : float
        Fraction of the frame period spent reading the rows, in (0, 1]; the
        row rate is ``fps · H / readout`` (60 fps, 256 rows, 0.8 → 19.2 kHz).

    The audio is made at the row rate (so ``fps=60`` can carry speech), the
    motion of row ``y`` of frame ``n`` is the audio at ``(n · P + y)`` row
    periods (``P = H / readout``; windowed-sinc interpolation when ``P`` is
    not an integer).  ``<stem>.truth.wav`` holds the motion normalised to
    peak 1 on the whole row-rate grid (gaps included) at ``round(row rate)``
    Hz.

    Returns
    -------
    SynthResult
        ``motion`` and ``truth`` are on the row-rate grid (not per frame);
        ``crb_var`` is the median per-row Cramér–Rao bound (px²) of the
        displacement along ``direction`` (known direction), and ``crb_snr_db`` the SNR it allows in
        100–4000 Hz on a gap-free row grid.  ``params`` holds ``readout``,
        ``line_delay_s``, ``row_rate`` and ``samples_per_frame``.
    """
    from .. import __version__

    video = Path(path)
    if video.suffix.lower() not in (".mkv", ".npy"):
        raise ParameterError(f"output {str(video)!r} must end in .mkv (FFV1) or .npy")
    r = check_readout(readout)
    fps = finite_number("fps", fps, minimum=0, strict=True)
    amp = finite_number("amplitude", amplitude, minimum=0)
    theta = finite_number("direction", direction)
    sigma = finite_number("noise_sigma", noise_sigma, minimum=0)
    if isinstance(size, (int, np.integer)):
        size = (int(size), int(size))
    try:
        h, w = (operator.index(v) for v in size)
    except (TypeError, ValueError):
        raise ParameterError(f"size={size!r} must be an integer or a pair (H, W)") from None
    if min(h, w) < 16:
        raise ParameterError(f"size={size!r} must be at least 16 px each way")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"seed={seed!r} must be a non-negative integer")
    if texture not in TEXTURES:
        raise ParameterError(f"texture={texture!r} is unknown; choose one of {', '.join(TEXTURES)}")
    if bit_depth not in (8, 16):
        raise ParameterError(f"bit_depth={bit_depth!r} is not supported; choose 8 or 16")
    audio_is_file = not isinstance(audio, str) or Path(audio).suffix != ""
    inputs = (Path(audio),) if audio_is_file else ()
    truth_path, meta_path = sidecar_paths(video)
    for p in (video, truth_path, meta_path):
        check_output_path(p, inputs=inputs)

    delay = line_delay(fps, h, r)
    row_rate = 1.0 / delay
    per = samples_per_frame(fps, delay)
    s_tex, s_audio, s_noise = (int(x) for x in np.random.SeedSequence(int(seed)).generate_state(3))
    sound = make_audio(audio, rate=row_rate, duration=duration, seed=s_audio,
                       voice=voice, text=text, wpm=wpm)
    truth, rows_motion = _row_truth(sound, per=per, rows=h, fps=fps, amp=amp,
                                    rate=row_rate, resonance=resonance, lowpass=lowpass)
    n_frames = rows_motion.shape[0]
    motion = amp * truth

    margin = _MARGIN + math.ceil(amp)
    big = tuple(sfft.next_fast_len(s + 2 * margin, real=True) for s in (h, w))
    tex = make_texture(big, kind=texture, seed=s_tex)
    scale = SCALE_16 if bit_depth == 16 else 1
    top, left = (big[0] - h) // 2, (big[1] - w) // 2
    crb_var = _row_crb(tex * scale, (top, left, h, w), theta, sigma * scale)
    snr = crb_snr_db(motion, crb_var, rate=row_rate, band=_CRB_BAND)

    frames = render_rolling_frames(tex, rows_motion, direction=theta, size=(h, w),
                                   noise_sigma=sigma, bit_depth=bit_depth, seed=s_noise)
    written = write_video(video, frames, fps=fps, bit_depth=bit_depth, progress=progress,
                          total=n_frames)
    write_audio(truth_path, truth, row_rate, inputs=inputs)
    params = {
        "version": __version__, "video": video.name, "truth": truth_path.name,
        "audio": str(audio), "fps": fps, "duration": n_frames / fps, "n_frames": written,
        "amplitude_px": amp, "direction_deg": theta, "size": [h, w], "texture": texture,
        "texture_shape": list(big), "noise_sigma": sigma,
        "noise_sigma_video_units": sigma * scale, "bit_depth": bit_depth,
        "resonance": None if resonance is None else [float(v) for v in resonance],
        "lowpass": None if lowpass is None else float(lowpass), "seed": int(seed),
        "rolling_shutter": True, "readout": r, "line_delay_s": delay, "row_rate": row_rate,
        "samples_per_frame": per, "truth_rate": int(round(row_rate)),
        "crb_var_px2": crb_var, "crb_snr_db": snr, "crb_band_hz": list(_CRB_BAND),
    }
    record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
              for k, v in params.items()}
    with atomic_path(meta_path, inputs=inputs) as tmp:
        tmp.write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    clean = tex[top:top + h, left:left + w] * scale
    return SynthResult(video_path=video, truth_path=truth_path, meta_path=meta_path, fps=fps,
                       motion=motion, truth=truth, clean_frame=clean, crb_var=crb_var,
                       crb_snr_db=snr, params=record)
