"""Spatially adaptive combination of cell signals: find where the sound is, use it from there.

The estimators give, per oriented band ``b`` and spatial cell ``c``, a signal
``s[b, c, t]`` (:meth:`visualmic.core.motion.PhaseMotion.cell_signals`). Each is modelled as
``s[b, c] = g[b, c] * d + n[b, c]``: a signed gain times the motion, plus noise of
variance ``v[b, c]``. The maximum-likelihood weights ``g / v`` of that model are, for
a region translating as a whole, separable: ``g[b, c] / v[b, c] ~ beta[b] * alpha[c]``
(the cell's share of the band energy cancels between gain and noise), so the channel
weights are estimated as a band profile ``beta`` times cell weights ``alpha``:

1. **Broadband.** Starting from today's whole-frame combination
   (:func:`visualmic.core.combine.combine_bands` of the band sums), alternate: cell signals
   ``y[c] = sum_b beta[b] s[b, c]`` are regressed on the current estimate
   (leave-one-out, so that a cell's own noise does not inflate its gain) to give
   ``alpha[c] = gamma[c] / nu[c]`` with its standard error; the alpha-weighted band
   signals give ``beta[b] = G[b] / V[b]`` the same way. A chi-square test on the
   scatter of the cells' ``alpha`` around their mean decides whether the cells
   agree (then every cell gets the mean: exactly the whole-frame band combination,
   so whole-frame videos lose nothing); otherwise each cell's weight is shrunk by a
   non-negative garrote ``max(0, 1 - tau**2 / z**2)`` with ``z`` its t-statistic and
   ``tau = max(3, sqrt(2 ln n_cells))`` (the universal threshold, at least 3), so
   static background, flat or saturated cells get weight 0. Signs are kept: a cell moving in opposite
   phase gets a negative weight (it is flipped, never cancelled). Each significant
   cell may be shifted by a bounded lag (sign-aware, as :func:`visualmic.core.combine.
   align_bands`).
2. **Per frequency sub-band.** The spectrum is split into sub-bands (third
   octaves merged until each holds enough DFT bins). In each, the cell weights are
   re-estimated against the sub-band's own estimate (started from the first
   principal component of the cells). The channels are each cell's ``y[c]`` and its
   signal with the band profile for motion at right angles (orientation ``k`` takes
   the weight of ``k - K/2``), so that a part moving in another direction is seen.
   If the weights differ significantly from the broadband ones (chi-square test)
   and promise at least 1 dB more SNR in the sub-band (``ADAPT_GAIN``), the
   significant deviations are kept (garrote), else the broadband weights are used.
   A scene whose parts carry different tones thus keeps every tone, each from the
   part that carries it.
3. **Units.** Each sub-band estimate is divided by ``sum_c |alpha[c]| U[c]``, with
   ``U[c]`` the response of ``y[c]`` to a unit of the estimate: measured (the gain
   of ``y[c]`` against the broadband estimate) for the cells that carry it, and
   modelled elsewhere (``U[c] ~ sum_b beta[b] w[b, c] G[b]``, ``w`` the cell's share of
   band energy, ``G[b]`` the band's gain per unit energy share, ``max |G| = 1``,
   scaled to agree with the measured cells). The signal is thus in radians of
   phase of the most responsive band, as if the whole frame moved like the
   vibrating region, in every sub-band (polarity as the estimators': see the
   displacement calibration for pixels and signs).

Raw cell signals may be given with ``cutoff``: the fit then uses
:func:`highpass_cells` (vectorised, approximate near the ends, which are left out of
the fit), the weights are applied to the raw cells, and the result gets one exact
:func:`visualmic.core.post.highpass`. For signals longer than ``window`` samples the
weights are estimated on evenly spaced excerpts and applied to the whole signal
(time ``O(n_bands n_cells T)``).

For signals longer than ``window`` samples the weights are estimated on evenly
spaced excerpts and applied to the whole signal (time ``O(n_bands n_cells T)``).

References
----------
.. [1] A. Davis et al., "The visual microphone: passive recovery of sound from
   video", ACM TOG 33(4), 2014. https://doi.org/10.1145/2601097.2601119
.. [2] L. Breiman, "Better subset regression using the nonnegative garrote",
   Technometrics 37(4), 1995. https://doi.org/10.1080/00401706.1995.10484371
.. [3] D. L. Donoho and I. M. Johnstone, "Ideal spatial adaptation by wavelet
   shrinkage", Biometrika 81(3), 1994. https://doi.org/10.1093/biomet/81.3.425
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.fft as sfft

from .._errors import ParameterError
from ._mlfit import EPS, Broadband, rotate_profile, shift, subband_weights
from .post import highpass

__all__ = ["SpatialCombination", "combine_cells", "cell_tracks", "highpass_cells",
           "subband_edges", "COMBINE_WINDOW", "split_half_noise_cells"]

#: Samples on which the weights are estimated (longer signals: evenly spaced excerpts).
COMBINE_WINDOW = 16384


@dataclass(frozen=True)
class SpatialCombination:
    """Result of :func:`combine_cells` (time last; ``n_sub`` frequency sub-bands).

    Attributes
    ----------
    signal : np.ndarray [shape=(T,)]
        The combined motion signal, in radians of the most responsive band (see the
        module notes on units).
    band_weights : np.ndarray [shape=(n_bands,)]
        ``beta``: weight of each band within a cell.
    cell_weights : np.ndarray [shape=(n_sub, n_cells)]
        ``alpha`` per sub-band, signed (negative: the cell moves in opposite phase and
        is flipped). Applied as ``sum_c alpha[k, c] y[c]``.
    cross_weights : np.ndarray [shape=(n_sub, n_cells)]
        Weights of the cells' signals with the band profile for motion at right angles
        to the strongest one (``(n_sub, 0)`` when not used); lets a part moving in
        another direction carry its own sub-bands.
    broadband_weights : np.ndarray [shape=(n_cells,)]
        Cell weights of the broadband fit.
    gains : np.ndarray [shape=(n_bands, n_cells)]
        Signed gain of each cell-band signal against ``signal`` (after lags).
    noise_var : np.ndarray [shape=(n_bands, n_cells)]
        Residual noise variance of each cell-band signal, in rad² per sample.
    snr_db : np.ndarray [shape=(n_bands, n_cells)]
        ``10 log10(gain**2 var(signal) / noise_var)`` per cell-band.
    cell_snr_db : np.ndarray [shape=(n_cells,)]
        SNR of each cell's band-combined signal ``y[c]`` against the estimate (per
        sample, whole band).
    cell_z : np.ndarray [shape=(n_cells,)]
        t-statistic of each cell's gain (its significance; ``|z| > threshold``).
    significant : np.ndarray [shape=(n_cells,), dtype=bool]
        Cells whose broadband weight survived the significance test.
    subband_snr_db : np.ndarray [shape=(n_sub, n_cells)]
        Per-cell SNR in each sub-band (signal and noise power within the sub-band).
    subband_edges_hz : np.ndarray [shape=(n_sub + 1,)]
        Sub-band edges in Hz (0 to Nyquist).
    subband_adapted : np.ndarray [shape=(n_sub,), dtype=bool]
        Sub-bands whose cell weights differ significantly from the broadband ones.
    lags : np.ndarray [shape=(n_cells,), dtype=int]
        Shift applied to each cell: ``y[c, t - lag]``.
    unit_response : np.ndarray [shape=(n_cells,)]
        ``U[c]``: response of ``y[c]`` to one unit of ``signal``.
    uniform : bool
        True when the cells agreed (whole-frame weighting was used in the broadband fit).
    threshold : float
        The significance threshold ``tau`` on ``|z|``.
    snr_est_db : float
        Estimated SNR of ``signal`` (per sample, whole band) from the fitted model.
    """

    signal: np.ndarray
    band_weights: np.ndarray
    cell_weights: np.ndarray
    cross_weights: np.ndarray
    broadband_weights: np.ndarray
    gains: np.ndarray
    noise_var: np.ndarray
    snr_db: np.ndarray
    cell_snr_db: np.ndarray
    cell_z: np.ndarray
    significant: np.ndarray
    subband_snr_db: np.ndarray
    subband_edges_hz: np.ndarray
    subband_adapted: np.ndarray
    lags: np.ndarray
    unit_response: np.ndarray
    uniform: bool
    threshold: float
    snr_est_db: float


def subband_edges(rate: float, n: int, *, min_bins: int = 64) -> np.ndarray:
    """Frequency sub-band edges: third octaves, merged until each has ``min_bins`` bins.

    Parameters
    ----------
    rate : float
        Sample rate in Hz (the video frame rate).
    n : int
        Signal length in samples (sets the DFT bin spacing ``rate / n``).
    min_bins : int, optional
        Least number of DFT bins per sub-band (default 64).

    Returns
    -------
    np.ndarray [shape=(n_sub + 1,)]
        Edges in Hz from 0 to ``rate / 2``.

    Examples
    --------
    >>> subband_edges(2200.0, 2200, min_bins=64).round().tolist()
    [0.0, 79.0, 157.0, 250.0, 315.0, 397.0, 500.0, 630.0, 794.0, 1000.0, 1100.0]
    """
    nyq = rate / 2.0
    df = rate / n
    thirds = 1000.0 * 2.0 ** (np.arange(-30, 12) / 3.0)
    cand = [0.0] + [float(f) for f in thirds if 0 < f < nyq] + [nyq]
    edges = [0.0]
    for f in cand[1:]:
        if (f - edges[-1]) / df >= min_bins:
            edges.append(f)
    if edges[-1] < nyq:
        if len(edges) > 1 and (nyq - edges[-1]) / df < min_bins:
            edges[-1] = nyq
        else:
            edges.append(nyq)
    return np.asarray(edges)


def highpass_cells(cells, rate: float, *, cutoff: float = 20.0, order: int = 4) -> np.ndarray:
    """High-pass every cell-band signal at once (vectorised), for :func:`combine_cells`.

    A least-squares cubic (Legendre) trend is removed from each signal, then the
    zero-phase Butterworth magnitude ``1 / (1 + (cutoff / f)**(2 order))`` (that of a
    forward-backward Butterworth pass, as :func:`visualmic.core.post.highpass`) is
    applied in the frequency domain to the signal extended at both ends by its odd
    reflection over ``4 rate / cutoff`` samples (so the circular filter sees no
    step). It costs one FFT per signal instead of a filter set-up per signal
    (thousands of channels).
    Apply :func:`visualmic.core.post.highpass` to the combined signal if exact edges
    matter.

    Parameters
    ----------
    cells : np.ndarray [shape=(..., T)]
        Signals, time last (e.g. ``(n_bands, n_cells, T)`` cell signals in radians).
    rate : float
        Sample rate in Hz.
    cutoff : float, optional
        -6 dB frequency in Hz (default 20).
    order : int, optional
        Butterworth order of one pass (default 4).

    Returns
    -------
    np.ndarray [shape=(..., T), dtype=float64]
    """
    x = np.asarray(cells, dtype=np.float64)
    if x.ndim < 1 or x.shape[-1] < 8 or not np.all(np.isfinite(x)):
        raise ParameterError(f"signals of shape {x.shape} must be finite with T >= 8 samples")
    if not 0 < cutoff < rate / 2:
        raise ParameterError(f"cutoff={cutoff} Hz must lie between 0 and rate/2 = {rate / 2:g}")
    T = x.shape[-1]
    flat = x.reshape(-1, T)
    Q = np.linalg.qr(np.polynomial.legendre.legvander(np.linspace(-1, 1, T), 3))[0]
    flat = flat - (flat @ Q) @ Q.T  # least-squares cubic removed
    # Odd (point-symmetric) extension over a few periods of the cut-off keeps the
    # value and slope continuous at both ends, so the circular filter adds no step.
    pad = min(T - 1, int(np.ceil(4 * rate / cutoff)))
    ext = np.concatenate([2 * flat[:, :1] - flat[:, pad:0:-1], flat,
                          2 * flat[:, -1:] - flat[:, -2:-pad - 2:-1]], axis=1)
    n = ext.shape[1]
    f = sfft.rfftfreq(n, 1.0 / rate)
    r = (f / cutoff) ** (2 * order)
    out = sfft.irfft(sfft.rfft(ext, axis=1) * (r / (1.0 + r)), n=n, axis=1)
    return out[:, pad:pad + T].reshape(x.shape)


def _check_cells(cells, rate, max_lag) -> np.ndarray:
    x = np.asarray(cells, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] < 16 or min(x.shape) < 1:
        raise ParameterError(f"cell signals must have shape (n_bands, n_cells, T>=16), got "
                             f"{np.shape(cells)}; pass estimator.cell_signals(frames)")
    if not np.all(np.isfinite(x)):
        raise ParameterError("cell signals contain NaN or infinity; check the input frames")
    if isinstance(rate, bool) or not isinstance(rate, (int, float, np.integer, np.floating)) \
            or not np.isfinite(rate) or rate <= 0:
        raise ParameterError(f"rate={rate!r} must be a positive frame rate in Hz")
    if isinstance(max_lag, bool) or not isinstance(max_lag, (int, np.integer)) or max_lag < 0:
        raise ParameterError(f"max_lag={max_lag!r} must be a non-negative integer of samples")
    return x


def _excerpt(x: np.ndarray, window: int, blocks: int) -> np.ndarray:
    T = x.shape[-1]
    if T <= window:
        return x
    length = window // blocks
    starts = np.linspace(0, T - length, blocks).round().astype(int)
    return np.concatenate([x[..., a : a + length] for a in starts], axis=-1)


def combine_cells(cells, *, rate: float, max_lag: int = 10, share=None, edges=None,
                  orientations: int | None = 4, cutoff: float | None = None,
                  window: int = COMBINE_WINDOW, blocks: int = 8,
                  iterations: int = 20) -> SpatialCombination:
    """Combine cell signals into one motion signal with spatially adaptive weights.

    This function is long because of its documentation; its code is 52 lines
    of straight-line steps.

    Parameters
    ----------
    cells : np.ndarray [shape=(n_bands, n_cells, T)]
        Cell signals in radians (``estimator.cell_signals`` of the frames), each
        high-passed along time by the caller, or raw with ``cutoff``.
    rate : float
        Frame rate in Hz (sets the sub-band frequencies).
    max_lag : int, optional
        Bound on each cell's alignment shift in samples (default 10; 0 disables).
    share : np.ndarray [shape=(n_bands, n_cells)], optional
        Each cell's share of the band's reference energy (``estimator.cell_weights``);
        used for the units (default: equal shares).
    edges : array_like of float, optional
        Sub-band edges in Hz (0 to ``rate / 2``); default :func:`subband_edges` with at
        least ``max(32, 2 n_cells)`` DFT bins per sub-band of the estimation window.
    orientations : int or None, optional
        Orientations per pyramid level (default 4, the package default; bands ordered
        level by level, orientation fastest). With an even number, the sub-band fits
        also use each cell's signal for motion at right angles to the strongest
        (:func:`rotate_profile`). None disables that.
    cutoff : float or None, optional
        ``None`` (default): the cells are already high-passed. A frequency in Hz
        (e.g. 20): the cells are raw; the weights are fitted on
        :func:`highpass_cells` of them (away from the first and last
        ``4 rate / cutoff`` samples, where its edges are approximate), applied to
        the raw cells, and the combined signal is high-passed once with
        :func:`visualmic.core.post.highpass` (exact edges). This avoids a filter per
        channel (thousands of them) at no cost in SNR.
    window, blocks : int, optional
        Signals longer than ``window`` samples (default 16384) are fitted on ``blocks``
        (default 8) evenly spaced excerpts totalling ``window`` samples, and the weights
        applied to the whole signal.
    iterations : int, optional
        Maximum iterations of each fit (default 20).

    Returns
    -------
    SpatialCombination
        The signal ``(T,)`` and the per-band, per-cell and per-sub-band weights, gains,
        noise variances, SNRs and lags.

    Raises
    ------
    ParameterError
        If ``cells`` is not ``(n_bands, n_cells, T>=16)`` and finite, or an option is bad.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> d = rng.normal(size=4000)
    >>> cells = rng.normal(size=(4, 16, 4000))
    >>> cells[:, :4] += 2 * d                     # only 4 of 16 cells move
    >>> comb = combine_cells(cells, rate=2200.0)
    >>> bool(np.corrcoef(comb.signal, d)[0, 1] > 0.99), int(comb.significant.sum())
    (True, 4)
    """
    x_all = _check_cells(cells, rate, max_lag)
    x_all = x_all - x_all.mean(axis=2, keepdims=True)
    nb, nc, T = x_all.shape
    share = np.full((nb, nc), 1.0 / nc) if share is None else np.asarray(share, np.float64)
    if share.shape != (nb, nc) or not np.all(np.isfinite(share)):
        raise ParameterError(f"share must be the estimator's cell_weights of shape {(nb, nc)}, "
                             f"got {share.shape}")
    x_fit, raw = x_all, None
    if cutoff is not None:
        raw = x_all
        x_all = highpass_cells(raw, rate, cutoff=cutoff)
        trim = min(int(np.ceil(4 * rate / cutoff)), T // 8)
        x_fit = x_all[..., trim:T - trim]
    x = _excerpt(x_fit, int(window), int(blocks)).copy()
    bb = Broadband(x, share, max_lag=int(max_lag), iterations=int(iterations))
    unit, k_model = bb.measured_unit(x)
    beta2, unit, alpha0 = _profiles(bb, unit, k_model, share, orientations)
    Te = x.shape[-1]
    if edges is None:
        edges = subband_edges(rate, Te, min_bins=max(32, 2 * nc))
    edges = np.asarray(edges, dtype=np.float64)
    # Sub-band weights on the estimation window.
    Ye = sfft.rfft(np.einsum("pb,bct->pct", beta2, x).reshape(-1, Te), axis=1)
    fe = sfft.rfftfreq(Te, 1.0 / rate)
    fits = [subband_weights(Ye[:, _bins(fe, edges, k)], alpha0, unit, bb.tau, int(iterations))
            for k in range(len(edges) - 1)]
    alphas = np.stack([a for a, _, _ in fits])
    adapted = np.array([ad for _, ad, _ in fits], dtype=bool)
    sub_snr = np.stack([sn for _, _, sn in fits])
    # Apply to the whole signal.
    yp = np.einsum("pb,bct->pct", beta2, x_all if raw is None else raw).reshape(-1, T)
    lags = np.tile(bb.lags, len(beta2))
    for c in np.nonzero(lags)[0]:
        yp[c] = shift(yp[c], int(lags[c]))
    pad = 0 if raw is None else min(T - 1, int(np.ceil(4 * rate / cutoff)))
    if pad:  # odd extension: no step for the circular sub-band weighting
        yp = np.concatenate([2 * yp[:, :1] - yp[:, pad:0:-1], yp,
                             2 * yp[:, -1:] - yp[:, -2:-pad - 2:-1]], axis=1)
    n = yp.shape[1]
    Y = sfft.rfft(yp, axis=1)
    f = sfft.rfftfreq(n, 1.0 / rate)
    D = np.zeros(len(f), dtype=complex)
    for k in range(len(edges) - 1):
        sel = _bins(f, edges, k)
        D[sel] = alphas[k] @ Y[:, sel] / max(float(np.abs(alphas[k]) @ unit), EPS)
    signal = sfft.irfft(D, n=n)[pad:pad + T]
    if raw is not None:
        signal = highpass(signal, rate, cutoff=cutoff)
    y = np.einsum("b,bct->ct", bb.beta, x_all)
    for c in np.nonzero(bb.lags)[0]:
        y[c] = shift(y[c], int(bb.lags[c]))
    return _report(signal, x_all, y, bb, unit, alphas, adapted, sub_snr, edges, nc)


def cell_tracks(cells, comb: SpatialCombination) -> np.ndarray:
    """Each cell's own motion signal, in the units of ``comb.signal`` (for maps).

    ``track[c] = shift(sum_b beta[b] cells[b, c], lag[c]) / U[c]``: the cell's
    band-combined signal divided by its unit response, so that a cell moving like
    the combined estimate has ``track[c] ~ signal`` (plus its own noise) and a static
    cell has noise only; its RMS in a frequency band, peak frequency and SNR give the
    vibration map. Uses the broadband band profile (parts moving at right angles to
    the strongest motion appear weaker).

    Parameters
    ----------
    cells : np.ndarray [shape=(n_bands, n_cells, T)]
        High-passed cell signals (e.g. :func:`highpass_cells` of the raw ones).
    comb : SpatialCombination
        Their combination.

    Returns
    -------
    np.ndarray [shape=(n_cells, T)]
    """
    x = np.asarray(cells, dtype=np.float64)
    y = np.einsum("b,bct->ct", comb.band_weights, x - x.mean(axis=2, keepdims=True))
    for c in np.nonzero(comb.lags)[0]:
        y[c] = shift(y[c], int(comb.lags[c]))
    return y / comb.unit_response[:, None]


def split_half_noise_cells(cells, comb: SpatialCombination, first, *, rate: float,
                           cutoff: float | None = None, orientations: int | None = 4,
                           min_share: float = 0.15) -> np.ndarray | None:
    """A noise reference of ``comb.signal`` from two disjoint sets of cells.

    The combination is linear in its channels (cells x band profiles), sub-band by
    sub-band, so it splits exactly into the part ``S_A`` from the cells in ``first``
    and the part ``S_B`` from the others: ``S = S_A + S_B``.  Per sub-band, ``S_A``
    carries a share ``g_A`` of the motion and ``S_B`` the rest (least squares against
    ``S``); in ``(g_B S_A - g_A S_B) / sqrt(g_A g_B)`` the motion cancels and, when
    each part's noise is proportional to its share (as with inverse-variance
    weights), what is left has the spectrum of the noise of ``comb.signal``.  The
    cells' pixels are disjoint, so their sensor noise is independent (unlike the
    pyramid's bands, which share their pixels' noise).

    Parameters
    ----------
    cells : np.ndarray [shape=(n_bands, n_cells, T)]
        The cell signals ``comb`` was made from (raw with ``cutoff``, as for
        :func:`combine_cells`).
    comb : SpatialCombination
        Their combination.
    first : np.ndarray [shape=(n_cells,), dtype=bool]
        The cells of one half (e.g. the left half of the frame).
    rate : float
        Frame rate in Hz.
    cutoff : float or None, optional
        The high-pass of :func:`combine_cells` (None: the cells are high-passed).
    orientations : int or None, optional
        As for :func:`combine_cells`.
    min_share : float, optional
        Each half must carry at least this share of the motion in every sub-band
        (default 0.15); otherwise None.

    Returns
    -------
    np.ndarray [shape=(T,)], float64, or None
        The reference, in the units of ``comb.signal``.
    """
    x = np.asarray(cells, dtype=np.float64)
    first = np.asarray(first, dtype=bool)
    nb, nc, T = x.shape
    profiles = [np.asarray(comb.band_weights, dtype=np.float64)]
    perp = rotate_profile(profiles[0], orientations) if orientations else None
    if perp is not None and np.any(comb.cross_weights):
        profiles.append(perp)
    yp = np.einsum("pb,bct->pct", np.stack(profiles), x - x.mean(axis=2, keepdims=True))
    for c in np.nonzero(comb.lags)[0]:
        yp[:, c] = shift(yp[:, c], int(comb.lags[c]))
    if cutoff:
        yp = highpass_cells(yp, rate, cutoff=cutoff)
    Y = sfft.rfft(yp.reshape(len(profiles) * nc, T), axis=1)
    D = sfft.rfft(np.asarray(comb.signal, dtype=np.float64) - np.mean(comb.signal))
    f = sfft.rfftfreq(T, 1.0 / rate)
    alphas = np.concatenate([comb.cell_weights, comb.cross_weights], axis=1)[:, : Y.shape[0]]
    in_a = np.tile(first, len(profiles))
    out = np.zeros(len(f), dtype=complex)
    for k in range(len(comb.subband_edges_hz) - 1):
        sel = _bins(f, comb.subband_edges_hz, k)
        s_a = (alphas[k] * in_a) @ Y[:, sel]
        s_b = (alphas[k] * ~in_a) @ Y[:, sel]
        s = s_a + s_b
        ss = float(np.vdot(s, s).real)
        if ss <= 0:
            continue
        g_a = float(np.vdot(s, s_a).real) / ss
        g_b = 1.0 - g_a
        if min(g_a, g_b) < min_share:
            return None
        scale = float(np.vdot(s, D[sel]).real) / ss  # S -> the units of comb.signal
        out[sel] = scale * (g_b * s_a - g_a * s_b) / np.sqrt(g_a * g_b)
    return sfft.irfft(out, n=T)


def _profiles(bb, unit, k_model, share, orientations):
    """Band profiles ``(n_profiles, n_bands)``, unit responses and starting weights.

    The broadband profile, and (if the bands are levels x orientations) the one for
    motion at right angles, so that parts moving in another direction than the
    strongest one are seen in the sub-bands; their cells start with weight 0.
    """
    nc = len(bb.alpha)
    profiles = [bb.beta]
    units = [unit]
    perp = rotate_profile(bb.beta, orientations)
    if perp is not None:
        g_perp = rotate_profile(bb.G, orientations)
        profiles.append(perp)
        units.append(k_model * np.abs(np.einsum("b,bc,b->c", perp, share, g_perp)) + EPS)
    alpha0 = np.concatenate([bb.alpha] + [np.zeros(nc)] * (len(profiles) - 1))
    return np.stack(profiles), np.concatenate(units), alpha0


def _bins(f: np.ndarray, edges: np.ndarray, k: int) -> np.ndarray:
    """DFT bins of sub-band ``k`` (the DC bin is left out; the last band includes Nyquist)."""
    lo, hi = edges[k], edges[k + 1]
    sel = (f >= lo) & ((f < hi) if k < len(edges) - 2 else (f <= hi + 1e-9))
    sel[0] = False
    return sel


def _report(signal, x, y, bb, unit, alphas, adapted, sub_snr, edges, nc) -> SpatialCombination:
    """Per-channel gains, noises and SNRs against the final signal."""
    nb, nc, T = x.shape
    d = signal - signal.mean()
    dd = float(d @ d) + EPS
    xs = x.copy()
    for c in np.nonzero(bb.lags)[0]:
        xs[:, c] = shift(xs[:, c], int(bb.lags[c]))
    gains = np.einsum("bct,t->bc", xs, d) / dd
    noise = np.maximum(np.mean(xs**2, axis=2) - gains**2 * dd / T, EPS)
    var_d = dd / T
    snr = 10 * np.log10(np.maximum(gains**2 * var_d, EPS) / noise)
    gam = y @ d / dd
    nu = np.maximum(np.mean(y * y, axis=1) - gam**2 * var_d, EPS)
    cell_snr = 10 * np.log10(np.maximum(gam**2 * var_d, EPS) / nu)
    a = bb.alpha
    norm = float(a @ gam)
    noise_d = float(np.sum(a * a * nu)) / max(norm * norm, EPS)
    snr_est = 10 * np.log10(max(var_d - noise_d, EPS) / max(noise_d, EPS))
    return SpatialCombination(
        signal=signal, band_weights=bb.beta.copy(), cell_weights=alphas[:, :nc],
        cross_weights=alphas[:, nc:],
        broadband_weights=a.copy(), gains=gains, noise_var=noise, snr_db=snr,
        cell_snr_db=cell_snr, cell_z=bb.z.copy(), significant=a != 0,
        subband_snr_db=10 * np.log10(np.maximum(sub_snr[:, :nc], EPS)),
        subband_edges_hz=edges, subband_adapted=adapted, lags=bb.lags.copy(),
        unit_response=unit[:nc],
        uniform=bool(bb.uniform), threshold=bb.tau, snr_est_db=float(snr_est),
    )
