"""Spatial recovery end to end: recover finds the vibrating part, sources, displacement, map."""

import json

import numpy as np
import pytest
import soundfile as sf

import visualmic
from visualmic import ParameterError
from visualmic.cli import main
from visualmic.eval.metrics import snr
from visualmic.sim.scene import synthesize_scene


def _scene(path, windows, *, size=96, duration=0.8, seed=1, **kw):
    spec = {"size": [size, size], "fps": 2200, "duration": duration, "noise_sigma": 1.0,
            "seed": seed, "windows": windows, **kw}
    return synthesize_scene(path, spec)


@pytest.fixture(scope="module")
def patch(tmp_path_factory):
    """A 32x32 textured patch moving on a static textured wall (96x96)."""
    d = tmp_path_factory.mktemp("patch")
    return _scene(d / "patch.mkv", [{"rect": [48, 16, 32, 32], "audio": "melody",
                                     "amplitude": 0.04, "direction": 20}])


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    """Two patches carrying two different sounds."""
    d = tmp_path_factory.mktemp("two")
    return _scene(d / "two.mkv", [
        {"rect": [4, 8, 36, 36], "audio": "melody", "amplitude": 0.04},
        {"rect": [56, 52, 36, 36], "audio": "chirp", "amplitude": 0.04, "direction": 60},
    ], seed=3)


def _snr(rec, truth):
    return snr(rec.audio, truth[: len(rec.audio)], rate=rec.rate, band=(80, 1000), max_lag=3)


def test_default_finds_the_patch_without_roi(patch):
    truth = patch.truths[0]
    default = visualmic.recover(patch.video_path)
    whole = visualmic.recover(patch.video_path, weighting="ml")
    roi = visualmic.recover(patch.video_path, weighting="ml", roi=(48, 16, 32, 32))
    s_default, s_whole, s_roi = _snr(default, truth), _snr(whole, truth), _snr(roi, truth)
    bound = float(patch.mode_crb_snr_db[0])
    # today's whole-frame weighting drowns the patch in the static wall's noise
    assert s_whole < bound - 6
    # the spatial default gets near the bound of the vibrating region, like a hand ROI
    assert s_default > bound - 3.0, (s_default, bound)
    assert s_default > s_roi - 1.5, (s_default, s_roi)
    # the cells that carry the weight are those of the patch
    cells = default.cells["cells"]
    heavy = [c for c in cells if c["significant"] and abs(c["weight"]) > 0]
    assert heavy
    for c in heavy:
        assert c["x"] + c["w"] > 40 and c["x"] < 88 and c["y"] < 56, c


def test_opposite_halves_are_flipped_not_cancelled(tmp_path):
    res = _scene(tmp_path / "halves.mkv", [
        {"rect": [0, 0, 48, 96], "sound": "a", "amplitude": 0.03, "sign": 1},
        {"rect": [48, 0, 48, 96], "sound": "a", "amplitude": 0.03, "sign": -1},
    ], sounds={"a": {"audio": "melody"}}, duration=0.6)
    truth = res.truths[0]
    whole = _snr(visualmic.recover(res.video_path, weighting="ml"), truth)
    default = _snr(visualmic.recover(res.video_path), truth)
    bound = float(res.mode_crb_snr_db[0])
    assert whole < bound - 8  # the halves cancel in whole bands
    assert default > bound - 3.0, (default, bound)


def test_whole_frame_video_unchanged_within_a_tenth_of_a_db(tmp_path):
    res = visualmic.synthesize(tmp_path / "w.mkv", audio="tone", duration=0.6,
                               amplitude=0.02, direction=30, size=(64, 64), seed=5)
    ml = _snr(visualmic.recover(res.video_path, weighting="ml"), res.truth)
    default = _snr(visualmic.recover(res.video_path), res.truth)
    assert abs(default - ml) < 0.1, (default, ml)


