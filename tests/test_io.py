"""Tests for visualmic.io: video streaming (files, folders, arrays) and audio I/O."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from visualmic._errors import (
    AudioError,
    InputFileError,
    OutputError,
    ParameterError,
    VideoError,
    VisualMicWarning,
)
from visualmic.io import VideoReader, open_video, parse_roi, read_audio, write_audio
from visualmic.io import _av as av_mod
from visualmic.io import video as video_mod

FPS = 2200


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def write_video(path, frames, *, codec="ffv1", pix_fmt="gray", in_fmt=None, rate=FPS):
    """Encode ``frames`` (T, H, W) or (T, H, W, 3) with PyAV; return the path."""
    path = Path(path)
    if in_fmt is None:
        in_fmt = {1: "gray", 2: "gray16le"}[frames.dtype.itemsize] if frames.ndim == 3 else "rgb24"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        height = frames.shape[1] * 2 // 3 if in_fmt == "yuv420p" else frames.shape[1]
        stream.width, stream.height = frames.shape[2], height
        stream.pix_fmt = pix_fmt
        for f in frames:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format=in_fmt)
            if frame.format.name != pix_fmt:
                frame = frame.reformat(format=pix_fmt)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def quiet_open(*args, **kwargs) -> VideoReader:
    """open_video that fails the test on any VisualMicWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", VisualMicWarning)
        return open_video(*args, **kwargs)


@pytest.fixture
def gray8(tmp_path, rng):
    # an odd width: decoded rows are padded in memory, the padding must not leak out
    frames = rng.integers(0, 256, size=(40, 24, 31), dtype=np.uint8)
    return write_video(tmp_path / "g8.mkv", frames), frames


# --------------------------------------------------------------------------- video files


def test_ffv1_gray8_exact_round_trip(gray8):
    path, frames = gray8
    reader = quiet_open(path)
    assert reader.fps == FPS and reader.source_fps == FPS
    assert reader.codec == "ffv1" and reader.lossless is True and reader.bit_depth == 8
    assert reader.input_shape == reader.shape == (24, 31)
    assert reader.warnings == []
    out = reader.read()
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, frames)
    assert reader.frames_read == len(frames)


def test_ffv1_gray16_keeps_full_precision(tmp_path, rng):
    frames = rng.integers(0, 65536, size=(12, 20, 28), dtype=np.uint16)
    frames[0, 0, :3] = (1, 257, 65535)  # low bits and the extremes survive
    path = write_video(tmp_path / "g16.mkv", frames, pix_fmt="gray16le")
    reader = quiet_open(path)
    assert reader.bit_depth == 16
    np.testing.assert_array_equal(reader.read(), frames)


def _planar_frame(fmt, planes):
    """A VideoFrame of format ``fmt`` whose planes hold the given 2-D arrays."""
    frame = av.VideoFrame(planes[0].shape[1], planes[0].shape[0], fmt)
    for plane, data in zip(frame.planes, planes, strict=True):
        stride = plane.line_size // data.itemsize
        padded = np.zeros((plane.height, stride), data.dtype)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes())
    return frame


