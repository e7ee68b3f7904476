"""Synthetic scenes (visualmic.sim.scene): validation, truths, bounds, determinism, motion."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pytest
import soundfile as sf

from visualmic import InputFileError, ParameterError
from visualmic.bounds import periodic_gradients, translation_crb
from visualmic.cli import main
from visualmic.sim import _scene_spec
from visualmic.sim import scene as scene_mod
from visualmic.sim.scene import load_scene, scene_from_options, synthesize_scene
from visualmic.synth import synthesize


def _halves(**kw):
    d = {"size": 32, "duration": 0.05, "sounds": {"m": {"audio": "tone"}},
         "windows": [{"rect": [0, 0, 16, 32], "sound": "m"},
                     {"rect": [16, 0, 16, 32], "sound": "m", "sign": -1}]}
    d.update(kw)
    return d


def test_doctests():
    for mod in (scene_mod, _scene_spec):
        assert doctest.testmod(mod).failed == 0


def test_whole_frame_scene_is_synthesize(tmp_path):
    """One background window over the whole frame renders exactly what synthesize() renders."""
    ref = synthesize(tmp_path / "a.npy", audio="tone", duration=0.1, size=32, amplitude=0.03,
                     seed=3)
    res = synthesize_scene(tmp_path / "b.npy", {
        "size": 32, "duration": 0.1, "seed": 3,
        "windows": [{"rect": [0, 0, 32, 32], "audio": "tone", "amplitude": 0.03}]})
    assert np.array_equal(np.load(ref.video_path), np.load(res.video_path))
    np.testing.assert_allclose(res.motions[0], ref.motion, rtol=1e-12)
    np.testing.assert_allclose(res.mode_crb_var[0], ref.crb_var, rtol=1e-10)
    np.testing.assert_allclose(res.mode_crb_snr_db[0], ref.crb_snr_db, rtol=1e-10)


def test_mode_bound_is_the_union(tmp_path):
    """Two halves of the wall moving as a mode: the union bound is the whole frame's bound,
    and the harmonic combination of the two halves' bounds."""
    ref = synthesize(tmp_path / "a.npy", audio="tone", duration=0.05, size=32, seed=0)
    res = synthesize_scene(tmp_path / "b.npy", _halves())
    v1, v2 = res.window_crb_var
    np.testing.assert_allclose(res.mode_crb_var[0], 1 / (1 / v1 + 1 / v2), rtol=1e-10)
    np.testing.assert_allclose(res.mode_crb_var[0], ref.crb_var, rtol=1e-10)
    # At rest the halves show the wall exactly as synthesize() renders it.
    np.testing.assert_array_equal(res.clean_frame, ref.clean_frame)


def test_truth_and_bounds_are_recorded(tmp_path):
    scene = {"size": 48, "duration": 0.05, "noise_sigma": 1.5, "bit_depth": 16,
             "sounds": {"a": {"audio": "tone", "frequency": 300},
                        "b": {"audio": "tone", "frequency": 700}},
             "windows": [{"rect": [0, 0, 24, 48], "sound": "a", "amplitude": 0.05},
                         {"rect": [24, 0, 24, 48], "sound": "b", "amplitude": 0.02,
                          "direction": 90, "texture": "noise", "resonance": [700, 5]}]}
    res = synthesize_scene(tmp_path / "v.mkv", scene)
    rec = json.loads(res.meta_path.read_text())
    assert rec == res.params and rec["kind"] == "scene"
    assert [p.name for p in res.truth_paths] == ["v.truth.wav", "v.truth.1.wav"]
    assert rec["crb_snr_db"] is None and len(rec["modes"]) == 2  # two sounds: see "modes"
    for i, win in enumerate(rec["windows"]):
        assert win["truth"] == res.truth_paths[win["mode"]].name
        y, sr = sf.read(tmp_path / win["truth"], dtype="float64")
        assert sr == 2200
        np.testing.assert_allclose(y, res.truths[win["mode"]], atol=1e-7)
        np.testing.assert_allclose(win["sign"] * win["amplitude_px"] * y, res.motions[i],
                                   atol=1e-7 * win["amplitude_px"])
        assert win["crb_var_px2"] == pytest.approx(res.window_crb_var[i], rel=1e-12)
        assert win["crb_snr_db"] == pytest.approx(res.window_crb_snr_db[i], rel=1e-12)
        assert win["crb_var_with_quantization_px2"] > win["crb_var_px2"] > 0
    assert rec["windows"][1]["texture"] == "noise" and rec["windows"][1]["resonance"] == [700, 5]
    assert rec["noise_sigma_video_units"] == pytest.approx(1.5 * 257)
    # Window 0 shows the wall: its bound from the wall's exact gradients (sigma in 16-bit units).
    assert rec["modes"][0]["crb_var_px2"] == pytest.approx(res.window_crb_var[0], rel=1e-12)
    # The recorded bound matches translation_crb on the noise-free window (spectral
    # gradients of the clean frame's window: not exact at its borders, so within 15 %).
    gx, gy = periodic_gradients(res.clean_frame[:, :24])
    approx = translation_crb(gx, gy, direction=0, sigma=1.5 * 257)
    assert res.window_crb_var[0] == pytest.approx(approx, rel=0.15)


