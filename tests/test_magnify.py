"""Pyramid reconstruction and phase-based motion magnification: known answers."""

import av
import numpy as np
import pytest
from scipy import signal as ssig

import visualmic
from visualmic._errors import OutputError, ParameterError
from visualmic.cli import main
from visualmic.core.magnify import PhaseMagnifier, magnify_frames
from visualmic.core.pyramid import SteerablePyramid
from visualmic.core.reconstruct import reconstruct, transfer_function
from visualmic.engine.magnify import magnify
from visualmic.io.video import open_video

FPS = 2200.0
TONE = 440.0  # synthesize(audio="tone")
SKIP = 150  # samples left out of the amplitude measurements: the causal filter's start-up


@pytest.fixture
def rng():
    return np.random.default_rng(12)


def _radius(shape):
    """Radial frequency of every FFT bin, in units of Nyquist (1 = pi rad/px)."""
    ky = np.fft.fftfreq(shape[0])[:, None]
    kx = np.fft.fftfreq(shape[1])[None, :]
    return np.sqrt(kx**2 + ky**2) / 0.5, kx, ky


# --------------------------------------------------------------------------- reconstruction


@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
@pytest.mark.parametrize("highpass", [True, False])
def test_transfer_function_is_one_where_the_bands_tile(shape, highpass):
    pyr = SteerablePyramid(shape, scales=3, highpass=highpass, dtype=np.float64)
    P = transfer_function(pyr)
    r, _, _ = _radius(shape)
    eps = np.finfo(np.float64).eps
    assert P.min() >= -100 * eps and P.max() <= 1 + 100 * eps
    assert abs(P[0, 0]) < 100 * eps  # DC lives in the low-pass residual
    top = 1.0 if highpass else 0.5  # without oriented high-pass bands H0 takes over at 1/2
    covered = (r > 2.0 ** -3 * 1.01) & (r < top * 0.99)
    np.testing.assert_allclose(P[covered], 1.0, atol=100 * eps)
    if not highpass:
        assert np.abs(P[r >= 1.0]).max() < 100 * eps  # the real high-pass residual is left out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_band_limited_frames_are_rebuilt_exactly(dtype, rng):
    shape = (64, 48)
    r, kx, ky = _radius(shape)
    band = (r > 0.2) & (r < 0.9) & (np.abs(kx) < 0.5) & (np.abs(ky) < 0.5)
    spec = (rng.normal(size=shape) + 1j * rng.normal(size=shape)) * band
    x = np.stack([np.fft.ifft2(spec).real, np.fft.ifft2(spec * 1j).real]) * 50 + 0
    pyr = SteerablePyramid(shape, scales=3, highpass=True, dtype=dtype)
    y = reconstruct(pyr, pyr.forward(x.astype(dtype)))
    assert y.dtype == dtype and y.shape == x.shape
    tol = 200 * np.finfo(dtype).eps * np.abs(x).max()
    np.testing.assert_allclose(y, x, atol=tol)


def test_reconstruct_checks_its_input():
    pyr = SteerablePyramid((32, 32), scales=2)
    coeffs = pyr.forward(np.zeros((2, 32, 32), np.float32))
    with pytest.raises(ParameterError, match="coefficient arrays given"):
        reconstruct(pyr, coeffs[:-1])
    with pytest.raises(ParameterError, match="expects"):
        reconstruct(pyr, [c[:1] if i == 3 else c for i, c in enumerate(coeffs)])
    with pytest.raises(ParameterError, match="batches"):
        reconstruct(pyr, [c[0] for c in coeffs])


# --------------------------------------------------------------------------- measurement


