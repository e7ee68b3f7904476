import json
import warnings

import numpy as np
import pytest
from scipy.signal import chirp

from visualmic._errors import ParameterError, VisualMicWarning
from visualmic.core.post import resample
from visualmic.eval.metrics import (
    best_fit,
    evaluate,
    mae,
    pearson,
    rmse,
    segmental_snr,
    snr,
    stoi,
    stoi_min_duration,
)

RATE = 2200


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


@pytest.fixture
def speechlike():
    """A 2 s chirp with a slow amplitude modulation (non-stationary like speech)."""
    t = np.arange(2 * RATE) / RATE
    return chirp(t, 100, t[-1], 1000) * (1.0 + 0.8 * np.sin(2 * np.pi * 3 * t))


def _delay(x, k):
    """x delayed by k samples (late), zero-filled."""
    return np.concatenate([np.zeros(k), x[:-k]]) if k > 0 else x.copy()


def _noise_at_snr(ref, snr_db, rng):
    noise = rng.standard_normal(ref.size)
    noise *= np.sqrt(np.sum(ref**2) / np.sum(noise**2) / 10 ** (snr_db / 10))
    return noise


# --------------------------------------------------------------------------- best_fit


def test_best_fit_lag_sign_and_scale(speechlike):
    est = -3.0 * _delay(speechlike, 2)
    fitted, ref, lag, scale = best_fit(est, speechlike, max_lag=3)
    assert lag == 2
    assert scale == pytest.approx(-1 / 3)
    assert fitted.size == ref.size == speechlike.size - 2
    np.testing.assert_allclose(fitted, ref, atol=1e-12)


def test_best_fit_negative_lag(speechlike):
    est = 0.5 * speechlike[3:]  # early by 3 samples
    _, _, lag, scale = best_fit(est, speechlike, max_lag=5)
    assert lag == -3 and scale == pytest.approx(2.0)


def test_best_fit_zero_estimate(speechlike):
    fitted, _, lag, scale = best_fit(np.zeros_like(speechlike), speechlike, max_lag=2)
    assert scale == 0.0 and lag == 0 and not np.any(fitted)


@pytest.mark.parametrize("max_lag, match", [(-1, "max_lag=-1"), (1.5, "max_lag=1.5"),
                                            (10, "max_lag=10")])
def test_best_fit_bad_max_lag(max_lag, match):
    with pytest.raises(ParameterError, match=match):
        best_fit(np.ones(10), np.ones(10), max_lag=max_lag)


# --------------------------------------------------------------------------- snr


@pytest.mark.parametrize("target_db", [0.0, 10.0, 20.0])
def test_snr_known_value(speechlike, rng, target_db):
    noise = _noise_at_snr(speechlike, target_db, rng)
    # gain and sign of the estimate do not matter
    est = -0.2 * (speechlike + noise)
    # LS scaling shrinks a noisy estimate, so the measured SNR is
    # 10 log10(1 + 10^(snr/10)) for uncorrelated noise; both agree within 0.3 dB here
    expected = 10 * np.log10(1 + 10 ** (target_db / 10))
    assert snr(est, speechlike) == pytest.approx(expected, abs=0.3)
    if target_db >= 10:
        assert snr(est, speechlike) == pytest.approx(target_db, abs=0.5)


def test_snr_lag_search(speechlike):
    est = -3.0 * _delay(speechlike, 2)
    assert snr(est, speechlike, max_lag=3) > 100
    assert snr(est, speechlike, max_lag=0) < 10
    assert snr(est, speechlike, max_lag=1) < 10


def test_snr_perfect_is_finite(speechlike):
    value = snr(speechlike, speechlike)
    assert np.isfinite(value) and value > 250


def test_snr_band_limited(speechlike):
    # signal inside 80-1000 Hz: a 300-800 Hz chirp; noise only at 20 Hz and 1080 Hz
    t = np.arange(2 * RATE) / RATE
    ref = chirp(t, 300, t[-1], 800)
    out_of_band = 2.0 * np.sin(2 * np.pi * 20 * t) + 1.0 * np.sin(2 * np.pi * 1080 * t)
    est = ref + out_of_band
    assert snr(est, ref, rate=RATE) < 3
    assert snr(est, ref, rate=RATE, band=(80, 1000)) > 40


