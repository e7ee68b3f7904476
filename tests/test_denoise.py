import numpy as np
import pytest
from scipy.signal import chirp

from visualmic._errors import ParameterError
from visualmic.core.post import bandpass, highpass, normalize, resample, spectral_subtraction

RATE = 2200


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def _time(seconds, rate=RATE):
    return np.arange(int(round(seconds * rate))) / rate


def _ls_snr(estimate, clean):
    """SNR in dB after least-squares scaling of the estimate (no lag)."""
    s = np.dot(estimate, clean) / np.dot(estimate, estimate)
    return 10 * np.log10(np.sum(clean**2) / np.sum((clean - s * estimate) ** 2))


def _edge_ratio(y, rate=RATE, edge=0.05):
    k = int(edge * rate)
    edges = max(np.abs(y[:k]).max(), np.abs(y[-k:]).max())
    return edges / np.abs(y[k:-k]).max()


# --------------------------------------------------------------------------- highpass


@pytest.mark.parametrize("phase", [0.0, 0.7, np.pi / 2])
@pytest.mark.parametrize("trend", ["dc", "dc+drift", "dc+curved drift"])
def test_highpass_has_no_startup_spike(phase, trend):
    # The seed code's filter produced a start-up spike from the DC offset, and
    # normalising to the peak then let that spike set the output scale.
    t = _time(1.0)
    sine = np.sin(2 * np.pi * 440 * t + phase)
    offset = {"dc": 100.0,
              "dc+drift": 100.0 + 50.0 * t,
              "dc+curved drift": 100.0 + 50.0 * t + 5.0 * t**2}[trend]
    y = highpass(sine + offset, RATE)
    assert _edge_ratio(y) < 1.01
    # the normalised output is the sine, edges included (measured: 1e-5)
    assert np.max(np.abs(normalize(y) - normalize(sine))) < 1e-3
    assert np.max(np.abs(y - sine)) < 1e-3


def test_highpass_noise_with_offset_has_no_edge_burst(rng):
    t = _time(2.0)
    noise = rng.standard_normal(t.size)
    y = highpass(noise + 100.0 + 20.0 * t, RATE)
    k = int(0.05 * RATE)
    middle = np.std(y[k:-k])
    assert 0.8 * middle < np.std(y[:k]) < 1.2 * middle
    assert 0.8 * middle < np.std(y[-k:]) < 1.2 * middle


def test_highpass_removes_low_frequency():
    t = _time(2.0)
    low = np.sin(2 * np.pi * 3 * t)
    high = 0.1 * np.sin(2 * np.pi * 300 * t)
    y = highpass(low + high, RATE, cutoff=20.0)
    mid = slice(200, -200)
    assert np.max(np.abs(y[mid] - high[mid])) < 0.005


def test_highpass_cutoff_is_minus_6_db():
    # sosfiltfilt squares the Butterworth magnitude: -3 dB per pass -> -6 dB.
    t = _time(4.0)
    y = highpass(np.sin(2 * np.pi * 50 * t), RATE, cutoff=50.0)
    gain = np.abs(y[2000:-2000]).max()
    assert gain == pytest.approx(0.5, abs=0.01)


def test_highpass_dtype_follows_input():
    t = _time(0.5)
    x = np.sin(2 * np.pi * 300 * t)
    assert highpass(x.astype(np.float32), RATE).dtype == np.float32
    assert highpass(x, RATE).dtype == np.float64
    assert highpass((1000 * x).astype(np.int16), RATE).dtype == np.float64


@pytest.mark.parametrize("n, order", [(1, 4), (3, 4), (6, 4), (2, 1), (40, 2)])
def test_highpass_short_signal_does_not_crash(n, order):
    y = highpass(np.arange(n, dtype=float) ** 2, RATE, order=order)
    assert y.shape == (n,) and np.all(np.isfinite(y))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"cutoff": 0}, "cutoff=0"),
        ({"cutoff": -5}, "cutoff=-5"),
        ({"cutoff": 1100}, "Nyquist"),
        ({"cutoff": float("nan")}, "cutoff=nan"),
        ({"order": 0}, "order=0"),
        ({"order": 2.5}, "order=2.5"),
    ],
)
def test_highpass_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        highpass(np.ones(100), RATE, **kwargs)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([]), "empty"),
        (np.array([1.0, np.nan, 2.0]), "NaN"),
        (np.array([1.0, np.inf]), "NaN or infinite"),
        (np.ones((2, 10)), r"shape \(2, 10\)"),
        (np.array(["a", "b"]), "dtype"),
    ],
)
def test_bad_audio(y, match):
    with pytest.raises(ParameterError, match=match):
        highpass(y, RATE)


@pytest.mark.parametrize("rate", [0, -2200, float("inf"), "2200"])
def test_bad_rate(rate):
    with pytest.raises(ParameterError, match="rate="):
        highpass(np.ones(100), rate)


# --------------------------------------------------------------------------- bandpass