def _shift_x(frames, ref):
    """Horizontal displacement of each frame relative to ``ref``, in pixels (linear estimator).

    Least-squares slope of the cross-spectrum's phase over the low spatial frequencies of
    the Hann-windowed frames: independent of the steerable pyramid.  The window makes it
    biased (a fixed fraction of the true shift, the same for every video of this texture),
    so only ratios of its outputs are used.
    """
    T, H, W = frames.shape
    win = np.outer(np.hanning(H), np.hanning(W))
    r, kx, _ = _radius((H, W))
    sel = (r < 0.3) & (kx != 0)
    g0 = np.fft.fft2(ref * win)
    g = np.fft.fft2(frames * win, axes=(1, 2))
    phase = np.angle(g * np.conj(g0))[:, sel]
    w = np.abs(g0[sel]) ** 2
    k = np.broadcast_to(kx, (H, W))[sel]
    return -(phase * w * k).sum(axis=1) / (2 * np.pi * (w * k * k).sum())


def _amplitude(x, freq=TONE, fps=FPS, skip=SKIP):
    """Amplitude of the component of ``x`` at ``freq`` (lock-in over whole periods)."""
    x = np.asarray(x, np.float64)[skip:]
    n = int(x.size * freq / fps) * fps / freq  # whole periods
    x = x[: int(round(n))]
    t = (np.arange(x.size) + skip) / fps
    return 2 * np.abs(np.mean(x * np.exp(-2j * np.pi * freq * t)))


@pytest.fixture(scope="module")
def tone_video(tmp_path_factory):
    """0.3 s of a 440 Hz, 0.02 px horizontal motion of a noise texture, 16-bit, no sensor noise."""
    d = tmp_path_factory.mktemp("mag")
    syn = visualmic.synthesize(d / "tone.mkv", audio="tone", fps=FPS, duration=0.3,
                               size=(64, 64), amplitude=0.02, noise_sigma=0.0, bit_depth=16,
                               seed=1)
    frames = open_video(syn.video_path).read().astype(np.float64)
    return syn, frames


def _expected_ratio(factor, band, order=2, freq=TONE):
    """|1 + (A - 1) H(f)|: the motion gain of the magnifier at ``freq`` (H: its band-pass)."""
    sos = ssig.butter(order, band, btype="bandpass", fs=FPS, output="sos")
    _, h = ssig.sosfreqz(sos, worN=[freq], fs=FPS)
    return abs(1 + (factor - 1) * h[0])


def test_the_estimator_measures_the_truth(tone_video):
    syn, frames = tone_video
    d = _shift_x(frames, frames[0])
    assert np.corrcoef(d, syn.motion - syn.motion[0])[0, 1] > 0.999


@pytest.mark.parametrize("factor,band,sigma", [(10.0, (300, 650), 0.0), (10.0, (300, 650), 1.0),
                                               (5.0, (800, 1000), 0.0), (0.5, (300, 650), 0.0)])
def test_magnified_amplitude_matches_the_filter(tone_video, factor, band, sigma):
    _, frames = tone_video
    before = _amplitude(_shift_x(frames, frames[0]))
    out = magnify_frames(frames, fps=FPS, band=band, factor=factor, sigma=sigma)
    after = _amplitude(_shift_x(out, out[0]))
    want = _expected_ratio(factor, band)
    assert after / before == pytest.approx(want, rel=0.05)
    if band == (300, 650):  # 440 Hz is near the band's centre: A times
        assert after / before == pytest.approx(factor, rel=0.10)


def test_factor_one_is_the_identity_and_chunks_do_not_matter(tone_video):
    _, frames = tone_video
    x = frames[:200]
    same = magnify_frames(x, fps=FPS, band=(300, 650), factor=1.0)
    np.testing.assert_allclose(same, x, atol=1e-6 * x.max())  # float32 work, 16-bit scale
    a = magnify_frames(x, fps=FPS, band=(300, 650), factor=8.0, chunk=7)
    b = magnify_frames(x, fps=FPS, band=(300, 650), factor=8.0, chunk=200)
    np.testing.assert_allclose(a, b, atol=1e-5 * x.max())


