import struct

import numpy as np
import pytest
from scipy.signal import chirp

from visualmic._errors import OutputError, ParameterError
from visualmic.eval.plot import _spectrogram, _spectrogram_figure, spectrogram_png

RATE = 2200
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def sweep():
    t = np.arange(2 * RATE) / RATE
    return chirp(t, 100, t[-1], 1000)


def test_spectrogram_finds_tone_frequency():
    t = np.arange(RATE) / RATE
    f, times, db = _spectrogram(np.sin(2 * np.pi * 440 * t), RATE)
    peak_row = np.argmax(db.mean(axis=1))
    assert abs(f[peak_row] - 440) <= (f[1] - f[0])
    assert db.max() == pytest.approx(0.0)
    assert times[0] >= 0 and times[-1] <= 1.0


def test_png_is_written_with_one_panel_per_signal(tmp_path, sweep):
    t44 = np.arange(2 * 44100) / 44100
    truth = chirp(t44, 100, t44[-1], 1000)
    out2 = tmp_path / "pair.png"
    out1 = tmp_path / "single.png"
    assert spectrogram_png(out2, [(sweep, RATE), (truth, 44100)],
                           titles=["recovered", "truth"]) == str(out2)
    spectrogram_png(out1, [(sweep, RATE)])
    w2, h2 = _png_size(out2)
    w1, h1 = _png_size(out1)
    assert h1 == h2
    # panels side by side: a second panel adds most of a one-panel figure's width
    assert w2 - w1 > 0.6 * w1
    # no temporary files left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pair.png", "single.png"]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_figure_axes_count(sweep, n):
    fig = _spectrogram_figure([(sweep, RATE)] * n, titles=[f"s{i}" for i in range(n)])
    # n spectrogram panels + one shared colour bar
    assert len(fig.axes) == n + 1
    titles = [ax.get_title() for ax in fig.axes[:n]]
    assert titles == [f"s{i}" for i in range(n)]
    # common colour scale on every panel
    limits = {ax.collections[0].get_clim() for ax in fig.axes[:n]}
    assert limits == {(-80.0, 0.0)}
    # frequency axis up to the lowest Nyquist frequency
    assert fig.axes[0].get_ylim() == (0.0, RATE / 2)


def test_max_freq(sweep):
    fig = _spectrogram_figure([(sweep, RATE)], max_freq=500)
    assert fig.axes[0].get_ylim() == (0.0, 500.0)


def test_no_pyplot_state_leaks(tmp_path, sweep):
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()
    before = plt.get_fignums()
    spectrogram_png(tmp_path / "a.png", [(sweep, RATE)])
    assert plt.get_fignums() == before
    assert matplotlib.get_backend() == backend


def test_never_overwrites_input(tmp_path, sweep):
    src = tmp_path / "in.png"
    src.write_bytes(b"keep")
    with pytest.raises(OutputError, match="input"):
        spectrogram_png(src, [(sweep, RATE)], inputs=(src,))
    assert src.read_bytes() == b"keep"


def test_missing_folder(tmp_path, sweep):
    with pytest.raises(OutputError, match="does not exist"):
        spectrogram_png(tmp_path / "nope" / "a.png", [(sweep, RATE)])


@pytest.mark.parametrize(
    "signals, kwargs, match",
    [
        ([], {}, "empty"),
        ([(np.ones(100), 0)], {}, "rate="),
        ([(np.array([1.0, np.nan] * 50), RATE)], {}, "NaN"),
        ([(np.ones(4), RATE)], {}, "at least 8"),
        ([np.ones(100)], {}, r"signals\[0\] must be a \(y, rate\) pair"),
        ((np.ones(100), RATE), {}, "list of"),
        ([(np.ones(100), RATE)], {"titles": ["a", "b"]}, "titles has 2"),
        ([(np.ones(100), RATE)], {"max_freq": -1}, "max_freq=-1"),
    ],
)
def test_bad_input(tmp_path, signals, kwargs, match):
    with pytest.raises(ParameterError, match=match):
        spectrogram_png(tmp_path / "x.png", signals, **kwargs)
    assert not (tmp_path / "x.png").exists()
