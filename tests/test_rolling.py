"""Rolling shutter (issue 14): timing model, gap filling, fixed pattern, per-row motion,
calibration, synthetic renderer and CLI errors, with known answers."""

import json

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from visualmic import ParameterError, VideoError
from visualmic.cli import main
from visualmic.core import rolling as rs
from visualmic.engine.rolling import calibrate_rolling, recover_rolling
from visualmic.metrics import snr
from visualmic.sim.rolling import render_rolling_frames, sample_at
from visualmic.synth import make_texture, render_frames, synthesize


@pytest.fixture
def rng():
    return np.random.default_rng(14)


# --------------------------------------------------------------------------- timing model


def test_line_delay_and_row_times_known_values():
    assert rs.line_delay(60, 256, 0.8) == 0.8 / (60 * 256)
    d = rs.line_delay(30, 100, 0.5)
    t = rs.row_times(3, [0, 50, 99], fps=30, delay=d, first_frame=1)
    expect = np.array([[1, 1, 1], [2, 2, 2], [3, 3, 3]]) / 30 + np.array([0, 50, 99]) * d
    np.testing.assert_allclose(t, expect, rtol=0, atol=4 * np.finfo(float).eps)
    # The last row of a frame is read `readout` of the way through the frame period.
    assert rs.row_times(1, 101, fps=30, delay=d)[0, -1] == pytest.approx(0.5 / 30)


def test_sample_positions_integer_and_fractional_period():
    pos = rs.sample_positions(3, 4, fps=60, delay=0.8 / (60 * 4))  # P = 5 samples per frame
    assert pos.tolist() == [[0, 1, 2, 3], [5, 6, 7, 8], [10, 11, 12, 13]]
    per = rs.samples_per_frame(60, 0.7 / (60 * 4))  # P = 5.714...
    pos = rs.sample_positions(8, 4, fps=60, delay=0.7 / (60 * 4))
    starts = pos[:, 0]
    assert np.all(np.abs(starts - np.arange(8) * per) <= 0.5)
    assert np.all(np.diff(pos, axis=1) == 1)


def test_retime_undoes_fractional_frame_placement():
    fps, rows, readout = 60.0, 64, 0.7  # P = 91.43 samples per frame: not an integer
    delay = rs.line_delay(fps, rows, readout)
    t = rs.row_times(40, rows, fps=fps, delay=delay)
    tone = lambda tt: np.sin(2 * np.pi * 400.0 * tt + 0.4)  # noqa: E731
    x, known = rs.place_samples(tone(t), np.ones(rows, bool), rows=rows, fps=fps, delay=delay)
    filled = rs.fill_gaps(x, known, order=24)
    truth = tone(np.arange(x.size) * delay)
    inner = known.copy()
    inner[:200] = inner[-200:] = False
    before = np.sqrt(np.mean((filled - truth)[inner] ** 2))
    after = np.sqrt(np.mean((rs.retime(filled, fps=fps, delay=delay) - truth)[inner] ** 2))
    assert before > 0.05 and after < 0.05 * before  # 0.092 -> 0.0019 px
    y = np.arange(10.0)
    np.testing.assert_array_equal(rs.retime(y, fps=60, delay=0.8 / (60 * 4)), y)  # P = 5


def test_place_samples_covers_readout_fraction():
    delay = rs.line_delay(60, 256, 0.8)
    vals = np.arange(10 * 256, dtype=float).reshape(10, 256)
    x, known = rs.place_samples(vals, np.ones(256, bool), rows=256, fps=60, delay=delay)
    assert x.size == 3200 and known.mean() == pytest.approx(0.8)
    assert x[320 + 5] == vals[1, 5] and not known[256:320].any()


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "x"])
def test_readout_must_be_in_unit_interval(bad):
    with pytest.raises(ParameterError, match=r"readout|number"):
        rs.check_readout(bad)


# --------------------------------------------------------------------------- gap filling


def _periodic_mask(n, period=320, exposed=256):
    return (np.arange(n) % period) < exposed


def test_fill_gaps_sinusoids_exact_and_far_below_linear():
    t = np.arange(6400)
    x = np.sin(2 * np.pi * 0.013 * t) + 0.5 * np.sin(2 * np.pi * 0.047 * t + 1)
    known = _periodic_mask(x.size)
    ar = rs.fill_gaps(x, known, order=16)
    lin = rs.linear_fill(x, known)
    err_ar = np.sqrt(np.mean((ar - x)[~known] ** 2))
    err_lin = np.sqrt(np.mean((lin - x)[~known] ** 2))
    assert err_ar < 1e-3 * err_lin
    assert err_ar < 1e-3
    np.testing.assert_array_equal(ar[known], x[known])  # known samples are untouched


