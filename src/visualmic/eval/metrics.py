"""Quality metrics comparing recovered audio with a reference (ground truth).

Recovered audio has an arbitrary gain and sign (the motion of a surface is
proportional to the sound pressure with an unknown factor) and may be shifted
by a sample or two, so every metric here first

1. optionally band-limits both signals with the same zero-phase band-pass
   (``band=(lo, hi)`` in Hz, see :func:`visualmic.core.post.bandpass`),
2. finds the integer lag within ``±max_lag`` samples that best aligns the
   estimate with the reference (largest normalised correlation), and
3. scales the estimate by the least-squares factor onto the reference,

all in :func:`best_fit`, and then compares the fitted estimate ``s·e`` with the
reference ``r`` over their overlap.  All signals are 1-D arrays of shape
``(n,)`` (time last); work is done in float64.

References
----------
C. H. Taal, R. C. Hendriks, R. Heusdens, J. Jensen, "An Algorithm for
Intelligibility Prediction of Time-Frequency Weighted Noisy Speech", IEEE
Trans. ASLP 19(7), 2011. https://doi.org/10.1109/TASL.2011.2114881
"""

from __future__ import annotations

import math
import numbers
import warnings
from typing import NamedTuple

import numpy as np

from .._errors import ParameterError, VisualMicWarning
from .._validate import check_audio, check_band, check_positive, check_rate
from ..core.post import bandpass, resample

__all__ = [
    "best_fit",
    "snr",
    "segmental_snr",
    "pearson",
    "rmse",
    "mae",
    "stoi",
    "stoi_min_duration",
    "evaluate",
]

#: smallest residual energy relative to the reference energy (caps SNR near 300 dB)
_TINY = 1e-30


class _Fit(NamedTuple):
    est: np.ndarray
    ref: np.ndarray
    lag: int
    scale: float


def _check_max_lag(max_lag, n_est: int, n_ref: int) -> int:
    if isinstance(max_lag, bool) or not isinstance(max_lag, numbers.Integral) or max_lag < 0:
        raise ParameterError(f"max_lag={max_lag!r} must be a whole number of samples >= 0")
    limit = min(n_est, n_ref) - 1
    if max_lag > limit:
        raise ParameterError(
            f"max_lag={max_lag} samples must be shorter than the signals "
            f"(at most {limit}); use a smaller max_lag"
        )
    return int(max_lag)


def _overlap(n_est: int, n_ref: int, lag: int) -> tuple[slice, slice]:
    """Slices (estimate, reference) pairing ``estimate[t + lag]`` with ``reference[t]``."""
    if lag >= 0:
        m = min(n_ref, n_est - lag)
        return slice(lag, lag + m), slice(0, m)
    m = min(n_est, n_ref + lag)
    return slice(0, m), slice(-lag, -lag + m)


def best_fit(estimate, reference, *, max_lag: int = 0):
    """Align an estimate with a reference by integer lag and least-squares scale.

    For each lag ``k`` in ``[-max_lag, max_lag]`` the overlap of
    ``estimate[t + k]`` and ``reference[t]`` is taken; the lag with the largest
    absolute normalised correlation wins (ties go to the smallest ``|k|``).
    The estimate is then multiplied by ``scale = <e, r> / <e, e>``, which
    minimises ``Σ (r - scale·e)²``, so the estimate's gain and sign do not
    matter.

    Parameters
    ----------
    estimate : np.ndarray [shape=(n_est,)]
        Estimated (recovered) signal.
    reference : np.ndarray [shape=(n_ref,)]
        Reference (ground-truth) signal at the same sampling rate.
    max_lag : int, default 0
        Largest lag searched, in samples (both signs).

    Returns
    -------
    fitted : np.ndarray [shape=(m,)], float64
        ``scale * estimate[t + lag]`` over the overlap.
    reference : np.ndarray [shape=(m,)], float64
        ``reference[t]`` over the same overlap.
    lag : int
        Delay of the estimate in samples: positive when the estimate is late.
    scale : float
        Least-squares gain applied to the estimate (0 for an all-zero estimate).

    Raises
    ------
    ParameterError
        If a signal is empty, not 1-D or not finite, or ``max_lag`` is negative
        or not shorter than the signals.

    Examples
    --------
    >>> import numpy as np
    >>> r = np.sin(np.arange(100) / 5)
    >>> e = -2 * np.concatenate([[0, 0], r[:-2]])   # late by 2, negated, doubled
    >>> fitted, ref, lag, scale = best_fit(e, r, max_lag=3)
    >>> lag, round(scale, 6)
    (2, -0.5)
    """
    est = check_audio(estimate, "estimate").astype(np.float64)
    ref = check_audio(reference, "reference").astype(np.float64)
    return tuple(_best_fit(est, ref, _check_max_lag(max_lag, est.size, ref.size)))


