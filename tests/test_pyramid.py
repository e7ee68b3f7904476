"""Steerable pyramid: cross-checked against pyrtools, and its invariants."""

import warnings

import numpy as np
import pytest

from visualmic import ParameterError
from visualmic.core.pyramid import SteerablePyramid, max_scales

pt = pytest.importorskip("pyrtools")


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize(
    "shape,scales,orientations",
    [((64, 64), 3, 4), ((64, 48), 2, 4), ((65, 47), 2, 6), ((128, 128), 5, 2), ((96, 128), 3, 8)],
)
def test_bands_match_pyrtools(rng, shape, scales, orientations):
    image = rng.normal(size=shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pt.pyramids.SteerablePyramidFreq(
            image, height=scales, order=orientations - 1, is_complex=True
        )
    pyr = SteerablePyramid(shape, scales=scales, orientations=orientations, dtype=np.float64)
    coeffs = pyr.forward(image)
    assert len(coeffs) == scales * orientations  # residual bands are not returned
    for band, c in zip(pyr.bands, coeffs):
        expected = ref.pyr_coeffs[(band.level, band.orientation)]
        assert c.shape == expected.shape == band.shape
        # pyrtools tabulates its filters; ours are analytic: agreement to 1e-4 of the peak.
        np.testing.assert_allclose(c, expected, atol=1e-4 * np.abs(expected).max())


def test_batched_equals_one_at_a_time(rng):
    frames = rng.normal(size=(5, 48, 64)).astype(np.float32)
    pyr = SteerablePyramid((48, 64), scales=3, orientations=4, highpass=True)
    batch = pyr.forward(frames)
    for t in range(5):
        single = pyr.forward(frames[t])
        for b, s in zip(batch, single):
            np.testing.assert_allclose(b[t], s, rtol=1e-5, atol=1e-4)


def test_complex_bands_are_analytic(rng):
    """Real part is the real steerable band; the phase of a shifted grating moves linearly."""
    H = W = 64
    x = np.arange(W)
    pyr = SteerablePyramid((H, W), scales=2, orientations=4, dtype=np.float64)
    omega = 2 * np.pi * 10 / W  # a horizontal grating at 10 cycles per frame, in band 0/1
    shift = 0.3
    f0 = np.tile(np.cos(omega * x), (H, 1))
    f1 = np.tile(np.cos(omega * (x - shift)), (H, 1))
    q0, q1 = pyr.forward(f0), pyr.forward(f1)
    # the horizontal-orientation band with most energy
    k = int(np.argmax([np.abs(q).sum() if b.orientation == 0 else 0 for b, q in zip(pyr.bands, q0)]))
    dphi = np.angle(q1[k] * np.conj(q0[k]))
    np.testing.assert_allclose(np.abs(dphi), omega * shift, rtol=1e-6)


def test_highpass_bands_cover_the_residual(rng):
    """With the oriented high-pass bands, the squared masks tile the whole plane."""
    shape = (64, 64)
    image = rng.normal(size=shape)
    image -= image.mean()

    def missing_share(highpass):
        pyr = SteerablePyramid(shape, scales=max_scales(shape), orientations=4,
                               highpass=highpass, dtype=np.float64)
        # Complex bands carry twice the energy of their real part; Parseval with the
        # level sizes' FFT normalisation undone gives the share of the image energy
        # the bands hold.
        energy = 0.0
        for band, c in zip(pyr.bands, pyr.forward(image)):
            h, w = band.shape
            energy += np.sum(np.abs(c) ** 2) / 2 * (h * w) / (shape[0] * shape[1])
        return 1 - energy / np.sum(image**2), pyr

    share, pyr = missing_share(True)
    assert [b.level for b in pyr.bands[:4]] == [-1, -1, -1, -1]
    assert 0 <= share < 0.03  # only the small low-pass residual is left out
    share_classic, _ = missing_share(False)
    assert share_classic > 0.4  # white noise: the real high-pass residual holds ~half


def test_bad_parameters():
    with pytest.raises(ParameterError, match="scales=9 is too many"):
        SteerablePyramid((64, 64), scales=9)
    with pytest.raises(ParameterError, match="orientations=1"):
        SteerablePyramid((64, 64), orientations=1)
    with pytest.raises(ParameterError, match="too small"):
        SteerablePyramid((4, 64))
    pyr = SteerablePyramid((32, 32), scales=2)
    with pytest.raises(ParameterError, match="do not match"):
        pyr.forward(np.zeros((2, 32, 31)))
