"""Live recovery: incremental, causal, bounded latency; WAV valid while written; pipes."""

import io
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import soundfile as sf

import visualmic
from visualmic import ParameterError, VisualMicWarning
from visualmic.cli import main
from visualmic.engine.stream import Listener, listen
from visualmic.eval.metrics import pearson, snr
from visualmic.io.live import WavStream, raw_frames
from visualmic.sim.synthesize import make_audio, make_texture, render_frames

FPS = 2200.0


def _video(n=2200, amplitude=0.05, size=64, drift=0.0, seed=1):
    audio = make_audio("melody", rate=FPS, duration=n / FPS, seed=4)
    motion = amplitude * audio + drift * np.arange(n) / n
    tex = make_texture((size + 40, size + 40), kind="noise", seed=8)
    frames = np.concatenate(list(render_frames(tex, motion, direction=15.0, size=(size, size),
                                               noise_sigma=1.0, seed=seed)))
    return frames, audio


@pytest.fixture(scope="module")
def clip():
    return _video()


def _run(lis, frames, block):
    out, lags = [], []
    for i in range(0, len(frames), block):
        out.append(lis.push(frames[i : i + block]))
        if lis.n_out:
            lags.append(lis.n_in - lis.n_out)
    out.append(lis.flush())
    return np.concatenate(out), lags


def test_listener_recovers_the_sound_with_bounded_latency(clip):
    frames, audio = clip
    lis = Listener(frames.shape[1:], fps=FPS, update=0.25, window=0.4)
    y, lags = _run(lis, frames, 110)
    assert y.shape == (len(frames),) and y.dtype == np.float32
    assert np.abs(y).max() <= 1.0
    # once warmed up, every block comes out after a fixed delay of `latency` samples
    assert set(lags) == {lis.latency}
    block_s = 110 / FPS
    assert block_s + lis.latency / FPS <= 0.5
    # and the first audio appears within the warm-up (0.25 s) plus that delay
    assert lis.updates >= 2
    r = pearson(y, audio, rate=FPS, band=(80, 1000), max_lag=3)
    assert r > 0.97
    offline = visualmic.recover(frames, fps=FPS, method="fast")
    s_live = snr(y, audio, rate=FPS, band=(80, 1000), max_lag=3)
    s_off = snr(offline.audio, audio, rate=FPS, band=(80, 1000), max_lag=3)
    assert s_live > s_off - 3.0, (s_live, s_off)


def test_block_size_does_not_change_the_output(clip):
    frames, _ = clip
    options = dict(fps=FPS, update=0.2, window=0.3, rereference=0.3)
    a, _ = _run(Listener(frames.shape[1:], **options), frames, 64)
    b, _ = _run(Listener(frames.shape[1:], **options), frames, 300)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_no_startup_spike_with_a_drifting_surface():
    frames, audio = _video(n=2200, amplitude=0.03, drift=0.3)
    frames = frames.astype(np.float32) + 40  # and an offset in brightness
    # 0.3 px of drift takes a fixed reference out of the fast estimator's range...
    with pytest.warns(VisualMicWarning, match="too large"):
        fixed, _ = _run(Listener(frames.shape[1:], fps=FPS, rereference=None), frames, 110)
    # ...a renewed one keeps up (and the output stays continuous across renewals)
    with warnings.catch_warnings():
        warnings.simplefilter("error", VisualMicWarning)
        renewed, _ = _run(Listener(frames.shape[1:], fps=FPS, rereference=0.2), frames, 110)
    for y in (fixed, renewed):
        head, rest = np.abs(y[:300]).max(), np.abs(y[300:]).max()
        assert head < 1.5 * rest
        assert pearson(y, audio, rate=FPS, band=(80, 1000), max_lag=3) > 0.9


def test_wav_is_valid_while_it_is_written(tmp_path):
    rng = np.random.default_rng(0)
    for pcm16 in (False, True):
        path = tmp_path / f"live{int(pcm16)}.wav"
        w = WavStream(path, 2200.0, pcm16=pcm16)
        written = []
        for _ in range(4):
            block = rng.uniform(-0.9, 0.9, size=rng.integers(1, 300)).astype(np.float32)
            w.write(block)
            written.append(block)
            y, rate = sf.read(path, dtype="float32")  # read while still open for writing
            expected = np.concatenate(written)
            assert rate == 2200 and y.shape == expected.shape
            np.testing.assert_allclose(y, expected, atol=1e-4 if pcm16 else 0)
        w.close()


def test_raw_frames_blocks_and_partial_frame():
    data = np.arange(5 * 4 * 3, dtype="<u2").reshape(5, 4, 3)
    stream = io.BytesIO(data.tobytes() + b"\x01\x02\x03")  # plus a truncated frame
    blocks = list(raw_frames(stream, (4, 3), pix_fmt="gray16", block=2))
    assert [len(b) for b in blocks] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate(blocks), data.astype(np.float32))
    with pytest.raises(ParameterError, match="pix_fmt='rgb24'"):
        next(raw_frames(io.BytesIO(b""), (4, 3), pix_fmt="rgb24"))


def test_listen_to_a_binary_stream(clip):
    frames, audio = clip
    out = io.BytesIO()
    blocks = (frames[i : i + 110].astype(np.float32) for i in range(0, 1100, 110))
    res = listen(blocks, out, fps=FPS, pcm16=True)
    y = np.frombuffer(out.getvalue(), "<i2") / 32767
    assert res.frames == res.samples == len(y) == 1100
    assert pearson(y, audio[:1100], rate=FPS, band=(80, 1000), max_lag=3) > 0.9


def test_listen_through_a_pipe(tmp_path, clip):
    """``python -m visualmic listen --raw`` fed through a pipe: valid WAV during and after."""
    frames, audio = clip
    data = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    out = tmp_path / "out.wav"
    proc = subprocess.Popen(
        [sys.executable, "-m", "visualmic", "listen", "--raw", "64x64", "--pix-fmt", "gray8",
         "--fps", "2200", "-o", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        half = len(data) // 2
        proc.stdin.write(data[:half].tobytes())
        proc.stdin.flush()
        deadline = time.time() + 60
        n_mid = 0
        while time.time() < deadline and n_mid < half - 1000:
            time.sleep(0.1)
            if out.exists() and out.stat().st_size > 100:
                n_mid = len(sf.read(out)[0])  # a valid WAV while frames keep coming
        assert half - 1000 <= n_mid <= half
        proc.stdin.write(data[half:].tobytes())
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
    y, rate = sf.read(out)
    assert rate == 2200 and len(y) == len(frames)
    assert pearson(y, audio, rate=FPS, band=(80, 1000), max_lag=3) > 0.95


def test_bad_input(tmp_path, capsys):
    with pytest.raises(ParameterError, match="shape"):
        Listener((32, 32), fps=FPS).push(np.zeros((3, 16, 16)))
    with pytest.raises(ParameterError, match="highpass=2000"):
        Listener((32, 32), fps=FPS, highpass=2000)
    with pytest.raises(ParameterError, match="method='slow'"):
        Listener((32, 32), fps=FPS, method="slow")
    assert main(["listen", "--raw", "64x64", "-o", str(tmp_path / "x.wav")]) == 2
    assert "--fps" in capsys.readouterr().err
    assert main(["listen", "--fps", "2200", "-o", str(tmp_path / "x.wav")]) == 2
    assert "exactly one input" in capsys.readouterr().err
