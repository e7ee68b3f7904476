"""``visualmic map --report`` (one self-contained page) and ``map --rolling-shutter`` (bands of rows)."""

import json
import subprocess
from html.parser import HTMLParser

import numpy as np
import pytest
import soundfile as sf
from browser import chromium, chromium_args, run_probe

import visualmic
from visualmic._errors import ParameterError
from visualmic.cli import main
from visualmic.core.rolling import line_delay, row_times
from visualmic.engine.rollmap import default_band_rows, rolling_map
from visualmic.sim.rolling import render_rolling_frames, synthesize_rolling
from visualmic.sim.textures import make_texture

FPS, ROWS, READOUT, TONE, AMP = 60.0, 256, 0.8, 1000.0, 0.05
ROW_RATE = FPS * ROWS / READOUT  # 19200 Hz
RMS = AMP / np.sqrt(2)


class _Page(HTMLParser):
    """Tags with their attributes, <h2> texts, and the tables' header and body cells."""

    def __init__(self):
        super().__init__()
        self.tags, self.headings, self.tables = [], [], []
        self._where = None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        self._where = tag if tag in ("h2", "th", "td") else self._where

    def handle_endtag(self, tag):
        if tag in ("h2", "th", "td"):
            self._where = None

    def handle_data(self, data):
        if self._where == "h2":
            self.headings.append(data)
        elif self._where == "th" and self.tables:
            self.tables[-1]["head"].append(data)
            self.tables[-1]["rows"][-1].append(data)
        elif self._where == "td" and self.tables:
            self.tables[-1]["rows"][-1].append(data)


def _parse(text: str) -> _Page:
    page = _Page()
    page.feed(text)
    page.close()
    return page


def _check_self_contained(text: str) -> _Page:
    """No network or outside reference; at least one inline image."""
    page = _parse(text)
    lowered = text.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "url(" not in lowered and "@import" not in lowered
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "iframe", "object", "embed", "base")
        for key in ("src", "href", "srcset", "poster", "data", "action"):
            if key in attrs:
                assert attrs[key].startswith("data:") and not attrs[key].startswith("//")
    images = [a for t, a in page.tags if t == "img" and a.get("src", "").startswith("data:image/")]
    assert len(images) >= 1
    return page


def _cell_table(page: _Page, first_heading: str) -> list[dict]:
    """The table whose first header is ``first_heading``, as dicts of floats."""
    table = next(t for t in page.tables if t["head"][:1] == [first_heading])
    head = table["head"]
    rows = [r for r in table["rows"] if r and r != head]
    return [{k: float(v.replace("−", "-")) if v not in ("—",) else None
             for k, v in zip(head, r)} for r in rows]


