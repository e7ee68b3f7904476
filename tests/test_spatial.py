"""Known-answer tests of the spatial visual microphone core: cells, combination, sources.

Scenes are built here with NumPy: a static textured wall, and textured windows
Fourier-shifted by known sub-pixel motions, plus white noise. Signals are only
de-meaned (no high-pass needed: the motions have no drift).
"""

import numpy as np
import pytest
import scipy.fft as sfft

from visualmic._errors import ParameterError
from visualmic.core.cells import CellGrid, default_cell
from visualmic.core.combine import combine_bands
from visualmic.core.linear import AutoMotion, FastMotion
from visualmic.core.motion import PhaseMotion
from visualmic.core.post import highpass
from visualmic.core.pyramid import SteerablePyramid
from visualmic.core.sources import find_sources
from visualmic.core.spatial import cell_tracks, combine_cells, highpass_cells
from visualmic.engine.chain import build_estimator as motion_estimator

RATE = 2200.0


def texture(shape, seed):
    """Periodic smooth random texture, mean 128, std 25 (8-bit scale)."""
    rng = np.random.default_rng(seed)
    F = sfft.fft2(rng.normal(size=shape))
    fy = sfft.fftfreq(shape[0])[:, None]
    fx = sfft.fftfreq(shape[1])[None, :]
    F *= np.exp(-((fx**2 + fy**2) / (2 * 0.15**2)))
    t = sfft.ifft2(F).real
    return 128 + 25 * t / t.std()


def shifted(tex, d, direction=0.0):
    """Frames (T, H, W) of ``tex`` Fourier-shifted by ``d`` (T,) px along ``direction`` deg."""
    th = np.deg2rad(direction)
    H, W = tex.shape
    F = sfft.rfft2(tex).astype(np.complex64)
    d = np.asarray(d, dtype=np.float64)[:, None]
    ex = np.exp(-2j * np.pi * np.cos(th) * sfft.rfftfreq(W)[None] * d).astype(np.complex64)
    ey = np.exp(-2j * np.pi * np.sin(th) * sfft.fftfreq(H)[None] * d).astype(np.complex64)
    return sfft.irfft2(F[None] * ey[:, :, None] * ex[:, None, :], s=(H, W), axes=(-2, -1))


def scene(shape, parts, *, sigma=1.0, seed=0, wall=True, bits=None):
    """Static wall + moving windows; ``parts`` = [(x, y, w, h, motion (T,), direction)]."""
    rng = np.random.default_rng(seed)
    T = len(parts[0][4])
    base = texture(shape, seed + 50) if wall else np.full(shape, 128.0)
    frames = np.repeat(base[None], T, axis=0)
    for i, (x, y, w, h, d, direction) in enumerate(parts):
        mov = shifted(texture(shape, seed + 60 + i), d, direction)
        frames[:, y:y + h, x:x + w] = mov[:, y:y + h, x:x + w]
    scale = 257.0 if bits == 16 else 1.0
    frames = frames * scale + rng.standard_normal(frames.shape, dtype=np.float32) * (sigma * scale)
    if bits:
        frames = np.clip(np.round(frames), 0, 2**bits - 1)
    return frames


def tone(n, f, phase=0.0):
    return np.sin(2 * np.pi * f * np.arange(n) / RATE + phase)


def noise_sound(n, seed):
    rng = np.random.default_rng(seed)
    spec = sfft.rfft(rng.normal(size=n))
    f = sfft.rfftfreq(n, 1 / RATE)
    spec[(f < 100) | (f > 900)] = 0
    y = sfft.irfft(spec, n=n)
    return y / y.std()


def cells_of(frames, cell, method="auto"):
    pyr = SteerablePyramid(frames.shape[1:], highpass=True)
    est = motion_estimator(pyr, frames[0], method=method, cell=cell)
    c = est.cell_signals(frames)
    return c - c.mean(axis=2, keepdims=True), est


def snr_db(est, truth):
    e = est - est.mean()
    t = truth - truth.mean()
    g = e @ t / (e @ e)
    return 10 * np.log10(t @ t / np.sum((t - g * e) ** 2))


def prominence_db(y, f0, half=60.0):
    """Tone power at ``f0`` over the median power within ``±half`` Hz (peak excluded)."""
    n = len(y)
    P = np.abs(sfft.rfft((y - y.mean()) * np.hanning(n))) ** 2
    f = sfft.rfftfreq(n, 1 / RATE)
    k = int(np.argmin(np.abs(f - f0)))
    near = (np.abs(f - f0) < half) & (np.abs(f - f0) > 5)
    return 10 * np.log10(P[k - 1:k + 2].max() / np.median(P[near]))


# --------------------------------------------------------------------------- cells


