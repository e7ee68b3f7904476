"""Tests of visualmic.sim.synthesize: textures, audio, rendering, lossless video, synthesize()."""

from __future__ import annotations

import json
import math
import shutil

import av
import numpy as np
import pytest
import soundfile as sf

from visualmic._errors import AudioError, InputFileError, OutputError, ParameterError
from visualmic.cli import main
from visualmic.sim.bounds import frame_gradients, translation_crb
from visualmic.sim.synthesize import (
    AUDIO_KINDS,
    PHOTO_TEXTURES,
    TEXTURES,
    make_audio,
    make_texture,
    object_response,
    render_frames,
    synthesize,
    write_video,
)


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def _read_mkv(path):
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        rate = s.average_rate
        frames = np.array([f.to_ndarray() for f in c.decode(s)])
        codec = s.codec_context.name
    return frames, rate, codec


def _peak_hz(y, rate):
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    return np.fft.rfftfreq(y.size, 1 / rate)[np.argmax(spec)]


# --------------------------------------------------------------------------- lossless video


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_mkv_round_trip_keeps_rate_frames_and_pixels(tmp_path, rng, bit_depth):
    dtype = np.uint16 if bit_depth == 16 else np.uint8
    frames = rng.integers(0, np.iinfo(dtype).max + 1, size=(1234, 20, 28), dtype=dtype)
    frames[:, 0, 0] = np.arange(1234) % 251  # a frame counter: order must be kept
    # Uneven chunks, and a single (H, W) frame, as write_video accepts both.
    chunks = [frames[:500], frames[500:501], frames[501][None], frames[502:]]
    chunks[2] = frames[501]
    out = tmp_path / "clip.mkv"
    assert write_video(out, chunks, fps=2200, bit_depth=bit_depth) == 1234
    back, rate, codec = _read_mkv(out)
    # MKV timestamps are in ms (several frames per tick at 2200 fps): every frame
    # must still come back, in order, bit-exact, with the true frame rate.
    assert codec == "ffv1"
    assert rate == 2200
    assert back.dtype == dtype
    assert back.shape == frames.shape
    np.testing.assert_array_equal(back, frames)
    assert not list(tmp_path.glob(".*part*"))  # atomic: no temporary left behind


def test_mkv_keeps_fractional_rate(tmp_path):
    frames = np.zeros((30, 16, 16), np.uint8)
    write_video(tmp_path / "v.mkv", [frames], fps=30000 / 1001, bit_depth=8)
    _, rate, _ = _read_mkv(tmp_path / "v.mkv")
    assert float(rate) == pytest.approx(30000 / 1001, rel=1e-9)


def test_write_video_npy_and_errors(tmp_path, rng):
    frames = rng.integers(0, 65536, size=(7, 16, 18), dtype=np.uint16)
    seen = []
    n = write_video(tmp_path / "v.npy", [frames[:3], frames[3:]], fps=100, bit_depth=16,
                    progress=lambda d, t: seen.append((d, t)), total=7)
    assert n == 7 and seen[-1] == (7, 7)
    np.testing.assert_array_equal(np.load(tmp_path / "v.npy"), frames)
    with pytest.raises(ParameterError, match=r"\.avi.*must end in \.mkv"):
        write_video(tmp_path / "v.avi", [frames], fps=100, bit_depth=16)
    with pytest.raises(ParameterError, match="dtype uint16 do not match bit_depth=8"):
        write_video(tmp_path / "w.mkv", [frames], fps=100, bit_depth=8)
    with pytest.raises(ParameterError, match="no frames"):
        write_video(tmp_path / "w.mkv", [], fps=100, bit_depth=8)
    with pytest.raises(ParameterError, match="frame size changed"):
        write_video(tmp_path / "w.mkv", [frames[:2], frames[:2, :8]], fps=100, bit_depth=16)
    with pytest.raises(ParameterError, match="fps=0"):
        write_video(tmp_path / "w.mkv", [frames], fps=0, bit_depth=16)
    assert not (tmp_path / "w.mkv").exists()
    assert not list(tmp_path.glob(".*part*"))


# --------------------------------------------------------------------------- rendering