def test_fill_gaps_ar_process_beats_linear_and_zeros(rng):
    # AR(4) with resonances at 0.02 and 0.06 cycles/sample (speech-like formants).
    poles = [0.99 * np.exp(2j * np.pi * f) for f in (0.02, 0.06)]
    a = np.real(np.poly(poles + [np.conj(p) for p in poles]))
    x = signal.lfilter([1.0], a, rng.standard_normal(20000))[2000:]
    known = _periodic_mask(x.size, 320, 288)  # gaps of 32 samples
    errs = {name: np.mean((y - x)[~known] ** 2) for name, y in (
        ("ar", rs.fill_gaps(x, known, order=16)), ("linear", rs.linear_fill(x, known)),
        ("zero", np.where(known, x, 0.0)))}
    assert errs["ar"] < 0.25 * errs["linear"]
    assert errs["ar"] < 0.25 * errs["zero"]


def test_fill_gaps_edges_irregular_and_trivial(rng):
    x = np.sin(0.05 * np.arange(3000))
    known = np.ones(3000, bool)
    np.testing.assert_array_equal(rs.fill_gaps(x, known), x)
    known[:20] = known[-20:] = False
    known[rng.choice(np.arange(100, 2900), 200, replace=False)] = False  # untextured rows
    y = rs.fill_gaps(x, known, order=16)
    assert np.all(np.isfinite(y)) and np.max(np.abs(y - x)) < 0.05
    with pytest.raises(ParameterError, match="boolean mask"):
        rs.fill_gaps(x, known.astype(int))
    with pytest.raises(ParameterError, match="order"):
        rs.fill_gaps(x, known, order=0)


def test_ar_normal_bands_match_dense_operators(rng):
    p, n = 6, 30
    a = 0.3 * rng.standard_normal(p)
    c = np.concatenate(([1.0], -a))
    A = np.zeros((n - p, n))
    B = np.zeros((n - p, n))
    for r in range(n - p):
        A[r, r + p - np.arange(p + 1)] = c  # forward errors
        B[r, r + np.arange(p + 1)] = c  # backward errors
    H = A.T @ A + B.T @ B
    bands = rs.ar_normal_bands(a, n)
    for k in range(p + 1):
        np.testing.assert_allclose(bands[k, : n - k], np.diag(H, k), atol=1e-12)
        assert np.all(bands[k, n - k:] == 0)
    assert np.abs(np.triu(H, p + 1)).max() == 0  # bandwidth p


def test_smooth_fill_denoises_and_fills(rng):
    poles = [0.99 * np.exp(2j * np.pi * f) for f in (0.02, 0.06)]
    a = np.real(np.poly(poles + [np.conj(p) for p in poles]))
    clean = signal.lfilter([1.0], a, rng.standard_normal(12000))[2000:]
    clean /= clean.std()
    noisy = clean + 0.3 * rng.standard_normal(clean.size)
    known = _periodic_mask(clean.size, 320, 256)
    nv = np.full(clean.size, 0.09)
    smooth = rs.smooth_fill(noisy, known, nv, order=16, block=320)
    interp = rs.fill_gaps(noisy, known, order=16)
    err = {k: np.mean((v - clean) ** 2) for k, v in (("map", smooth), ("ar", interp))}
    assert err["map"] < 0.8 * err["ar"]  # 0.121 vs 0.163
    # Noise-free samples: the MAP estimate keeps them and fills like fill_gaps.
    exact = rs.smooth_fill(clean, known, np.full(clean.size, 1e-12), order=16, block=320)
    np.testing.assert_allclose(exact[known], clean[known], atol=1e-4)
    ref = rs.fill_gaps(clean, known, order=16)
    assert np.mean((exact - clean)[~known] ** 2) < 1.5 * np.mean((ref - clean)[~known] ** 2)
    with pytest.raises(ParameterError, match="noise_var"):
        rs.smooth_fill(noisy, known, np.zeros(clean.size), order=16, block=320)


# --------------------------------------------------------------------------- fixed pattern