def test_deterministic_by_seed(tmp_path):
    a = synthesize_scene(tmp_path / "a.npy", _halves(seed=5))
    b = synthesize_scene(tmp_path / "b.npy", _halves(seed=5))
    c = synthesize_scene(tmp_path / "c.npy", _halves(seed=6))
    assert np.array_equal(np.load(a.video_path), np.load(b.video_path))
    assert a.truth_paths[0].read_bytes() == b.truth_paths[0].read_bytes()
    assert not np.array_equal(np.load(a.video_path), np.load(c.video_path))


def test_windows_move_and_wall_does_not(tmp_path):
    """Noise-free 16-bit frames: pixels outside the windows never change; inside, the change
    is -d(t) u.grad I (first order) with each window's own sign."""
    scene = {"size": 48, "duration": 0.05, "noise_sigma": 0, "bit_depth": 16,
             "sounds": {"m": {"audio": "tone"}},
             "windows": [{"rect": [4, 8, 16, 24], "sound": "m", "amplitude": 0.05},
                         {"rect": [26, 8, 16, 24], "sound": "m", "amplitude": 0.05, "sign": -1,
                          "texture": "noise"}]}
    res = synthesize_scene(tmp_path / "v.npy", scene)
    frames = np.load(res.video_path).astype(np.float64)
    diff = frames - frames[0]
    wall = res.owner < 0
    assert wall.sum() == 48 * 48 - 2 * 16 * 24
    assert np.all(diff[:, wall] == 0)
    t = int(np.argmax(np.abs(res.motions[0] - res.motions[0][0])))
    for i in range(2):
        win = res.owner == i
        gx, gy = np.gradient(res.clean_frame, axis=(1, 0))
        dd = res.motions[i, t] - res.motions[i, 0]
        predicted = -dd * gx[win]
        r = np.corrcoef(diff[t][win], predicted)[0, 1]
        assert r > 0.9, (i, r)
        assert np.std(diff[t][win]) > 10 * 257 * 0.01  # the window really moves
    assert np.sign(res.motions[0, t]) == -np.sign(res.motions[1, t])


