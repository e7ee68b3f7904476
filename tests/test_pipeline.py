"""End-to-end known-answer tests of the classical recovery on synthetic video."""

import numpy as np
import pytest

import visualmic
from visualmic import InputFileError, ParameterError, VideoError
from visualmic.eval.metrics import snr


@pytest.fixture(scope="module")
def tone_video(tmp_path_factory):
    """0.6 s of a 440 Hz tone moving a noise texture by 0.02 px, 2200 fps, 64x64."""
    path = tmp_path_factory.mktemp("v") / "tone.mkv"
    res = visualmic.synthesize(path, audio="tone", duration=0.6, amplitude=0.02, direction=30,
                               size=(64, 64), texture="noise", noise_sigma=1.0, seed=5)
    return res


@pytest.fixture(scope="module")
def photo_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("v") / "photo.mkv"
    return visualmic.synthesize(path, audio="melody", duration=1.0, amplitude=0.02,
                                direction=120, size=(96, 96), texture="camera",
                                noise_sigma=1.5, bit_depth=16, seed=2)


def _peak_freq(y, rate):
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return np.fft.rfftfreq(len(y), 1 / rate)[np.argmax(spec)]


def test_tone_frequency_and_snr_near_the_bound(tone_video):
    rec = visualmic.recover(tone_video.video_path)
    assert rec.rate == 2200 and rec.n_frames == len(tone_video.truth)
    assert abs(_peak_freq(rec.audio, rec.rate) - 440) < 2
    got = snr(rec.audio, tone_video.truth, rate=rec.rate, band=(80, 1000), max_lag=3)
    # the phase method with ML weights is within 2 dB of the Cramér-Rao bound
    assert got > tone_video.crb_snr_db - 2.0, (got, tone_video.crb_snr_db)
    assert np.abs(rec.audio).max() == pytest.approx(1.0)
    assert rec.audio.dtype == np.float32


def test_photo_16bit_near_the_bound_and_better_than_plain_davis(photo_video):
    rec = visualmic.recover(photo_video.video_path)
    plain = visualmic.recover(photo_video.video_path, scales=2, orientations=4,
                              highpass_bands=False, weighting="uniform")
    args = dict(rate=rec.rate, band=(80, 1000), max_lag=3)
    got = snr(rec.audio, photo_video.truth, **args)
    got_plain = snr(plain.audio, photo_video.truth, **args)
    assert got > photo_video.crb_snr_db - 2.5, (got, photo_video.crb_snr_db)
    assert got > got_plain + 1.0, (got, got_plain)


def test_no_residual_bands_and_weights_exposed(tone_video):
    rec = visualmic.recover(tone_video.video_path, scales=2, orientations=4,
                            highpass_bands=False)
    assert len(rec.bands) == 8 and {b.level for b in rec.bands} == {0, 1}
    assert rec.band_signals.shape == (8, rec.n_frames)
    assert rec.weights.shape == rec.gains.shape == rec.lags.shape == (8,)
    np.testing.assert_array_equal(rec.lags, 0)  # same frames: no band is really delayed
    summary = rec.summary()
    assert summary["frames"] == rec.n_frames and len(summary["bands"]) == 8


def test_no_startup_spike(tone_video):
    """The seed code's filter transient set the output scale; a steady tone must not."""
    rec = visualmic.recover(tone_video.video_path)
    y = np.abs(rec.audio)
    n = int(0.05 * rec.rate)
    middle = y[n:-n].max()
    assert y[:n].max() < 1.1 * middle and y[-n:].max() < 1.1 * middle


def test_options_roi_downsample_range_rate(tone_video):
    v = tone_video.video_path
    rec = visualmic.recover(v, roi=(8, 4, 48, 40), downsample=2, start=100, end=900,
                            fps=4400.0, output_rate=8000)
    assert rec.frame_shape == (20, 24) and rec.n_frames == 800
    assert rec.fps == 4400 and rec.rate == 8000
    assert len(rec.audio) == pytest.approx(800 * 8000 / 4400, abs=2)
    # the tone still comes out, at twice the frequency since we claimed twice the rate
    assert abs(_peak_freq(rec.audio, rec.rate) - 880) < 5


def test_specsub_is_applied_after_the_highpass(tone_video):
    """denoise="specsub" equals spectral subtraction of the high-passed combined motion."""
    from visualmic.core import post

    plain = visualmic.recover(tone_video.video_path)
    sub = visualmic.recover(tone_video.video_path, denoise="specsub")
    assert sub.params["denoise"] == "specsub"
    np.testing.assert_array_equal(sub.motion, plain.motion)  # same estimate before post
    y = post.highpass(plain.motion, plain.rate, cutoff=20.0)
    expected = post.normalize(post.spectral_subtraction(y, plain.rate)).astype(np.float32)
    np.testing.assert_allclose(sub.audio, expected, rtol=0, atol=1e-6)
    assert np.max(np.abs(sub.audio - plain.audio)) > 1e-3  # the option changed the audio
    assert abs(_peak_freq(sub.audio, sub.rate) - 440) < 2


def test_reference_mean_of_k_frames(tone_video, monkeypatch):
    """reference=K builds the estimator on the mean of the first K frames, exactly."""
    from visualmic.engine import chain as chain_mod

    seen = []
    real = chain_mod.build_estimator

    def spy(pyramid, reference, **kw):
        seen.append(np.array(reference))
        return real(pyramid, reference, **kw)

    monkeypatch.setattr(chain_mod, "build_estimator", spy)
    rec = visualmic.recover(tone_video.video_path, reference=16)
    frames = visualmic.open_video(tone_video.video_path, end=16).read().astype(np.float64)
    assert len(seen) == 1
    np.testing.assert_allclose(seen[0], frames.mean(axis=0), rtol=0,
                               atol=8 * np.finfo(np.float64).eps * frames.max())
    # A 16-frame reference has less noise: the recovery is at least as good.
    one = visualmic.recover(tone_video.video_path, reference=1)
    truth = tone_video.truth
    assert snr(rec.audio, truth, rate=rec.rate, band=(80, 1000)) > \
        snr(one.audio, truth, rate=one.rate, band=(80, 1000)) - 0.5


def test_array_source_and_progress():
    rng = np.random.default_rng(0)
    frames = rng.normal(128, 30, size=(50, 32, 32)).astype(np.float32)
    seen = []
    rec = visualmic.recover(frames, fps=1000.0, chunk_size=16,
                            progress=lambda d, t: seen.append(d))
    assert rec.n_frames == 50 and seen[-1] == 50


def test_errors(tmp_path, tone_video):
    with pytest.raises(InputFileError):
        visualmic.recover(tmp_path / "missing.mkv")
    bad = tmp_path / "bad.mkv"
    bad.write_text("not a video")
    with pytest.raises(VideoError):
        visualmic.recover(bad)
    with pytest.raises(VideoError, match="at least 2"):
        visualmic.recover(tone_video.video_path, start=10, end=11)
    with pytest.raises(ParameterError, match="roi|ROI"):
        visualmic.recover(tone_video.video_path, roi=(50, 50, 40, 40))
    with pytest.raises(ParameterError, match="highpass"):
        visualmic.recover(tone_video.video_path, highpass=5000)
    with pytest.raises(ParameterError, match="denoise"):
        visualmic.recover(tone_video.video_path, denoise="wiener")
