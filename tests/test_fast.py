"""The fast (linear) estimator, large-motion detection, threaded decoding, long combination."""

import threading
import time
import warnings

import numpy as np
import pytest
import scipy.fft as sfft

import visualmic
from visualmic import ParameterError, VisualMicWarning
from visualmic.core.combine import combine_bands, combine_long
from visualmic.core.linear import AutoMotion, FastMotion
from visualmic.core.motion import PhaseMotion
from visualmic.core.pyramid import SteerablePyramid
from visualmic.engine.chain import build_estimator as motion_estimator
from visualmic.engine.threads import prefetch
from visualmic.eval.metrics import snr
from visualmic.sim.synthesize import make_audio, make_texture, render_frames

FPS = 2200.0


def assert_close_to_rounding(actual, desired, *, factor=64):
    """Equal up to rounding of the estimators' float32 arithmetic, relative to the peak.

    BLAS results depend on the batch's row count and the CPU (blocking, FMA), so the
    tolerance is ``factor`` float32 epsilons of the signal's peak (as scipy's tests
    scale theirs), not an absolute number below float32 resolution.
    """
    peak = float(np.abs(desired).max())
    np.testing.assert_allclose(actual, desired, rtol=0,
                               atol=factor * np.finfo(np.float32).eps * peak)


def _frames(amplitude, *, n=2200, size=64, sigma=1.0, seed=1, direction=30.0, kind="noise"):
    audio = make_audio("melody", rate=FPS, duration=n / FPS, seed=2)
    tex = make_texture((size + 40, size + 40), kind=kind, seed=3)
    chunks = render_frames(tex, amplitude * audio, direction=direction, size=(size, size),
                           noise_sigma=sigma, seed=seed)
    return np.concatenate(list(chunks)).astype(np.float32), audio


@pytest.fixture(scope="module")
def small_motion():
    return _frames(0.02)


def test_linear_estimate_is_the_first_order_phase_estimate():
    # Noise-free frames, tiny motion: the linear estimate equals the phase differences.
    f, _ = _frames(0.002, n=300, sigma=0.0)
    pyr = SteerablePyramid((64, 64), scales=3, orientations=4, highpass=True)
    phase = PhaseMotion(pyr, f[0])(f)
    fast = FastMotion(pyr, f[0])(f)
    for p, q in zip(phase, fast):
        assert np.corrcoef(p, q)[0, 1] > 0.999
        np.testing.assert_allclose(q, p, atol=0.02 * np.abs(p).max())
    # the reference frame itself has no motion
    assert np.abs(FastMotion(pyr, f[0]).linear(f[:1])).max() < 1e-6


@pytest.mark.parametrize("amplitude", [0.02, 0.1])
def test_same_snr_as_the_phase_method(amplitude):
    """Fast within 0.1 dB of phase (80-1000 Hz, best lag within 3) at <= 0.1 px."""
    f, audio = _frames(amplitude)
    res = {}
    for method in ("phase", "fast"):
        rec = visualmic.recover(f, fps=FPS, method=method)
        res[method] = snr(rec.audio, audio, rate=FPS, band=(80, 1000), max_lag=3)
    assert res["phase"] > 20
    assert abs(res["fast"] - res["phase"]) <= 0.1, res


def test_chunked_equals_whole(small_motion):
    f, _ = small_motion
    pyr = SteerablePyramid((64, 64), scales=2, highpass=True)
    fm = FastMotion(pyr, f[0])
    whole = fm(f[:512])
    parts = np.concatenate([fm(f[i : min(i + 100, 512)]) for i in range(0, 512, 100)],
                           axis=1)
    assert_close_to_rounding(parts, whole)


def test_large_motion_is_detected():
    f, _ = _frames(1.5, n=400)
    pyr = SteerablePyramid((64, 64), scales=3, highpass=True)
    with pytest.warns(VisualMicWarning, match="too large for the fast estimator"):
        fm = FastMotion(pyr, f[0])
        fm(f[:200])
    assert fm.max_excursion > fm.max_phase
    # the fast estimate is indeed far from the phase method there
    assert fm.deviation(f[:200], fm.linear(f[:200])) > 0.2
    # auto falls back to the phase method for every chunk
    auto = AutoMotion(pyr, f[0])
    out = np.concatenate([auto(f[i : i + 100]) for i in range(0, 400, 100)], axis=1)
    assert auto.phase_chunks == auto.chunks == 4
    assert_close_to_rounding(out, PhaseMotion(pyr, f[0])(f))


def test_small_motion_is_not_flagged(small_motion):
    f, _ = small_motion
    pyr = SteerablePyramid((64, 64), scales=3, highpass=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VisualMicWarning)
        fm = FastMotion(pyr, f[0])
        for i in range(0, len(f), 128):
            fm(f[i : i + 128])
    assert fm.large_chunks == 0 and fm.max_excursion < 0.1
    auto = AutoMotion(pyr, f[0])
    for i in range(0, len(f), 128):
        auto(f[i : i + 128])
    assert auto.phase_chunks == 0