# --------------------------------------------------------------------------- map --report


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A small synthetic video (.npy, 2200 fps) moving as a whole."""
    d = tmp_path_factory.mktemp("clip")
    return visualmic.synthesize(d / "clip.npy", audio="tone", fps=2200, duration=0.4,
                                size=(32, 32), amplitude=0.05, noise_sigma=0.5, seed=3)


@pytest.fixture(scope="module")
def map_report(clip, tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    png, report = d / "map.png", d / "map.html"
    assert main(["map", str(clip.video_path), "-s", "2200", "-o", str(png), "--report",
                 str(report), "--band", "80,1000", "--cell", "16", "--json", "-q"]) == 0
    return report, png


def test_map_report_is_self_contained_with_the_cell_table(clip, map_report):
    report, png = map_report
    page = _check_self_contained(report.read_text())
    assert png.stat().st_size > 1000
    for name in ("Input", "Warnings", "Images", "Parameters", "Timings"):
        assert name in page.headings
    cells = _cell_table(page, "x")
    assert len(cells) == 4  # 32 x 32 frame, 16 px cells
    assert [(c["x"], c["y"], c["w"], c["h"]) for c in cells] == [
        (0, 0, 16, 16), (16, 0, 16, 16), (0, 16, 16, 16), (16, 16, 16, 16)]
    columns = set(cells[0])
    assert {"RMS 80–1000 Hz (px)", "SNR 80–1000 Hz (dB)", "peak (Hz)",
            "direction (deg)"} <= columns
    # The whole frame moves: every cell near the motion's RMS (4 significant digits shown).
    rms = float(np.std(clip.motion))
    for c in cells:
        assert 0.7 * rms < c["RMS 80–1000 Hz (px)"] < 1.3 * rms, (c, rms)
        assert c["SNR 80–1000 Hz (dB)"] > 10


@pytest.mark.parametrize("flags,needle", [
    (["--report", "{png}"], "same file"),
    (["--report", "{d}/r.txt"], "must be an .html file"),
    (["--report", "{d}/missing/r.html"], "does not exist"),
    (["--npz", "{d}/r.html", "--report", "{d}/r.html"], "same file"),
])
def test_map_report_path_checked_before_work(clip, tmp_path, capsys, flags, needle):
    png = tmp_path / "m.png"
    argv = ["map", str(clip.video_path), "-s", "2200", "-o", str(png)] + [
        f.format(png=png, d=tmp_path, video=clip.video_path) for f in flags]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not png.exists()


# --------------------------------------------------------------------------- rolling shutter


def _half_moving(n_frames=45, width=64, seed=0):
    """Rolling-shutter frames whose top half vibrates (1000 Hz, 0.05 px) and bottom half not."""
    delay = line_delay(FPS, ROWS, READOUT)
    t = row_times(n_frames, ROWS, fps=FPS, delay=delay)
    motion = AMP * np.sin(2 * np.pi * TONE * t)
    motion[:, ROWS // 2:] = 0.0
    tex = make_texture((ROWS + 40, width + 40), kind="noise", seed=seed)
    frames = np.concatenate(list(render_rolling_frames(tex, motion, size=(ROWS, width),
                                                       noise_sigma=1.0, seed=seed + 1)))
    return frames.astype(np.float32)


def test_rolling_map_finds_the_vibrating_rows():
    frames = _half_moving()
    res = rolling_map(frames, readout=READOUT, fps=FPS, bands=[(100, 2000), (2000, ROW_RATE / 2)])
    m = res.map
    assert m.fps == pytest.approx(ROW_RATE) and res.cell == default_band_rows(ROWS) == 32
    assert m.tiles == [(0, y, 64, 32) for y in range(0, ROWS, 32)]
    moving = np.array([y + h <= ROWS // 2 for _, y, _, h in m.tiles])
    # Known answer: a 0.05 px sine has an RMS of 0.0354 px, all of it in 100-2000 Hz.
    np.testing.assert_allclose(m.amplitude[0, moving], RMS, rtol=0.05)
    assert np.all(np.abs(m.peak_hz[moving] - TONE) <= 2)  # 33x the frame Nyquist
    assert np.all(m.snr_db[0, moving] > 25) and np.all(m.snr_db[1, moving] < 6)
    assert np.all(m.amplitude[0, ~moving] < 0.05 * RMS)
    assert np.all(m.snr_db[0, ~moving] < 6)
    assert np.all(m.amplitude[1] < 0.05 * RMS)  # nothing above 2 kHz
    assert np.all(m.direction_deg == 0.0)
    assert res.displacement.shape == (2, 8, round(45 * ROWS / READOUT))
    assert not res.displacement[1].any()
    # Bands of another height: the last one takes the remaining rows.
    res = rolling_map(frames[:, :200], readout=READOUT, fps=FPS, sensor_rows=ROWS, band_rows=48)
    assert [t[1:4:2] for t in res.map.tiles] == [(0, 48), (48, 48), (96, 48), (144, 56)]
    assert np.all(np.abs(res.map.peak_hz[:2] - TONE) <= 2)


def test_rolling_map_errors():
    frames = np.random.default_rng(0).normal(128, 20, (4, 64, 32)).astype(np.float32)
    kw = dict(readout=READOUT, fps=FPS)
    with pytest.raises(ParameterError, match="band_rows"):
        rolling_map(frames, band_rows=1, **kw)
    with pytest.raises(ParameterError, match="band_rows"):
        rolling_map(frames, band_rows=65, **kw)
    with pytest.raises(ParameterError, match="Nyquist"):
        rolling_map(frames, bands=[(100, 3000)], **kw)  # row rate 4800 Hz
    with pytest.raises(ParameterError, match="exactly one"):
        rolling_map(frames, fps=FPS)
    with pytest.raises(ParameterError, match="gaps"):
        rolling_map(frames, gaps="spline", **kw)


@pytest.fixture(scope="module")
def tone_video(tmp_path_factory):
    """``synthesize_rolling``: 60 fps, 256 rows, readout 0.8, a 1000 Hz tone at 0.05 px."""
    d = tmp_path_factory.mktemp("rolling")
    t = np.arange(int(ROW_RATE)) / ROW_RATE
    sf.write(d / "tone.wav", np.sin(2 * np.pi * TONE * t), int(ROW_RATE), subtype="FLOAT")
    return synthesize_rolling(d / "tone.mkv", readout=READOUT, audio=str(d / "tone.wav"),
                              fps=FPS, duration=0.75, amplitude=AMP, size=(ROWS, 96),
                              texture="camera", noise_sigma=1.0, seed=2)


def test_cli_rolling_map_json_and_report(tone_video, tmp_path, capsys):
    png, report, npz = tmp_path / "m.png", tmp_path / "m.html", tmp_path / "m.npz"
    assert main(["map", str(tone_video.video_path), "-o", str(png), "--rolling-shutter", "0.8",
                 "--band", "100,2000", "--json", "--report", str(report), "--npz", str(npz),
                 "-q"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["fps"] == pytest.approx(ROW_RATE) and doc["unit"] == "px"
    assert doc["rolling_shutter"]["readout"] == READOUT
    assert doc["rolling_shutter"]["row_rate"] == pytest.approx(ROW_RATE)
    tiles = doc["tiles"]
    assert len(tiles) == 8 and all(t["x"] == 0 and t["w"] == 96 and t["h"] == 32 for t in tiles)
    # The textured rows (SNR above 10 dB: the camera photograph has flat rows) hear the tone.
    heard = [t for t in tiles if t["snr_db"][0] is not None and t["snr_db"][0] > 10]
    assert len(heard) >= 6
    assert all(abs(t["peak_hz"] - TONE) <= 2 for t in heard)
    # Fully textured bands: the RMS within 10 %; a band with flat rows has fewer samples and
    # its gaps are filled towards zero (an underestimate, never an overestimate).
    amp = np.array([t["amplitude_px"][0] for t in heard])
    assert np.sum(np.abs(amp / RMS - 1) < 0.1) >= 6 and np.all(amp < 1.1 * RMS)
    assert all(t["direction_deg"] == 0.0 for t in tiles)
    page = _check_self_contained(report.read_text())
    rows = _cell_table(page, "x")
    assert len(rows) == 8 and rows[0]["RMS 100–2000 Hz (px)"] == pytest.approx(
        tiles[0]["amplitude_px"][0], rel=1e-3)
    assert any("row rate 19200 Hz" in h for h in page.headings)
    assert np.load(npz)["displacement"].shape[:2] == (2, 8)


@pytest.mark.parametrize("flags,needle", [
    (["--rolling-shutter", "0.8", "--method", "phase"], "--method does not apply"),
    (["--rolling-shutter", "0.8", "--downsample", "2"], "--roi"),
    (["--rolling-shutter", "0.8", "--band", "100,12000"], "Nyquist"),
    (["--rolling-shutter", "0.8", "--cell", "1"], "band_rows"),
    (["--gaps", "ar"], "need --rolling-shutter"),
    (["--rolling-shutter", "1.5"], "(0, 1]"),
    (["--rolling-shutter", "0.8", "--line-delay", "1e-5"], "not allowed"),
])
def test_cli_rolling_map_errors(tone_video, tmp_path, capsys, flags, needle):
    png = tmp_path / "m.png"
    assert main(["map", str(tone_video.video_path), "-o", str(png)] + flags) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not png.exists()


# --------------------------------------------------------------------------- real browser

_PROBE = """<script>
window.addEventListener('load', () => {
  const out = {images: [], rows: document.querySelectorAll('table tbody tr').length,
               cells: document.querySelectorAll('th').length};
  for (const i of document.images) out.images.push([i.naturalWidth, i.naturalHeight]);
  const pre = document.createElement('pre');
  pre.id = 'vm-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


@pytest.mark.skipif(chromium() is None, reason="Chromium is not installed")
def test_chromium_renders_the_map_report(map_report, tmp_path):
    """A real browser decodes the map image and lays out the tables (probe added to a copy)."""
    report, _ = map_report
    result = run_probe(report, _PROBE, tmp_path)
    assert len(result["images"]) >= 1
    assert all(w > 100 and h > 100 for w, h in result["images"])
    assert result["rows"] >= 4  # the cell table's rows (and the key-value tables')
    shot = tmp_path / "page.png"
    subprocess.run(chromium_args(tmp_path / "profile") + ["--hide-scrollbars", "--window-size=1100,1400", f"--screenshot={shot}",
                           report.as_uri()], capture_output=True, timeout=180, check=False)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