def _blob_texture(shape, rng, n=70, s=2.0):
    """A sum of Gaussian blobs: analytic, effectively band-limited and periodic."""
    h, w = shape
    cy = rng.uniform(14, h - 14, n)
    cx = rng.uniform(14, w - 14, n)
    amp = rng.choice([-1, 1], n) * rng.uniform(30, 70, n)

    def image(x, y):
        dx = x[..., None] - cx
        dy = y[..., None] - cy
        g = np.exp(-(dx**2 + dy**2) / (2 * s * s))
        value = 120 + (amp * g).sum(-1)
        return value, (amp * g * -dx / s**2).sum(-1), (amp * g * -dy / s**2).sum(-1)

    return image


@pytest.mark.parametrize("theta", [0.0, 30.0])
def test_render_is_exact_subpixel_translation_without_wraparound(rng, theta):
    big, size, top = (96, 100), (48, 52), (24, 24)
    image = _blob_texture(big, rng)
    yy, xx = np.mgrid[0 : big[0], 0 : big[1]].astype(float)
    tex = image(xx, yy)[0]
    d = 0.3
    ux, uy = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    frames = np.concatenate(list(render_frames(tex, np.array([0.0, d]), direction=theta,
                                               size=size, noise_sigma=0.0, bit_depth=16)))
    assert frames.dtype == np.uint16 and frames.shape == (2,) + size
    fy, fx = np.mgrid[0 : size[0], 0 : size[1]].astype(float)
    fy += top[0]
    fx += top[1]
    moved = frames[1] / 257.0
    # Every pixel, borders included, equals the analytic texture at x − d·u.
    expect, _, _ = image(fx - d * ux, fy - d * uy)
    assert np.abs(moved - expect).max() < 1.0 / 257
    np.testing.assert_allclose(frames[0] / 257.0, image(fx, fy)[0], atol=1.0 / 257)

    def estimate(region):
        """Gauss-Newton least squares with the analytic gradient."""
        est = 0.0
        for _ in range(6):
            model, gx, gy = image(fx[region] - est * ux, fy[region] - est * uy)
            jac = -(ux * gx + uy * gy)
            est += np.sum((moved[region] - model) * jac) / np.sum(jac * jac)
        return est

    assert estimate(np.s_[:, :]) == pytest.approx(d, abs=0.002)
    # The border strips move exactly like the whole frame: no wrap-around.
    for strip in (np.s_[:, :6], np.s_[:, -6:], np.s_[:6, :], np.s_[-6:, :]):
        assert estimate(strip) == pytest.approx(d, abs=0.002)


def test_render_translates_nyquist_terms_of_even_textures():
    # Even sizes have Nyquist terms cos(πx), cos(πy): their translate, sampled on
    # the grid, is cos(πd)·cos(πx); the other terms move by d exactly.
    big, size, top = (40, 48), (20, 24), (10, 12)
    d, theta = 0.3, 30.0
    dx, dy = d * math.cos(math.radians(theta)), d * math.sin(math.radians(theta))

    def image(x, y, sx=0.0, sy=0.0):
        return (100 + 20 * np.cos(np.pi * y) * np.cos(np.pi * sy)
                * np.cos(2 * np.pi * 3 * (x - sx) / big[1] + 0.4)
                + 15 * np.cos(np.pi * x) * np.cos(np.pi * sx)
                + 10 * np.sin(2 * np.pi * 2 * (y - sy) / big[0])
                + 10 * np.cos(np.pi * x) * np.cos(np.pi * y) * np.cos(np.pi * sx)
                * np.cos(np.pi * sy))

    yy, xx = np.mgrid[0 : big[0], 0 : big[1]].astype(float)
    frame = next(render_frames(image(xx, yy), np.array([d]), direction=theta, size=size,
                               noise_sigma=0.0, bit_depth=16))[0] / 257.0
    fy, fx = np.mgrid[top[0] : top[0] + size[0], top[1] : top[1] + size[1]].astype(float)
    assert np.abs(frame - image(fx, fy, dx, dy)).max() < 1.0 / 257


