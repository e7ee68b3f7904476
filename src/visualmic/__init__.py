"""visualmic: recover sound from high-speed video.

The public API (everything else is private to its module)::

    recover(source, *, ...) -> Recovery        classical recovery (Davis et al. 2014)
    synthesize(path, *, ...) -> SynthResult    synthetic video with known motion
    evaluate(estimate, reference, *, rate)     SNR, segmental SNR, r, RMSE, MAE, STOI
    open_video(source, *, ...) -> VideoReader  streamed frames from any video source
    read_audio / write_audio                   WAV input and atomic output
    highpass, spectral_subtraction, normalize, resample     post-processing
    snr, segmental_snr, pearson, rmse, mae, stoi, best_fit  metrics
    translation_crb, crb_snr_db                the Cramér-Rao bound for a global translation
    SteerablePyramid, PhaseMotion, combine_bands            the building blocks
    spectrogram_png                            spectrogram figures
    run_demo                                   the built-in demonstration

Conventions: frames ``(T, H, W)`` float32 in grey levels; band signals
``(n_bands, T)``; audio ``(n,)`` at the frame rate unless resampled. Errors derive
from :class:`VisualMicError`. Heavy modules are imported on first use.
"""

from __future__ import annotations

import importlib

from ._errors import (
    AudioError,
    InputFileError,
    ModelError,
    OutputError,
    ParameterError,
    VideoError,
    VisualMicError,
    VisualMicWarning,
)

__version__ = "0.1.0"

_LAZY = {
    "recover": "pipeline",
    "Recovery": "pipeline",
    "synthesize": "synth",
    "SynthResult": "synth",
    "make_texture": "synth",
    "make_audio": "synth",
    "render_frames": "synth",
    "write_video": "synth",
    "evaluate": "metrics",
    "snr": "metrics",
    "segmental_snr": "metrics",
    "pearson": "metrics",
    "rmse": "metrics",
    "mae": "metrics",
    "stoi": "metrics",
    "best_fit": "metrics",
    "highpass": "denoise",
    "bandpass": "denoise",
    "spectral_subtraction": "denoise",
    "normalize": "denoise",
    "resample": "denoise",
    "open_video": "io.video",
    "VideoReader": "io.video",
    "parse_roi": "io.video",
    "read_audio": "io.audio",
    "write_audio": "io.audio",
    "translation_crb": "bounds",
    "crb_snr_db": "bounds",
    "SteerablePyramid": "pyramid",
    "PhaseMotion": "motion",
    "combine_bands": "align",
    "spectrogram_png": "plot",
    "run_demo": "demo",
}

__all__ = [
    "__version__",
    "VisualMicError",
    "ParameterError",
    "InputFileError",
    "VideoError",
    "AudioError",
    "OutputError",
    "ModelError",
    "VisualMicWarning",
    *_LAZY,
]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'visualmic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
