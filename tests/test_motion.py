"""Phase motion per band: compact bands equal full bands; phase tracks a known shift."""

import numpy as np
import pytest

from visualmic import ParameterError
from visualmic.core.motion import PhaseMotion
from visualmic.core.pyramid import SteerablePyramid
from visualmic.sim.synthesize import make_texture, render_frames


@pytest.fixture(scope="module")
def frames():
    tex = make_texture((96, 96), kind="noise", seed=3)
    motion = 0.05 * np.sin(2 * np.pi * np.arange(200) / 20.0)
    chunks = render_frames(tex, motion, direction=20.0, size=(64, 64), noise_sigma=0.5, seed=1)
    return np.concatenate(list(chunks)).astype(np.float32), motion


@pytest.mark.parametrize("highpass", [False, True])
def test_compact_bands_equal_full_bands(frames, highpass):
    f, _ = frames
    pyr = SteerablePyramid((64, 64), scales=3, orientations=4, highpass=highpass)
    full = PhaseMotion(pyr, f[0], compact=False)(f)
    compact = PhaseMotion(pyr, f[0], compact=True)(f)
    scale = np.abs(full).max(axis=1, keepdims=True)
    np.testing.assert_allclose(compact / scale, full / scale, atol=2e-2)
    corr = [np.corrcoef(a, b)[0, 1] for a, b in zip(full, compact)]
    assert min(corr) > 0.999


def test_band_signals_follow_the_motion(frames):
    f, motion = frames
    pyr = SteerablePyramid((64, 64), scales=3, orientations=4, highpass=True)
    s = PhaseMotion(pyr, f[0])(f)
    assert s.shape == (pyr.n_bands, len(f))
    d = motion - motion[0]
    # every band responds linearly to the motion; the strong ones almost noiselessly
    r = np.array([abs(np.corrcoef(b, d)[0, 1]) for b in s])
    assert np.median(r) > 0.9 and r.max() > 0.99
    # phase gain ~ band frequency x cos(angle to the motion direction): the finest
    # horizontal-ish band moves more per pixel than the coarsest
    g = np.abs(s @ d / (d @ d))
    levels = np.array([b.level for b in pyr.bands])
    assert g[levels == 0].max() > g[levels == 2].max()


def test_flat_reference_is_an_error():
    pyr = SteerablePyramid((32, 32), scales=2)
    with pytest.raises(ParameterError, match="no texture"):
        PhaseMotion(pyr, np.full((32, 32), 100.0))
