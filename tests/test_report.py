"""The self-contained HTML report: content, no network references, and a real browser."""

import base64
import io
import struct
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf
from browser import chromium, chromium_args, run_probe

from visualmic._errors import OutputError, ParameterError
from visualmic.cli import main
from visualmic.eval.plot import figure_bytes, spectrogram_figure
from visualmic.eval.report import PLAYER_RATE, image_data_uri, wav_bytes, write_report

RATE = 2200


class _Collect(HTMLParser):
    """Every tag with its attributes, and the text of each <h2>."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.headings: list[str] = []
        self._in_h2 = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_h2 = tag == "h2"

    def handle_endtag(self, tag):
        self._in_h2 = False if tag == "h2" else self._in_h2

    def handle_data(self, data):
        if self._in_h2:
            self.headings.append(data)


def _parse(text: str) -> _Collect:
    p = _Collect()
    p.feed(text)
    p.close()
    return p


def _wav_header(data: bytes) -> dict:
    """Fields of a canonical RIFF/WAVE 'fmt ' chunk."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    pos = 12
    while pos < len(data):
        cid, size = data[pos:pos + 4], struct.unpack("<I", data[pos + 4:pos + 8])[0]
        if cid == b"fmt ":
            fmt, channels, rate, _, _, bits = struct.unpack("<HHIIHH", data[pos + 8:pos + 24])
            return {"format": fmt, "channels": channels, "rate": rate, "bits": bits}
        pos += 8 + size + (size & 1)
    raise AssertionError("no fmt chunk")