def test_remove_fixed_pattern_kills_frame_harmonics(rng):
    fps, rows, per = 60, 64, 80
    delay = 1 / (fps * per)
    t = rs.row_times(120, rows, fps=fps, delay=delay)
    tone = 0.05 * np.sin(2 * np.pi * 437.0 * t)
    pattern = 0.02 * rng.standard_normal(rows)  # the same in every frame
    cleaned = rs.remove_fixed_pattern(tone + pattern)
    np.testing.assert_allclose(cleaned, tone - tone.mean(axis=0), atol=1e-12)
    assert np.abs(tone.mean(axis=0)).max() < 0.01 * 0.05  # the tone itself averages out

    def harmonic_power(v):
        x, known = rs.place_samples(v, np.ones(rows, bool), rows=rows, fps=fps, delay=delay)
        spec = np.abs(np.fft.rfft(rs.fill_gaps(x, known, order=16))) ** 2
        f = np.fft.rfftfreq(x.size, delay)
        near = (f > 100) & (np.abs(f - fps * np.round(f / fps)) < 1)
        return spec[near].sum() / spec[f > 100].sum()

    assert harmonic_power(cleaned) < 0.01 * harmonic_power(tone + pattern)


# --------------------------------------------------------------------------- per-row motion


def test_derivative_taps_match_ideal_derivative():
    h = rs.derivative_taps(8)
    k = np.arange(-8, 9)
    for f in (0.05, 0.15, 0.3):
        w = 2 * np.pi * f
        assert abs(np.sum(h * np.exp(1j * w * k)) / (1j * w) - 1) < 5e-3


def test_sample_at_interpolates_band_limited_signal():
    n = np.arange(4000)
    f = lambda t: np.sin(2 * np.pi * 0.11 * t + 0.2) + 0.3 * np.cos(2 * np.pi * 0.37 * t)  # noqa: E731
    pos = np.linspace(500.0, 3500.0, 777)
    assert np.abs(sample_at(f(n), pos) - f(pos)).max() < 1e-4
    np.testing.assert_allclose(sample_at(f(n), np.array([10.0, 11.0])), f(np.array([10, 11])),
                               atol=1e-12)


def test_rolling_renderer_rows_match_global_renderer(rng):
    tex = make_texture((80, 80), seed=3)
    d = rng.uniform(-0.3, 0.3, size=(2, 32))
    rows = next(render_rolling_frames(tex, d, size=(32, 40), noise_sigma=0, bit_depth=16,
                                      direction=30.0))
    for n, y in [(0, 0), (0, 17), (1, 31)]:
        frame = next(render_frames(tex, np.array([d[n, y]]), size=(32, 40), noise_sigma=0,
                                   bit_depth=16, direction=30.0))[0]
        assert np.abs(rows[n, y].astype(int) - frame[y].astype(int)).max() <= 1


def test_row_motion_recovers_per_row_shifts(rng):
    tex = make_texture((96, 160), seed=5)
    d = 0.1 * rng.standard_normal((6, 48))
    d[0] = 0.0
    frames = next(render_rolling_frames(tex, d, size=(48, 120), noise_sigma=0, bit_depth=16))
    rm = rs.RowMotion(frames[0].astype(float))
    est = rm(frames.astype(np.float32))
    assert rm.valid.all()
    # Linearisation error ~ d^2 * curvature; quantisation is 1/257 of a grey level.
    assert np.abs(est - d).max() < 0.01
    assert np.corrcoef(est[1:].ravel(), d[1:].ravel())[0, 1] > 0.999


def test_row_motion_xy_recovers_both_components(rng):
    tex = make_texture((96, 160), seed=6)
    d = 0.1 * rng.standard_normal((5, 48))
    d[0] = 0.0
    frames = next(render_rolling_frames(tex, d, size=(48, 120), noise_sigma=0, bit_depth=16,
                                        direction=90.0))  # vertical motion only
    ref = frames[0].astype(float)
    horizontal = rs.RowMotion(ref)(frames)
    both = rs.RowMotion(ref, axes="xy")(frames)
    inner = slice(8, -8)  # the full-length vertical differentiator fits
    assert np.abs(both[1:, inner, 1] - d[1:, inner]).max() < 0.02  # dy (linearisation error)
    assert np.abs(both[1:, inner, 0]).max() < 0.01  # dx = 0
    # Near the edges shorter differences are used; the first and last rows are invalid.
    edge = slice(1, -1)
    assert np.corrcoef(both[1:, edge, 1].ravel(), d[1:, edge].ravel())[0, 1] > 0.99
    # The horizontal estimator cannot see it: no correlation with the truth.
    assert abs(np.corrcoef(horizontal[1:].ravel(), d[1:].ravel())[0, 1]) < 0.3