def test_default_cell_and_grid():
    assert default_cell((128, 128)) == 16
    assert default_cell((64, 64)) == 8
    grid = CellGrid((40, 36), 16)
    assert grid.n_cells == len(grid.boxes) == 3 * 2
    cover = np.zeros((40, 36), int)
    for k in range(grid.n_cells):
        cover += grid.mask(k)
    assert np.all(cover == 1)  # a partition of the frame
    with pytest.raises(ParameterError, match="cell=0"):
        CellGrid((40, 36), 0)


@pytest.mark.parametrize("cls", [PhaseMotion, FastMotion, AutoMotion])
def test_cell_sums_equal_band_signals(cls):
    rng = np.random.default_rng(1)
    ref = texture((48, 40), 1)
    frames = shifted(ref, 0.03 * rng.normal(size=40), 30.0) + rng.normal(0, 1, (40, 48, 40))
    pyr = SteerablePyramid((48, 40), highpass=True)
    est = cls(pyr, ref, cell=16)
    cells = est.cell_signals(frames)
    bands = cls(pyr, ref)(frames)
    assert cells.shape == (pyr.n_bands, est.n_cells, 40) and est.n_cells == 3 * 3
    assert est.cell_grid[2] == (32, 0, 8, 16)  # x, y, w, h; an 8 px remainder column
    tol = 50 * np.finfo(np.float32).eps * np.abs(bands).max()
    np.testing.assert_allclose(cells.sum(axis=1), bands, rtol=0, atol=tol)
    np.testing.assert_allclose(est.cell_weights.sum(axis=1), 1.0, rtol=1e-9)


def test_cells_off_is_unchanged_and_errors():
    ref = texture((32, 32), 2)
    frames = shifted(ref, np.linspace(0, 0.05, 8))
    pyr = SteerablePyramid((32, 32), highpass=True)
    np.testing.assert_array_equal(PhaseMotion(pyr, ref)(frames), PhaseMotion(pyr, ref, cell=8)(frames))
    with pytest.raises(ParameterError, match="without cells"):
        PhaseMotion(pyr, ref).cell_signals(frames)
    with pytest.raises(ParameterError, match="cell=1"):
        FastMotion(pyr, ref, cell=1)
    with pytest.raises(ParameterError, match="device"):
        motion_estimator(pyr, ref, method="fast", cell=8, device="cpu")


def test_fast_cells_match_phase_cells_and_auto_falls_back():
    ref = texture((32, 32), 3)
    pyr = SteerablePyramid((32, 32), highpass=True)
    small = shifted(ref, 0.01 * np.sin(np.arange(16)))
    fm, pm = FastMotion(pyr, ref, cell=8), PhaseMotion(pyr, ref, cell=8)
    a, b = fm.cell_signals(small), pm.cell_signals(small)
    assert np.linalg.norm(a - b) < 0.02 * np.linalg.norm(b)
    large = shifted(ref, 0.6 * np.sin(np.arange(16)))
    am = AutoMotion(pyr, ref, cell=8)
    np.testing.assert_array_equal(am.cell_signals(large), pm.cell_signals(large))
    assert am.phase_chunks == 1


# --------------------------------------------------------------------------- combination

N = 2200  # one second at 2200 fps


@pytest.fixture(scope="module")
def window_scene():
    """64x64 wall, a 24x24 window moving by band-limited noise of 0.03 px RMS."""
    d = 0.03 * noise_sound(N, 7)
    frames = scene((64, 64), [(24, 16, 24, 24, d, 20.0)], seed=7)
    cells, est = cells_of(frames, 8)
    return cells, est, d


def test_cell_snr_map_finds_the_moving_window(window_scene):
    cells, est, d = window_scene
    comb = combine_cells(cells, rate=RATE, share=est.cell_weights)
    inside = np.array([24 <= x and x + w <= 48 and 16 <= y and y + h <= 40
                       for x, y, w, h in est.cell_grid])
    assert inside.sum() == 9
    assert np.all(comb.significant[inside])
    # cells 16 px or more from the window (coarse bands see a few pixels around a cell)
    outside = np.array([x + w <= 8 or x >= 64 or y + h <= 0 or y >= 56
                        for x, y, w, h in est.cell_grid])
    assert outside.sum() == 15
    w = np.abs(comb.broadband_weights)
    assert w[outside].sum() < 0.05 * w.sum()  # static background: weight ~0
    assert comb.cell_snr_db[inside].min() > comb.cell_snr_db[outside].max() + 10
    # each moving cell's own track follows the motion, in the units of the estimate
    tracks = cell_tracks(cells, comb)
    k = int(np.argmax(comb.cell_snr_db))
    assert np.corrcoef(tracks[k], comb.signal)[0, 1] > 0.9  # same polarity as the estimate
    assert 0.7 < tracks[k].std() / comb.signal.std() < 1.4
    # and the estimate beats the whole-frame combination by far
    whole = combine_bands(cells.sum(axis=1)).signal
    assert snr_db(comb.signal, d) > snr_db(whole, d) + 3