def test_two_sources_separated(two):
    rec = visualmic.recover(two.video_path, sources=2)
    assert rec.sources_audio.shape == (2, len(rec.audio))
    t = two.truths[:, : len(rec.audio)]
    r = np.abs(np.corrcoef(np.vstack([rec.sources_audio, t]))[:2, 2:])
    mine = r.argmax(axis=1)
    assert sorted(mine) == [0, 1], r
    assert r.max(axis=1).min() >= 0.9 and r.min(axis=1).max() <= 0.3, r
    for k, src in enumerate(rec.sources):  # each source's box lies on its own patch
        x, y, w, h = src["box"]
        cx, cy = x + w / 2, y + h / 2
        assert (cx < 48 and cy < 48) == (mine[k] == 0), (src, mine)


@pytest.mark.parametrize("direction", [0, 45, 90, 180, 270])
def test_displacement_signs_in_every_direction(tmp_path, direction):
    res = visualmic.synthesize(tmp_path / "d.mkv", audio="tone", duration=0.4,
                               amplitude=0.05, direction=direction, size=(64, 64), seed=2)
    rec = visualmic.recover(res.video_path, displacement=True)
    d = rec.displacement
    assert d.shape == (2, rec.n_frames)
    u = np.array([np.cos(np.radians(direction)), np.sin(np.radians(direction))])
    truth = res.motion - res.motion.mean()
    for axis in (0, 1):
        want = u[axis] * truth
        if abs(u[axis]) < 0.1:
            assert np.std(d[axis]) < 0.2 * np.std(truth)
            continue
        r = np.corrcoef(d[axis][200:-200], want[200:-200])[0, 1]
        assert r > 0.95, (direction, axis, r)  # the right sign
        ratio = np.std(d[axis][200:-200]) / np.std(want[200:-200])
        assert 0.9 < ratio < 1.1, (direction, axis, ratio)