def _best_fit(est: np.ndarray, ref: np.ndarray, max_lag: int) -> _Fit:
    best = None
    for lag in sorted(range(-max_lag, max_lag + 1), key=abs):
        se, sr = _overlap(est.size, ref.size, lag)
        e, r = est[se], ref[sr]
        ee, rr = np.dot(e, e), np.dot(r, r)
        rho = abs(np.dot(e, r)) / math.sqrt(ee * rr) if ee > 0 and rr > 0 else 0.0
        if best is None or rho > best[0] * (1 + 1e-12):
            best = (rho, lag)
    lag = best[1]
    se, sr = _overlap(est.size, ref.size, lag)
    e, r = est[se], ref[sr]
    ee = np.dot(e, e)
    scale = float(np.dot(e, r) / ee) if ee > 0 else 0.0
    return _Fit(scale * e, r.copy(), lag, scale)


def _prepare(estimate, reference, rate, band, max_lag) -> _Fit:
    """Validate, band-limit and fit: the common first step of every metric."""
    est = check_audio(estimate, "estimate")
    ref = check_audio(reference, "reference")
    lag = _check_max_lag(max_lag, est.size, ref.size)
    if rate is not None:
        rate = check_rate(rate)
    if band is not None:
        if rate is None:
            raise ParameterError(f"band={band!r} needs rate= (the sampling rate in Hz)")
        band = check_band(band, rate)
        est = bandpass(est.astype(np.float64), rate, band)
        ref = bandpass(ref.astype(np.float64), rate, band)
    fit = _best_fit(est.astype(np.float64), ref.astype(np.float64), lag)
    if not np.any(fit.ref):
        raise ParameterError(
            "the reference is all zeros over the compared part"
            + (f" (after band-limiting to {band} Hz)" if band is not None else "")
            + "; the metrics are undefined, check the reference file"
        )
    return fit


def _snr_db(ref: np.ndarray, fitted: np.ndarray) -> float:
    signal_energy = float(np.dot(ref, ref))
    resid = ref - fitted
    noise_energy = max(float(np.dot(resid, resid)), _TINY * signal_energy)
    return 10.0 * math.log10(signal_energy / noise_energy)


def snr(estimate, reference, *, rate: float | None = None, band=None, max_lag: int = 0) -> float:
    """Signal-to-noise ratio of an estimate after least-squares scaling, in dB.

    ``SNR = 10 log10( Σ r² / Σ (r - s·e)² )`` over the overlap at the best lag
    (see :func:`best_fit`).  A perfect match gives about 300 dB (the residual
    is floored at 1e-30 of the signal energy), never infinity.

    Parameters
    ----------
    estimate : np.ndarray [shape=(n_est,)]
        Estimated (recovered) signal.
    reference : np.ndarray [shape=(n_ref,)]
        Reference signal at the same sampling rate.
    rate : float, optional
        Sampling rate in Hz; needed only with ``band``.
    band : tuple of float, optional
        ``(lo, hi)`` in Hz: compare only this band (zero-phase band-pass on
        both signals), e.g. ``(80, 1000)``.
    max_lag : int, default 0
        Largest alignment lag searched, in samples.

    Returns
    -------
    float
        SNR in dB.

    Raises
    ------
    ParameterError
        For NaN/inf, empty or all-zero reference signals, a band outside
        (0, rate/2) or with lo >= hi, or a bad ``max_lag``.
    """
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return _snr_db(fit.ref, fit.est)


