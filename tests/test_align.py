"""Band alignment and combination: known lags, signs, and noise-aware weights."""

import numpy as np
import pytest

from visualmic import ParameterError
from visualmic.core.combine import align_bands, best_lag, combine_bands


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _audio(rng, T=4000, rate=2200.0):
    t = np.arange(T) / rate
    return np.sin(2 * np.pi * 310 * t) + 0.6 * np.sin(2 * np.pi * 170 * t + 1) \
        + 0.3 * rng.normal(size=T)


def _shift(x, lag):
    y = np.zeros_like(x)
    if lag > 0:
        y[lag:] = x[:-lag]
    elif lag < 0:
        y[:lag] = x[-lag:]
    else:
        y[:] = x
    return y


@pytest.mark.parametrize("lag", [-7, -1, 0, 1, 3, 10])
def test_best_lag_is_exact_including_one_sample(rng, lag):
    d = _audio(rng)
    x = _shift(d, -lag)  # x[t] = d[t + lag]: shifting x by +lag restores d
    found, corr = best_lag(x, d, max_lag=10)
    assert found == lag and corr > 0.99


def test_alignment_undoes_shifts_and_flips(rng):
    d = _audio(rng)
    lags = [0, 2, -3, 1, 0]
    signs = [1, -1, 1, -1, -1]
    s = np.stack([sg * _shift(d, -lg) for lg, sg in zip(lags, signs)])
    aligned, found_lags, found_signs = align_bands(s, reference=0, max_lag=10)
    np.testing.assert_array_equal(found_lags, lags)
    np.testing.assert_array_equal(found_signs, signs)
    inner = slice(10, -10)
    for b in range(5):
        np.testing.assert_allclose(aligned[b, inner], d[inner], atol=1e-12)


def test_a_band_in_opposite_phase_is_flipped_not_shifted(rng):
    """A sine in opposite phase also matches at a half-period shift: we must flip instead."""
    T, rate = 3000, 2200.0
    t = np.arange(T) / rate
    d = np.sin(2 * np.pi * 275 * t)  # period = 8 samples: a 4-sample shift also "aligns" it
    aligned, lags, signs = align_bands(np.stack([d, -d]), reference=0, max_lag=10)
    assert lags[1] == 0 and signs[1] == -1


def test_lag_is_bounded(rng):
    d = _audio(rng)
    s = np.stack([d, _shift(d, 25)])
    _, lags, _ = align_bands(s, reference=0, max_lag=10)
    assert abs(lags[1]) <= 10
    # Within the bound, the true shift is found exactly, and is the best one allowed
    # when the true shift lies beyond it.
    s7 = np.stack([d, _shift(d, 7)])
    _, lags7, signs7 = align_bands(s7, reference=0, max_lag=10)
    assert lags7[1] == -7 and signs7[1] == 1
    s7 = np.stack([d, _shift(d, 7)])
    _, lags5, _ = align_bands(s7, reference=0, max_lag=5)
    assert abs(lags5[1]) <= 5


def test_ml_weights_ignore_bands_without_motion(rng):
    """Five bands see the motion with different gains/noise; ten see only noise.

    The ML combination must approach the optimal (oracle) inverse-variance SNR and beat
    the plain sum by a wide margin.
    """
    T = 6000
    d = _audio(rng, T)
    gains = np.array([1.0, -0.5, 0.8, 0.3, 2.0])
    noise = np.array([0.3, 0.2, 0.5, 0.2, 1.0])
    good = gains[:, None] * d + noise[:, None] * rng.normal(size=(5, T))
    bad = 3.0 * rng.normal(size=(10, T))
    s = np.vstack([good, bad])
    comb = combine_bands(s, max_lag=10)
    uniform = combine_bands(s, max_lag=10, weighting="uniform")

    def snr(est):
        a = est @ d / (est @ est)
        return 10 * np.log10(np.sum(d**2) / np.sum((d - a * est) ** 2))

    oracle_snr = 10 * np.log10(np.var(d) * np.sum(gains**2 / noise**2))
    assert snr(comb.signal) > oracle_snr - 0.3
    assert snr(comb.signal) > snr(uniform.signal) + 10
    assert np.all(np.abs(comb.weights[5:]) < 0.05 * np.abs(comb.weights[:5]).max())
    np.testing.assert_array_equal(comb.lags, 0)
    np.testing.assert_allclose(comb.signal, comb.weights @ comb.aligned, rtol=1e-9, atol=1e-12)
    # The estimated gains follow the truth (up to the common scale and sign).
    ratio = comb.gains[:5] * comb.signs[:5] / gains
    np.testing.assert_allclose(ratio / ratio[0], 1, rtol=0.05)


def test_bad_input():
    with pytest.raises(ParameterError, match="shape"):
        combine_bands(np.zeros(10))
    with pytest.raises(ParameterError, match="NaN"):
        combine_bands(np.full((2, 10), np.nan))
    with pytest.raises(ParameterError, match="weighting"):
        combine_bands(np.zeros((2, 10)), weighting="best")