def test_bandpass_keeps_band_and_rejects_outside():
    t = _time(2.0)
    inside = np.sin(2 * np.pi * 400 * t)
    outside = np.sin(2 * np.pi * 20 * t) + np.sin(2 * np.pi * 1080 * t)
    y = bandpass(inside + outside + 7.0, RATE, (80, 1000))
    mid = slice(300, -300)
    assert np.max(np.abs(y[mid] - inside[mid])) < 0.02


def test_bandpass_has_no_startup_spike():
    t = _time(2.0)
    inside = np.sin(2 * np.pi * 400 * t + 1.0)
    y = bandpass(inside + 7.0 - 3.0 * t + 0.5 * t**2, RATE, (80, 1000))
    assert _edge_ratio(y) < 1.01
    assert np.max(np.abs(normalize(y) - normalize(inside))) < 1e-3


@pytest.mark.parametrize(
    "band, match",
    [((0, 500), "inside"), ((100, 1100), "inside"), ((500, 100), "below the high"),
     ((100,), "pair"), (None, "pair")],
)
def test_bandpass_bad_band(band, match):
    with pytest.raises(ParameterError, match=match):
        bandpass(np.ones(1000), RATE, band)


# --------------------------------------------------------------------------- normalize


def test_normalize_peak_and_zero():
    y = np.array([0.5, -2.0, 1.0], dtype=np.float32)
    out = normalize(y)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.25, -1.0, 0.5])
    np.testing.assert_allclose(normalize(y, peak=0.5), [0.125, -0.5, 0.25])
    zero = normalize(np.zeros(10))
    assert np.all(zero == 0) and np.all(np.isfinite(zero))


@pytest.mark.parametrize("peak", [0, -1, float("inf")])
def test_normalize_bad_peak(peak):
    with pytest.raises(ParameterError, match="peak="):
        normalize(np.ones(3), peak=peak)


# --------------------------------------------------------------------------- spectral subtraction


def test_spectral_subtraction_identity_without_subtraction(rng):
    y = rng.standard_normal(3000) + np.sin(2 * np.pi * 300 * _time(3000 / RATE))
    out = spectral_subtraction(y, RATE, oversubtraction=0.0)
    assert out.shape == y.shape
    np.testing.assert_allclose(out, y, atol=1e-6)
    # also with a non-default window/hop and float32
    out32 = spectral_subtraction(y.astype(np.float32), RATE, window=0.05, hop=0.01,
                                 oversubtraction=0.0)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, y, atol=1e-5)


@pytest.mark.parametrize("sigma, min_gain_db", [(0.1, 3.0), (0.3, 3.0), (1.0, 1.0)])
def test_spectral_subtraction_improves_snr(rng, sigma, min_gain_db):
    # A chirp occupies each frequency only briefly, so the median over time of
    # each frequency's power is the noise.  Measured gains (seed 1234): about 4.4,
    # 4.1 and 1.7 dB with the defaults (0.032 s window, oversubtraction 1).
    t = _time(3.0)
    clean = chirp(t, 100, t[-1], 1000)
    noisy = clean + sigma * rng.standard_normal(t.size)
    out = spectral_subtraction(noisy, RATE)
    assert out.shape == noisy.shape
    assert _ls_snr(out, clean) - _ls_snr(noisy, clean) > min_gain_db


def test_spectral_subtraction_more_oversubtraction_removes_more_noise(rng):
    t = _time(3.0)
    clean = chirp(t, 100, t[-1], 1000)
    noise = 0.3 * rng.standard_normal(t.size)
    out1 = spectral_subtraction(clean + noise, RATE, oversubtraction=1.0)
    out2 = spectral_subtraction(clean + noise, RATE, oversubtraction=2.0)
    assert _ls_snr(out2, clean) > _ls_snr(out1, clean) + 1.0