def test_principal_direction_and_central_difference():
    t = np.linspace(0, 1, 200)[:, None, None]
    u = np.array([np.cos(0.5), np.sin(0.5)])
    d = np.sin(50 * t) * u * np.ones((1, 4, 1))
    np.testing.assert_allclose(rs.principal_direction(d, np.ones(4, bool)), u, atol=1e-12)
    np.testing.assert_allclose(rs.principal_direction(-d, np.ones(4, bool)), u, atol=1e-12)
    x = np.arange(-3.0, 4.0)
    for m in (1, 2, 3):  # exact on polynomials of degree 2m
        c = rs.central_difference(m)
        poly = (x[3 - m:4 + m] + 0.3) ** (2 * m)
        assert c @ poly == pytest.approx(2 * m * 0.3 ** (2 * m - 1), rel=1e-9)


def test_row_motion_flags_rows_without_texture():
    ref = make_texture((40, 64), seed=1)
    ref[10:14] = 128.0
    rm = rs.RowMotion(ref)
    assert not rm.valid[10:14].any() and rm.valid[:10].all()
    assert np.all(rm(ref[None])[:, 10:14] == 0)


def test_flat_frames_have_no_texture():
    with pytest.raises(VideoError, match="no texture"):
        rs.RowMotion(np.full((16, 32), 100.0))
    with pytest.raises(VideoError, match="no texture"):
        recover_rolling(np.full((10, 32, 32), 100, np.uint8), fps=60, readout=0.8)


def test_reference_sampler_spreads_over_stream():
    s = rs.ReferenceSampler(8)
    for i in range(100):
        s.add(np.full((1, 1, 1), float(i)))
    held = s.held_indices()
    assert s.frames_held == len(held) <= 8 and held[0] == 0 and held[-1] >= 64
    assert np.all(np.diff(held) == s.stride)
    # The median of the frames held (values = indices) is the median index.
    assert float(s.reference()[0, 0]) == float(np.median(held))


# --------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def tone_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("rolling")
    rate = 60 * 128 / 0.7
    t = np.arange(int(rate * 1.0)) / rate
    wav = d / "tone.wav"
    sf.write(wav, np.sin(2 * np.pi * 1000.0 * t), int(round(rate)), subtype="FLOAT")
    return synthesize(d / "tone.mkv", audio=str(wav), fps=60, duration=0.75, amplitude=0.05,
                      size=(128, 64), noise_sigma=1.0, seed=2, rolling_shutter=0.7)


def test_synth_rolling_records_timing(tone_video):
    p = tone_video.params
    assert p["readout"] == 0.7 and p["row_rate"] == pytest.approx(60 * 128 / 0.7)
    truth, rate = sf.read(tone_video.truth_path)
    assert rate == round(p["row_rate"]) and truth.size == tone_video.truth.size
    assert json.loads(tone_video.meta_path.read_text())["rolling_shutter"] is True


@pytest.mark.parametrize("kw,needle", [
    (dict(rolling_shutter=0.0), "readout"),
    (dict(rolling_shutter=0.8, size=(8, 64)), "at least 16"),
    (dict(rolling_shutter=0.8, size="big"), "pair"),
    (dict(rolling_shutter=0.8, seed=-1), "seed"),
    (dict(rolling_shutter=0.8, duration=0.01), "fewer than 2 frames"),
])
def test_synth_rolling_bad_values(tmp_path, kw, needle):
    with pytest.raises(ParameterError, match=needle):
        synthesize(tmp_path / "x.mkv", audio="tone", fps=60, **kw)


def test_recover_rolling_tone_far_above_frame_nyquist(tone_video):
    rec = recover_rolling(tone_video.video_path, readout=0.7)
    y = rec.audio.astype(float)
    f = np.fft.rfftfreq(y.size, 1 / rec.rate)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert abs(f[np.argmax(spec * (f > 40))] - 1000.0) < 3  # 33x the 30 Hz frame Nyquist
    assert rec.known.mean() == pytest.approx(0.7, abs=0.01)
    # Per-row noise estimate vs the bound (sigma = 1, plus 1/12 of quantisation).
    ratio = np.median(rec.row_noise_var[rec.valid_rows]) / tone_video.crb_var
    assert 1.0 < ratio < 1.3
    s = snr(rec.motion, tone_video.motion, rate=rec.row_rate, band=(100, 4000), max_lag=5)
    assert s > 15
    # Chunking does not change the result; a region of interest keeps its sensor timing.
    again = recover_rolling(tone_video.video_path, readout=0.7, chunk_size=7)
    np.testing.assert_allclose(again.audio, rec.audio, rtol=0, atol=1e-6)  # float32 audio
    roi = recover_rolling(tone_video.video_path, readout=0.7, roi=(0, 64, 64, 64))
    assert roi.known.mean() == pytest.approx(0.35, abs=0.01)
    assert snr(roi.motion, tone_video.motion, rate=rec.row_rate, band=(100, 4000),
               max_lag=5) > 8


