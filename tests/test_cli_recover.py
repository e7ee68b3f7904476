"""The recover and demo commands: outputs, JSON, exit codes, one-line errors."""

import json

import numpy as np
import pytest
import soundfile as sf

import visualmic
from visualmic.cli import main


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    return visualmic.synthesize(d / "clip.mkv", audio="chirp", duration=0.5, amplitude=0.03,
                                size=(48, 48), seed=1)


def test_recover_writes_wav_json_and_spectrogram(video, tmp_path, capsys):
    out = tmp_path / "out.wav"
    png = tmp_path / "spec.png"
    code = main(["recover", str(video.video_path), "-o", str(out), "--scales", "2",
                 "--orientations", "4", "--denoise", "none", "--spectrogram", str(png),
                 "--truth", str(video.truth_path), "--json", "-q"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == 1100 and summary["fps"] == 2200
    assert len(summary["bands"]) == 12  # 2 scales + oriented high-pass, x 4 orientations
    assert summary["metrics"]["pearson"] > 0.9
    y, rate = sf.read(out)
    assert rate == 2200 and len(y) == 1100 and sf.info(out).subtype == "FLOAT"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_recover_pcm16_output_rate_and_default_name(video, tmp_path, capsys):
    out = tmp_path / "o.wav"
    assert main(["recover", str(video.video_path), "-o", str(out), "--pcm16",
                 "--output-rate", "44100", "-s", "2200", "--roi", "4,4,40,40",
                 "--downsample", "1", "-q"]) == 0
    info = sf.info(out)
    assert info.samplerate == 44100 and info.subtype == "PCM_16"
    # Without -o the WAV goes beside the video as <stem>.recovered.wav.
    import shutil

    copy = tmp_path / "clip.mkv"
    shutil.copy(video.video_path, copy)
    assert main(["recover", str(copy), "-q"]) == 0
    default = tmp_path / "clip.recovered.wav"
    assert default.exists() and sf.info(default).samplerate == 2200


@pytest.mark.parametrize(
    "argv,code,needle",
    [
        (["recover", "{missing}", "-o", "{out}"], 2, "does not exist"),
        (["recover", "{corrupt}", "-o", "{out}"], 1, "error"),
        (["recover", "{video}", "-o", "{out}", "--roi", "100,100,10,10"], 2, "ROI"),
        (["recover", "{video}", "-o", "{out}", "--roi", "1,2,3"], 2, "X,Y,W,H"),
        (["recover", "{video}", "-o", "{out}", "-s", "-5"], 2, "from 0.001 to 1e+07 Hz"),
        (["recover", "{video}", "-o", "{out}", "--start", "5", "--end", "6"], 1, "at least 2"),
        (["recover", "{video}", "-o", "{nodir}"], 2, "does not exist"),
        (["recover", "{video}", "-o", "{video}"], 2, "input"),
        (["recover", "{video}", "-o", "{out}", "--scales", "12"], 2, "too many"),
    ],
)
def test_bad_input_one_line_and_exit_code(video, tmp_path, capsys, argv, code, needle):
    corrupt = tmp_path / "corrupt.mkv"
    corrupt.write_bytes(b"\x1a\x45\xdf\xa3 garbage" * 10)
    subs = {"missing": str(tmp_path / "nope.mkv"), "out": str(tmp_path / "o.wav"),
            "corrupt": str(corrupt), "video": str(video.video_path),
            "nodir": str(tmp_path / "no" / "o.wav")}
    before = video.video_path.read_bytes()[:1000]
    got = main([a.format(**subs) for a in argv] + ["-q"])
    err = capsys.readouterr().err
    assert got == code, err
    assert needle.lower() in err.lower()
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert video.video_path.read_bytes()[:1000] == before  # the input is untouched
    assert not (tmp_path / "o.wav").exists()


def test_lossy_video_warns(tmp_path, capsys):
    import av

    path = tmp_path / "lossy.avi"
    with av.open(str(path), "w") as c:
        s = c.add_stream("mjpeg", rate=1000)
        s.width = s.height = 32
        s.pix_fmt = "yuvj420p"
        rng = np.random.default_rng(0)
        for _ in range(20):
            img = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    assert main(["recover", str(path), "-o", str(tmp_path / "x.wav")]) == 0
    err = capsys.readouterr().err
    assert "lossy" in err.lower()


def test_demo_runs_and_scores(tmp_path, capsys):
    code = main(["demo", "--output-dir", str(tmp_path / "demo"), "--duration", "0.6",
                 "--json", "-q"])
    assert code == 0
    res = json.loads(capsys.readouterr().out)
    assert res["snr_db"] > res["crb_snr_db"] - 2.5
    assert res["pearson"] > 0.99
    for key in ("video", "truth", "recovered", "recovered_44k", "spectrogram"):
        assert (tmp_path / "demo").joinpath(res[key].split("/")[-1]).exists()


def test_python_m_and_help():
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "visualmic", "--help"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0
    for cmd in ("recover", "synth", "evaluate", "demo", "denoise"):
        assert cmd in r.stdout
