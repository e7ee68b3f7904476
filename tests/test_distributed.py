"""Dask: frame ranges decoded by seeking and stitched give the single-process output."""

import numpy as np
import pytest

import visualmic
from visualmic import ParameterError
from visualmic.core.pyramid import SteerablePyramid
from visualmic.engine.batch import recover_many
from visualmic.engine.chain import Chain
from visualmic.engine.dask import band_signals, dask_client
from visualmic.io.video import open_video

distributed = pytest.importorskip("distributed")


# Audio is normalised to a peak of 1; runners may differ by float32 rounding of the band
# signals (BLAS results depend on the batch's row count and the CPU), so: 64 float32
# epsilons of that peak.
AUDIO_ATOL = 64 * np.finfo(np.float32).eps


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """1500 frames (0.68 s) at 2200 fps, 48x48, FFV1 in Matroska (timestamps in ms)."""
    path = tmp_path_factory.mktemp("d") / "clip.mkv"
    return visualmic.synthesize(path, audio="melody", duration=1500 / 2200, amplitude=0.03,
                                direction=40, size=(48, 48), noise_sigma=1.0, seed=3)


def test_seeking_is_frame_exact(video):
    idx = open_video(video.video_path).frame_index()
    assert idx.n_frames == 1500 and idx.seekable
    # Matroska keeps milliseconds: several frames share a timestamp at 2200 fps
    assert len(np.unique(idx.pts)) < idx.n_frames
    full = open_video(video.video_path).read()
    for start, end in [(1, 7), (13, 200), (700, 701), (1234, None), (1499, None)]:
        reader = open_video(video.video_path, start=start, end=end)
        reader.use_index(idx)
        got = reader.read()
        np.testing.assert_array_equal(got, full[start:end])
        if start >= 100:
            assert 0 < reader.seeked_to <= start  # it seeked, to a key frame before


@pytest.mark.parametrize("method", ["phase", "fast"])
def test_dask_equals_single_process(video, client, method):
    opts = dict(method=method, chunk_size=64)
    single = visualmic.recover(video.video_path, **opts)
    dask = visualmic.recover(video.video_path, dask=client, **opts)
    assert dask.n_frames == single.n_frames == 1500
    # Same chunks through the same chain: equal to float rounding of the band signals
    # (scaled to their peak, as BLAS results may differ between CPUs in the last bits).
    peak = np.abs(single.band_signals).max()
    np.testing.assert_allclose(dask.band_signals, single.band_signals, rtol=0,
                               atol=64 * np.finfo(np.float32).eps * peak)
    np.testing.assert_allclose(dask.audio, single.audio, rtol=0, atol=AUDIO_ATOL)


def test_ranges_roi_reference_and_auto(video, client):
    opts = dict(method="auto", chunk_size=64, start=37, end=1400, roi=(4, 2, 40, 40),
                reference=100)
    single = visualmic.recover(video.video_path, **opts)
    dask = visualmic.recover(video.video_path, dask=client, **opts)
    np.testing.assert_allclose(dask.audio, single.audio, rtol=0, atol=AUDIO_ATOL)
    # several ranges were really used, aligned to whole chunks
    reader = open_video(video.video_path, start=37, end=1400, roi=(4, 2, 40, 40))
    chain = Chain(SteerablePyramid(reader.shape, highpass=True), method="auto", reference=100)
    sig = band_signals(reader, chain, chunk_size=64, client=client, frames_per_task=256)
    assert len(sig.ranges) >= 4 and all(lo % 64 == 0 for lo, _ in sig.ranges)
    assert sig.n_frames == 1363
    # The raw (not high-passed) band signals equal those of a single-process chain.
    local = Chain(SteerablePyramid(reader.shape, highpass=True), method="auto",
                  reference=100).run(reader.chunks(64))
    peak = np.abs(local.signals).max()
    np.testing.assert_allclose(sig.signals, local.signals, rtol=0,
                               atol=64 * np.finfo(np.float32).eps * peak)


