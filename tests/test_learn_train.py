"""Training, checkpoints, generation and the learn CLI, on tiny data."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visualmic import InputFileError, ModelError, ParameterError, VisualMicWarning  # noqa: E402
from visualmic.cli import main  # noqa: E402
from visualmic.io.audio import read_audio  # noqa: E402
from visualmic.learn.data import (  # noqa: E402
    PairConfig,
    PairDataset,
    PairNormalizer,
    PairSource,
    build_dataset,
    load_dataset,
)
from visualmic.learn.generate import evaluate_model, generate, select_tiles  # noqa: E402
from visualmic.learn.train import (  # noqa: E402
    ModelTrainConfig,
    Trainer,
    load_checkpoint,
    regression_metrics,
    train_model,
)
from visualmic.synth import synthesize  # noqa: E402

TINY = {"channels": (8, 16), "hidden": (32,)}


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two 48x48 synthetic clips (0.12 s, 0.15 px) and a 16-px dataset of them."""
    d = tmp_path_factory.mktemp("clips")
    res = [synthesize(d / f"c{i}.mkv", audio=kind, duration=0.12, amplitude=0.15, size=48,
                      texture=tex, noise_sigma=0.5, seed=i, direction=dirn)
           for i, (kind, tex, dirn) in enumerate([("tones", "noise", 0.0),
                                                   ("chirp", "brick", 20.0)])]
    ds = build_dataset(d / "ds", [PairSource(r.video_path, r.truth_path, motion_scale=0.15)
                                  for r in res],
                       config=PairConfig(input_size=16))
    return res, ds


def test_regression_metrics_known_values():
    t = np.array([1.0, -1.0, 1.0, -1.0])
    m = regression_metrics(0.5 * t, t)
    assert m["rmse"] == pytest.approx(0.5) and m["mae"] == pytest.approx(0.5)
    assert m["pearson"] == pytest.approx(1.0) and m["zero_rmse"] == pytest.approx(1.0)
    assert regression_metrics(np.zeros(4), t)["pearson"] == 0.0


def test_trainer_learns_and_calls_back(clips):
    _, ds = clips
    idx = np.arange(len(ds))
    norm = PairNormalizer.fit(np.asarray(ds.pairs))
    from visualmic.learn.models import build_model

    torch.manual_seed(0)
    events = []
    net = build_model("siamese", dict(TINY, input_size=16))
    trainer = Trainer(net, PairDataset(ds, idx, norm, augment=True), PairDataset(ds, idx, norm),
                      ModelTrainConfig(epochs=4, batch_size=32, learning_rate=3e-3),
                      callbacks=[lambda ev, tr: events.append(ev)])
    hist = trainer.fit()
    assert [h["epoch"] for h in hist] == list(range(1, 5))
    assert events.count("epoch_end") == 4 and events.count("batch_end") == 4 * 17
    assert hist[-1]["val"]["loss"] < 0.5 * hist[0]["val"]["loss"]
    assert net.training  # back in train mode after evaluation


def test_checkpoint_round_trip_gives_identical_predictions(clips, tmp_path):
    _, ds = clips
    path = tmp_path / "m.pt"
    res = train_model(ds.root, model="siamese", model_config=TINY, save_path=path,
                      config=ModelTrainConfig(epochs=2, batch_size=16, gap=8))
    assert path.is_file() and (tmp_path / "m.last.pt").is_file()
    summary = json.loads((tmp_path / "m.json").read_text())
    assert summary["best_epoch"] == res.best_epoch and len(summary["history"]) == 2
    model, ck = load_checkpoint(path)
    assert ck["model_name"] == "siamese" and ck["pair_config"]["input_size"] == 16
    assert ck["dataset"]["train_samples"] + ck["dataset"]["val_samples"] < len(ds)  # the gap
    norm = PairNormalizer.from_dict(ck["normalisation"])
    x, _ = PairDataset(ds, np.arange(64), norm).__getitems__(list(range(64)))
    with torch.no_grad():
        np.testing.assert_array_equal(model(x).numpy(), res.model(x).numpy())


