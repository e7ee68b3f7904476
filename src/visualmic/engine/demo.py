"""The built-in demonstration: synthesise a clip, recover its sound, score it."""

from __future__ import annotations

import os
from pathlib import Path

from .._errors import OutputError
from .._progress import ProgressCallback

__all__ = ["run_demo"]


def run_demo(
    outdir: str | os.PathLike = "visualmic-demo",
    *,
    duration: float = 2.5,
    amplitude: float = 0.02,
    texture: str = "noise",
    audio: str = "melody",
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> dict:
    """Synthesise a video with known motion, recover its sound, and score it.

    Writes into ``outdir``: ``demo.mkv`` (lossless FFV1 video, 2200 fps, 128x128),
    ``demo.truth.wav`` and ``demo.json`` (ground truth and parameters),
    ``recovered.wav`` (at 2200 Hz), ``recovered_44k.wav`` (resampled for players),
    and ``spectrogram.png`` (recovered beside the truth).

    Parameters
    ----------
    outdir : path-like, optional
        Output folder (created if missing).
    duration : float, optional
        Seconds of video (default 2.5).
    amplitude : float, optional
        Peak surface motion in pixels (default 0.02: a fiftieth of a pixel).
    texture, audio : str, optional
        Texture and sound of the synthetic scene (see :func:`visualmic.synthesize`).
    seed : int, optional
        Random seed.
    progress : callable, optional
        ``progress(done, total)`` over the frames synthesised and then recovered.

    Returns
    -------
    dict
        Paths written and metrics: ``snr_db``, ``segsnr_db``, ``pearson``, ``stoi``
        of the recovered audio against the truth (80-1000 Hz), the Cramér-Rao bound
        ``crb_snr_db``, and ``frames_per_second`` of the recovery.
    """
    from ..core.post import resample
    from ..eval.metrics import evaluate
    from ..eval.plot import spectrogram_png
    from ..io.audio import write_audio
    from ..sim.synthesize import synthesize
    from .recover import recover

    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the demo folder {str(out)!r} ({exc.strerror}); "
                          "choose another with --output-dir") from None
    syn = synthesize(out / "demo.mkv", audio=audio, duration=duration, amplitude=amplitude,
                     texture=texture, seed=seed, progress=progress)
    rec = recover(syn.video_path, progress=progress)
    wav = write_audio(out / "recovered.wav", rec.audio, rec.rate)
    wav44 = write_audio(out / "recovered_44k.wav", resample(rec.audio, rec.rate, 44100.0), 44100)
    band = (80.0, 1000.0)
    m = evaluate(rec.audio, syn.truth, rate=rec.rate, band=band, max_lag=3)
    png = spectrogram_png(out / "spectrogram.png", [(rec.audio, rec.rate), (syn.truth, syn.fps)],
                          titles=["recovered", "ground truth"])
    return {
        "video": str(syn.video_path),
        "truth": str(syn.truth_path),
        "recovered": str(wav),
        "recovered_44k": str(wav44),
        "spectrogram": str(png),
        "frames": rec.n_frames,
        "fps": rec.fps,
        "amplitude_px": amplitude,
        "texture": texture,
        "audio": audio,
        "snr_db": m["snr_db"],
        "segsnr_db": m["segsnr_db"],
        "pearson": m["pearson"],
        "stoi": m["stoi"],
        "crb_snr_db": syn.crb_snr_db,
        "band_hz": list(band),
        "frames_per_second": rec.n_frames / rec.timings["total"],
    }