@pytest.mark.parametrize("fmt,bits", [("gray10le", 10), ("yuv420p10le", 10), ("gray12le", 12)])
def test_high_bit_depth_luma_is_exact(tmp_path, rng, fmt, bits):
    h, w = 12, 18
    luma = rng.integers(0, 2**bits, size=(5, h, w), dtype=np.uint16)
    path = tmp_path / f"{fmt}.mkv"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = w, h, fmt
        for y in luma:
            planes = [y]
            if fmt.startswith("yuv"):
                planes += [rng.integers(0, 2**bits, size=(h // 2, w // 2), dtype=np.uint16)] * 2
            for packet in stream.encode(_planar_frame(fmt, planes)):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reader = quiet_open(path)
    assert reader.bit_depth == bits
    np.testing.assert_array_equal(reader.read(), luma)


def test_yuv_takes_the_luma_plane_exactly(tmp_path, rng):
    h, w = 16, 24
    y = rng.integers(16, 236, size=(6, h, w), dtype=np.uint8)
    chroma = rng.integers(0, 256, size=(6, h // 2, w), dtype=np.uint8)  # U and V planes
    packed = np.concatenate([y, chroma], axis=1)  # (T, H * 3/2, W): yuv420p layout
    path = write_video(tmp_path / "yuv.mkv", packed, pix_fmt="yuv420p", in_fmt="yuv420p")
    reader = quiet_open(path)
    np.testing.assert_array_equal(reader.read(), y)


def test_rgb_video_becomes_luminance(tmp_path, rng):
    rgb = rng.integers(0, 256, size=(5, 16, 20, 3), dtype=np.uint8)
    path = write_video(tmp_path / "rgb.mkv", rgb, pix_fmt="bgr0")  # lossless RGB in FFV1
    reader = quiet_open(path)
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(reader.read(), expected, atol=1e-4)
    assert reader.bit_depth == 8


@pytest.mark.parametrize("codec,pix_fmt", [("mpeg4", "yuv420p"), ("mjpeg", "yuvj420p")])
def test_lossy_codec_warns(tmp_path, rng, codec, pix_fmt):
    frames = rng.integers(0, 256, size=(4, 32, 32), dtype=np.uint8)
    path = write_video(tmp_path / f"lossy_{codec}.mkv", frames, codec=codec, pix_fmt=pix_fmt)
    with pytest.warns(VisualMicWarning, match="lossy compression destroys sub-pixel motion"):
        reader = open_video(path)
    assert reader.lossless is False and reader.codec == codec
    assert len(reader.warnings) == 1 and "\n" not in reader.warnings[0]
    assert reader.read().shape == (4, 32, 32)


def test_low_frame_rate_warns_with_nyquist():
    with pytest.warns(VisualMicWarning, match=r"audio is limited to fps/2 = 250 Hz"):
        reader = open_video(np.zeros((3, 4, 4)), fps=500)
    assert reader.fps == 500


def test_fps_override_and_container_rate(gray8):
    path, _ = gray8
    reader = quiet_open(path, fps=3000)
    assert reader.fps == 3000 and reader.source_fps == FPS


def test_start_end_range(gray8):
    path, frames = gray8
    np.testing.assert_array_equal(quiet_open(path, start=5, end=12).read(), frames[5:12])
    np.testing.assert_array_equal(quiet_open(path, start=30).read(), frames[30:])
    # an end past the last frame reads to the end
    np.testing.assert_array_equal(quiet_open(path, start=35, end=1000).read(), frames[35:])


def test_start_past_the_end_of_a_video_is_an_error(gray8):
    path, _ = gray8
    reader = quiet_open(path, start=100)
    with pytest.raises(VideoError, match=r"no frames decoded in range \[100, end\)"):
        reader.read()


def test_chunks_equal_reading_all_at_once(gray8):
    path, frames = gray8
    reader = quiet_open(path, start=3)
    blocks = list(reader.chunks(size=7))
    assert [len(b) for b in blocks] == [7, 7, 7, 7, 7, 2]
    assert all(b.dtype == np.float32 and b.flags.c_contiguous for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), reader.read())
    np.testing.assert_array_equal(np.concatenate(blocks), frames[3:])
    # blocks are independent arrays, not one reused buffer
    assert not np.shares_memory(blocks[0], blocks[1])


def test_stopping_early_and_progress(gray8):
    path, frames = gray8
    reader = quiet_open(path)
    calls = []
    gen = reader.chunks(size=16, progress=lambda done, total: calls.append((done, total)))
    first = next(gen)
    gen.close()  # closes the container; a new pass starts again from the first frame
    np.testing.assert_array_equal(first, frames[:16])
    assert calls == [(16, None)]  # MKV declares no frame count
    calls.clear()
    reader.read(progress=lambda done, total: calls.append(done))
    assert calls == [40]


def test_streaming_memory_does_not_grow_with_length(tmp_path, rng):
    import tracemalloc

    frames = rng.integers(0, 256, size=(400, 32, 32), dtype=np.uint8)
    path = write_video(tmp_path / "long.mkv", frames)
    reader = quiet_open(path)
    whole = frames.size * 4  # bytes of the video as float32
    total = 0.0
    tracemalloc.start()
    try:
        for block in reader.chunks(size=20):
            total += float(block.sum(dtype=np.float64))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == float(frames.sum(dtype=np.float64))
    assert peak < whole / 5  # a few blocks of 20 frames, not the 400 frames


def test_reference_is_mean_of_first_k_frames(gray8):
    path, frames = gray8
    reader = quiet_open(path, start=2)
    ref = reader.reference(5)
    assert ref.dtype == np.float64 and ref.shape == (24, 31)
    np.testing.assert_allclose(ref, frames[2:7].mean(axis=0))
    np.testing.assert_array_equal(reader.reference(), frames[2])
    with pytest.raises(ParameterError, match="only 38"):
        reader.reference(100)
    with pytest.raises(ParameterError, match="k=0"):
        reader.reference(0)


# --------------------------------------------------------------------------- frame counts


def test_wrong_container_frame_count_is_never_trusted(gray8, monkeypatch):
    path, frames = gray8
    # MKV stores no frame count: the hint is 0 and every frame is still read
    assert quiet_open(path).frame_count_hint == 0
    # a container claiming too few frames
    monkeypatch.setattr(av_mod, "stream_frame_count", lambda stream: 3)
    reader = quiet_open(path)
    assert reader.frame_count_hint == 3
    np.testing.assert_array_equal(reader.read(), frames)
    # a container claiming far too many: no huge allocation, all frames, a warning
    monkeypatch.setattr(av_mod, "stream_frame_count", lambda stream: 10**9)
    reader = quiet_open(path)
    with pytest.warns(VisualMicWarning, match="announces 1000000000; the file may be truncated"):
        out = reader.read()
    np.testing.assert_array_equal(out, frames)
    assert reader.frames_read == 40


def test_truncated_video_returns_the_decoded_frames(tmp_path, rng):
    frames = rng.integers(0, 256, size=(120, 24, 32), dtype=np.uint8)
    path = write_video(tmp_path / "full.mkv", frames)
    data = path.read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    reader = quiet_open(cut)
    with pytest.warns(VisualMicWarning, match="truncated"):
        out = reader.read()
    assert 10 < len(out) < 120
    np.testing.assert_array_equal(out, frames[: len(out)])


# --------------------------------------------------------------------------- ROI and downsample


def test_roi_crops_columns_then_rows(gray8):
    path, frames = gray8
    reader = quiet_open(path, roi=(3, 2, 10, 8))
    assert reader.shape == (8, 10) and reader.input_shape == (24, 31)
    np.testing.assert_array_equal(reader.read(), frames[:, 2:10, 3:13])
    np.testing.assert_array_equal(quiet_open(path, roi="3,2,10,8").read(), frames[:, 2:10, 3:13])


def test_parse_roi():
    assert parse_roi(" 1, 2 ,3,4") == (1, 2, 3, 4)
    for bad in ("1,2,3", "a,b,c,d", "1,2,3,4,5", "1.5,2,3,4", "-1,0,4,4", "0,0,0,4"):
        with pytest.raises(ParameterError, match="roi="):
            parse_roi(bad)


def test_roi_outside_the_frame_names_the_frame_size(gray8):
    path, _ = gray8
    with pytest.raises(ParameterError, match=r"beyond the 31x24 \(WxH\) frame"):
        open_video(path, roi=(24, 0, 8, 8))
    with pytest.raises(ParameterError, match="w, h >= 1"):
        open_video(path, roi=(0, 0, 0, 8))


def _grating(freq, shape=(8, 64, 64), amplitude=50.0):
    x = np.arange(shape[2])
    row = 128 + amplitude * np.cos(2 * np.pi * freq * x)
    return np.broadcast_to(row, shape).astype(np.float32)


def test_downsample_is_anti_aliased():
    # a grating near Nyquist (0.45 cycles/pixel) must be removed, not folded into a
    # coarse 0.1 cycles/pixel pattern as plain decimation does (the seed code's defect)
    fine = _grating(0.45)
    out = open_video(fine, fps=FPS, downsample=2).read()
    assert out.shape == (8, 32, 32)
    interior = out[:, :, 4:-4]
    assert np.ptp(interior) / 2 < 0.05 * 50  # < 5 % of the amplitude survives
    aliased = fine[:, ::2, ::2]
    assert np.ptp(aliased[:, :, 4:-4]) / 2 > 0.9 * 50
    np.testing.assert_allclose(interior.mean(), 128, atol=0.5)
    # texture well below the new Nyquist passes unchanged
    coarse = _grating(1 / 16)
    out = open_video(coarse, fps=FPS, downsample=2).read()
    expected = 128 + 50 * np.cos(2 * np.pi * (1 / 16) * (2 * np.arange(32) + 0.5))
    np.testing.assert_allclose(out[0, 10, 4:-4], expected[4:-4], atol=0.05 * 50)


def test_downsample_factor_forms_and_constants(rng):
    frames = rng.normal(100, 10, size=(5, 40, 60)).astype(np.float32)
    half = open_video(frames, fps=FPS, downsample=2).read()
    np.testing.assert_array_equal(open_video(frames, fps=FPS, downsample=0.5).read(), half)
    assert half.shape == (5, 20, 30) and half.dtype == np.float32
    assert open_video(frames, fps=FPS, downsample=1.5).shape == (27, 40)
    const = np.full((3, 40, 60), 77.0)
    np.testing.assert_allclose(open_video(const, fps=FPS, downsample=3).read(), 77.0, rtol=1e-6)
    # ROI first, then downsample; chunked equals whole
    reader = open_video(frames, fps=FPS, roi=(10, 4, 40, 32), downsample=2)
    direct = open_video(frames[:, 4:36, 10:50], fps=FPS, downsample=2).read()
    np.testing.assert_allclose(np.concatenate(list(reader.chunks(size=2))), direct, rtol=1e-6)


def test_downsample_of_large_frames_matches_the_dense_operator(rng):
    # frames wider than the dense limit are resampled band by band: same result
    frames = rng.normal(0, 1, size=(2, 20, 300)).astype(np.float32)
    out = open_video(frames, fps=FPS, downsample=2.5).read()
    wy = video_mod.Resampler.weights(20, 8)
    wx = video_mod.Resampler.weights(300, 120)
    np.testing.assert_allclose(out, wy @ frames.astype(np.float64) @ wx.T, atol=1e-4)


@pytest.mark.parametrize("factor", [0, -2, float("nan"), float("inf"), "2", True])
def test_bad_downsample(factor):
    with pytest.raises(ParameterError, match="downsample="):
        open_video(np.zeros((2, 8, 8)), fps=FPS, downsample=factor)


def test_downsample_too_strong():
    with pytest.raises(ParameterError, match="less than one pixel"):
        open_video(np.zeros((2, 8, 8)), fps=FPS, downsample=10)


# --------------------------------------------------------------------------- folders, npy, arrays


def test_png_folder_natural_order_8_and_16_bit(tmp_path, rng):
    from PIL import Image

    for bits, dtype in ((8, np.uint8), (16, np.uint16)):
        folder = tmp_path / f"png{bits}"
        folder.mkdir()
        frames = rng.integers(0, 2**bits, size=(12, 10, 14), dtype=dtype)
        for i, f in enumerate(frames):
            Image.fromarray(f).save(folder / f"frame{i}.png")  # frame2 ... frame10, frame11
        (folder / "notes.txt").write_text("ignored")
        with pytest.raises(ParameterError, match="has no frame rate; give fps"):
            open_video(folder)
        reader = quiet_open(folder, fps=FPS)
        assert reader.codec == "png" and reader.lossless is True and reader.bit_depth == bits
        assert reader.frame_count_hint == 12
        np.testing.assert_array_equal(reader.read(), frames)
        np.testing.assert_array_equal(quiet_open(folder, fps=FPS, start=9, end=11).read(),
                                      frames[9:11])


def test_tiff_folder_and_rgb_png(tmp_path, rng):
    import tifffile
    from PIL import Image

    folder = tmp_path / "tif"
    folder.mkdir()
    frames = rng.integers(0, 65536, size=(4, 9, 11), dtype=np.uint16)
    for i, f in enumerate(frames):
        tifffile.imwrite(folder / f"img_{i + 8:d}.tiff", f)  # img_8, img_9, img_10, img_11
    reader = quiet_open(folder, fps=FPS)
    assert reader.bit_depth == 16 and reader.codec == "tiff"
    np.testing.assert_array_equal(reader.read(), frames)

    floats = tmp_path / "float"
    floats.mkdir()
    values = rng.normal(3000, 20, size=(3, 5, 7)).astype(np.float32)
    for i, f in enumerate(values):
        tifffile.imwrite(floats / f"f{i}.tif", f)
    reader = quiet_open(floats, fps=FPS)
    assert reader.bit_depth is None
    np.testing.assert_array_equal(reader.read(), values)

    rgbdir = tmp_path / "rgb"
    rgbdir.mkdir()
    rgb = rng.integers(0, 256, size=(3, 6, 8, 3), dtype=np.uint8)
    for i, f in enumerate(rgb):
        Image.fromarray(f).save(rgbdir / f"{i}.png")
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(quiet_open(rgbdir, fps=FPS).read(), expected, atol=1e-4)


def test_folder_errors(tmp_path, rng):
    from PIL import Image

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputFileError, match="holds no frames"):
        open_video(empty, fps=FPS)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(mixed / "a1.png")
    Image.fromarray(np.zeros((8, 9), np.uint8)).save(mixed / "a2.png")
    reader = open_video(mixed, fps=FPS)
    with pytest.raises(VideoError, match="9x8, the first frame is 8x8"):
        reader.read()
    (mixed / "a3.png").write_text("not an image")
    with pytest.raises(VideoError, match="a3.png"):
        open_video(mixed, fps=FPS, start=2).read()


def test_npy_file(tmp_path, rng):
    frames = rng.integers(0, 65536, size=(9, 7, 5), dtype=np.uint16)
    path = tmp_path / "frames.npy"
    np.save(path, frames)
    with pytest.raises(ParameterError, match="give fps"):
        open_video(path)
    reader = quiet_open(path, fps=FPS, start=2)
    assert reader.bit_depth == 16 and reader.codec is None and reader.path == path
    np.testing.assert_array_equal(reader.read(), frames[2:])
    np.save(tmp_path / "flat.npy", np.zeros((4, 5)))
    with pytest.raises(VideoError, match=r"shape \(4, 5\)"):
        open_video(tmp_path / "flat.npy", fps=FPS)
    bad = np.zeros((3, 4, 4))
    bad[1, 2, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(VideoError, match="frame 1 .* NaN"):
        open_video(tmp_path / "nan.npy", fps=FPS).read()


def test_arrays_grey_and_rgb(rng):
    grey = rng.normal(1000, 50, size=(6, 8, 10))
    reader = quiet_open(grey, fps=FPS)
    assert reader.bit_depth is None and reader.path is None and reader.lossless is None
    np.testing.assert_array_equal(reader.read(), grey.astype(np.float32))
    rgb = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    expected = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(quiet_open(rgb, fps=FPS).read(), expected, atol=1e-4)
    with pytest.raises(ParameterError, match="give fps"):
        open_video(grey)
    with pytest.raises(ParameterError, match=r"shape \(6, 8\)"):
        open_video(grey[:, :, 0], fps=FPS)
    with pytest.raises(VideoError, match="past the last frame .* 6 frames"):
        open_video(grey, fps=FPS, start=6)
    with pytest.raises(ParameterError, match="not a path or a NumPy array"):
        open_video([[1, 2], [3, 4]], fps=FPS)


# --------------------------------------------------------------------------- error paths


def test_missing_and_unreadable_video_files(tmp_path):
    with pytest.raises(InputFileError, match="does not exist; check the path"):
        open_video(tmp_path / "nope.mkv")
    text = tmp_path / "text.mkv"
    text.write_text("this is not a video\n" * 20)
    with pytest.raises(VideoError, match=r"cannot open .*text\.mkv.* as a video"):
        open_video(text)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match=r"is empty \(0 bytes\)"):
        open_video(empty)


def test_file_without_video_stream(tmp_path):
    path = tmp_path / "sound.mka"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    with pytest.raises(VideoError, match="holds no video stream .*audio"):
        open_video(path)


def test_av_errors_are_converted(tmp_path, monkeypatch):
    path = tmp_path / "x.mkv"
    path.write_bytes(b"\x1aE\xdf\xa3" + b"\x00" * 64)

    def broken(*args, **kwargs):
        raise av.error.InvalidDataError(1094995529, "Invalid data found when processing input")

    monkeypatch.setattr(av_mod.av, "open", broken)
    with pytest.raises(VideoError, match="Invalid data found"):
        open_video(path)


@pytest.mark.parametrize("kwargs,match", [
    ({"fps": 0}, "fps=0"), ({"fps": -5.0}, "fps=-5.0"), ({"fps": float("nan")}, "fps=nan"),
    ({"fps": "fast"}, "fps='fast'"), ({"start": -1}, "start=-1"), ({"start": 1.5}, "start=1.5"),
    ({"start": 5, "end": 5}, "end=5 must be greater than start=5"), ({"roi": (1, 2)}, "roi="),
])
def test_bad_parameters(kwargs, match):
    kwargs.setdefault("fps", FPS)
    with pytest.raises(ParameterError, match=match):
        open_video(np.zeros((10, 8, 8)), **kwargs)


def test_bad_chunk_size():
    reader = open_video(np.zeros((2, 4, 4)), fps=FPS)
    with pytest.raises(ParameterError, match="size=0"):
        next(reader.chunks(size=0))


# --------------------------------------------------------------------------- audio


def test_audio_float32_round_trip(tmp_path):
    t = np.arange(2200) / 2200
    y = 0.8 * np.sin(2 * np.pi * 440 * t)
    path = write_audio(tmp_path / "a.wav", y, 2200.0)
    assert sf.info(str(path)).subtype == "FLOAT"
    back, rate = read_audio(path)
    assert rate == 2200.0 and back.dtype == np.float64
    np.testing.assert_array_equal(back, y.astype(np.float32))


def test_audio_pcm16_round_trip_and_clipping(tmp_path):
    y = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 1e-5])
    path = write_audio(tmp_path / "p.wav", y, 8000, pcm16=True)
    assert sf.info(str(path)).subtype == "PCM_16"
    back, _ = read_audio(path)
    expected = np.round(np.clip(y, -1, 1) * 32767) / 32768
    np.testing.assert_array_equal(back, expected)
    assert np.abs(back - np.clip(y, -1, 1)).max() < 2 / 32767


def test_audio_rate_rounding_and_errors(tmp_path):
    path = write_audio(tmp_path / "r.wav", np.zeros(10), 2199.6)
    assert sf.info(str(path)).samplerate == 2200
    for rate in (0, -2200, float("nan"), 0.2, "fast"):
        with pytest.raises(ParameterError, match="rate="):
            write_audio(tmp_path / "bad.wav", np.zeros(10), rate)
    with pytest.raises(ParameterError, match="1 NaN or infinite"):
        write_audio(tmp_path / "bad.wav", np.array([0.0, np.nan, 0.0]), 2200)
    with pytest.raises(ParameterError, match="no samples"):
        write_audio(tmp_path / "bad.wav", np.zeros(0), 2200)
    with pytest.raises(OutputError, match=r"must end in \.wav, \.flac or \.ogg"):
        write_audio(tmp_path / "bad.mp3", np.zeros(10), 2200)
    with pytest.raises(OutputError, match="does not exist"):
        write_audio(tmp_path / "missing" / "a.wav", np.zeros(10), 2200)
    assert not (tmp_path / "bad.wav").exists()


def test_audio_channels_and_mixdown(tmp_path):
    stereo = np.stack([np.linspace(-0.5, 0.5, 100), np.full(100, 0.25)])
    path = write_audio(tmp_path / "s.wav", stereo, 4000)
    both, _ = read_audio(path, mono=False)
    assert both.shape == (2, 100)
    np.testing.assert_allclose(both, stereo, atol=1e-7)
    mono, _ = read_audio(path)
    np.testing.assert_allclose(mono, stereo.mean(axis=0), atol=1e-7)


def test_read_audio_errors(tmp_path):
    with pytest.raises(InputFileError, match="does not exist"):
        read_audio(tmp_path / "none.wav")
    with pytest.raises(InputFileError, match="is a folder"):
        read_audio(tmp_path)
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio at all\n" * 10)
    with pytest.raises(AudioError, match="cannot read .*bad.wav"):
        read_audio(bad)
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros(0), 8000)
    with pytest.raises(AudioError, match="holds no samples"):
        read_audio(empty)


