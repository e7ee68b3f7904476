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
    "recover": "_api",
    "Recovery": "engine.recover",
    "synthesize": "sim.synthesize",
    "SynthResult": "sim.synthesize",
    "make_texture": "sim.textures",
    "make_audio": "sim.sounds",
    "render_frames": "sim.render",
    "write_video": "sim.render",
    "evaluate": "eval.metrics",
    "snr": "eval.metrics",
    "segmental_snr": "eval.metrics",
    "pearson": "eval.metrics",
    "rmse": "eval.metrics",
    "mae": "eval.metrics",
    "stoi": "eval.metrics",
    "best_fit": "eval.metrics",
    "highpass": "core.post",
    "bandpass": "core.post",
    "spectral_subtraction": "core.post",
    "normalize": "core.post",
    "resample": "core.post",
    "open_video": "io.video",
    "VideoReader": "io.video",
    "parse_roi": "io.video",
    "read_audio": "io.audio",
    "write_audio": "io.audio",
    "translation_crb": "sim.bounds",
    "crb_snr_db": "sim.bounds",
    "SteerablePyramid": "core.pyramid",
    "PhaseMotion": "core.motion",
    "combine_bands": "core.combine",
    "spectrogram_png": "eval.plot",
    "run_demo": "engine.demo",
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