def test_render_chunking_noise_and_margin(rng):
    tex = make_texture((40, 40), seed=1)
    motion = rng.uniform(-0.05, 0.05, 50)
    a = np.concatenate(list(render_frames(tex, motion, size=(24, 24), seed=3, chunk=7)))
    b = np.concatenate(list(render_frames(tex, motion, size=(24, 24), seed=3, chunk=256)))
    np.testing.assert_array_equal(a, b)  # frames do not depend on the chunk size
    clean = np.concatenate(list(render_frames(tex, motion, size=(24, 24), noise_sigma=0)))
    noise = a.astype(float) - clean
    assert noise.std() == pytest.approx(math.sqrt(1 + 1 / 12), rel=0.05)
    c16 = np.concatenate(list(render_frames(tex, motion, size=(24, 24), noise_sigma=0,
                                            bit_depth=16)))
    # 16-bit = 8-bit scale × 257, only finer quantisation.
    assert np.abs(c16 / 257.0 - clean).max() <= 0.5 + 0.5 / 257
    with pytest.raises(ParameterError, match=r"margin of 2 px .* needs 4 px"):
        next(render_frames(tex, np.array([0.0, 1.5]), size=(36, 36)))
    with pytest.raises(ParameterError, match="size=.*>= 16"):
        next(render_frames(tex, motion, size=(8, 8)))
    with pytest.raises(ParameterError, match="bit_depth=12"):
        next(render_frames(tex, motion, size=(24, 24), bit_depth=12))
    with pytest.raises(ParameterError, match="noise_sigma=-1"):
        next(render_frames(tex, motion, size=(24, 24), noise_sigma=-1))


# --------------------------------------------------------------------------- textures


def test_noise_texture_statistics_and_periodicity():
    tex = make_texture((160, 144), seed=7)
    assert tex.shape == (160, 144) and tex.dtype == np.float64
    assert tex.mean() == pytest.approx(128, abs=2)
    assert tex.std() == pytest.approx(40, abs=1)
    assert 0 < tex.min() and tex.max() < 255
    # Band-limited: no energy above 0.4 cycles/px (except what the soft limiter adds).
    spec = np.abs(np.fft.fft2(tex - tex.mean())) ** 2
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(160), np.fft.fftfreq(144), indexing="ij"))
    assert spec[f > 0.42].sum() / spec.sum() < 1e-3
    # Periodic: the wrap-around step is no larger than a neighbour step.
    seam = np.abs(tex[:, 0] - tex[:, -1]).mean()
    inner = np.abs(np.diff(tex, axis=1)).mean()
    assert seam < 1.5 * inner
    np.testing.assert_array_equal(tex, make_texture((160, 144), seed=7))
    assert not np.array_equal(tex, make_texture((160, 144), seed=8))


def test_photo_textures_load_offline_and_are_periodic():
    assert set(PHOTO_TEXTURES) <= set(TEXTURES) and "noise" in TEXTURES
    for kind in PHOTO_TEXTURES:
        tex = make_texture((40, 56), kind=kind, seed=0)
        assert tex.shape == (40, 56), kind
        assert 1.0 - 1e-9 <= tex.min() and tex.max() <= 254.0 + 1e-9, kind
        assert tex.std() > 2, kind
    a = make_texture((64, 64), kind="camera", seed=1)
    np.testing.assert_array_equal(a, make_texture((64, 64), kind="camera", seed=1))
    assert not np.array_equal(a, make_texture((64, 64), kind="camera", seed=2))
    seam = np.abs(a[0] - a[-1]).mean()
    inner = np.abs(np.diff(a, axis=0)).mean()
    assert seam < 1.5 * inner
    # Larger than the photograph: upsampled, still fine.
    assert make_texture((600, 600), kind="text").shape == (600, 600)


def test_make_texture_errors():
    with pytest.raises(ParameterError, match="texture='marble' is unknown; choose one of noise"):
        make_texture((32, 32), kind="marble")
    with pytest.raises(ParameterError, match="shape=.*>= 8"):
        make_texture((4, 32))
    with pytest.raises(ParameterError, match="seed=-1"):
        make_texture((32, 32), seed=-1)


# --------------------------------------------------------------------------- audio


def test_tone_peak_and_normalisation():
    y = make_audio("tone", rate=2200, duration=1.0)
    assert y.shape == (2200,) and np.max(np.abs(y)) == pytest.approx(1.0)
    assert _peak_hz(y, 2200) == pytest.approx(440, abs=1)
    z = make_audio("tone", rate=8000, duration=0.5, frequency=1234)
    assert _peak_hz(z, 8000) == pytest.approx(1234, abs=2)