def check_self_contained(text: str, *, min_audio: int = 1, min_images: int = 2) -> list[bytes]:
    """Assert the page's media are inline and nothing points outside it; return the WAVs."""
    page = _parse(text)
    lowered = text.lower()
    assert "http:" not in lowered and "https:" not in lowered
    assert "url(" not in lowered and "@import" not in lowered
    for tag, attrs in page.tags:
        for key in ("src", "href", "srcset", "poster", "data", "action"):
            if key in attrs:
                assert attrs[key].startswith("data:"), (tag, key, attrs[key][:40])
        assert tag not in ("script", "link", "iframe", "object", "embed", "base")
    wavs = []
    for tag, attrs in page.tags:
        if tag == "audio":
            prefix = "data:audio/wav;base64,"
            assert attrs["src"].startswith(prefix)
            wavs.append(base64.b64decode(attrs["src"][len(prefix):], validate=True))
    images = [a for t, a in page.tags if t == "img" and a.get("src", "").startswith("data:image/")]
    assert len(wavs) >= min_audio
    assert len(images) >= min_images
    for data in wavs:
        head = _wav_header(data)
        assert head["rate"] >= 8000 and head["format"] == 1 and head["bits"] == 16
    return wavs


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A small synthetic video (.npy, 2200 fps) with its ground truth."""
    import visualmic

    d = tmp_path_factory.mktemp("clip")
    syn = visualmic.synthesize(d / "clip.npy", audio="melody", fps=RATE, duration=0.4,
                               size=(32, 32), amplitude=0.05, noise_sigma=0.5, seed=3)
    return syn


def test_wav_bytes_is_44k_pcm16_and_keeps_the_tone():
    t = np.arange(RATE) / RATE
    data = wav_bytes(0.5 * np.sin(2 * np.pi * 440 * t), RATE)
    assert _wav_header(data) == {"format": 1, "channels": 1, "rate": PLAYER_RATE, "bits": 16}
    y, rate = sf.read(io.BytesIO(data), dtype="float64")
    assert rate == PLAYER_RATE and y.size == PLAYER_RATE
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    assert abs(np.argmax(spec) * rate / y.size - 440) <= 1.0
    assert np.max(np.abs(y[2000:-2000])) == pytest.approx(0.5, rel=0.01)  # ends: filter edges


def test_wav_bytes_scales_down_a_signal_above_full_scale():
    data = wav_bytes(np.full(2200, 3.0), RATE)
    y, _ = sf.read(io.BytesIO(data), dtype="float64")
    assert np.max(np.abs(y)) <= 1.0 and np.max(np.abs(y)) > 0.99


def test_image_data_uri_kinds():
    fig = spectrogram_figure([(np.random.default_rng(0).normal(size=2200), RATE)])
    png = figure_bytes(fig, "png")
    svg = figure_bytes(fig, "svg")
    assert image_data_uri(png).startswith("data:image/png;base64,")
    assert image_data_uri(svg).startswith("data:image/svg+xml;base64,")
    assert image_data_uri(svg.decode()).startswith("data:image/svg+xml;base64,")
    assert base64.b64decode(image_data_uri(fig).split(",", 1)[1])[:8] == png[:8]
    with pytest.raises(ParameterError, match="neither PNG nor SVG"):
        image_data_uri(b"GIF89a....")
    with pytest.raises(ParameterError, match="cannot be embedded"):
        image_data_uri(3.0)


def test_report_sections_and_escaping(tmp_path):
    rng = np.random.default_rng(1)
    fig = spectrogram_figure([(rng.normal(size=2200), RATE)])
    summary = {
        "frames": 2200, "fps": 2200.0, "duration_s": 1.0, "rate": 2200.0,
        "frame_shape": [48, 64],
        "bands": [{"level": -1, "orientation": 0, "shape": [48, 64], "weight": 0.75,
                   "gain": 1.0, "snr_db": 20.0, "lag": 0, "sign": 1},
                  {"level": 0, "orientation": 2, "shape": [48, 64], "weight": 0.25,
                   "gain": 0.5, "snr_db": 3.0, "lag": -1, "sign": -1}],
        "reference_band": 0, "params": {"orientations": 4, "roi": [1, 2, 3, 4]},
        "warnings": ["codec <b>'h264'</b> is lossy"], "timings_s": {"total": 0.5},
    }
    sources = [{"cell": 0, "x": 10, "y": 12, "snr_db": 14.5}, {"cell": 1, "x": 40, "y": 12,
                                                               "snr_db": 3.25}]
    out = write_report(tmp_path / "r.html", summary, source="in.mkv",
                       audio=[("recovered", rng.normal(size=2200) * 0.1, RATE),
                              ("enhanced", rng.normal(size=2200) * 0.1, RATE)],
                       spectrogram=fig, vibration_map=figure_bytes(fig, "svg"),
                       sources=sources, tables={"Extra": [{"a": 1}]})
    text = out.read_text()
    wavs = check_self_contained(text, min_audio=2, min_images=2)
    assert len(wavs) == 2
    headings = _parse(text).headings
    for h in ("Input", "Warnings", "Audio", "Images", "Sources", "Bands", "Extra", "Parameters",
              "Timings"):
        assert h in headings
    assert "<b>" not in text and "&lt;b&gt;" in text  # warnings are text, never markup
    assert "high-pass" in text and "90°" in text and "throughput" in text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # atomic: no leftovers


def test_report_without_optional_sections(tmp_path):
    text = write_report(tmp_path / "r.html").read_text()
    headings = _parse(text).headings
    assert headings == ["Input", "Warnings"]
    check_self_contained(text, min_audio=0, min_images=0)


def test_report_rejects_bad_names(tmp_path):
    with pytest.raises(OutputError, match=r"must be an \.html file"):
        write_report(tmp_path / "r.pdf", {})
    with pytest.raises(OutputError, match="does not exist"):
        write_report(tmp_path / "missing" / "r.html", {})
    with pytest.raises(ParameterError, match="triple"):
        write_report(tmp_path / "r.html", {}, audio=[(np.zeros(10), RATE)])


@pytest.fixture(scope="module")
def cli_report(clip, tmp_path_factory):
    """``visualmic recover clip.npy --report`` run once for the tests below."""
    d = tmp_path_factory.mktemp("cli")
    out, report = d / "out.wav", d / "report.html"
    code = main(["recover", str(clip.video_path), "-s", str(RATE), "-o", str(out),
                 "--report", str(report), "--truth", str(clip.truth_path), "--roi", "2,2,28,28",
                 "-q"])
    assert code == 0
    return report


def test_cli_report_is_self_contained(cli_report):
    text = cli_report.read_text()
    wavs = check_self_contained(text, min_audio=2, min_images=2)
    y, rate = sf.read(io.BytesIO(wavs[0]))
    assert rate == PLAYER_RATE and y.size == pytest.approx(0.4 * PLAYER_RATE, abs=2)
    headings = _parse(text).headings
    assert "Scores against the ground truth" in headings and "Bands" in headings
    assert "ROI" in text or "2, 2, 28, 28" in text


def test_cli_report_refuses_a_bad_name_before_work(clip, tmp_path, capsys):
    code = main(["recover", str(clip.video_path), "-s", str(RATE), "-o", str(tmp_path / "o.wav"),
                 "--report", str(tmp_path / "r.txt"), "-q"])
    assert code == 2
    assert "must be an .html file" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()


# --------------------------------------------------------------------------- real browser

_PROBE = """<script>
window.addEventListener('load', async () => {
  const out = {audio: [], images: []};
  for (const a of document.querySelectorAll('audio')) {
    const item = {ready: a.readyState, error: a.error ? a.error.code : null,
                  duration: a.duration, can: a.canPlayType('audio/wav')};
    try {
      const buf = await (await fetch(a.src)).arrayBuffer();
      const ab = await new OfflineAudioContext(1, 1, 44100).decodeAudioData(buf);
      item.rate = ab.sampleRate; item.length = ab.length;
    } catch (e) { item.decode_error = String(e); }
    out.audio.push(item);
  }
  for (const i of document.images) out.images.push([i.naturalWidth, i.naturalHeight]);
  const pre = document.createElement('pre');
  pre.id = 'vm-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed")
def test_chromium_renders_and_decodes_the_report(cli_report, tmp_path):
    """A real browser decodes every player and every image of the page.

    The probe script is added to a copy of the page only for this test (the
    report itself holds no script); it reports each <audio> element's state,
    decodes its data with the Web Audio API, and lists the images' sizes.
    """
    result = run_probe(cli_report, _PROBE, tmp_path)
    assert len(result["audio"]) >= 1
    for item in result["audio"]:
        assert item["error"] is None and item["ready"] >= 1
        assert item["can"] in ("maybe", "probably")
        assert item["duration"] == pytest.approx(0.4, abs=0.01)
        assert item["rate"] == PLAYER_RATE and item["length"] == pytest.approx(0.4 * 44100, abs=2)
    assert len(result["images"]) >= 2
    assert all(w > 100 and h > 100 for w, h in result["images"])
    shot = tmp_path / "page.png"
    subprocess.run(chromium_args(tmp_path / "profile") + [
        "--hide-scrollbars", "--window-size=1100,1400", f"--screenshot={shot}",
        cli_report.as_uri()], capture_output=True, timeout=180, check=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
