"""Frame-pair datasets: labels line up with frames, layout, splits, normalisation, errors."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import soundfile as sf

from visualmic import InputFileError, OutputError, ParameterError
from visualmic.learn.data import (
    CropPlan,
    PairConfig,
    PairDataset,
    PairNormalizer,
    PairSource,
    build_dataset,
    frame_labels,
    load_dataset,
    match_video_dir,
    split_indices,
)
from visualmic.sim.render import render_frames, write_video
from visualmic.sim.textures import make_texture

FPS = 2200.0
F0 = 300.0  # Hz: 7.33 frames per period at 2200 fps
PHASE = 0.7  # rad


@pytest.fixture(scope="module")
def tone_pair(tmp_path_factory):
    """A 48x48 video moved by 0.3*sin(2 pi F0 t + PHASE) px and that tone as a 44.1 kHz WAV."""
    d = tmp_path_factory.mktemp("tone")
    n = 330  # 0.15 s
    t = np.arange(n) / FPS
    motion = 0.3 * np.sin(2 * np.pi * F0 * t + PHASE)
    tex = make_texture((80, 80), kind="noise", seed=3)
    video = d / "tone.mkv"
    write_video(video, render_frames(tex, motion, size=48, noise_sigma=0.5, seed=1),
                fps=FPS, bit_depth=8)
    ta = np.arange(round(n / FPS * 44100)) / 44100
    wav = d / "tone.wav"
    sf.write(wav, (0.5 * np.sin(2 * np.pi * F0 * ta + PHASE)).astype(np.float32), 44100,
             subtype="FLOAT")
    return video, wav, n


def expected_tone(n, shift=0):
    t = (np.arange(n) + shift) / FPS
    return np.sin(2 * np.pi * F0 * t + PHASE)


def oracle_motion(pairs):
    """Least-squares horizontal shift of the right half against the left half, per pair."""
    s = pairs.shape[1]
    left, right = pairs[..., :s].astype(np.float64), pairs[..., s:].astype(np.float64)
    gx = np.gradient(left, axis=2)
    return -((right - left) * gx).sum((1, 2)) / (gx**2).sum((1, 2))


def test_labels_are_the_tone_resampled_with_its_phase(tone_pair, tmp_path):
    video, wav, n = tone_pair
    ds = build_dataset(tmp_path / "ds", [PairSource(video, wav)],
                       config=PairConfig(input_size=16))
    assert len(ds) == n and ds.pairs.shape == (n, 16, 32)
    np.testing.assert_array_equal(ds.frame, np.arange(n))
    want = expected_tone(n)
    want /= np.abs(want).max()
    inner = slice(20, n - 20)  # away from the resampler's edges
    np.testing.assert_allclose(ds.labels[inner], want[inner], atol=0.01)
    assert abs(ds.labels).max() == pytest.approx(1.0)


def test_motion_in_the_pairs_lines_up_with_the_labels(tone_pair, tmp_path):
    video, wav, n = tone_pair
    ds = build_dataset(tmp_path / "ds", [PairSource(video, wav)],
                       config=PairConfig(input_size=24))
    est = oracle_motion(np.asarray(ds.pairs))
    est -= est.mean()
    lab = ds.labels - ds.labels.mean()
    r = [np.corrcoef(np.roll(est, k), lab)[0, 1] for k in range(-3, 4)]
    assert int(np.argmax(r)) == 3  # zero lag
    assert r[3] > 0.95  # same sign: content moving right gives positive labels
    spec = np.abs(np.fft.rfft(est * np.hanning(n)))
    assert np.fft.rfftfreq(n, 1 / FPS)[np.argmax(spec)] == pytest.approx(F0, abs=FPS / n)


def test_audio_offset_shifts_labels_by_whole_frames(tone_pair, tmp_path):
    video, wav, n = tone_pair
    y0 = frame_labels(wav, n, FPS)
    y10 = frame_labels(wav, n - 12, FPS, audio_offset=10 / FPS)
    np.testing.assert_allclose(y10[20:-20], y0[30:-22], atol=1e-3)
    np.testing.assert_allclose(y0[20:-20], 0.5 * expected_tone(n)[20:-20], atol=5e-3)


def test_duration_mismatch_is_an_error_unless_stretched(tone_pair, tmp_path):
    video, wav, n = tone_pair
    long_wav = tmp_path / "long.wav"
    y, rate = sf.read(wav)
    sf.write(long_wav, np.concatenate([y, y]), rate)
    with pytest.raises(ParameterError, match=r"mismatch over 1%.*--stretch"):
        build_dataset(tmp_path / "ds", [PairSource(video, long_wav)])
    ds = build_dataset(tmp_path / "ds2", [PairSource(video, long_wav, stretch=True)],
                       config=PairConfig(input_size=16))
    assert len(ds) == n
    # twice as long squeezed into the video: the labels hold the tone at twice its frequency
    spec = np.abs(np.fft.rfft(ds.labels * np.hanning(n)))
    assert np.fft.rfftfreq(n, 1 / FPS)[np.argmax(spec)] == pytest.approx(2 * F0, abs=FPS / n)


def test_research_layout_files(tone_pair, tmp_path):
    video, wav, n = tone_pair
    ds = build_dataset(tmp_path / "ds", [PairSource(video, wav, name="clip")],
                       config=PairConfig(input_size=16, crop="grid"), png=True)
    assert len(ds) == n * 9  # 3 x 3 tiles of 16 px in 48 px
    with open(tmp_path / "ds" / "metadata.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][:3] == ["video_name", "frame_rate", "num_frames"]
    assert rows[1][:3] == ["clip", "2200.0", str(n)]
    with open(tmp_path / "ds" / "SampledData.csv", newline="") as fh:
        sampled = list(csv.DictReader(fh))
    assert list(sampled[0])[:2] == ["frame", "value"]
    assert len(sampled) == len(ds)
    i = 9 * 40 + 4
    assert int(sampled[i]["frame"]) == 40
    assert float(sampled[i]["value"]) == pytest.approx(float(ds.labels[i]), abs=1e-6)
    assert (int(sampled[i]["x"]), int(sampled[i]["y"])) == (16, 16)
    assert len(list((tmp_path / "ds" / "png" / "clip").glob("*.png"))) == len(ds)
    reopened = load_dataset(tmp_path / "ds")
    np.testing.assert_array_equal(reopened.labels, ds.labels)
    assert reopened.videos[0]["num_frames"] == n


def test_build_is_deterministic_and_refuses_to_overwrite(tone_pair, tmp_path):
    video, wav, _ = tone_pair
    a = build_dataset(tmp_path / "a", [PairSource(video, wav)], config=PairConfig(input_size=16),
                      seed=5)
    b = build_dataset(tmp_path / "b", [PairSource(video, wav)], config=PairConfig(input_size=16),
                      seed=5)
    np.testing.assert_array_equal(np.asarray(a.pairs), np.asarray(b.pairs))
    with pytest.raises(OutputError, match="already holds a dataset"):
        build_dataset(tmp_path / "a", [PairSource(video, wav)])


def test_adjacent_pairs_chain_and_label_increments(tone_pair, tmp_path):
    video, wav, n = tone_pair
    ds = build_dataset(tmp_path / "ds", [PairSource(video, wav)],
                       config=PairConfig(input_size=16, pairs="adjacent", crop="center"))
    assert len(ds) == n - 1 and ds.frame[0] == 1
    p = np.asarray(ds.pairs)
    np.testing.assert_array_equal(p[1:, :, :16], p[:-1, :, 16:])  # left(t) == right(t-1)
    inc = np.diff(frame_labels(wav, n, FPS))
    np.testing.assert_allclose(ds.labels, inc / np.abs(inc).max(), atol=1e-6)


def test_resize_crop_is_an_area_average():
    frames = np.random.default_rng(0).uniform(0, 255, (2, 64, 48)).astype(np.float32)
    plan = CropPlan((64, 48), PairConfig(input_size=16, crop="resize"))
    out = plan.cut(frames, plan.positions(2))[:, 0]
    # 64 -> 16 rows (4x) and 48 -> 16 columns (3x): block means
    want = frames.reshape(2, 16, 4, 16, 3).mean((2, 4))
    np.testing.assert_allclose(out, want, rtol=1e-5)


def test_missing_and_unmatched_sources(tone_pair, tmp_path):
    video, wav, _ = tone_pair
    with pytest.raises(InputFileError, match="does not exist"):
        build_dataset(tmp_path / "ds", [PairSource(tmp_path / "nope.mkv", wav)])
    with pytest.raises(InputFileError, match="does not exist"):
        build_dataset(tmp_path / "ds", [PairSource(video, tmp_path / "nope.wav")])
    with pytest.raises(ParameterError, match="smaller than input_size=64"):
        build_dataset(tmp_path / "ds", [PairSource(video, wav)], config=PairConfig(input_size=64))
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "a.mkv").write_bytes(b"")
    with pytest.raises(InputFileError, match="same name"):
        match_video_dir(empty)
    with pytest.raises(InputFileError, match="does not exist"):
        load_dataset(tmp_path / "nothing")
    with pytest.raises(ParameterError, match="crop='diagonal'"):
        PairConfig(crop="diagonal")


def test_video_dir_matches_by_stem(tone_pair, tmp_path):
    video, wav, _ = tone_pair
    d = tmp_path / "dir"
    d.mkdir()
    for stem in ("b", "a"):
        (d / f"{stem}.mkv").write_bytes(video.read_bytes())
        (d / f"{stem}.wav").write_bytes(wav.read_bytes())
    srcs = match_video_dir(d, audio_offset=0.0)
    assert [s.name for s in srcs] == ["a", "b"]


def _fake_dataset(frames_per_video=(200, 300)):
    class D:
        pass

    d = D()
    d.video = np.concatenate([np.full(n, i) for i, n in enumerate(frames_per_video)])
    d.frame = np.concatenate([np.arange(n) for n in frames_per_video])
    d.videos = [{"video_name": f"v{i}"} for i in range(len(frames_per_video))]
    return d


def test_temporal_split_is_contiguous_with_a_gap():
    d = _fake_dataset()
    tr, va = split_indices(d, val_split=0.2, gap=10)
    assert not set(tr) & set(va)
    for v, n in ((0, 200), (1, 300)):
        ftr, fva = d.frame[tr][d.video[tr] == v], d.frame[va][d.video[va] == v]
        assert fva.min() == n - round(0.2 * n) and fva.max() == n - 1
        assert fva.min() - ftr.max() > 10  # no neighbouring frames across the split
        assert np.all(np.diff(ftr) == 1)  # contiguous
    folds = [split_indices(d, kfold=4, fold=k, gap=5)[1] for k in range(4)]
    allval = np.concatenate(folds)
    assert len(set(allval)) == allval.size  # disjoint validation segments
    with pytest.raises(ParameterError, match="val_split"):
        split_indices(d, val_split=1.0)
    with pytest.raises(ParameterError, match="too short"):
        split_indices(d, val_split=0.5, gap=60)


def test_normalizer_is_contrast_invariant_and_fit_on_given_samples():
    rng = np.random.default_rng(1)
    left = rng.normal(100, 20, (64, 16, 16))
    right = left + rng.normal(0, 1, left.shape)
    pairs = np.concatenate([left, right], -1).astype(np.float32)
    norm = PairNormalizer.fit(pairs)
    x = norm(pairs)
    assert x.shape == (64, 1, 16, 32)
    assert abs(x[..., 16:].std() - 1) < 0.02  # difference half at unit variance
    np.testing.assert_allclose(x[:, 0, :, :16].mean((1, 2)), 0, atol=1e-4)
    norm0 = PairNormalizer(floor=1e-6, gain=norm.gain)
    np.testing.assert_allclose(norm0(3 * pairs + 50), norm0(pairs), atol=1e-3)
    assert PairNormalizer.from_dict(norm.to_dict()) == norm
    with pytest.raises(ParameterError, match="not a visualmic pair normalisation"):
        PairNormalizer.from_dict({"floor": 1})


def test_left_right_flip_negates_the_label(tone_pair, tmp_path):
    video, wav, n = tone_pair
    ds = build_dataset(tmp_path / "ds", [PairSource(video, wav)], config=PairConfig(input_size=24))
    norm = PairNormalizer(floor=1e-3, gain=1.0)
    x0, y0 = PairDataset(ds, np.arange(n), norm).arrays(np.arange(n))
    x1, y1 = PairDataset(ds, np.arange(n), norm, augment=True, seed=0).arrays(np.arange(n))

    def lr(x):  # mirror each half left-right
        return np.concatenate([x[..., :24][..., ::-1], x[..., 24:][..., ::-1]], -1)

    def ud(x):
        return x[..., ::-1, :]

    flipped = y1 == -y0
    assert 0.3 < flipped[np.abs(y0) > 0].mean() < 0.7
    for i in range(0, n, 7):
        cands = (lr(x0[i]), ud(lr(x0[i]))) if flipped[i] and y0[i] != 0 else (x0[i], ud(x0[i]))
        assert any(np.array_equal(x1[i], c) for c in cands)
    # physically: the motion seen in mirrored pairs has the opposite sign
    raw = np.asarray(ds.pairs)
    est_flip = oracle_motion(raw[:, :, ::-1][:, :, np.r_[24:48, 0:24]])
    assert np.corrcoef(oracle_motion(raw), -est_flip)[0, 1] > 0.99


def test_displacement_labels_keep_relative_amplitudes(tmp_path):
    from visualmic.sim.synthesize import synthesize

    srcs = []
    for i, amp in enumerate((0.05, 0.2)):
        res = synthesize(tmp_path / f"v{i}.mkv", audio="tone", duration=0.05, amplitude=amp,
                         size=32, seed=i)
        srcs.append(res)
    found = match_video_dir(tmp_path)  # reads the amplitude from synth's JSON
    assert [s.motion_scale for s in found] == [0.05, 0.2]
    ds = build_dataset(tmp_path / "ds", found, config=PairConfig(input_size=16))
    assert ds.info["labels"] == "displacement"
    assert ds.info["label_unit_px"] == pytest.approx(0.2, rel=1e-3)
    for i, res in enumerate(srcs):
        lab = ds.labels[ds.video == i]
        np.testing.assert_allclose(lab * 0.2, res.motion, atol=1e-3)  # pixels back
    assert [round(v["label_peak"], 3) for v in ds.videos] == [0.25, 1.0]
    per_video = build_dataset(tmp_path / "pv", found, config=PairConfig(input_size=16),
                              labels="per-video")
    assert np.abs(per_video.labels[per_video.video == 0]).max() == pytest.approx(1.0)
    with pytest.raises(ParameterError, match="motion scale"):
        build_dataset(tmp_path / "x", [PairSource(srcs[0].video_path, srcs[0].truth_path)],
                      labels="displacement")