def test_tones_chirp_melody_spectra():
    rate = 2200.0
    y = make_audio("tones", rate=rate, duration=2.0, seed=3)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / rate)
    assert spec[(f >= 95) & (f <= 905)].sum() / spec.sum() > 0.99
    np.testing.assert_array_equal(y, make_audio("tones", rate=rate, duration=2.0, seed=3))
    assert not np.array_equal(y, make_audio("tones", rate=rate, duration=2.0, seed=4))

    c = make_audio("chirp", rate=rate, duration=2.0)
    n = c.size // 10
    assert _peak_hz(c[:n], rate) < 150  # starts at 80 Hz
    assert _peak_hz(c[-n:], rate) > 0.38 * rate  # ends at 0.45·rate
    assert np.max(np.abs(c)) == pytest.approx(1.0)

    m = make_audio("melody", rate=rate, duration=3.0, seed=0)
    notes = 261.6255653005986 * 2 ** (np.arange(-4, 12) / 12)
    peak = _peak_hz(m, rate)
    assert np.min(np.abs(notes - peak)) / peak < 0.01
    assert np.max(np.abs(m)) == pytest.approx(1.0)
    np.testing.assert_array_equal(m, make_audio("melody", rate=rate, duration=3.0, seed=0))


def test_audio_from_file_resampled_and_mixed_down(tmp_path):
    sr = 44100
    t = np.arange(int(0.8 * sr)) / sr
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 300 * t), 0.3 * np.sin(2 * np.pi * 300 * t)], 1)
    stereo[:, 1] += 0.2 * np.sin(2 * np.pi * 5000 * t)  # above the new Nyquist: must vanish
    path = tmp_path / "in.wav"
    sf.write(path, stereo, sr)
    y = make_audio(str(path), rate=2200, duration=0.5)
    assert y.shape == (1100,)
    assert _peak_hz(y, 2200) == pytest.approx(300, abs=3)
    assert np.max(np.abs(y)) == pytest.approx(1.0)
    # The aliased 5 kHz component (5000 − 2·2200 = 600 Hz) is filtered out.
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    f = np.fft.rfftfreq(y.size, 1 / 2200)
    assert spec[np.abs(f - 600) < 10].max() < 1e-3 * spec.max()
    whole = make_audio(path, rate=2200, duration=None)
    assert whole.size == pytest.approx(0.8 * 2200, abs=1)
    with pytest.warns(UserWarning, match="shorter than duration"):
        assert make_audio(path, rate=2200, duration=1.0).size == 2200
    # A low frame rate: the 80-1000 Hz bound is undefined (null in the JSON), not an error.
    res = synthesize(tmp_path / "low.npy", audio=path, fps=120.0, duration=0.5, size=16)
    assert math.isnan(res.crb_snr_db) and res.params["crb_snr_db"] is None
    assert res.params["audio_info"] == {"kind": "file", "path": str(path)}
    # The outputs may never overwrite the audio input.
    sf.write(tmp_path / "in.truth.wav", stereo, sr)
    with pytest.raises(OutputError, match="is the input file"):
        synthesize(tmp_path / "in.mkv", audio=tmp_path / "in.truth.wav", duration=0.1, size=16)
    with pytest.raises(InputFileError, match="missing.wav' not found"):
        make_audio(str(tmp_path / "missing.wav"), rate=2200)
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(AudioError, match="cannot read audio file"):
        make_audio(str(tmp_path / "bad.wav"), rate=2200)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_speech_with_espeak():
    y = make_audio("speech", rate=2200, duration=1.5, seed=0, voice="en-us",
                   text="Hello visual microphone")
    assert y.shape == (3300,) and np.max(np.abs(y)) == pytest.approx(1.0)
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(y.size, 1 / 2200)
    assert spec[(f > 80) & (f < 1000)].sum() / spec.sum() > 0.5
    np.testing.assert_array_equal(
        y, make_audio("speech", rate=2200, duration=1.5, seed=0, voice="en-us",
                      text="Hello visual microphone"))
    with pytest.raises(ParameterError, match="voice='xx-nope'"):
        make_audio("speech", rate=2200, duration=0.5, voice="xx-nope")