def _check_clamp(clamp) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in clamp)
    except (TypeError, ValueError):
        raise ParameterError(f"clamp={clamp!r} must be a pair (lo, hi) in dB") from None
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        raise ParameterError(f"clamp={clamp!r} must be finite with lo < hi, e.g. (-10, 35)")
    return lo, hi


def _segsnr(ref, fitted, rate, segment, clamp, silence) -> float:
    seg_len = max(1, int(round(segment * rate)))
    n_seg = ref.size // seg_len
    if n_seg == 0:
        n_seg, seg_len = 1, ref.size
    r = ref[: n_seg * seg_len].reshape(n_seg, seg_len)
    e = fitted[: n_seg * seg_len].reshape(n_seg, seg_len)
    sig = np.sum(r * r, axis=1)
    err = np.sum((r - e) ** 2, axis=1)
    loud = sig > sig.max() * 10 ** (-silence / 10)
    with np.errstate(divide="ignore"):
        per = 10 * np.log10(sig[loud] / np.maximum(err[loud], _TINY * sig[loud]))
    return float(np.mean(np.clip(per, *clamp)))


def segmental_snr(
    estimate,
    reference,
    *,
    rate: float,
    band=None,
    max_lag: int = 0,
    segment: float = 0.03,
    clamp: tuple[float, float] = (-10.0, 35.0),
    silence: float = 40.0,
) -> float:
    """Segmental SNR: the mean of per-segment SNRs, each clamped, in dB.

    After the global fit of :func:`best_fit` (one lag and one scale for the
    whole signal), the overlap is cut into non-overlapping segments of
    ``segment`` seconds (an incomplete last segment is dropped unless the
    signal is shorter than one segment).  Each segment's SNR is clamped to
    ``clamp`` and the mean is taken over the segments whose reference energy
    is at most ``silence`` dB below the loudest segment's; silent segments
    are skipped because their SNR says nothing about the signal.

    Parameters
    ----------
    estimate, reference : np.ndarray [shape=(n,)]
        Estimated and reference signals at the same sampling rate.
    rate : float
        Sampling rate in Hz.
    band : tuple of float, optional
        ``(lo, hi)`` pass band in Hz applied to both signals first.
    max_lag : int, default 0
        Largest alignment lag searched, in samples.
    segment : float, default 0.03
        Segment length in seconds (30 ms, 66 samples at 2200 Hz).
    clamp : tuple of float, default (-10, 35)
        Per-segment SNR limits in dB.
    silence : float, default 40
        Segments more than this many dB below the loudest are skipped.

    Returns
    -------
    float
        Segmental SNR in dB, within ``clamp``.

    Raises
    ------
    ParameterError
        For invalid signals or parameters (see :func:`snr`).
    """
    rate = check_rate(rate)
    segment = check_positive(segment, "segment")
    clamp = _check_clamp(clamp)
    silence = check_positive(silence, "silence")
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return _segsnr(fit.ref, fit.est, rate, segment, clamp, silence)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    den = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    return float(np.dot(a, b) / den) if den > 0 else 0.0


def pearson(
    estimate, reference, *, rate: float | None = None, band=None, max_lag: int = 0
) -> float:
    """Pearson correlation coefficient of the fitted estimate and the reference.

    Computed after :func:`best_fit`, so the estimate's sign has already been
    matched to the reference's: ``pearson(x, 3 * x)`` and ``pearson(-x, x)``
    are both 1.  Returns 0 when either signal is constant.

    Parameters
    ----------
    estimate, reference : np.ndarray [shape=(n,)]
        Estimated and reference signals at the same sampling rate.
    rate : float, optional
        Sampling rate in Hz; needed only with ``band``.
    band : tuple of float, optional
        ``(lo, hi)`` pass band in Hz applied to both signals first.
    max_lag : int, default 0
        Largest alignment lag searched, in samples.

    Returns
    -------
    float
        Correlation coefficient in [-1, 1].

    Raises
    ------
    ParameterError
        For invalid signals or parameters (see :func:`snr`).
    """
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return _pearson(fit.est, fit.ref)


