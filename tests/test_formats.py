"""Camera files and image stacks (issue 12): exact round trips, header rates, clean errors."""

from __future__ import annotations

import struct
import tracemalloc
import warnings
from fractions import Fraction

import av
import numpy as np
import pytest
from format_writers import (
    frame_bytes,
    pack_bits,
    write_cine,
    write_image_folder,
    write_photron,
    write_tiff_stack,
)

from visualmic._errors import InputFileError, ParameterError, VideoError, VisualMicWarning
from visualmic.cli import main
from visualmic.io._camera import unpack10, unpack12
from visualmic.io.video import open_video
from visualmic.pipeline import recover

T, H, W = 7, 6, 10


@pytest.fixture
def rng():
    return np.random.default_rng(12)


@pytest.fixture
def f16(rng):
    return rng.integers(0, 65536, (T, H, W)).astype(np.uint16)


def depth(frames16, bits):
    """The 16-bit frames reduced to ``bits`` bits (as a camera of that depth stores them)."""
    out = frames16 >> (16 - bits)
    return out.astype(np.uint8) if bits == 8 else out


def read_all(path, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisualMicWarning)
        reader = open_video(path, **kw)
        return reader, reader.read()


# --------------------------------------------------------------------------- bit packing


def test_unpack12_known_pattern():
    # pyMRAW's layout: first = b0 << 4 | b1 >> 4, second = (b1 & 15) << 8 | b2.
    raw = np.array([0xAB, 0xCD, 0xEF, 0x00, 0x1F, 0xFF], np.uint8)
    assert unpack12(raw).tolist() == [0xABC, 0xDEF, 0x001, 0xFFF]


def test_unpack12_matches_straightforward_bit_arithmetic(rng):
    values = rng.integers(0, 4096, 2 * 500)
    raw = bytearray()
    for a, b in zip(values[0::2].tolist(), values[1::2].tolist()):  # one pair at a time
        raw += bytes([a >> 4, ((a & 0xF) << 4) | (b >> 8), b & 0xFF])
    assert bytes(raw) == pack_bits(values, 12)  # the test writer agrees
    assert np.array_equal(unpack12(np.frombuffer(bytes(raw), np.uint8)), values)


def test_unpack10_matches_straightforward_bit_arithmetic(rng):
    values = rng.integers(0, 1024, 4 * 300)
    raw = bytearray()
    for g in values.reshape(-1, 4).tolist():
        word = (g[0] << 30) | (g[1] << 20) | (g[2] << 10) | g[3]  # 40 bits, first pixel on top
        raw += word.to_bytes(5, "big")
    assert bytes(raw) == pack_bits(values, 10)
    assert np.array_equal(unpack10(np.frombuffer(bytes(raw), np.uint8)), values)
    assert unpack10(np.array([0xFF, 0xC0, 0, 0, 1], np.uint8)).tolist() == [1023, 0, 0, 1]


# --------------------------------------------------------------------------- Photron


@pytest.mark.parametrize("bits", [8, 12, 16])
@pytest.mark.parametrize("header", ["cih", "cihx"])
@pytest.mark.parametrize("given", ["header", "mraw"])
def test_photron_round_trip(tmp_path, f16, bits, header, given):
    frames = depth(f16, bits)
    hdr, mraw = write_photron(tmp_path / "clip", frames, bits=bits, fps=21000, header=header)
    reader, got = read_all(hdr if given == "header" else mraw)
    assert got.dtype == np.float32 and np.array_equal(got, frames)
    assert reader.fps == 21000 and reader.source_fps == 21000
    assert reader.input_shape == (H, W) and reader.frame_count_hint == T
    assert reader.bit_depth == (12 if bits == 16 else bits)
    assert reader.lossless is True


def test_photron_roi_range_and_chunks(tmp_path, f16):
    frames = depth(f16, 12)
    hdr, _ = write_photron(tmp_path / "clip", frames, bits=12, fps=5000)
    reader, got = read_all(hdr, start=2, end=6, roi=(3, 1, 4, 5))
    assert np.array_equal(got, frames[2:6, 1:6, 3:7])
    blocks = list(reader.chunks(size=3))
    assert [len(b) for b in blocks] == [3, 1]
    assert np.array_equal(np.concatenate(blocks), got)


def test_photron_missing_sibling(tmp_path, f16):
    hdr, mraw = write_photron(tmp_path / "clip", depth(f16, 8), bits=8, fps=1000)
    mraw.unlink()
    with pytest.raises(InputFileError, match=r"clip\.mraw"):
        open_video(hdr)
    hdr2, mraw2 = write_photron(tmp_path / "other", depth(f16, 8), bits=8, fps=1000)
    hdr2.unlink()
    with pytest.raises(InputFileError, match=r"other\.cih"):
        open_video(mraw2)