def test_speech_without_espeak_says_how_to_install(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(ParameterError, match="apt-get install espeak-ng"):
        make_audio("speech", rate=2200, duration=0.5)


def test_make_audio_errors():
    assert set(AUDIO_KINDS) == {"tone", "tones", "chirp", "melody", "speech"}
    with pytest.raises(ParameterError, match="audio='noize' is unknown; choose one of tone"):
        make_audio("noize", rate=2200)
    with pytest.raises(ParameterError, match="rate=0"):
        make_audio("tone", rate=0)
    with pytest.raises(ParameterError, match="duration=-1"):
        make_audio("tone", rate=2200, duration=-1)
    with pytest.raises(ParameterError, match="rate=800 Hz is too low for audio='tone'"):
        make_audio("tone", rate=800)
    with pytest.raises(ParameterError, match=r"duration=None \(the whole file\) is only allowed"):
        make_audio("chirp", rate=2200, duration=None)


def test_object_response_resonance_and_lowpass():
    rate = 2200.0
    t = np.arange(int(2 * rate)) / rate

    def gain(f, **kw):
        y = object_response(np.sin(2 * np.pi * f * t), rate=rate, **kw)
        return np.abs(y[len(y) // 2 :]).max()  # steady state

    assert gain(300.0, resonance=(300.0, 10.0)) == pytest.approx(1.0, abs=0.01)  # unit peak
    assert gain(100.0, resonance=(300.0, 10.0)) < 0.15  # ≈ 1/q off resonance
    assert gain(50.0, lowpass=200.0) == pytest.approx(1.0, abs=0.01)
    assert gain(800.0, lowpass=200.0) < 0.01
    with pytest.raises(ParameterError, match="f0=2000 Hz must lie between 0 and the Nyquist"):
        object_response(t, rate=rate, resonance=(2000, 5))
    with pytest.raises(ParameterError, match="q=0 must be a positive"):
        object_response(t, rate=rate, resonance=(200, 0))
    with pytest.raises(ParameterError, match="resonance=300 must be a pair"):
        object_response(t, rate=rate, resonance=300)
    with pytest.raises(ParameterError, match="lowpass=1500"):
        object_response(t, rate=rate, lowpass=1500)


# --------------------------------------------------------------------------- synthesize


def test_synthesize_files_truth_and_determinism(tmp_path):
    kw = dict(audio="tones", fps=2200.0, duration=0.1, amplitude=0.05, direction=30.0,
              size=(20, 24), texture="gravel", resonance=(400.0, 5.0), seed=11)
    res = synthesize(tmp_path / "a.mkv", **kw)
    assert res.video_path.exists() and res.truth_path.name == "a.truth.wav"
    assert res.meta_path.name == "a.json"
    frames, rate, codec = _read_mkv(res.video_path)
    assert frames.shape == (220, 20, 24) and rate == 2200 and codec == "ffv1"
    assert np.max(np.abs(res.motion)) == pytest.approx(0.05)
    np.testing.assert_allclose(res.motion, 0.05 * res.truth)
    truth, sr = sf.read(res.truth_path)
    assert sr == 2200 and sf.info(res.truth_path).subtype == "FLOAT"
    np.testing.assert_allclose(truth, res.truth, atol=1e-7)
    meta = json.loads(res.meta_path.read_text())
    assert meta["n_frames"] == 220 and meta["amplitude_px"] == 0.05 and meta["fps"] == 2200
    assert meta["crb_var_px2"] == pytest.approx(res.crb_var)
    assert meta["crb_snr_db"] == pytest.approx(res.crb_snr_db)
    assert meta["texture"] == "gravel" and meta["resonance"] == [400.0, 5.0]
    assert "version" in meta and meta == res.params
    # The same seed writes identical files; another seed does not.
    again = synthesize(tmp_path / "b.mkv", **kw)
    for x, y in ((res.video_path, again.video_path), (res.truth_path, again.truth_path)):
        assert x.read_bytes() == y.read_bytes()
    strip = {"video", "truth"}
    assert {k: v for k, v in meta.items() if k not in strip} == {
        k: v for k, v in again.params.items() if k not in strip}
    other = synthesize(tmp_path / "c.mkv", **{**kw, "seed": 12})
    assert other.video_path.read_bytes() != res.video_path.read_bytes()


@pytest.mark.parametrize("bit_depth,sigma", [(8, 2.0), (16, 1.0)])
def test_synthesize_bound_matches_the_data(tmp_path, bit_depth, sigma):
    """Frames read back from disk, minus the clean frame, give the CRB variance."""
    res = synthesize(tmp_path / "v.npy", audio="tone", fps=2200.0, duration=0.7,
                     amplitude=0.01, direction=60.0, size=(24, 24), noise_sigma=sigma,
                     bit_depth=bit_depth, seed=4)
    frames = np.load(res.video_path).astype(float)
    scale = 257 if bit_depth == 16 else 1
    assert frames.dtype == float and res.clean_frame.max() > 100 * scale
    gx, gy = frame_gradients(res.clean_frame)
    t = math.radians(60.0)
    gu = math.cos(t) * gx + math.sin(t) * gy
    est = -np.einsum("tij,ij->t", frames - res.clean_frame, gu) / np.sum(gu * gu)
    err = est - res.motion
    # The bound uses sigma in the video's units (×257 at 16 bits); rounding adds 1/12.
    expected = res.crb_var * ((sigma * scale) ** 2 + 1 / 12) / (sigma * scale) ** 2
    assert err.var() / expected == pytest.approx(1.0, abs=0.12)
    assert res.crb_var == pytest.approx(
        translation_crb(gx, gy, direction=60.0, sigma=sigma * scale), rel=0.06)
    assert res.params["crb_var_with_quantization_px2"] == pytest.approx(expected, rel=1e-9)


def test_synthesize_errors(tmp_path):
    out = tmp_path / "v.mkv"
    bad = [
        (dict(fps=0), "fps=0 must be > 0"),
        (dict(duration=0), "duration=0 must be > 0"),
        (dict(amplitude=-0.1), "amplitude=-0.1 must be >= 0"),
        (dict(size=8), "size=8 must hold integers >= 16"),
        (dict(size=(32, 10)), "size=.*>= 16"),
        (dict(bit_depth=12), "bit_depth=12 is not supported; choose 8 or 16"),
        (dict(noise_sigma=-1), "noise_sigma=-1 must be >= 0"),
        (dict(texture="marble"), "texture='marble' is unknown; choose one of noise, camera"),
        (dict(audio="noize"), "audio='noize' is unknown; choose one of tone, tones"),
        (dict(resonance=(5000, 3)), "f0=5000 Hz must lie between 0 and the Nyquist"),
        (dict(direction=float("nan")), "direction=nan must be a finite number"),
        (dict(seed=-3), "seed=-3 must be a non-negative integer"),
    ]
    for kw, match in bad:
        with pytest.raises(ParameterError, match=match):
            synthesize(out, duration=kw.pop("duration", 0.05), size=kw.pop("size", 32), **kw)
    with pytest.raises(ParameterError, match=r"\.mp4.*must end in \.mkv"):
        synthesize(tmp_path / "v.mp4")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- command line


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "clip.mkv"
    code = main(["synth", "-o", str(out), "--audio", "chirp", "--duration", "0.05",
                 "--size", "40x32", "--bit-depth", "16", "--direction", "90",
                 "--resonance", "300,8", "--seed", "2", "--quiet"])
    assert code == 0
    line = capsys.readouterr().out.strip()
    assert "110 frames" in line and "2200 fps" in line and "CRB SNR" in line
    frames, rate, _ = _read_mkv(out)
    assert frames.shape == (110, 32, 40) and frames.dtype == np.uint16 and rate == 2200
    meta = json.loads((tmp_path / "clip.json").read_text())
    assert meta["direction_deg"] == 90 and meta["resonance"] == [300.0, 8.0]

    assert main(["synth", "-o", str(tmp_path / "x.mkv"), "--texture", "marble", "-q"]) == 2
    assert "texture='marble' is unknown" in capsys.readouterr().err
    try:  # argparse usage errors: exit code 2, whether main returns it or exits
        code = main(["synth", "-o", str(tmp_path / "y.mkv"), "--size", "12x40"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "--size '12x40' must be N or WxH" in capsys.readouterr().err