def test_auto_in_recover_warns_nothing_and_matches_fast(small_motion):
    f, _ = small_motion
    fast = visualmic.recover(f[:800], fps=FPS, method="fast")
    auto = visualmic.recover(f[:800], fps=FPS, method="auto")
    np.testing.assert_array_equal(auto.audio, fast.audio)
    assert auto.params["method"] == "auto"


def test_half_spectrum_gather_equals_full_spectrum(small_motion):
    """The optimised phase method reads boxes from rfft2 by Hermitian symmetry: exact."""
    f, _ = small_motion
    for shape in [(64, 64), (63, 50)]:
        g = f[:8, : shape[0], : shape[1]].astype(np.float64)
        pyr = SteerablePyramid(shape, scales=2, highpass=True, dtype=np.float64)
        pm = PhaseMotion(pyr, g[0])
        full = sfft.fft2(g)
        rspec = sfft.rfft2(g)
        for plan in pm.plan:
            expected = full[:, plan.rows[:, None], plan.cols[None, :]] * plan.mask
            np.testing.assert_allclose(plan.gather(rspec), expected, rtol=0,  # float64 FFTs
                                       atol=64 * np.finfo(np.float64).eps * np.abs(full).max())


def test_torch_device_equals_numpy(small_motion):
    pytest.importorskip("torch")
    f, _ = small_motion
    pyr = SteerablePyramid((64, 64), scales=2, highpass=True)
    for method in ("fast", "phase"):
        a = motion_estimator(pyr, f[0], method=method)(f[:256])
        b = motion_estimator(pyr, f[0], method=method, device="cpu")(f[:256])
        np.testing.assert_allclose(b, a, rtol=1e-3, atol=1e-4 * np.abs(a).max())


def test_core_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, numpy as np, visualmic; "
            "visualmic.recover(np.random.default_rng(0).normal(128, 20, (64, 32, 32)), "
            "fps=2200.0, method='auto'); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_bad_parameters(small_motion):
    f, _ = small_motion
    pyr = SteerablePyramid((64, 64), scales=2)
    with pytest.raises(ParameterError, match="method='fastest'"):
        motion_estimator(pyr, f[0], method="fastest")
    with pytest.raises(ParameterError, match="max_phase=-1"):
        FastMotion(pyr, f[0], max_phase=-1)
    with pytest.raises(ParameterError, match="method='bogus'"):
        visualmic.recover(f[:50], fps=FPS, method="bogus")
    with pytest.raises(ParameterError, match="not a PyTorch device|needs PyTorch"):
        motion_estimator(pyr, f[0], method="fast", device="no-such-device")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        with pytest.raises(ParameterError, match="no CUDA GPU"):
            visualmic.recover(f[:50], fps=FPS, method="fast", device="cuda")


def test_prefetch_order_errors_and_early_close():
    assert list(prefetch(iter(range(20)), depth=3)) == list(range(20))

    def failing():
        yield 1
        raise ValueError("decoder broke")

    it = prefetch(failing())
    assert next(it) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(it)

    closed = threading.Event()

    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    it = prefetch(endless(), depth=2)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    it.close()
    assert closed.wait(5)
    time.sleep(0.05)
    assert not any(t.name == "visualmic-prefetch" and t.is_alive()
                   for t in threading.enumerate())
    with pytest.raises(ParameterError, match="depth=0"):
        next(prefetch([1], depth=0))


def test_combine_long_short_is_combine_bands_and_long_recovers_the_signal():
    rng = np.random.default_rng(7)
    T = 50_000
    d = np.sin(2 * np.pi * 313 * np.arange(T) / FPS) * (1 + 0.5 * np.sin(np.arange(T) / 3000))
    gains = np.array([1.0, -0.5, 0.2, 0.05])
    noise = np.array([0.3, 0.3, 0.3, 3.0])
    s = gains[:, None] * d[None] + noise[:, None] * rng.normal(size=(4, T))
    s[1] = np.roll(s[1], 2)  # a band two samples late
    short = s[:, :4000]
    a, b = combine_long(short, window=4096), combine_bands(short)
    np.testing.assert_array_equal(a.signal, b.signal)
    comb = combine_long(s, window=8192)
    assert comb.signal.shape == (T,) and comb.aligned is None
    assert comb.lags[1] == -2 and comb.signs[1] == -1
    full = combine_bands(s)
    # as good as the combination estimated on everything (ML bound here: r ~ 0.94)
    r_long = abs(np.corrcoef(comb.signal, d)[0, 1])
    assert r_long > 0.9 and r_long > abs(np.corrcoef(full.signal, d)[0, 1]) - 0.005
    np.testing.assert_allclose(comb.weights, full.weights, rtol=0.1, atol=0.02)
    with pytest.raises(ParameterError, match="window=10"):
        combine_long(s, window=10)