def test_resume_continues_exactly(clips, tmp_path):
    _, ds = clips
    cfg = ModelTrainConfig(epochs=2, batch_size=16, gap=8, seed=3)
    full = train_model(ds.root, model_config=TINY, config=cfg, save_path=tmp_path / "a.pt")
    train_model(ds.root, model_config=TINY, config=ModelTrainConfig(epochs=1, batch_size=16, gap=8,
                                                               seed=3),
                save_path=tmp_path / "b.pt")
    resumed = train_model(ds.root, model_config=TINY, config=cfg, save_path=tmp_path / "b.pt",
                          resume=True)
    assert [h["epoch"] for h in resumed.history] == [1, 2]
    a = load_checkpoint(tmp_path / "a.last.pt")[1]["model"]
    b = load_checkpoint(tmp_path / "b.last.pt")[1]["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    assert full.history[-1]["train"]["loss"] == pytest.approx(resumed.history[-1]["train"]["loss"])


def test_kfold_trains_one_model_per_fold(clips, tmp_path):
    _, ds = clips
    res = train_model(ds.root, model_config=TINY, save_path=tmp_path / "k.pt",
                      config=ModelTrainConfig(epochs=1, batch_size=32, kfold=2, gap=4))
    assert [f["fold"] for f in res.folds] == [0, 1]
    assert all(f["val"]["n"] > 0 for f in res.folds)


def test_generate_and_evaluate_model(clips, tmp_path):
    res, ds = clips
    path = tmp_path / "m.pt"
    train_model(ds.root, model_config=TINY, save_path=path,
                config=ModelTrainConfig(epochs=1, batch_size=16, gap=8))
    gen = generate(path, res[0].video_path, tiles="all")
    n = res[0].truth.size
    assert gen.audio.shape == (n,) and gen.rate == 2200.0
    assert gen.tile_signals.shape == (9, n) and len(gen.tiles) == 9  # 3 x 3 tiles of 16 px
    assert gen.label_unit_px is not None  # synthetic sources: displacement labels
    assert len(generate(path, res[0].video_path).tiles) == 8  # auto
    assert np.max(np.abs(gen.audio)) == pytest.approx(1.0)
    assert len(generate(path, res[0].video_path, tiles=2).tiles) == 2
    ev = evaluate_model(path, ds.root)
    assert ev["n"] == len(ds) and ev["zero"]["rmse"] == pytest.approx(
        float(np.sqrt(np.mean(ds.labels.astype(np.float64) ** 2))))
    assert set(ev["model"]) == {"rmse", "mae", "pearson", "loss"}
    with pytest.raises(ParameterError, match="tiles"):
        generate(path, res[0].video_path, tiles=0)
    # a model whose output cannot change (last layer zeroed) is reported, not silently silent
    ck = torch.load(path, weights_only=False)
    last = [k for k in ck["model"] if k.startswith("head.") and k.endswith("weight")][-1]
    ck["model"][last].zero_()
    torch.save(ck, tmp_path / "dead.pt")
    with pytest.warns(VisualMicWarning, match="constant"):
        generate(tmp_path / "dead.pt", res[0].video_path)


def test_trained_model_recovers_a_held_out_tone(clips, tmp_path):
    """Known answer: a model trained on two clips hears a tone on a texture it never saw."""
    _, ds = clips
    path = tmp_path / "m.pt"
    train_model(ds.root, model_config=TINY, save_path=path,
                config=ModelTrainConfig(epochs=3, batch_size=16, gap=8, seed=0))
    hold = synthesize(tmp_path / "hold.mkv", audio="tone", duration=0.12, amplitude=0.15,
                      size=48, texture="grass", noise_sigma=0.5, seed=5, direction=-10.0)
    gen = generate(path, hold.video_path, tiles="all")
    # raw correlation: sign and phase must be right, not only the frequency
    assert np.corrcoef(gen.audio, hold.truth)[0, 1] > 0.8
    spectrum = np.abs(np.fft.rfft(gen.audio * np.hanning(gen.audio.size)))
    freqs = np.fft.rfftfreq(gen.audio.size, 1 / gen.rate)
    assert abs(freqs[np.argmax(spectrum)] - 440.0) <= gen.rate / gen.audio.size


def test_select_tiles_prefers_texture():
    ref = np.zeros((64, 64))
    ref[32:48, 16:32] = np.random.default_rng(0).uniform(0, 255, (16, 16))
    tiles = select_tiles(ref, PairConfig(input_size=16), tiles=1)
    assert tiles == [(32, 16)]
    assert len(select_tiles(ref, PairConfig(input_size=16), tiles="all")) == 16
    assert select_tiles(ref, PairConfig(input_size=16, crop="resize")) == [(-1, -1)]


def test_bad_inputs(clips, tmp_path):
    res, ds = clips
    with pytest.raises(ParameterError, match="unknown"):
        train_model(ds.root, model="lstm")
    with pytest.raises(InputFileError, match="does not exist"):
        train_model(tmp_path / "none")
    with pytest.raises(InputFileError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelError, match="corrupt"):
        load_checkpoint(bad)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelError, match="not a visualmic model"):
        load_checkpoint(other)
    with pytest.raises(ParameterError, match="val_split"):
        ModelTrainConfig(val_split=1.5)
    with pytest.raises(ParameterError, match="backbone"):
        train_model(ds.root, model="siamese", backbone_weights=tmp_path / "w.pth")


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_dataset_train_generate_evaluate(tmp_path, capsys):
    d = tmp_path / "data"
    code, out, _ = run_cli(capsys, "dataset", "build", "--synthetic", "2", "--duration", "0.08",
                           "--size", "48", "-o", str(d), "-q")
    assert code == 0 and "352 pairs of 32x64 px from 2 videos" in out
    assert load_dataset(d).videos[1]["texture"]
    code, out, _ = run_cli(capsys, "train", "--data-path", str(d), "--save-model",
                           str(tmp_path / "m.pt"), "--epochs", "1", "--gap", "8", "-q", "--json")
    assert code == 0 and json.loads(out)["best_epoch"] == 1
    video = d / "videos" / "synth_000.mkv"
    wav = tmp_path / "out.wav"
    code, out, _ = run_cli(capsys, "generate", "--model-path", str(tmp_path / "m.pt"), str(video),
                           "-o", str(wav), "--truth", str(d / "videos" / "synth_000.truth.wav"),
                           "--spectrogram", str(tmp_path / "s.png"), "-q")
    assert code == 0 and "vs truth: r =" in out
    y, rate = read_audio(wav)
    assert rate == 2200 and y.size == 176 and (tmp_path / "s.png").is_file()
    code, out, _ = run_cli(capsys, "evaluate-model", "--model-path", str(tmp_path / "m.pt"),
                           "--data-path", str(d), "--json", "-q")
    assert code == 0 and json.loads(out)["n"] == 352


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    code, _, err = run_cli(capsys, "generate", "--model-path", str(bad), "x.mkv")
    assert code == 1 and "corrupt" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "train", "--model", "vgg", "--data-path", str(tmp_path))
    assert code == 2 and "invalid choice: 'vgg'" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "train", "--data-path", str(tmp_path / "none"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "dataset", "build", "--video", "a.mkv", "-o", str(tmp_path / "d"))
    assert code == 2 and "1 --video but 0 --audio" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "dataset", "build", "--video", str(tmp_path / "a.mkv"),
                           "--audio", str(tmp_path / "a.wav"), "-o", str(tmp_path / "d"))
    assert code == 2 and "does not exist" in err and err.count("\n") == 1


def test_adjacent_pairs_train_and_generate(clips, tmp_path):
    res, _ = clips
    ds = build_dataset(tmp_path / "adj", [PairSource(res[0].video_path, res[0].truth_path)],
                       config=PairConfig(input_size=16, pairs="adjacent", crop="grid"))
    path = tmp_path / "adj.pt"
    train_model(ds.root, model="fpn", model_config={"channels": (4, 8, 8), "pyramid_channels": 8,
                                                    "head_channels": 8, "hidden": (8,)},
                save_path=path, config=ModelTrainConfig(epochs=1, batch_size=64, gap=8))
    gen = generate(path, res[0].video_path, tiles=3, combine="mean", highpass=None)
    assert gen.audio.shape == (res[0].truth.size,) and len(gen.tiles) == 3
    np.testing.assert_allclose(gen.weights, 1 / 3)
    # adjacent models predict increments: the output is their running sum
    want = np.cumsum(np.r_[0.0, gen.tile_signals.mean(0)[1:]])
    want -= want.mean()
    np.testing.assert_allclose(gen.audio, want / np.abs(want).max(), atol=1e-5)