@pytest.mark.parametrize("text, match", [
    ("hello world\nnothing here\n", "not a Photron .cih header"),
    ("Total Frame : 10\nImage Width : 10\nImage Height : x\nColor Bit : 8\n", "not a number"),
    ("Total Frame : 10\nImage Width : 10\nColor Bit : 8\n", "no 'Image Height'"),
    ("Total Frame : 0\nImage Width : 10\nImage Height : 6\nColor Bit : 8\n", "corrupt"),
])
def test_photron_corrupt_header(tmp_path, f16, text, match):
    _, mraw = write_photron(tmp_path / "clip", depth(f16, 8), bits=8, fps=1000)
    (tmp_path / "clip.cih").write_text(text)
    with pytest.raises(VideoError, match=match) as err:
        open_video(mraw)
    assert "\n" not in str(err.value)


def test_photron_corrupt_cihx(tmp_path, f16):
    hdr, _ = write_photron(tmp_path / "clip", depth(f16, 8), bits=8, fps=1000, header="cihx")
    hdr.write_bytes(hdr.read_bytes().replace(b"</width>", b"</wid>"))
    with pytest.raises(VideoError, match="XML header .* corrupt"):
        open_video(hdr)


def test_photron_unsupported_depth_and_colour(tmp_path, f16):
    hdr, _ = write_photron(tmp_path / "a", depth(f16, 8), bits=8, fps=1000)
    hdr.write_text(hdr.read_text().replace("Color Bit : 8", "Color Bit : 10"))
    with pytest.raises(VideoError, match="Color Bit 10 is not supported"):
        open_video(hdr)
    hdr, _ = write_photron(tmp_path / "b", depth(f16, 8), bits=8, fps=1000, colour="Color")
    with pytest.raises(VideoError, match="colour Photron"):
        open_video(hdr)


def test_photron_truncated_warns_with_range(tmp_path, f16):
    frames = depth(f16, 12)
    hdr, mraw = write_photron(tmp_path / "clip", frames, bits=12, fps=5000)
    data = mraw.read_bytes()
    mraw.write_bytes(data[: len(data) - len(data) // T - 5])  # 5 frames and a part
    with pytest.warns(VisualMicWarning, match=r"5 complete frames .* announces 7.*frames 0-4"):
        reader = open_video(hdr)
    assert np.array_equal(reader.read(), frames[:5])
    mraw.write_bytes(data[:10])
    with pytest.raises(VideoError, match="less than one"):
        open_video(hdr)


def test_photron_header_for_another_file_warns(tmp_path, f16):
    hdr, mraw = write_photron(tmp_path / "clip", depth(f16, 16), bits=16, fps=5000)
    hdr.write_text(hdr.read_text().replace("Color Bit : 16", "Color Bit : 12"))
    with pytest.warns(VisualMicWarning, match="longer than the 7 frames"):
        open_video(hdr)


# --------------------------------------------------------------------------- Phantom cine


@pytest.mark.parametrize("bits", [8, 16, 10, 12])
@pytest.mark.parametrize("annotation", [b"", b"exposure+time!!!" * 2])
@pytest.mark.parametrize("flip_v", [False, True])
def test_cine_round_trip(tmp_path, f16, bits, annotation, flip_v):
    frames = depth(f16, bits)
    path = write_cine(tmp_path / "c.cine", frames, bits=bits, fps=21000.5, annotation=annotation,
                      flip_v=flip_v)
    reader, got = read_all(path)
    assert np.array_equal(got, frames)
    assert reader.fps == 21000.5  # the high-precision rate of the SETUP
    assert reader.bit_depth == bits and reader.frame_count_hint == T


def test_cine_old_setup_integer_rate_and_real_bpp(tmp_path, f16):
    path = write_cine(tmp_path / "c.cine", depth(f16, 12), bits=16, fps=4321, real_bpp=12,
                      setup_length=5740)
    reader, got = read_all(path)
    assert reader.fps == 4321 and reader.bit_depth == 12
    assert np.array_equal(got, depth(f16, 12))


@pytest.mark.parametrize("bits", [8, 16])
def test_cine_matches_ffmpeg_demuxer(tmp_path, f16, bits):
    """An independent reader (FFmpeg's cine demuxer) sees the same frames, rows the same way up."""
    frames = depth(f16, bits)
    path = write_cine(tmp_path / "c.cine", frames, bits=bits, fps=3000, annotation=b"x" * 24)
    with av.open(str(path)) as c:
        ff = np.stack([f.to_ndarray() for f in c.decode(video=0)])
        assert c.streams.video[0].time_base == Fraction(1, 3000)  # FFmpeg: 1/FrameRate
    _, got = read_all(path)
    assert np.array_equal(ff, frames) and np.array_equal(got, ff)


@pytest.mark.parametrize("bits", [24, 48])
def test_cine_colour_is_luminance(tmp_path, rng, bits):
    top = 255 if bits == 24 else 65535
    rgb = rng.integers(0, top + 1, (T, H, W, 3))
    path = write_cine(tmp_path / "c.cine", rgb, bits=bits, fps=3000)
    _, got = read_all(path)
    expect = rgb @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(got, expect, rtol=4 * np.finfo(np.float32).eps, atol=0)
    if bits == 24:  # FFmpeg reads the same BGR pixels
        with av.open(str(path)) as c:
            ff = np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])
        assert np.array_equal(ff, rgb)