def test_spectral_subtraction_noise_only_is_attenuated(rng):
    noise = rng.standard_normal(RATE * 2)
    out = spectral_subtraction(noise, RATE, oversubtraction=1.0, floor=0.01)
    # the gain never exceeds 1 and mean-level noise is strongly reduced
    assert np.sum(out**2) < 0.5 * np.sum(noise**2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"window": 0.001}, "window=0.001"),
        ({"window": -1}, "window=-1"),
        ({"hop": 0.03}, "hop=0.03"),
        ({"oversubtraction": -1}, "oversubtraction=-1"),
        ({"floor": float("nan")}, "floor=nan"),
        ({"noise_quantile": 1.0}, "noise_quantile=1.0"),
        ({"noise_quantile": 0}, "noise_quantile=0"),
        ({"window": 1.0}, "shorter than window"),
    ],
)
def test_spectral_subtraction_bad_parameters(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        spectral_subtraction(np.ones(1000), RATE, **kwargs)


# --------------------------------------------------------------------------- resample


@pytest.mark.parametrize("out_rate", [44100, 48000, 8000, 1000])
def test_resample_keeps_tone_frequency(out_rate):
    t = _time(2.0)
    y = resample(np.sin(2 * np.pi * 440 * t), RATE, out_rate)
    assert y.size == pytest.approx(2.0 * out_rate, abs=1)
    spectrum = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    freqs = np.fft.rfftfreq(y.size, 1 / out_rate)
    assert freqs[np.argmax(spectrum)] == pytest.approx(440, abs=0.5)
    if out_rate < 2.5 * 440:
        return  # 440 Hz lies in the anti-aliasing filter's transition band
    # amplitude preserved away from the ends
    assert np.abs(y[out_rate // 4 : -out_rate // 4]).max() == pytest.approx(1.0, abs=0.01)


def test_resample_downsampling_rejects_aliases():
    # 900 Hz resampled to 1000 Hz would alias to 100 Hz without the anti-aliasing filter.
    t = _time(2.0)
    y = resample(np.sin(2 * np.pi * 900 * t), RATE, 1000)
    assert np.abs(y[200:-200]).max() < 0.01


def test_resample_same_rate_and_dtype():
    y = np.linspace(-1, 1, 50, dtype=np.float32)
    out = resample(y, RATE, RATE)
    assert out.dtype == np.float32 and out is not y
    np.testing.assert_array_equal(out, y)
    assert resample(y, RATE, 44100).dtype == np.float32


def test_resample_non_integer_ratio():
    t = _time(1.0)
    y = resample(np.sin(2 * np.pi * 100 * t), 2199.7, 44100)
    assert y.size == pytest.approx(2200 * 44100 / 2199.7, rel=1e-4)


@pytest.mark.parametrize("out_rate", [0, -1, float("nan")])
def test_resample_bad_rate(out_rate):
    with pytest.raises(ParameterError, match="out_rate="):
        resample(np.ones(10), RATE, out_rate)


# --------------------------------------------------------------------------- CLI


def _run(argv):
    """Run the command line; return its exit code (argparse usage errors exit)."""
    from visualmic.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def noisy_wav(tmp_path, rng):
    import soundfile as sf

    t = _time(3.0)
    clean = chirp(t, 100, t[-1], 1000)
    noisy = 0.3 * (clean + 0.3 * rng.standard_normal(t.size))
    path = tmp_path / "noisy.wav"
    sf.write(path, noisy.astype(np.float32), RATE, subtype="FLOAT")
    return path, clean, noisy.astype(np.float32)


def test_cli_denoise_matches_library(tmp_path, noisy_wav):
    import soundfile as sf

    src, clean, noisy = noisy_wav
    before = src.read_bytes()
    out = tmp_path / "out.wav"
    assert _run(["denoise", str(src), "-o", str(out), "--oversubtraction", "2"]) == 0
    y, rate = sf.read(out)
    assert rate == RATE and y.size == noisy.size
    expected = spectral_subtraction(noisy.astype(np.float64), RATE, oversubtraction=2.0)
    np.testing.assert_allclose(y, expected, atol=1e-6)
    assert _ls_snr(y, clean) > _ls_snr(noisy, clean) + 3
    assert src.read_bytes() == before


def test_cli_denoise_output_rate_and_pcm16(tmp_path, noisy_wav):
    import soundfile as sf

    src, _, noisy = noisy_wav
    out = tmp_path / "out16.wav"
    assert _run(["denoise", str(src), "-o", str(out), "--output-rate", "44100", "--pcm16",
                 "--window", "0.05", "--hop", "0.0125", "--floor", "0.02"]) == 0
    info = sf.info(out)
    assert info.samplerate == 44100 and info.subtype == "PCM_16"
    assert info.frames == pytest.approx(noisy.size * 44100 / RATE, abs=1)


def test_cli_denoise_never_overwrites_input(noisy_wav, capsys):
    src, _, _ = noisy_wav
    before = src.read_bytes()
    code = _run(["denoise", str(src), "-o", str(src)])
    err = capsys.readouterr().err
    assert code == 2 and "input" in err and err.count("\n") == 1
    assert src.read_bytes() == before


def test_cli_denoise_missing_input(tmp_path, capsys):
    code = _run(["denoise", str(tmp_path / "missing.wav"), "-o", str(tmp_path / "o.wav")])
    err = capsys.readouterr().err
    assert code == 2 and "missing.wav" in err and err.count("\n") == 1
    assert "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize(
    "extra, match",
    [(["--hop", "0.03"], "hop=0.03"), (["--window", "-1"], "from 1e-05 to 3600 s"),
     (["--noise-quantile", "1.5"], "noise_quantile=1.5"), (["--floor", "x"], "'x'")],
)
def test_cli_denoise_bad_options(tmp_path, noisy_wav, capsys, extra, match):
    src, _, _ = noisy_wav
    code = _run(["denoise", str(src), "-o", str(tmp_path / "o.wav"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and match in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o.wav").exists()
