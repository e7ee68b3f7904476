"""Signed 2-D displacement from band signals (visualmic.core.displacement) and its writer."""

from __future__ import annotations

import doctest

import numpy as np
import pytest

from visualmic import OutputError, ParameterError
from visualmic.bounds import unit_vector
from visualmic.core import displacement as disp_mod
from visualmic.core.displacement import band_wave_vectors, displacement
from visualmic.fast import FastMotion
from visualmic.io import displacement as io_mod
from visualmic.io.displacement import write_displacement
from visualmic.motion import PhaseMotion
from visualmic.pyramid import SteerablePyramid
from visualmic.sim.scene import synthesize_scene
from visualmic.synth import synthesize


def test_doctests():
    for mod in (disp_mod, io_mod):
        assert doctest.testmod(mod).failed == 0


def _estimate(frames, estimator=PhaseMotion):
    frames = frames.astype(np.float32)
    pyr = SteerablePyramid(frames.shape[1:], highpass=True)
    ref = frames[0]
    s = estimator(pyr, ref)(frames)
    return displacement(s, band_wave_vectors(pyr, ref))


@pytest.mark.parametrize("direction, bit_depth, estimator", [
    (0, 8, PhaseMotion), (45, 8, PhaseMotion), (90, 8, PhaseMotion), (180, 8, PhaseMotion),
    (270, 8, PhaseMotion), (0, 16, PhaseMotion), (45, 16, FastMotion), (270, 16, FastMotion),
])
def test_directions_signs_and_amplitude(tmp_path, direction, bit_depth, estimator):
    """dx, dy follow the true motion with the right sign and scale in every direction."""
    res = synthesize(tmp_path / "v.npy", audio="tones", duration=0.15, size=64, amplitude=0.05,
                     direction=direction, bit_depth=bit_depth, seed=direction)
    d = _estimate(np.load(res.video_path), estimator)
    ux, uy = unit_vector(direction)
    truth = res.motion - res.motion[0]  # relative to the reference (first) frame
    for est, u in zip(d, (ux, uy)):
        if u == 0:  # the other component stays near zero
            assert np.std(est) < 0.05 * np.std(truth)
            continue
        t = u * truth
        assert np.corrcoef(est, t)[0, 1] > 0.95
        assert abs(est @ t / (t @ t) - 1) < 0.10  # least-squares amplitude within 10 %


def test_audio_polarity_is_inverted_for_rightward_motion(tmp_path):
    """Documented: the phase signal (and so the WAV) is minus the displacement at 0 degrees."""
    res = synthesize(tmp_path / "v.npy", audio="tone", duration=0.1, size=32, amplitude=0.05)
    frames = np.load(res.video_path).astype(np.float32)
    pyr = SteerablePyramid(frames.shape[1:], highpass=True)
    s = PhaseMotion(pyr, frames[0])(frames)
    k = band_wave_vectors(pyr, frames[0])
    strongest = int(np.argmax(np.abs(k[:, 0])))
    assert k[strongest, 0] > 0  # bands are oriented towards +x ...
    assert np.corrcoef(s[strongest], res.motion)[0, 1] < -0.95  # ... so their phase falls


def test_opposite_halves_per_region(tmp_path):
    """A mode (two halves in opposite phase): each half's own bands give its own signed motion."""
    res = synthesize_scene(tmp_path / "v.npy", {
        "size": 64, "duration": 0.1, "sounds": {"m": {"audio": "tone"}},
        "windows": [{"rect": [0, 0, 32, 64], "sound": "m", "amplitude": 0.05, "direction": 90},
                    {"rect": [32, 0, 32, 64], "sound": "m", "amplitude": 0.05, "direction": 90,
                     "sign": -1}]})
    frames = np.load(res.video_path)
    for i, cols in enumerate((slice(0, 32), slice(32, 64))):
        d = _estimate(frames[:, :, cols])
        t = res.motions[i] - res.motions[i, 0]
        assert np.corrcoef(d[1], t)[0, 1] > 0.95
        assert abs(d[1] @ t / (t @ t) - 1) < 0.10