def test_recover_rolling_vertical_motion_needs_xy(tmp_path):
    res = synthesize(tmp_path / "v.mkv", audio="tone", fps=60, duration=0.5, amplitude=0.05,
                     size=(96, 64), noise_sigma=1.0, seed=3, rolling_shutter=0.8, direction=90)
    band = dict(rate=res.params["row_rate"], band=(100, 3000), max_lag=5)
    x_only = recover_rolling(res.video_path, readout=0.8)
    xy = recover_rolling(res.video_path, readout=0.8, axes="xy")
    assert snr(x_only.motion, res.motion, **band) < 3
    assert snr(xy.motion, res.motion, **band) > 15
    assert abs(abs(xy.params["direction_deg"]) - 90) < 3
    with pytest.raises(ParameterError, match="axes='xy'"):
        recover_rolling(res.video_path, readout=0.8, direction=90)


def test_estimate_readout_known_answer(rng):
    fps, rows, r = 60.0, 200, 0.83
    t = rs.row_times(40, rows, fps=fps, delay=r / (fps * rows))
    d = 0.05 * np.sin(2 * np.pi * 700.0 * t + 0.3) + 0.01 * rng.standard_normal(t.shape)
    fit = rs.estimate_readout(rs.remove_fixed_pattern(d), np.ones(rows, bool),
                              rows=np.arange(rows), n_rows=rows, fps=fps, tone_hz=700.0)
    assert abs(fit.readout - r) < 1e-3 and fit.explained > 0.9


def test_calibrate_rolling_recovers_readout(tone_video):
    cal = calibrate_rolling(tone_video.video_path, 1000.0)
    assert abs(cal.readout - 0.7) < 2e-3
    assert cal.row_rate == pytest.approx(60 * 128 / cal.readout)


# --------------------------------------------------------------------------- CLI


def test_cli_recover_and_calibrate(tone_video, tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert main(["recover", str(tone_video.video_path), "-o", str(out), "--rolling-shutter",
                 "0.7", "--output-rate", "44100", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["row_rate"] == pytest.approx(60 * 128 / 0.7) and summary["rate"] == 44100
    assert sf.info(out).samplerate == 44100
    assert main(["calibrate-rolling", str(tone_video.video_path), "--tone", "1000",
                 "--json", "-q"]) == 0
    assert abs(json.loads(capsys.readouterr().out)["readout"] - 0.7) < 2e-3


@pytest.mark.parametrize("argv,needle", [
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "0"], "(0, 1]"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "1.2"], "(0, 1]"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "abc"], "(0, 1]"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "0.7", "--line-delay", "1e-4"],
     "not allowed"),
    (["recover", "{v}", "-o", "{o}", "--line-delay", "0.001"], "exceeds the frame period"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "0.7", "--method", "fast"],
     "--method does not apply"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "0.7", "--downsample", "2"],
     "--roi"),
    (["calibrate-rolling", "{v}", "--tone", "-5"], "positive"),
    (["calibrate-rolling", "{v}", "--tone", "9000"], "half the row rate"),
    (["calibrate-rolling", "{v}", "--tone", "440", "--range", "0.9,0.1"], "LO,HI"),
    (["synth", "-o", "{o2}", "--rolling-shutter", "2"], "(0, 1]"),
    (["recover", "{v}", "-o", "{o}", "--gaps", "zero"], "need --rolling-shutter"),
    (["recover", "{v}", "-o", "{o}", "--rolling-shutter", "0.7", "--rolling-direction", "5"],
     "needs --rolling-axes xy"),
])
def test_cli_bad_values_one_line_exit_2(tone_video, tmp_path, capsys, argv, needle):
    argv = [a.format(v=tone_video.video_path, o=tmp_path / "o.wav", o2=tmp_path / "x.mkv")
            for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