def test_cine_truncated_warns_with_range(tmp_path, f16):
    frames = depth(f16, 12)
    fb = len(frame_bytes(frames[0], 12))
    path = write_cine(tmp_path / "c.cine", frames, bits=12, fps=3000, truncate=2 * fb - 3)
    with pytest.warns(VisualMicWarning, match=r"5 complete images .* announces 7.*frames 0-4"):
        reader = open_video(path)
    assert np.array_equal(reader.read(), frames[:5])


def _patch(path, offset, fmt, value):
    data = bytearray(path.read_bytes())
    struct.pack_into(fmt, data, offset, value)
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("offset, fmt, value, match", [
    (0, "<2s", b"XX", "not a Phantom .cine"),
    (6, "<H", 7, "corrupt CINEFILEHEADER"),
    (4, "<H", 1, "JPEG-compressed"),
    (4, "<H", 2, "Bayer"),
    (44 + 14, "<H", 32, "32-bit images .* not supported"),
    (84 + 140, "<2s", b"XX", "SETUP header is missing or corrupt"),
    (32, "<I", 10 ** 6, "corrupt CINEFILEHEADER"),
])
def test_cine_corrupt_or_unsupported(tmp_path, f16, offset, fmt, value, match):
    path = write_cine(tmp_path / "c.cine", depth(f16, 8), bits=8, fps=3000)
    _patch(path, offset, fmt, value)
    with pytest.raises(VideoError, match=match) as err:
        open_video(path)
    assert "\n" not in str(err.value)


def test_cine_bad_offsets_table(tmp_path, f16):
    path = write_cine(tmp_path / "c.cine", depth(f16, 8), bits=8, fps=3000)
    _patch(path, 84 + 13484 + 8, "<q", 5)  # second offset before the first
    with pytest.raises(VideoError, match="offsets table is corrupt"):
        open_video(path)


# --------------------------------------------------------------------------- TIFF, BMP, JPEG


def test_tiff_stack_round_trip_with_imagej_rate(tmp_path, f16):
    path = write_tiff_stack(tmp_path / "s.tif", f16, fps=2200)
    reader, got = read_all(path)
    assert np.array_equal(got, f16) and reader.fps == pytest.approx(2200, rel=1e-12)
    assert reader.bit_depth == 16 and reader.frame_count_hint == T


def test_tiff_stack_12bit_in_16bit_kept_as_stored(tmp_path, f16):
    frames = depth(f16, 12)
    path = write_tiff_stack(tmp_path / "s.tiff", frames, compression="zlib")  # page by page
    with pytest.raises(ParameterError, match="no frame rate"):
        open_video(path)
    reader, got = read_all(path, fps=3000, start=1, end=6)
    assert np.array_equal(got, frames[1:6]) and got.max() < 4096


def test_tiff_rgb_stack_is_luminance(tmp_path, rng):
    rgb = rng.integers(0, 256, (T, H, W, 3)).astype(np.uint8)
    path = write_tiff_stack(tmp_path / "s.tif", rgb, photometric="rgb")
    _, got = read_all(path, fps=3000)
    np.testing.assert_allclose(got, rgb @ np.array([0.299, 0.587, 0.114]),
                               rtol=4 * np.finfo(np.float32).eps)


def test_tiff_stack_truncated_and_corrupt(tmp_path, f16):
    import tifffile

    path = write_tiff_stack(tmp_path / "s.tif", f16, fps=2200)
    with tifffile.TiffFile(path) as tif:
        offset = tif.series[0].dataoffset  # pixels of all frames, contiguous
    path.write_bytes(path.read_bytes()[: offset + 5 * H * W * 2 + 7])
    with pytest.warns(VisualMicWarning, match=r"frames 0-4"):
        reader = open_video(path)
    assert np.array_equal(reader.read(), f16[:5])
    path.write_bytes(b"II*\0" + b"\xff" * 40)
    with pytest.raises(VideoError, match="cannot read s.tif as a TIFF"):
        open_video(path, fps=100)