def test_cell_wave_vectors_sum_to_the_whole_frame():
    """Parseval: one cell covering the frame gives exactly the spectral centroid."""
    rng = np.random.default_rng(0)
    ref = rng.normal(128, 30, size=(48, 40))
    pyr = SteerablePyramid(ref.shape, highpass=True)
    whole = band_wave_vectors(pyr, ref)
    one = band_wave_vectors(pyr, ref, cell=(48, 40))
    assert one.shape == (pyr.n_bands, 1, 1, 2)
    np.testing.assert_allclose(one[:, 0, 0], whole, rtol=1e-9, atol=1e-12)
    cells, energy = band_wave_vectors(pyr, ref, cell=16, return_energy=True)
    assert cells.shape == (pyr.n_bands, 3, 3, 2)  # ceil(48/16), ceil(40/16)
    # Energy-weighted cells merge back into the whole frame (Parseval, exact).
    merged = np.einsum("byx,byxi->bi", energy, cells) / energy.sum(axis=(1, 2))[:, None]
    np.testing.assert_allclose(merged, whole, rtol=1e-9, atol=1e-12)
    _, e_whole = band_wave_vectors(pyr, ref, return_energy=True)
    np.testing.assert_allclose(energy.sum(axis=(1, 2)), e_whole, rtol=1e-9)
    # Each band points along its orientation angle (x right, y down) in every cell.
    angles = np.array([b.angle for b in pyr.bands])
    along = cells[..., 0] * np.cos(angles)[:, None, None] + cells[..., 1] * np.sin(angles)[:, None,
                                                                                          None]
    assert np.all(along > 0)


def test_leading_dims_match_one_at_a_time():
    rng = np.random.default_rng(1)
    n_b, n_c, T = 6, 3, 50
    k = rng.normal(size=(n_b, n_c, 2))
    d_true = rng.normal(size=(2, n_c, T))
    s = -np.einsum("bci,ict->bct", k, d_true) + 1e-3 * rng.normal(size=(n_b, n_c, T))
    w = rng.uniform(0.5, 2, size=(n_b, n_c))
    batched = displacement(s, k, weights=w)
    for c in range(n_c):
        one = displacement(s[:, c], k[:, c], weights=w[:, c])
        np.testing.assert_allclose(batched[:, c], one, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(batched, d_true, atol=1e-2)
    # noise_var is the same as weights = 1 / noise_var; a per-band k broadcasts over cells.
    np.testing.assert_allclose(displacement(s, k, noise_var=1 / w), batched, rtol=1e-10)
    assert displacement(s, k[:, 0]).shape == (2, n_c, T)


def test_weights_favour_quiet_bands():
    """Like a pyramid (4 orientations x 2 scales): the noisy bands get little weight."""
    rng = np.random.default_rng(2)
    ang = np.pi * np.arange(4) / 4
    k = np.concatenate([np.stack([np.cos(ang), np.sin(ang)], 1) * f for f in (2.0, 1.0)])
    d_true = rng.normal(size=(2, 400))
    sig = np.array([0.01, 1.0, 0.01, 1.0, 1.0, 0.01, 1.0, 0.01])[:, None]
    s = -(k @ d_true) + sig * rng.normal(size=(8, 400))
    err_auto = np.std(displacement(s, k) - d_true)
    err_flat = np.std(displacement(s, k, weights=np.ones(8)) - d_true)
    err_ideal = np.std(displacement(s, k, noise_var=sig[:, 0] ** 2) - d_true)
    assert err_auto < 1.5 * err_ideal < 0.1 * err_flat


def test_unobserved_direction_is_zero():
    k = np.array([[1.0, 0.0], [2.0, 0.0], [0.5, 0.0]])  # a texture of vertical stripes
    d = displacement(-(k @ np.array([[0.1, 0.2], [5.0, 5.0]])), k)
    np.testing.assert_allclose(d[0], [0.1, 0.2], rtol=1e-9)
    np.testing.assert_allclose(d[1], 0.0, atol=1e-12)


def test_mm_scaling():
    k = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]])
    s = -(k @ np.array([[0.02, -0.01], [0.01, 0.03]]))
    px = displacement(s, k)
    np.testing.assert_allclose(displacement(s, k, scale_mm_per_px=0.25), 0.25 * px, rtol=1e-12)
    with pytest.raises(ParameterError, match="scale_mm_per_px=-1 must be a positive number"):
        displacement(s, k, scale_mm_per_px=-1)