def test_snr_band_needs_rate(speechlike):
    with pytest.raises(ParameterError, match="needs rate"):
        snr(speechlike, speechlike, band=(80, 1000))


@pytest.mark.parametrize(
    "band, match",
    [((0, 500), "inside"), ((100, 1100), "inside"), ((100, 2000), "inside"),
     ((600, 500), "below the high"), ((500, 500), "below the high"), ("80", "pair")],
)
def test_bad_band(speechlike, band, match):
    with pytest.raises(ParameterError, match=match):
        snr(speechlike, speechlike, rate=RATE, band=band)


@pytest.mark.parametrize(
    "est, ref, match",
    [
        (np.array([]), np.ones(10), "estimate is empty"),
        (np.ones(10), np.array([]), "reference is empty"),
        (np.array([1.0, np.nan] * 5), np.ones(10), "NaN"),
        (np.ones(10), np.array([1.0, np.inf] * 5), "reference holds 5 NaN or infinite"),
        (np.ones(10), np.zeros(10), "all zeros"),
        (np.ones((2, 5)), np.ones(10), "shape"),
    ],
)
def test_bad_signals(est, ref, match):
    with pytest.raises(ParameterError, match=match):
        snr(est, ref)


# --------------------------------------------------------------------------- segmental SNR


def test_segmental_snr_clamps_and_skips_silence(speechlike, rng):
    ref = speechlike.copy()
    quiet = slice(0, RATE // 2)
    ref[quiet] *= 1e-4  # an (almost) silent first half second, -80 dB
    assert segmental_snr(3 * ref, ref, rate=RATE) == pytest.approx(35.0)
    noise = _noise_at_snr(speechlike, 10.0, rng)
    # faint noise only where the reference is silent: those segments would score
    # -10 dB, but are skipped; elsewhere the estimate is (nearly) perfect
    est = ref.copy()
    est[quiet] += 1e-2 * noise[quiet]  # -30 dB against the quiet reference
    assert segmental_snr(est, ref, rate=RATE) > 34
    # counting the quiet segments too (silence threshold 200 dB): 16 of the 66
    # segments of 66 samples lie wholly in the quiet part and clamp at -10 dB
    n_seg, n_quiet = (2 * RATE) // 66, (RATE // 2) // 66
    expected = (n_quiet * -10 + (n_seg - n_quiet) * 35) / n_seg
    assert segmental_snr(est, ref, rate=RATE, silence=200) == pytest.approx(expected, abs=0.1)
    # pure noise estimate: clamped at the lower limit
    assert segmental_snr(noise, ref, rate=RATE, clamp=(-10, 35)) >= -10
    assert segmental_snr(noise, ref, rate=RATE, clamp=(-10, 35)) < 0


def test_segmental_snr_near_global_snr_for_stationary_noise(rng):
    t = np.arange(2 * RATE) / RATE
    ref = np.sin(2 * np.pi * 300 * t)
    est = ref + _noise_at_snr(ref, 10.0, rng)
    assert segmental_snr(est, ref, rate=RATE) == pytest.approx(snr(est, ref), abs=1.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [({"segment": 0}, "segment=0"), ({"clamp": (35, -10)}, "clamp="),
     ({"rate": 0}, "rate=0"), ({"silence": -3}, "silence=-3")],
)
def test_segmental_snr_bad_parameters(speechlike, kwargs, match):
    args = {"rate": RATE, **kwargs}
    with pytest.raises(ParameterError, match=match):
        segmental_snr(speechlike, speechlike, **args)


# --------------------------------------------------------------------------- pearson, rmse, mae


def test_pearson_scale_and_sign_invariant(speechlike):
    assert pearson(3 * speechlike, speechlike) == pytest.approx(1.0)
    assert pearson(-3 * speechlike, speechlike) == pytest.approx(1.0)


def test_pearson_known_value(rng):
    a = rng.standard_normal(20000)
    b = rng.standard_normal(20000)
    # corr(a, a + b) = 1 / sqrt(2)
    assert pearson(a + b, a) == pytest.approx(1 / np.sqrt(2), abs=0.02)


def test_rmse_and_mae_on_fitted_signals(rng):
    ref = rng.standard_normal(50000)
    noise = 0.1 * rng.standard_normal(50000)
    est = 5.0 * (ref + noise)  # gain does not matter
    # LS scale ~ 1/(5 (1 + 0.01)): residual ~ noise, RMSE ~ 0.1, MAE ~ 0.1 sqrt(2/pi)
    assert rmse(est, ref) == pytest.approx(0.1, rel=0.03)
    assert mae(est, ref) == pytest.approx(0.1 * np.sqrt(2 / np.pi), rel=0.03)
    assert rmse(ref, ref) == pytest.approx(0.0, abs=1e-12)


# --------------------------------------------------------------------------- STOI


def test_stoi_at_2200_hz(speechlike, rng):
    clean = stoi(speechlike, speechlike, rate=RATE)
    noisy = stoi(speechlike + _noise_at_snr(speechlike, 0.0, rng), speechlike, rate=RATE)
    assert clean == pytest.approx(1.0, abs=1e-6)
    assert noisy < 0.8
    # non-integer rate works too (resampled to 10 kHz first)
    assert stoi(speechlike, speechlike, rate=2199.5) == pytest.approx(1.0, abs=1e-6)


def test_stoi_too_short_says_minimum(speechlike):
    n = int(0.3 * RATE)
    with pytest.raises(ParameterError, match=r"at least 0\.397 s"):
        stoi(speechlike[:n], speechlike[:n], rate=RATE)
    assert stoi_min_duration() == pytest.approx(0.3968)


def test_stoi_mostly_silent_reference(speechlike):
    ref = speechlike.copy()
    ref[300:] = 0.0
    with pytest.raises(ParameterError, match="mostly silent"):
        stoi(ref, ref, rate=RATE)


# --------------------------------------------------------------------------- evaluate


def test_evaluate_all_keys_and_json(speechlike, rng):
    est = -2 * _delay(speechlike, 1) + 0.05 * rng.standard_normal(speechlike.size)
    m = evaluate(est, speechlike, rate=RATE, band=(80, 1000))
    assert set(m) == {"snr_db", "segsnr_db", "pearson", "rmse", "mae", "stoi", "lag", "scale",
                      "band", "rate", "samples"}
    assert m["lag"] == 1
    assert m["scale"] < 0
    assert m["snr_db"] > 20
    assert 0.99 < m["pearson"] <= 1
    # at 2200 Hz only STOI's bands below 1.1 kHz hold signal: values are compressed
    assert 0.5 < m["stoi"] < 1.0
    noisier = evaluate(est + 0.5 * rng.standard_normal(est.size), speechlike, rate=RATE,
                       band=(80, 1000))
    assert noisier["stoi"] < m["stoi"] and noisier["snr_db"] < m["snr_db"]
    assert m["band"] == [80.0, 1000.0]
    assert json.loads(json.dumps(m)) == m
    # consistent with the single metrics
    assert m["snr_db"] == pytest.approx(snr(est, speechlike, rate=RATE, band=(80, 1000),
                                            max_lag=3))


def test_evaluate_resamples_to_reference_rate(speechlike):
    truth = resample(speechlike, RATE, 8000)
    m = evaluate(speechlike, truth, rate=RATE, ref_rate=8000)
    assert m["rate"] == 8000
    assert m["snr_db"] > 40
    assert abs(m["lag"]) <= 1


def test_evaluate_short_signal_skips_stoi_with_warning(speechlike):
    with pytest.warns(VisualMicWarning, match="STOI"):
        m = evaluate(speechlike[:500], speechlike[:500], rate=RATE)
    assert m["stoi"] is None and m["snr_db"] > 100


def test_evaluate_trims_to_overlap(speechlike):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = evaluate(speechlike[:3000], speechlike, rate=RATE)
    assert m["samples"] == 3000


@pytest.mark.parametrize(
    "kwargs, match",
    [({"rate": -1}, "rate=-1"), ({"ref_rate": 0}, "ref_rate=0"),
     ({"band": (10, 5000)}, "inside"), ({"max_lag": -2}, "max_lag=-2")],
)
def test_evaluate_bad_parameters(speechlike, kwargs, match):
    args = {"rate": RATE, **kwargs}
    with pytest.raises(ParameterError, match=match):
        evaluate(speechlike, speechlike, **args)


def test_evaluate_reference_at_another_rate_keeps_lag_in_time(speechlike):
    # estimate late by 1 sample at 2200 Hz = 3.6 samples at 8000 Hz: max_lag=3
    # (estimate samples) must still find it
    truth = resample(speechlike, RATE, 8000)
    m = evaluate(_delay(speechlike, 1), truth, rate=RATE, ref_rate=8000, max_lag=3,
                 band=(80, 1000))
    assert m["lag"] in (3, 4)
    # the remaining fractional offset (0.36 sample at 8 kHz) limits the SNR
    assert m["snr_db"] > 12
    m0 = evaluate(_delay(speechlike, 1), truth, rate=RATE, ref_rate=8000, max_lag=0,
                  band=(80, 1000))
    assert m0["lag"] == 0 and m0["snr_db"] < m["snr_db"] - 6


# --------------------------------------------------------------------------- CLI


def _run(argv):
    """Run the command line; return its exit code (argparse usage errors exit)."""
    from visualmic.cli import main

    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


@pytest.fixture
def wav_pair(tmp_path, speechlike, rng):
    import soundfile as sf

    truth = tmp_path / "truth.wav"
    rec = tmp_path / "rec.wav"
    sf.write(truth, (0.5 * speechlike).astype(np.float32), RATE, subtype="FLOAT")
    est = -0.1 * _delay(speechlike, 2) + 0.01 * rng.standard_normal(speechlike.size)
    sf.write(rec, est.astype(np.float32), RATE, subtype="FLOAT")
    return rec, truth, est


def test_cli_evaluate_json(wav_pair, capsys, speechlike):
    rec, truth, est = wav_pair
    assert _run(["evaluate", str(rec), str(truth), "--band", "80,1000", "--json"]) == 0
    out = capsys.readouterr().out
    m = json.loads(out)
    assert m["lag"] == 2
    assert m["band"] == [80.0, 1000.0]
    expected = snr(est.astype(np.float32), speechlike, rate=RATE, band=(80, 1000), max_lag=3)
    assert m["snr_db"] == pytest.approx(expected, abs=0.01)


def test_cli_evaluate_table(wav_pair, capsys):
    rec, truth, _ = wav_pair
    assert _run(["evaluate", str(rec), str(truth), "--max-lag", "0"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("  ")[0]: line.split()[-2:] for line in out.splitlines()}
    for label in ("SNR", "segmental SNR", "Pearson r", "RMSE", "MAE", "STOI", "lag"):
        assert label in rows
    assert rows["lag"] == ["0", "samples"]
    assert rows["SNR"][1] == "dB"


def test_cli_evaluate_missing_file(tmp_path, wav_pair, capsys):
    _, truth, _ = wav_pair
    code = _run(["evaluate", str(tmp_path / "nope.wav"), str(truth)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "nope.wav" in err and "Traceback" not in err


@pytest.mark.parametrize(
    "extra, match",
    [(["--band", "80"], "LO,HI"), (["--band", "80,5000"], "inside"),
     (["--max-lag", "-1"], "max-lag"), (["--band", "900,100"], "LO < HI")],
)
def test_cli_evaluate_bad_options(wav_pair, capsys, extra, match):
    rec, truth, _ = wav_pair
    code = _run(["evaluate", str(rec), str(truth), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert match in err and err.count("\n") == 1 and "Traceback" not in err