def test_magnifier_rejects_bad_parameters():
    ref = np.zeros((32, 32))
    with pytest.raises(ParameterError, match="Nyquist"):
        PhaseMagnifier(ref, fps=1000, band=(100, 600), factor=2)
    with pytest.raises(ParameterError, match="factor"):
        PhaseMagnifier(ref, fps=1000, band=(100, 200), factor=0)
    with pytest.raises(ParameterError, match="order"):
        PhaseMagnifier(ref, fps=1000, band=(100, 200), factor=2, order=0)
    with pytest.raises(ParameterError, match="one frame"):
        PhaseMagnifier(np.zeros((2, 32, 32)), fps=1000, band=(100, 200), factor=2)
    mag = PhaseMagnifier(ref, fps=1000, band=(100, 200), factor=2)
    with pytest.raises(ParameterError, match="do not match"):
        mag(np.zeros((3, 32, 30)))


def test_odd_frame_sizes_are_handled(rng):
    x = rng.normal(128, 20, size=(20, 33, 45))
    out = magnify_frames(x, fps=1000, band=(100, 200), factor=1.0)
    assert out.shape == x.shape
    np.testing.assert_allclose(out, x, atol=1e-4 * 255)


# --------------------------------------------------------------------------- files and CLI


def test_cli_magnifies_a_file_ten_times(tone_video, tmp_path, capsys):
    syn, frames = tone_video
    out, prev = tmp_path / "x10.mkv", tmp_path / "x10.mp4"
    code = main(["magnify", str(syn.video_path), "-o", str(out), "--band", "300,650",
                 "--factor", "10", "--preview", str(prev), "--chunk-size", "50", "-q"])
    assert code == 0
    assert "x10" in capsys.readouterr().out
    reader = open_video(out)
    assert reader.fps == pytest.approx(FPS) and reader.bit_depth == 16
    mag = reader.read().astype(np.float64)
    assert mag.shape == frames.shape
    ratio = _amplitude(_shift_x(mag, mag[0])) / _amplitude(_shift_x(frames, frames[0]))
    assert ratio == pytest.approx(10.0, rel=0.10)
    with av.open(str(prev)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and float(s.average_rate) == 30
        assert sum(1 for _ in c.decode(s)) == frames.shape[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x10.mkv", "x10.mp4"]


def test_engine_writes_npy_and_8_bit(tmp_path, rng):
    frames = rng.integers(0, 256, size=(40, 32, 32)).astype(np.uint8)
    res = magnify(frames, tmp_path / "m.npy", band=(100, 200), factor=1.0, fps=1000)
    assert res.bit_depth == 8 and res.frames == 40
    np.testing.assert_array_equal(np.load(tmp_path / "m.npy"), frames)


def test_magnify_errors(tone_video, tmp_path, capsys):
    syn, _ = tone_video
    src = str(syn.video_path)
    with pytest.raises(OutputError, match="must end in .mkv"):
        magnify(src, tmp_path / "o.avi", band=(300, 600), factor=2)
    with pytest.raises(OutputError, match="input file"):
        magnify(src, src, band=(300, 600), factor=2)
    with pytest.raises(OutputError, match="preview"):
        magnify(src, tmp_path / "o.mkv", band=(300, 600), factor=2, preview=tmp_path / "p.gif")
    assert main(["magnify", src, "-o", str(tmp_path / "o.mkv"), "--band", "300,2000",
                 "--factor", "2", "-q"]) == 2
    assert "Nyquist" in capsys.readouterr().err
    assert main(["magnify", src, "--band", "300", "--factor", "2"]) == 2
    assert "LO,HI" in capsys.readouterr().err
    assert main(["magnify", src, "--band", "300,600", "--factor", "0"]) == 2
    assert not any(p.suffix == ".mkv" for p in tmp_path.iterdir())


def test_too_much_magnification_is_reported(tone_video, tmp_path):
    syn, _ = tone_video
    with pytest.warns(visualmic.VisualMicWarning, match="exceeds pi/2"):
        res = magnify(syn.video_path, tmp_path / "x.mkv", band=(300, 650), factor=400, end=300)
    assert any("exceeds pi/2" in w for w in res.warnings)
    mag = PhaseMagnifier(open_video(syn.video_path).reference(), fps=FPS, band=(300, 650),
                         factor=10)
    mag(open_video(syn.video_path, end=300).read())
    assert mag.overflow < 0.01