def test_whole_frame_not_worse_than_combine_bands():
    gaps = []
    for seed in range(3):
        d = 0.03 * noise_sound(N, seed)
        frames = scene((64, 64), [(0, 0, 64, 64, d, 60.0 * seed)], seed=seed, wall=False)
        cells, est = cells_of(frames, 8)
        cells += np.linspace(0, 1e-3, N)  # a slow drift: removed by the cutoff path
        comb = combine_cells(cells, rate=RATE, share=est.cell_weights, cutoff=20.0)
        bands = np.stack([highpass(b, RATE) for b in cells.sum(axis=1)])
        gaps.append(snr_db(comb.signal, d) - snr_db(combine_bands(bands).signal, d))
    assert np.mean(gaps) > -0.1, gaps


def test_halves_in_opposite_phase_are_flipped_not_cancelled():
    d = 0.03 * noise_sound(N, 3)
    frames = scene((64, 64), [(0, 0, 32, 64, d, 0.0), (32, 0, 32, 64, -d, 0.0)], seed=3)
    cells, est = cells_of(frames, 8)
    comb = combine_cells(cells, rate=RATE, share=est.cell_weights)
    whole = combine_bands(cells.sum(axis=1)).signal
    left = np.array([x + w <= 32 for x, y, w, h in est.cell_grid])
    w = comb.broadband_weights
    assert np.all(w[left] > 0) and np.all(w[~left] < 0)  # one half flipped
    # Each half alone (its cells only, combined as a whole frame) is the reference; both
    # halves together carry twice the information: expect about +3 dB over one half.
    half = combine_bands(cells[:, left].sum(axis=1)).signal
    assert snr_db(comb.signal, d) > snr_db(half, d) + 2.0
    assert snr_db(comb.signal, d) > snr_db(whole, d) + 10


def test_two_tones_from_two_windows_both_kept():
    a = 0.03 * np.sqrt(2) * tone(N, 300.0)
    b = 0.02 * np.sqrt(2) * tone(N, 700.0, 1.0)
    boxes = [(8, 8, 24, 24), (40, 32, 16, 24)]
    frames = scene((64, 64), [boxes[0] + (a, 0.0), boxes[1] + (b, 90.0)], seed=4)
    cells, est = cells_of(frames, 8)
    comb = combine_cells(cells, rate=RATE, share=est.cell_weights)
    for (x, y, w, h), f in zip(boxes, (300.0, 700.0)):
        roi = frames[:, y:y + h, x:x + w]
        alone = cells_of(roi, 8)[0].sum(axis=1)
        ref = prominence_db(combine_bands(alone).signal, f)
        got = prominence_db(comb.signal, f)
        assert got > ref - 3.0, (f, got, ref)


def test_two_sources_separated():
    s1, s2 = noise_sound(N, 11), noise_sound(N, 12)
    frames = scene((64, 64), [(0, 8, 24, 48, 0.03 * s1, 0.0), (40, 8, 24, 48, 0.03 * s2, 45.0)],
                   seed=5)
    cells, est = cells_of(frames, 8)
    src = find_sources(cells, 2, rate=RATE, share=est.cell_weights, grid=est.cell_grid)
    assert src.signals.shape == (2, N)
    r = np.abs(np.corrcoef(np.vstack([src.signals, s1, s2]))[:2, 2:])
    mine = r.argmax(axis=1)
    assert sorted(mine) == [0, 1]
    assert r.max(axis=1).min() >= 0.9 and r.min(axis=1).max() <= 0.3, r
    # each box lies on its own window
    for k, box in enumerate(src.boxes):
        x, y, w, h = box
        cx = x + w / 2
        assert (cx < 32) == (mine[k] == 0)
    auto = find_sources(cells, "auto", rate=RATE, share=est.cell_weights)
    assert len(auto.signals) == 2
    one = find_sources(cells, 1, rate=RATE, share=est.cell_weights)
    np.testing.assert_array_equal(
        one.signals[0], combine_cells(cells, rate=RATE, share=est.cell_weights).signal)
    with pytest.raises(ParameterError, match="n_sources"):
        find_sources(cells, 0, rate=RATE)


