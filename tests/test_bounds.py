"""Tests of visualmic.sim.bounds: the Cramér–Rao bound for a global translation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from visualmic._errors import ParameterError
from visualmic.sim.bounds import crb_snr_db, frame_gradients, periodic_gradients, translation_crb
from visualmic.sim.synthesize import make_texture, render_frames


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# --------------------------------------------------------------------------- translation_crb


@pytest.mark.parametrize("theta", [0.0, 90.0, 30.0, 200.0])
def test_translation_crb_known_answer(theta):
    gx = np.full((10, 12), 3.0)
    gy = np.full((10, 12), -2.0)
    t = math.radians(theta)
    expected = 1.5**2 / (120 * (3.0 * math.cos(t) - 2.0 * math.sin(t)) ** 2)
    assert translation_crb(gx, gy, direction=theta, sigma=1.5) == pytest.approx(expected, rel=1e-12)


def test_translation_crb_edge_cases():
    g = np.ones((4, 4))
    assert translation_crb(g, g, sigma=0.0) == 0.0
    # No gradient along the direction: the motion is unobservable.
    assert translation_crb(g, np.zeros((4, 4)), direction=90.0, sigma=1.0) == math.inf
    # Scaling grey levels scales sigma and gradients alike: the bound is unchanged.
    tex = make_texture((32, 32), seed=2)
    gx, gy = periodic_gradients(tex)
    a = translation_crb(gx, gy, direction=20.0, sigma=1.0)
    b = translation_crb(257 * gx, 257 * gy, direction=20.0, sigma=257.0)
    assert a == pytest.approx(b, rel=1e-12)


def test_translation_crb_bad_input():
    g = np.ones((4, 4))
    with pytest.raises(ParameterError, match=r"shape \(4, 4\) differs .* \(4, 5\)"):
        translation_crb(g, np.ones((4, 5)), sigma=1.0)
    with pytest.raises(ParameterError, match="sigma=-1"):
        translation_crb(g, g, sigma=-1)
    with pytest.raises(ParameterError, match="sigma=nan"):
        translation_crb(g, g, sigma=float("nan"))
    with pytest.raises(ParameterError, match="NaN"):
        translation_crb(g * np.nan, g, sigma=1.0)
    with pytest.raises(ParameterError, match="direction='up'"):
        translation_crb(g, g, direction="up", sigma=1.0)


# --------------------------------------------------------------------------- gradients


def test_periodic_gradients_exact_on_sinusoids():
    h, w = 24, 30  # even sizes: the Nyquist handling is exercised
    y, x = np.mgrid[0:h, 0:w].astype(float)
    img = 3 * np.sin(2 * np.pi * 4 * x / w + 0.3) + 2 * np.cos(2 * np.pi * 5 * y / h - 1.0)
    img += np.cos(np.pi * x) + np.cos(np.pi * y) * np.cos(2 * np.pi * x / w)  # Nyquist: no slope
    gx, gy = periodic_gradients(img)
    np.testing.assert_allclose(gx, 3 * 2 * np.pi * 4 / w * np.cos(2 * np.pi * 4 * x / w + 0.3)
                               - 2 * np.pi / w * np.cos(np.pi * y) * np.sin(2 * np.pi * x / w),
                               atol=1e-10)
    np.testing.assert_allclose(gy, -2 * 2 * np.pi * 5 / h * np.sin(2 * np.pi * 5 * y / h - 1.0),
                               atol=1e-10)


def _exact_crop_gradients(shape=(128, 128), seed=0, kind="noise"):
    h, w = shape
    tex = make_texture((h + 32, w + 32), kind=kind, seed=seed)
    gx, gy = periodic_gradients(tex)
    sl = np.s_[16 : 16 + h, 16 : 16 + w]
    return tex[sl], gx[sl], gy[sl]


@pytest.mark.parametrize("kind", ["noise", "camera"])
def test_frame_gradients_spectral_accuracy(kind):
    frame, gx, gy = _exact_crop_gradients(kind=kind)
    ax, ay = frame_gradients(frame)
    # The information sum Σg² (what the bound needs) is within 3 %.
    assert np.sum(ax**2) / np.sum(gx**2) == pytest.approx(1.0, abs=0.03)
    assert np.sum(ay**2) / np.sum(gy**2) == pytest.approx(1.0, abs=0.03)
    # Away from the border the spectral derivative is much better than a plain difference.
    inner = np.s_[8:-8, 8:-8]
    err = np.sqrt(np.mean((ax - gx)[inner] ** 2) / np.mean(gx[inner] ** 2))
    naive = np.gradient(frame, axis=1)
    err_naive = np.sqrt(np.mean((naive - gx)[inner] ** 2) / np.mean(gx[inner] ** 2))
    assert err < 0.1
    assert err < err_naive / 3


def test_frame_gradients_stencil_polynomial_and_noise():
    y, x = np.mgrid[0:20, 0:23].astype(float)
    img = 0.01 * x**5 - 2 * x * y**2 + y**3
    gx, gy = frame_gradients(img, method="stencil")
    inner = np.s_[4:-4, 4:-4]  # full 8th order: exact for degree <= 8
    np.testing.assert_allclose(gx[inner], (0.05 * x**4 - 2 * y**2)[inner], rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(gy[inner], (-4 * x * y + 3 * y**2)[inner], rtol=1e-9, atol=1e-8)
    frame, ex, _ = _exact_crop_gradients()
    sx, _ = frame_gradients(frame, method="stencil")
    assert np.sum(sx**2) / np.sum(ex**2) == pytest.approx(1.0, abs=0.08)


def test_frame_gradients_bad_input():
    with pytest.raises(ParameterError, match="method='sobel' is unknown"):
        frame_gradients(np.zeros((8, 8)), method="sobel")
    with pytest.raises(ParameterError, match=r"2-D .* shape \(8,\)"):
        frame_gradients(np.zeros(8))
    with pytest.raises(ParameterError, match="NaN"):
        frame_gradients(np.full((8, 8), np.nan))


# --------------------------------------------------------------------------- the bound is tight


@pytest.mark.parametrize("bit_depth,sigma,theta",
                         [(16, 1.0, 0.0), (16, 2.0, 30.0), (8, 2.0, 120.0)])
def test_least_squares_estimator_reaches_the_bound(rng, bit_depth, sigma, theta):
    """An unbiased least-squares estimator with the exact gradient has variance ≈ the CRB."""
    h, w, m, n = 24, 24, 8, 2000
    tex = make_texture((h + 2 * m, w + 2 * m), seed=5)
    scale = 257 if bit_depth == 16 else 1
    gx, gy = periodic_gradients(tex * scale)
    gx, gy = gx[m : m + h, m : m + w], gy[m : m + h, m : m + w]
    clean = tex[m : m + h, m : m + w] * scale
    t = math.radians(theta)
    gu = math.cos(t) * gx + math.sin(t) * gy
    motion = rng.uniform(-0.01, 0.01, n)
    frames = np.concatenate(list(render_frames(tex, motion, direction=theta, size=(h, w),
                                               noise_sigma=sigma, bit_depth=bit_depth, seed=9)))
    # frame ≈ clean − d·g_u + noise  →  d̂ = −Σ (frame − clean)·g_u / Σ g_u²
    est = -np.einsum("tij,ij->t", frames.astype(float) - clean, gu) / np.sum(gu * gu)
    err = est - motion
    assert abs(err.mean()) < 4 * err.std() / math.sqrt(n)  # unbiased
    noise_var = (sigma * scale) ** 2 + 1 / 12  # rounding adds Δ²/12 (Δ = 1 video unit)
    bound = translation_crb(gx, gy, direction=theta, sigma=math.sqrt(noise_var))
    assert err.var() / bound == pytest.approx(1.0, abs=0.10)  # 3 std of the estimate
    assert translation_crb(gx, gy, direction=theta, sigma=sigma * scale) <= bound


# --------------------------------------------------------------------------- crb_snr_db


def test_crb_snr_db_sine_known_answer():
    rate, n = 2200.0, 4400
    t = np.arange(n) / rate
    x = 0.02 * np.sin(2 * np.pi * 440 * t) + 0.5  # a DC offset must not count
    var = 1e-7
    expected = 10 * math.log10((0.02**2 / 2) / (var * 2 * (1000 - 80) / rate))
    assert crb_snr_db(x, var, rate=rate) == pytest.approx(expected, abs=1e-9)
    # Out of band: a 50 Hz tone has no power in 80-1000 Hz.
    assert crb_snr_db(np.sin(2 * np.pi * 50 * t), var, rate=rate) < -150
    # Full band: variance over crb_var.
    assert crb_snr_db(x, var, rate=rate, band=None) == pytest.approx(
        10 * math.log10(0.02**2 / 2 / var), abs=1e-9)
    # hi is clipped to Nyquist.
    a = crb_snr_db(x, var, rate=rate, band=(80, 5000))
    b = crb_snr_db(x, var, rate=rate, band=(80, 1100))
    assert a == pytest.approx(b) and a == pytest.approx(
        10 * math.log10((0.02**2 / 2) / (var * 2 * 1020 / rate)), abs=1e-9)
    assert crb_snr_db(x, 0.0, rate=rate) == math.inf


def test_crb_snr_db_white_noise_is_zero_db(rng):
    # White noise of variance v measured against a bound of v: 0 dB in any band.
    v = 3e-6
    x = rng.normal(0, math.sqrt(v), 200_000)
    assert crb_snr_db(x, v, rate=2200.0) == pytest.approx(0.0, abs=0.1)
    assert crb_snr_db(x, v, rate=2200.0, band=(300.0, 500.0)) == pytest.approx(0.0, abs=0.2)
    assert crb_snr_db(x, v / 10, rate=2200.0, band=None) == pytest.approx(10.0, abs=0.1)


def test_crb_snr_db_bad_input():
    x = np.zeros(10)
    with pytest.raises(ParameterError, match="rate=0"):
        crb_snr_db(x, 1.0, rate=0)
    with pytest.raises(ParameterError, match="crb_var=-1"):
        crb_snr_db(x, -1, rate=100)
    with pytest.raises(ParameterError, match=r"band=\(500, 80\)"):
        crb_snr_db(x, 1.0, rate=2200, band=(500, 80))
    with pytest.raises(ParameterError, match="above the Nyquist"):
        crb_snr_db(x, 1.0, rate=100, band=(80, 1000))
    with pytest.raises(ParameterError, match="at least 2 samples"):
        crb_snr_db(np.zeros(1), 1.0, rate=100)
