"""Output formats: audio by extension, spectrogram formats and options, preview, --scale."""

import argparse
import struct

import numpy as np
import pytest
import soundfile as sf

import visualmic
from visualmic._errors import OutputError, ParameterError
from visualmic._validate import check_scale, displacement_units
from visualmic.cli import main
from visualmic.cli._options import add_scale_option, scale_type
from visualmic.eval.plot import _spectrogram, parse_size, save_spectrogram, spectrogram_figure
from visualmic.eval.preview import grid_step, preview_figure, write_preview
from visualmic.io.audio import read_audio, write_audio

RATE = 2200
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tone():
    t = np.arange(RATE) / RATE
    return 0.5 * np.sin(2 * np.pi * 440 * t)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    d = tmp_path_factory.mktemp("clip")
    return visualmic.synthesize(d / "clip.npy", audio="tone", fps=RATE, duration=0.2,
                                size=(32, 48), amplitude=0.05, noise_sigma=0.5, seed=2)


# --------------------------------------------------------------------------- audio


@pytest.mark.parametrize("name,subtype,tol", [
    ("a.wav", "FLOAT", np.finfo(np.float32).eps),
    ("a.flac", "PCM_24", 0.5 / 2**23 * 1.01),
    ("a.FLAC", "PCM_24", 0.5 / 2**23 * 1.01),
])
def test_audio_format_follows_the_extension(tmp_path, tone, name, subtype, tol):
    out = write_audio(tmp_path / name, tone, RATE)
    info = sf.info(str(out))
    assert info.subtype == subtype and info.samplerate == RATE
    y, rate = read_audio(out)
    assert rate == RATE
    np.testing.assert_allclose(y, tone, atol=tol)
    assert [p.name for p in tmp_path.iterdir()] == [name]


def test_flac_pcm16_and_clipping(tmp_path, tone):
    out = write_audio(tmp_path / "a.flac", 3 * tone, RATE, pcm16=True)
    assert sf.info(str(out)).subtype == "PCM_16"
    y, _ = read_audio(out)
    # half a step of rounding, plus the reader scaling by 32768 where the writer used 32767
    np.testing.assert_allclose(y, np.clip(3 * tone, -1, 1), atol=1.5 / 32767)


def test_ogg_is_vorbis_and_says_it_is_lossy(tmp_path, tone):
    with pytest.warns(visualmic.VisualMicWarning, match="lossy"):
        out = write_audio(tmp_path / "a.ogg", tone, RATE)
    assert sf.info(str(out)).subtype == "VORBIS"
    y, rate = read_audio(out)
    assert rate == RATE and y.size == tone.size
    assert np.corrcoef(y, tone)[0, 1] > 0.99


def test_unknown_audio_extension(tmp_path, tone):
    with pytest.raises(OutputError, match=r"must end in \.wav, \.flac or \.ogg"):
        write_audio(tmp_path / "a.mp3", tone, RATE)
    assert not list(tmp_path.iterdir())