def test_cli_sources_displacement_and_json(two, tmp_path, capsys):
    out, csv = tmp_path / "o.wav", tmp_path / "d.csv"
    assert main(["recover", str(two.video_path), "-o", str(out), "--sources", "2",
                 "--displacement", str(csv), "--scale", "0.1", "--json", "-q"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["channels"] == 2 and len(summary["sources"]) == 2
    assert summary["params"]["weighting"] == "spatial" and summary["cells"]["n_cells"] > 4
    y, rate = sf.read(out)
    assert y.shape[1] == 2 and rate == 2200
    head = csv.read_text().splitlines()[0]
    assert head == "t,dx_0,dy_0,dx_1,dy_1"
    assert main(["recover", str(two.video_path), "-o", str(csv.with_suffix(".npy")),
                 "--displacement", str(csv.with_suffix(".npy"))]) == 2
    assert "same file" in capsys.readouterr().err
    assert main(["recover", str(two.video_path), "-o", str(out), "--displacement",
                 str(tmp_path / "d.txt")]) == 2
    assert ".csv or .npy" in capsys.readouterr().err
    assert main(["recover", str(two.video_path), "-o", str(tmp_path / "x.wav"),
                 "--sources", "2", "--weighting", "ml"]) == 2
    assert "weighting='spatial'" in capsys.readouterr().err


def test_map_finds_the_moving_window(patch, tmp_path, capsys):
    png, npz = tmp_path / "map.png", tmp_path / "map.npz"
    assert main(["map", str(patch.video_path), "-o", str(png), "--band", "80,1000",
                 "--json", "--npz", str(npz), "-q"]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["fps"] == 2200 and m["bands_hz"] == [[80.0, 1000.0]]
    tiles = m["tiles"]
    amp = np.array([t["amplitude_px"][0] for t in tiles])
    inside = np.array([t["x"] >= 48 and t["x"] + t["w"] <= 80 and t["y"] >= 16
                       and t["y"] + t["h"] <= 48 for t in tiles])
    assert inside.any()
    # the window's cells move by about its RMS amplitude; the wall's barely move
    rms = 0.04 * np.sqrt(np.mean(patch.truths[0] ** 2))
    assert np.all(amp[inside] > 0.5 * rms), (amp[inside], rms)
    # (the wall's cells show the noise floor of a small cell: about a fifth of the motion)
    assert np.median(amp[~inside]) < 0.3 * rms
    snr = np.array([t["snr_db"][0] if t["snr_db"][0] is not None else 99 for t in tiles])
    assert np.all(snr[inside] > 10) and np.median(snr[~inside]) < 6, snr
    direction = np.array([t["direction_deg"] for t in tiles])[inside]
    assert np.all(np.abs(direction - 20) < 10), direction
    assert png.stat().st_size > 1000
    arrays = np.load(npz)
    assert arrays["displacement"].shape[:2] == (2, len(tiles))


def test_map_and_recover_errors(patch, tmp_path, capsys):
    assert main(["map", str(patch.video_path), "-o", str(tmp_path / "m.png"),
                 "--band", "900,2000"]) == 2
    assert "Nyquist" in capsys.readouterr().err
    assert main(["map", str(patch.video_path), "-o", str(tmp_path / "m.txt")]) == 2
    with pytest.raises(ParameterError, match="cell=1"):
        visualmic.recover(patch.video_path, cell=1)
    with pytest.raises(ParameterError, match="sources"):
        visualmic.recover(patch.video_path, sources=0)


@pytest.mark.parametrize("kind", ["hard", "spot"])
def test_local_flicker_does_not_capture_the_track(tmp_path, kind):
    """A light flickering on part of a static wall (30 % at 300 Hz) beside a vibrating patch."""
    from visualmic.io.video import open_video

    res = _scene(tmp_path / "f.mkv", [{"rect": [8, 8, 32, 32], "audio": "melody",
                                       "amplitude": 0.04}], duration=0.8, seed=2)
    frames = open_video(res.video_path).read().astype(np.float32)
    t = np.arange(len(frames)) / 2200.0
    gain = 1 + 0.3 * np.sin(2 * np.pi * 300 * t)
    if kind == "hard":
        frames[:, 56:88, 56:88] *= gain[:, None, None]
    else:
        yy, xx = np.mgrid[:96, :96]
        spot = np.exp(-((yy - 70) ** 2 + (xx - 70) ** 2) / (2 * 12.0**2))
        frames *= 1 + (gain[:, None, None] - 1) * spot[None]
    clean = _snr(visualmic.recover(res.video_path), res.truths[0])
    with pytest.warns(visualmic.VisualMicWarning, match="flicker"):
        rec = visualmic.recover(frames, fps=2200.0)
    got = _snr(rec, res.truths[0])
    assert got > clean - 1.0, (got, clean)  # without the guard: about 1-2 dB, captured
    assert rec.cells["n_flicker"] > 0


def test_map_places_each_frequency_on_its_part(tmp_path, capsys):
    """Two halves of an object vibrating at 300 Hz and 700 Hz: the map's dominant
    frequency is 300 Hz on the left part and 700 Hz on the right part."""
    res = _scene(tmp_path / "tt.mkv", [
        {"rect": [0, 0, 48, 96], "audio": "tone", "frequency": 300, "amplitude": 0.03},
        {"rect": [48, 0, 48, 96], "audio": "tone", "frequency": 700, "amplitude": 0.03,
         "direction": 90},
    ], duration=0.6, seed=4)
    assert main(["map", str(res.video_path), "-o", str(tmp_path / "m.png"), "--json",
                 "-q"]) == 0
    tiles = json.loads(capsys.readouterr().out)["tiles"]
    left = [t["peak_hz"] for t in tiles if t["x"] + t["w"] <= 48]
    right = [t["peak_hz"] for t in tiles if t["x"] >= 48]
    assert left and right
    assert np.median(np.abs(np.array(left) - 300)) < 5, left
    assert np.median(np.abs(np.array(right) - 700)) < 5, right
    dirs = [t["direction_deg"] for t in tiles if t["x"] >= 48]
    assert np.median(np.abs(np.array(dirs) - 90)) < 10, dirs