def test_bmp_folder_exact(tmp_path, f16):
    frames = depth(f16, 8)
    folder = write_image_folder(tmp_path / "bmp", frames, ".bmp")
    reader, got = read_all(folder, fps=2200)
    assert np.array_equal(got, frames) and reader.codec == "bmp" and reader.lossless is True


def test_jpeg_folder_warns_lossy(tmp_path, f16):
    folder = write_image_folder(tmp_path / "jpg", depth(f16, 8), ".jpeg", quality=95)
    with pytest.warns(VisualMicWarning, match="lossy"):
        reader = open_video(folder, fps=2200)
    assert reader.read().shape == (T, H, W)


# --------------------------------------------------------------------------- bounded memory


@pytest.mark.parametrize("kind", ["mraw", "cine"])
def test_streaming_memory_is_bounded(tmp_path, kind):
    """Reading a 12-bit file of 48 MB in chunks of 2 frames allocates a few MB at most."""
    n, h, w = 256, 256, 512  # 196608 bytes a frame packed
    fb = h * w * 3 // 2
    if kind == "mraw":
        hdr, mraw = write_photron(tmp_path / "big", np.zeros((1, h, w), np.uint16), bits=12,
                                  fps=10000, total=n)
        with open(mraw, "r+b") as f:
            f.truncate(n * fb)  # a sparse file of zeros: any bytes are valid 12-bit pixels
        path = hdr
    else:
        path = write_cine(tmp_path / "big.cine", np.zeros((1, h, w), np.uint16), bits=12,
                          fps=10000)
        # Rewrite with n offsets pointing at n zero images appended sparsely.
        data = bytearray(path.read_bytes())
        table = 84 + 13484
        first = table + 8 * n
        head = data[:table]
        struct.pack_into("<I", head, 12, n)  # TotalImageCount
        struct.pack_into("<I", head, 20, n)  # ImageCount
        offsets = np.arange(n, dtype="<i8") * (fb + 8) + first
        with open(path, "wb") as f:
            f.write(bytes(head) + offsets.tobytes())
            for i in range(n):
                f.seek(first + i * (fb + 8))
                f.write(struct.pack("<II", 8, fb))
            f.truncate(first + n * (fb + 8))
    size = path.stat().st_size if kind == "cine" else (tmp_path / "big.mraw").stat().st_size
    assert size > 48e6
    reader = open_video(path)
    tracemalloc.start()
    frames = 0
    for block in reader.chunks(size=2):
        frames += len(block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert frames == n
    assert peak < 2 * fb * 16  # bytes, uint16 and float32 copies of one chunk, with slack
    assert peak < size / 8


# --------------------------------------------------------------------------- frame-rate sanity


def test_low_container_rate_warning_and_nyquist_error_name_playback_rate(tmp_path, rng):
    frames = rng.integers(0, 256, (40, 32, 32)).astype(np.uint8)
    path = write_cine(tmp_path / "slow.cine", frames, bits=8, fps=30)
    with pytest.warns(VisualMicWarning, match=r"playback rate \(30 fps\).*-s/--sampling-rate"):
        open_video(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VisualMicWarning)
        with pytest.raises(ParameterError, match=r"Nyquist frequency 15 Hz; .*playback rate.*-s"):
            recover(path)
        with pytest.raises(ParameterError, match="Nyquist") as err:  # rate given: no hint
            recover(path, fps=30)
    assert "playback" not in str(err.value)


def test_no_playback_hint_for_high_container_rates(tmp_path, rng):
    frames = rng.integers(0, 256, (40, 32, 32)).astype(np.uint8)
    path = write_cine(tmp_path / "fast.cine", frames, bits=8, fps=2200)
    with pytest.raises(ParameterError, match="Nyquist frequency 1100 Hz") as err:
        recover(path, highpass=5000)
    assert "playback" not in str(err.value)


def test_cli_start_time_end_time(tmp_path, rng, capsys):
    frames = rng.integers(0, 256, (60, 32, 32)).astype(np.uint8)
    path = write_cine(tmp_path / "c.cine", frames, bits=8, fps=2000)
    out = tmp_path / "o.wav"
    code = main(["recover", str(path), "-o", str(out), "-q", "--json",
                 "--start-time", "0.005", "--end-time", "0.0251"])
    assert code == 0
    text = capsys.readouterr().out
    assert '"frames": 40' in text and '"start": 10' in text and '"end": 50' in text
    code = main(["recover", str(path), "-o", str(out), "-q", "--start", "0",
                 "--start-time", "0.01"])
    assert code == 2
    assert "--start (frames) or --start-time (seconds), not both" in capsys.readouterr().err
    code = main(["recover", str(path), "-o", str(out), "-q", "-s", "4000",
                 "--start-time", "0.0025", "--end-time", "0.0025"])
    assert code == 2
    assert "frame 10 at 4000 fps" in capsys.readouterr().err