def test_flicker_and_saturation_do_not_capture_the_estimate(window_scene):
    cells, est, d = window_scene
    clean = snr_db(combine_cells(cells, rate=RATE, share=est.cell_weights).signal, d)
    base = scene((64, 64), [(24, 16, 24, 24, d, 20.0)], seed=7)
    # Strong broadband lighting flicker of the whole picture (the phase method is
    # invariant to it; the linear estimator is not, see the report).
    flicker = base * (1 + 0.3 * np.random.default_rng(9).normal(size=N))[:, None, None]
    bad, est2 = cells_of(flicker, 8, method="phase")
    assert snr_db(combine_cells(bad, rate=RATE, share=est2.cell_weights).signal, d) > clean - 0.5
    # Saturated (clipped) cells: no texture, no weight, no harm.
    sat = base.copy()
    sat[:, 0:8, 40:64] = 255.0
    bad, est3 = cells_of(sat, 8)
    comb = combine_cells(bad, rate=RATE, share=est3.cell_weights)
    assert snr_db(comb.signal, d) > clean - 0.5
    assert np.all(comb.broadband_weights[5:8] == 0)


def test_small_object_in_16_bit_frame():
    d = 0.03 * noise_sound(N, 21)
    frames = scene((128, 128), [(48, 56, 32, 32, d, 30.0)], seed=21, bits=16, sigma=1.2)
    cells, est = cells_of(frames, default_cell(frames.shape[1:]))
    comb = combine_cells(cells, rate=RATE, share=est.cell_weights)
    roi = cells_of(frames[:, 56:88, 48:80], 8)[0].sum(axis=1)
    assert snr_db(comb.signal, d) > snr_db(combine_bands(roi).signal, d) - 2.5
    assert snr_db(comb.signal, d) > snr_db(combine_bands(cells.sum(axis=1)).signal, d) + 6


def test_bad_input():
    with pytest.raises(ParameterError, match="shape"):
        combine_cells(np.zeros((3, 100)), rate=RATE)
    with pytest.raises(ParameterError, match="NaN"):
        combine_cells(np.full((2, 2, 100), np.nan), rate=RATE)
    with pytest.raises(ParameterError, match="rate"):
        combine_cells(np.zeros((2, 2, 100)), rate=0)


def test_long_signals_are_fitted_on_excerpts(window_scene):
    cells, est, d = window_scene
    full = combine_cells(cells, rate=RATE, share=est.cell_weights)
    short = combine_cells(cells, rate=RATE, share=est.cell_weights, window=1100, blocks=4)
    assert short.signal.shape == d.shape
    assert snr_db(short.signal, d) > snr_db(full.signal, d) - 1.0


def test_highpass_cells_known_answer():
    t = np.arange(4400) / RATE
    x = np.stack([np.sin(2 * np.pi * 200 * t) + 3 * t**2, 0.5 * np.sin(2 * np.pi * 5 * t)])
    y = highpass_cells(x[None], RATE)[0]
    mid = slice(440, -440)
    np.testing.assert_allclose(y[0, mid], np.sin(2 * np.pi * 200 * t)[mid], atol=1e-3)
    assert np.abs(y[1, mid]).max() < 0.5 * 1e-3  # 5 Hz: (5/20)**8, about 96 dB down


def test_split_half_noise_is_the_noise_of_the_spatial_combination():
    # 16 cells x 4 bands with different gains and noise levels: the reference from the
    # cells 0-7 vs 8-15 has the power of the combination's own noise, and no motion in it.
    from visualmic.core.spatial import split_half_noise_cells

    rng = np.random.default_rng(3)
    T, rate = 8000, 2200.0
    d = highpass_cells(np.convolve(rng.standard_normal(T), np.ones(6) / 6, mode="same"), rate) * 20
    gb = np.array([1.0, 0.8, 1.2, 0.6])
    hc = rng.uniform(0.5, 1.5, 16)
    sigma = rng.uniform(0.5, 1.5, (4, 16))
    noise_cells = highpass_cells(sigma[..., None] * rng.standard_normal((4, 16, T)), rate)
    cells = gb[:, None, None] * hc[None, :, None] * d + noise_cells
    comb = combine_cells(cells, rate=rate, orientations=None)
    first = np.arange(16) < 8
    ref = split_half_noise_cells(cells, comb, first, rate=rate, orientations=None)
    a = np.dot(comb.signal, d) / np.dot(d, d)
    noise = comb.signal - a * d
    assert np.var(ref) == pytest.approx(np.var(noise), rel=0.2)
    assert abs(np.corrcoef(ref, d)[0, 1]) < 0.05  # the motion (20x the noise) cancels
    # motion in one half only: no reference
    cells_one = cells.copy()
    cells_one[:, 8:] = noise_cells[:, 8:]
    comb_one = combine_cells(cells_one, rate=rate, orientations=None)
    assert split_half_noise_cells(cells_one, comb_one, first, rate=rate,
                                  orientations=None) is None