@pytest.mark.parametrize("bad, match", [
    ({"windows": []}, "non-empty list of windows"),
    ({"windows": [{"audio": "tone"}]}, r"windows\[0\] needs a 'rect'"),
    ({"windows": [{"rect": [0, 0, 8]}]}, r"rect=\[0, 0, 8\] must be \[x, y, w, h\]"),
    ({"windows": [{"rect": [120, 0, 16, 16]}]}, "reaches outside the 128x128 frame"),
    ({"windows": [{"rect": [0, 0, 1, 16]}]}, "must be an integer >= 2"),
    ({"windows": [{"rect": [0, 0, 8, 8], "sign": 2}]}, r"sign=2 must be 1 or -1"),
    ({"windows": [{"rect": [0, 0, 8, 8], "sound": "x"}]}, "sound='x' is not in 'sounds'"),
    ({"windows": [{"rect": [0, 0, 8, 8], "sound": "a", "audio": "tone"}],
      "sounds": {"a": {"audio": "tone"}}}, "both 'sound' and audio"),
    ({"windows": [{"rect": [0, 0, 8, 8], "amplitud": 1}]}, "unknown key 'amplitud'"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "colour": 1}, "unknown key 'colour'"),
    ({"windows": [{"rect": [0, 0, 8, 8], "amplitude": -1}]}, "amplitude=-1 must be >= 0"),
    ({"windows": [{"rect": [0, 0, 8, 8], "resonance": [2000, 5]}]}, "below the Nyquist"),
    ({"windows": [{"rect": [0, 0, 8, 8], "texture": "marble"}]}, "texture='marble' is unknown"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "bit_depth": 12}, "choose 8 or 16"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "size": 8}, "size=8 must be an integer >= 16"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "duration": 0}, "duration=0 must be > 0"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "seed": -1}, "seed=-1"),
    ({"windows": [{"rect": [0, 0, 8, 8]}], "sounds": {"a": {"frequency": 3}}}, "needs an 'audio'"),
])
def test_validation_errors(bad, match):
    with pytest.raises(ParameterError, match=match):
        load_scene(bad)


def test_file_errors(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_scene(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{\"windows\": [")
    with pytest.raises(ParameterError, match="not valid JSON"):
        load_scene(tmp_path / "bad.json")
    with pytest.raises(InputFileError, match="nor an existing file"):
        load_scene({"windows": [{"rect": [0, 0, 8, 8], "audio": "nope.wav"}]})
    # Audio paths are relative to the scene file.
    sf.write(tmp_path / "s.wav", np.sin(np.arange(4000) / 3.0), 8000)
    (tmp_path / "ok.json").write_text(json.dumps(
        {"windows": [{"rect": [0, 0, 8, 8], "audio": "s.wav"}]}))
    assert load_scene(tmp_path / "ok.json").sounds[0].audio == str(tmp_path / "s.wav")


def test_covered_window_is_an_error(tmp_path):
    with pytest.raises(ParameterError, match="entirely covered"):
        synthesize_scene(tmp_path / "v.npy", {"size": 32, "duration": 0.01, "windows": [
            {"rect": [4, 4, 8, 8]}, {"rect": [0, 0, 16, 16]}]})


def test_options_and_sound_sharing():
    sc = scene_from_options([(0, 0, 8, 8), (8, 0, 8, 8), (16, 0, 8, 8)],
                            audio=["tone", "tone", "tone"], frequency=[300, 300, 700],
                            sign=[1, -1, 1], size=[32, 32], fps=2200.0, duration=0.1)
    assert [w.sound for w in sc.windows] == ["tone@300Hz", "tone@300Hz", "tone@700Hz"]
    assert [w.sign for w in sc.windows] == [1, -1, 1]
    with pytest.raises(ParameterError, match="window_sign has 2 values for 3 windows"):
        scene_from_options([(0, 0, 8, 8)] * 3, sign=[1, -1])


def test_cli_windows_and_scene(tmp_path, capsys):
    out = tmp_path / "v.mkv"
    rc = main(["synth", "-o", str(out), "--size", "32", "--duration", "0.05", "--audio", "tone",
               "--window", "0,0,16,32", "--window", "16,0,16,32", "--window-sign", "+1",
               "--window-sign", "-1", "-q"])
    assert rc == 0 and "1 mode(s)" in capsys.readouterr().out
    rec = json.loads((tmp_path / "v.json").read_text())
    assert [w["sign"] for w in rec["windows"]] == [1, -1] and rec["crb_snr_db"] > 0
    (tmp_path / "s.json").write_text(json.dumps(_halves()))
    assert main(["synth", "-o", str(tmp_path / "w.npy"), "--scene", str(tmp_path / "s.json"),
                 "-q"]) == 0
    assert main(["synth", "-o", str(out), "--scene", str(tmp_path / "s.json"),
                 "--window", "0,0,8,8"]) == 2
    assert "cannot be combined" in capsys.readouterr().err