def test_cli_flac_output_and_low_rate_warning(clip, tmp_path, capsys):
    out = tmp_path / "r.flac"
    assert main(["recover", str(clip.video_path), "-s", str(RATE), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert sf.info(str(out)).format == "FLAC"
    lines = [ln for ln in err.splitlines() if "--output-rate 44100" in ln]
    assert len(lines) == 1 and "2200 Hz" in lines[0]
    assert main(["recover", str(clip.video_path), "-s", str(RATE), "-o",
                 str(tmp_path / "r44.wav"), "--output-rate", "44100"]) == 0
    assert "--output-rate 44100" not in capsys.readouterr().err
    assert sf.info(str(tmp_path / "r44.wav")).samplerate == 44100


# --------------------------------------------------------------------------- spectrogram


@pytest.mark.parametrize("suffix,magic", [(".png", PNG), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_spectrogram_format_follows_the_extension(tmp_path, tone, suffix, magic):
    out = tmp_path / f"s{suffix}"
    save_spectrogram(out, [(tone, RATE)])
    assert out.read_bytes()[: len(magic)] == magic
    if suffix == ".svg":
        assert b"<svg" in out.read_bytes()[:2000]


def test_spectrogram_size_in_pixels(tmp_path, tone):
    save_spectrogram(tmp_path / "s.png", [(tone, RATE)], size="900x400")
    data = (tmp_path / "s.png").read_bytes()
    assert struct.unpack(">II", data[16:24]) == (900, 400)
    save_spectrogram(tmp_path / "s.svg", [(tone, RATE)], size=(900, 400))
    head = (tmp_path / "s.svg").read_text()[:2000]
    assert 'width="648pt"' in head and 'height="288pt"' in head  # 9 x 4 inches


def test_spectrogram_db_range_and_window(tone):
    fig = spectrogram_figure([(tone, RATE)], dynamic_range=45)
    mesh = fig.axes[0].collections[0]
    assert mesh.get_clim() == (-45.0, 0.0)
    f_default, _, _ = _spectrogram(tone, RATE)
    f_long, _, _ = _spectrogram(tone, RATE, 0.2)  # 440 samples: 5 Hz bins
    assert f_long[1] - f_long[0] == pytest.approx(RATE / 440)
    assert f_long[1] - f_long[0] < f_default[1] - f_default[0]


def test_spectrogram_option_errors(tmp_path, tone):
    with pytest.raises(OutputError, match=r"\.png, \.svg or \.pdf"):
        save_spectrogram(tmp_path / "s.gif", [(tone, RATE)])
    for bad in ("900", "9x4", "axb", "20000x400", (1, 2, 3)):
        with pytest.raises(ParameterError, match="size="):
            parse_size(bad)
    with pytest.raises(ParameterError, match="window"):
        save_spectrogram(tmp_path / "s.png", [(tone, RATE)], window=0)
    with pytest.raises(ParameterError, match="dynamic_range"):
        save_spectrogram(tmp_path / "s.png", [(tone, RATE)], dynamic_range=-3)
    assert not list(tmp_path.iterdir())


def test_cli_spectrogram_svg_and_options(clip, tmp_path, capsys):
    svg = tmp_path / "s.svg"
    assert main(["recover", str(clip.video_path), "-s", str(RATE), "-o", str(tmp_path / "r.wav"),
                 "--spectrogram", str(svg), "--spectrogram-size", "800x300", "--db-range", "60",
                 "--window", "0.03", "-q"]) == 0
    assert svg.read_bytes()[:5] == b"<?xml" and 'width="576pt"' in svg.read_text()[:2000]
    # a bad spectrogram name or size fails before any work (no audio written)
    for extra in (["--spectrogram", str(tmp_path / "s.gif")], ["--spectrogram-size", "big"]):
        code = main(["recover", str(clip.video_path), "-s", str(RATE), "-o",
                     str(tmp_path / "x.wav"), "-q"] + extra)
        assert code == 2
        assert not (tmp_path / "x.wav").exists()
    err = capsys.readouterr().err
    assert ".png, .svg or .pdf" in err and "WIDTHxHEIGHT" in err


# --------------------------------------------------------------------------- preview


def test_grid_step():
    assert [grid_step(n) for n in (8, 20, 64, 128, 500, 1024, 4096)] == [1, 2, 5, 10, 50, 100,
                                                                          500]


def test_preview_figure_grid_and_roi():
    frame = np.arange(40 * 60, dtype=float).reshape(40, 60)
    fig = preview_figure(frame, roi=(10, 5, 20, 15), grid=10)
    ax = fig.axes[0]
    assert list(ax.get_xticks()) == [0, 10, 20, 30, 40, 50]
    assert list(ax.get_yticks()) == [0, 10, 20, 30]
    rect = ax.patches[0]
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (9.5, 4.5, 20,
                                                                                 15)


def test_write_preview_from_npy_without_a_rate(clip, tmp_path):
    out = write_preview(tmp_path / "p.png", clip.video_path, roi="4,4,20,20")
    assert out.read_bytes()[:8] == PNG
    with pytest.raises(ParameterError, match="reaches beyond"):
        write_preview(tmp_path / "q.png", clip.video_path, roi=(30, 0, 20, 20))
    with pytest.raises(OutputError, match=r"\.png, \.svg or \.pdf"):
        write_preview(tmp_path / "q.jpg", clip.video_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


def test_cli_preview(clip, tmp_path, capsys):
    out = tmp_path / "frame.pdf"
    assert main(["preview", str(clip.video_path), "-o", str(out), "--roi", "2,2,10,10",
                 "--grid", "4"]) == 0
    assert out.read_bytes()[:4] == b"%PDF"
    assert "frame.pdf" in capsys.readouterr().out
    assert main(["preview", str(clip.video_path), "-o", str(out), "--roi", "2,2"]) == 2
    assert "X,Y,W,H" in capsys.readouterr().err


# --------------------------------------------------------------------------- scale


def test_scale_validation_and_units():
    assert check_scale(None) is None
    assert check_scale(0.05) == 0.05 and check_scale(2) == 2.0
    for bad in (0, -1, float("nan"), float("inf"), "0.05", True):
        with pytest.raises(ParameterError, match="millimetres per pixel"):
            check_scale(bad)
    assert displacement_units(None) == ("px", 1.0)
    assert displacement_units(0.02) == ("mm", 0.02)
    d_px = np.array([0.01, -0.02])
    label, factor = displacement_units(0.05)
    np.testing.assert_allclose(d_px * factor, [0.0005, -0.001])
    assert label == "mm"


def test_scale_option_parsing(capsys):
    p = argparse.ArgumentParser(prog="t")
    add_scale_option(p)
    assert p.parse_args([]).scale is None
    assert p.parse_args(["--scale", "0.05"]).scale == 0.05
    for bad in ("0", "-0.1", "nan", "inf", "1mm", ""):
        with pytest.raises(SystemExit):
            p.parse_args(["--scale", bad])
        assert "millimetres per pixel" in capsys.readouterr().err
    assert scale_type("2.5") == 2.5