def rmse(estimate, reference, *, rate: float | None = None, band=None, max_lag: int = 0) -> float:
    """Root-mean-square error ``sqrt(mean((r - s·e)²))`` after :func:`best_fit`.

    The error is measured on the fitted signals, so it is in the reference's
    units and independent of the estimate's gain and sign.  Parameters and
    errors as for :func:`pearson`.

    Returns
    -------
    float
        RMSE in the units of the reference.
    """
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return float(np.sqrt(np.mean((fit.ref - fit.est) ** 2)))


def mae(estimate, reference, *, rate: float | None = None, band=None, max_lag: int = 0) -> float:
    """Mean absolute error ``mean(|r - s·e|)`` after :func:`best_fit`.

    Measured on the fitted signals (least-squares scale, best lag), in the
    reference's units.  Parameters and errors as for :func:`pearson`.

    Returns
    -------
    float
        MAE in the units of the reference.
    """
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return float(np.mean(np.abs(fit.ref - fit.est)))


def stoi_min_duration() -> float:
    """Shortest signal, in seconds, for which STOI is defined.

    STOI (as computed by ``pystoi``) works at 10 kHz on 256-sample frames with
    50% overlap and needs at least 30 frames after silent frames are removed:
    (256 + 29·128) / 10000 = 0.3968 s.
    """
    import importlib

    mod = importlib.import_module("pystoi.stoi")
    return (mod.N_FRAME + (mod.N - 1) * (mod.N_FRAME // 2)) / mod.FS


def _stoi(ref: np.ndarray, fitted: np.ndarray, rate: float) -> float:
    from pystoi import stoi as _pystoi

    need = stoi_min_duration()
    duration = ref.size / rate
    if duration < need:
        raise ParameterError(
            f"STOI needs at least {need:.3f} s of signal ({math.ceil(need * rate)} samples at "
            f"{rate:g} Hz) but the compared part is {duration:.3f} s ({ref.size} samples); "
            "use a longer recording"
        )
    if float(rate).is_integer():
        fs = int(rate)  # pystoi resamples to 10 kHz itself (integer rates only)
    else:
        fs = 10_000
        ref, fitted = resample(ref, rate, fs), resample(fitted, rate, fs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = _pystoi(ref, fitted, fs, extended=False)
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        raise ParameterError(
            f"STOI needs at least {need:.3f} s of non-silent reference (within 40 dB of its "
            f"loudest frame) but the reference is mostly silent; use a longer recording"
        )
    return float(value)


def stoi(estimate, reference, *, rate: float, band=None, max_lag: int = 0) -> float:
    """Short-time objective intelligibility (Taal et al. 2011) of the estimate.

    Computed with ``pystoi`` on the fitted signals of :func:`best_fit`.  pystoi
    resamples to 10 kHz internally, so any rate works (2200 Hz included); the
    audio band above the input's Nyquist frequency is simply empty.

    Parameters
    ----------
    estimate, reference : np.ndarray [shape=(n,)]
        Estimated and reference signals at the same sampling rate.
    rate : float
        Sampling rate in Hz.
    band : tuple of float, optional
        ``(lo, hi)`` pass band in Hz applied to both signals first.
    max_lag : int, default 0
        Largest alignment lag searched, in samples.

    Returns
    -------
    float
        STOI, about 0.4 for noise to 1 for a perfect estimate.

    Raises
    ------
    ParameterError
        If the compared part is shorter than :func:`stoi_min_duration`
        (0.397 s) or the reference is mostly silent, or for invalid signals
        or parameters (see :func:`snr`).
    """
    rate = check_rate(rate)
    fit = _prepare(estimate, reference, rate, band, max_lag)
    return _stoi(fit.ref, fit.est, rate)


def evaluate(
    estimate,
    reference,
    *,
    rate: float,
    band=None,
    max_lag: int = 3,
    ref_rate: float | None = None,
) -> dict:
    """Every metric of an estimate against a reference, from one fit.

    If the reference has another sampling rate, the estimate is first
    resampled to it (:func:`visualmic.core.post.resample`); the metrics are then
    computed at the reference rate over the overlap of the two signals.

    This function is long because of its documentation; its code is 33 lines
    of straight-line steps.

    Parameters
    ----------
    estimate : np.ndarray [shape=(n_est,)]
        Estimated (recovered) signal at ``rate``.
    reference : np.ndarray [shape=(n_ref,)]
        Reference signal at ``ref_rate``.
    rate : float
        Sampling rate of the estimate in Hz.
    band : tuple of float, optional
        ``(lo, hi)`` pass band in Hz applied to both signals, e.g. ``(80, 1000)``.
    max_lag : int, default 3
        Largest alignment lag searched, in samples of the estimate (at
        ``rate``; 3 samples are 1.4 ms at 2200 Hz).  When the reference rate
        differs, the same time span is searched at the reference rate.
    ref_rate : float, optional
        Sampling rate of the reference in Hz; default ``rate``.

    Returns
    -------
    dict
        ``snr_db``, ``segsnr_db`` (float, dB), ``pearson``, ``rmse``, ``mae``
        (float; errors in the reference's units), ``stoi`` (float, or ``None``
        with a :class:`~visualmic.VisualMicWarning` when the signals are
        shorter than :func:`stoi_min_duration` or mostly silent), ``lag``
        (int, samples at the comparison rate, positive when the estimate is
        late), ``scale`` (float, the gain applied to the estimate), ``band``
        (``[lo, hi]`` or ``None``), ``rate`` (the comparison rate in Hz: the
        reference's) and ``samples`` (length of
        the compared overlap).

    Raises
    ------
    ParameterError
        For NaN/inf or empty signals, an all-zero reference, bad rates, a band
        outside (0, Nyquist) or with lo >= hi, or a bad ``max_lag``.

    Examples
    --------
    >>> import numpy as np
    >>> t = np.arange(2200) / 2200
    >>> r = np.sin(2 * np.pi * 440 * t)
    >>> m = evaluate(-0.5 * r, r, rate=2200)
    >>> round(m["pearson"], 6), round(m["scale"], 6)
    (1.0, -2.0)
    """
    rate = check_rate(rate)
    ref_rate = rate if ref_rate is None else check_rate(ref_rate, "ref_rate")
    est = check_audio(estimate, "estimate")
    ref = check_audio(reference, "reference")
    if isinstance(max_lag, bool) or not isinstance(max_lag, numbers.Integral) or max_lag < 0:
        raise ParameterError(f"max_lag={max_lag!r} must be a whole number of samples >= 0")
    if ref_rate != rate:
        est = resample(est.astype(np.float64), rate, ref_rate)
        # the same time span at the reference rate
        max_lag = int(math.ceil(max_lag * ref_rate / rate - 1e-9))
        max_lag = min(max_lag, min(est.size, ref.size) - 1)
    if band is not None:
        band = check_band(band, ref_rate)
    fit = _prepare(est, ref, ref_rate, band, max_lag)
    resid = fit.ref - fit.est
    try:
        stoi_value = _stoi(fit.ref, fit.est, ref_rate)
    except ParameterError as exc:
        warnings.warn(f"STOI left out: {exc}", VisualMicWarning, stacklevel=2)
        stoi_value = None
    return {
        "snr_db": _snr_db(fit.ref, fit.est),
        "segsnr_db": _segsnr(fit.ref, fit.est, ref_rate, 0.03, (-10.0, 35.0), 40.0),
        "pearson": _pearson(fit.est, fit.ref),
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "mae": float(np.mean(np.abs(resid))),
        "stoi": stoi_value,
        "lag": int(fit.lag),
        "scale": float(fit.scale),
        "band": None if band is None else [float(band[0]), float(band[1])],
        "rate": float(ref_rate),
        "samples": int(fit.ref.size),
    }