@pytest.mark.parametrize("kwargs, match", [
    (dict(signals=np.zeros((1, 5))), r"must be \(n_bands >= 2"),
    (dict(wave_vectors=np.zeros((4, 2))), r"wave_vectors of shape \(4, 2\) must be \(n_bands=3"),
    (dict(weights=np.ones(4)), "does not broadcast"),
    (dict(weights=-np.ones(3)), "finite values >= 0"),
    (dict(weights=np.ones(3), noise_var=np.ones(3)), "not both"),
    (dict(weights=np.zeros(3)), "every band weight is zero"),
    (dict(signals=np.full((3, 5), np.nan)), "NaN"),
])
def test_displacement_errors(kwargs, match):
    args = dict(signals=np.zeros((3, 5)), wave_vectors=np.eye(3, 2))
    args.update(kwargs)
    with pytest.raises(ParameterError, match=match):
        displacement(args.pop("signals"), args.pop("wave_vectors"), **args)


def test_wave_vector_errors():
    pyr = SteerablePyramid((32, 32), scales=2)
    with pytest.raises(ParameterError, match=r"does not match the pyramid \(32, 32\)"):
        band_wave_vectors(pyr, np.zeros((16, 32)))
    with pytest.raises(ParameterError, match="cell=0 must be a positive integer"):
        band_wave_vectors(pyr, np.ones((32, 32)), cell=0)


def test_writer_formats(tmp_path):
    d = np.array([[0.0, 0.5, -1e-5], [0.0, -0.25, 2e-3]])
    csv = write_displacement(tmp_path / "d.csv", d, fps=2200.0, start_time=1.0)
    lines = csv.read_text().splitlines()
    assert lines[0] == "t,dx,dy" and len(lines) == 4
    table = np.loadtxt(csv, delimiter=",", skiprows=1)
    np.testing.assert_allclose(table[:, 0], 1.0 + np.arange(3) / 2200.0, rtol=1e-11)
    np.testing.assert_allclose(table[:, 1:].T, d, rtol=1e-11)
    npy = write_displacement(tmp_path / "d.npy", np.stack([d, 2 * d], axis=1), fps=10.0)
    arr = np.load(npy)
    assert arr.shape == (3, 5)
    np.testing.assert_array_equal(arr[:, 1:3].T, d)  # dx_0, dy_0
    np.testing.assert_array_equal(arr[:, 3:5].T, 2 * d)  # dx_1, dy_1
    multi = write_displacement(tmp_path / "m.csv", np.stack([d, d], axis=1), fps=10.0)
    assert multi.read_text().splitlines()[0] == "t,dx_0,dy_0,dx_1,dy_1"
    with pytest.raises(ParameterError, match=r"must end in \.csv or \.npy"):
        write_displacement(tmp_path / "d.txt", d, fps=10.0)
    with pytest.raises(ParameterError, match=r"must be \(2, T\) or \(2, n_tracks, T\)"):
        write_displacement(tmp_path / "e.csv", np.zeros((3, 4)), fps=10.0)
    with pytest.raises(ParameterError, match="fps=0 must be a positive frame rate"):
        write_displacement(tmp_path / "e.csv", d, fps=0)
    with pytest.raises(OutputError, match="is the input file"):
        write_displacement(csv, d, fps=10.0, inputs=(csv,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv", "d.npy", "m.csv"]  # atomic