def test_large_motion_auto_decisions_match(tmp_path, client):
    res = visualmic.synthesize(tmp_path / "big.mkv", audio="tone", duration=0.4,
                               amplitude=1.5, size=(32, 32), seed=1)
    single = visualmic.recover(res.video_path, method="auto", chunk_size=64)
    dask = visualmic.recover(res.video_path, method="auto", chunk_size=64, dask=client)
    np.testing.assert_allclose(dask.audio, single.audio, rtol=0, atol=AUDIO_ATOL)


def test_array_source(client):
    from visualmic.sim.synthesize import make_texture, render_frames

    motion = 0.05 * np.sin(np.arange(700) * 0.9)
    frames = np.concatenate(list(render_frames(make_texture((64, 64), seed=2), motion,
                                               size=(32, 32), seed=4))).astype(np.float32)
    single = visualmic.recover(frames, fps=2200.0, method="fast", chunk_size=64)
    dask = visualmic.recover(frames, fps=2200.0, method="fast", chunk_size=64, dask=client)
    np.testing.assert_allclose(dask.audio, single.audio, rtol=0, atol=AUDIO_ATOL)


def test_recover_many(tmp_path, video, client):
    other = visualmic.synthesize(tmp_path / "other.mkv", audio="tone", duration=0.3,
                                 size=(32, 32), seed=9)
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a video")
    out = tmp_path / "out"
    out.mkdir()
    items = recover_many([video.video_path, other.video_path, bad], out, client=client,
                         method="fast")
    assert [it.error is None for it in items] == [True, True, False]
    assert "bad.mkv" in items[2].error
    import soundfile as sf

    y, rate = sf.read(out / "other.wav", dtype="float32")
    expected = visualmic.recover(other.video_path, method="fast").audio
    assert rate == 2200
    np.testing.assert_allclose(y, expected, rtol=0, atol=AUDIO_ATOL)
    with pytest.raises(ParameterError, match="both write clip.wav"):
        recover_many([video.video_path, tmp_path / "x" / "clip.mkv"], out, client=client)
    with pytest.raises(ParameterError, match="unknown recover option"):
        recover_many([video.video_path], out, client=client, colour="red")


def test_bad_cluster_parameters(video):
    with pytest.raises(ParameterError, match="workers=0"):
        with dask_client(None, workers=0):
            pass
    with pytest.raises(ParameterError, match="local cluster only"):
        with dask_client("tcp://127.0.0.1:1", workers=2):
            pass
    with pytest.raises(ParameterError, match="must be None, True"):
        with dask_client(42):
            pass


def test_cli_batch_sequential(tmp_path, video, capsys):
    from visualmic.cli import main

    rc = main(["batch", str(video.video_path), "-o", str(tmp_path / "wavs"), "--sequential",
               "--method", "fast", "-q"])
    assert rc == 0
    assert (tmp_path / "wavs" / "clip.wav").exists()
    assert main(["batch", str(video.video_path), "-o", str(tmp_path / "w2"), "--sequential",
                 "--workers", "2"]) == 2
    assert "--sequential" in capsys.readouterr().err


def test_cli_recover_on_a_cluster_address(tmp_path, video, client, capsys):
    from visualmic.cli import main

    out = tmp_path / "o.wav"
    rc = main(["recover", str(video.video_path), "-o", str(out), "--method", "fast",
               f"--dask={client.scheduler.address}", "--chunk-size", "64", "-q"])
    assert rc == 0, capsys.readouterr().err
    import soundfile as sf

    y, _ = sf.read(out, dtype="float32")
    ref = visualmic.recover(video.video_path, method="fast", chunk_size=64).audio
    np.testing.assert_allclose(y, ref, rtol=0, atol=AUDIO_ATOL)
    assert main(["recover", str(video.video_path), "-o", str(out), "--workers", "2",
                 f"--dask={client.scheduler.address}"]) == 2
    assert "local cluster only" in capsys.readouterr().err