def test_read_audio_through_ffmpeg(tmp_path):
    # Matroska audio: not a libsndfile format, decoded by FFmpeg instead
    samples = (np.arange(-400, 400) * 40).astype(np.int16)
    path = tmp_path / "tone.mka"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None], format="s16", layout="mono")
        frame.sample_rate = 8000
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    y, rate = read_audio(path)
    assert rate == 8000.0
    np.testing.assert_array_equal(y, samples / 32768.0)


def test_atomic_write_leaves_no_temp_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "out.wav"
    target.write_bytes(b"previous")

    def failing_write(file, data, *args, **kwargs):
        Path(file).write_bytes(b"partial")
        raise sf.LibsndfileError(0, "disk full")

    monkeypatch.setattr(sf, "write", failing_write)
    with pytest.raises(OutputError, match="cannot write"):
        write_audio(target, np.zeros(100), 2200)
    assert sorted(os.listdir(tmp_path)) == ["out.wav"]
    assert target.read_bytes() == b"previous"


def test_write_audio_never_overwrites_an_input(tmp_path):
    source = tmp_path / "video.wav"
    source.write_bytes(b"input data")
    with pytest.raises(OutputError, match="is the input file"):
        write_audio(source, np.zeros(10), 2200, inputs=(source,))
    assert source.read_bytes() == b"input data"


def test_float_wav_bytes_do_not_depend_on_the_time_of_writing(tmp_path):
    # libsndfile stamps the write time into a float WAV's PEAK chunk; it is zeroed so that
    # the same samples (e.g. `visualmic synth` with the same seed) give identical files
    path = write_audio(tmp_path / "a.wav", 0.5 * np.sin(np.arange(300) / 5.0), 2200)
    data = path.read_bytes()
    at = data.index(b"PEAK")
    assert data[at + 12:at + 16] == b"\0\0\0\0"
    assert int.from_bytes(data[at + 8:at + 12], "little") == 1  # PEAK version, untouched
    y, rate = sf.read(path)
    assert rate == 2200 and np.max(np.abs(y)) == pytest.approx(0.5, abs=1e-3)
