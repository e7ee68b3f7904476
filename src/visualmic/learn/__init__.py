"""Deep-learning models that regress audio from frame pairs (PyTorch).

The research design behind visualmic regresses the audio sample of each video
frame from a pair of frames.  This package holds the working version:

    build_dataset(out_dir, sources, *, config, seed) -> Dataset    frame pairs on disk
    synthetic_sources(dir, n, *, spec, seed) -> [PairSource]       random synthetic videos
    SiameseConvNet, ResNetSiamese, FeaturePyramidNet, build_model  the models (models.py)
    train_model(data_path, *, model, config, save_path) -> TrainResult
    generate(model_path, video, *, tiles, combine) -> Generation   audio from a new video
    evaluate_model(model_path, data_path) -> dict                  metrics vs predict-zero

The hybrid enhancer of ``recover --enhance`` (docs/enhance.md):

    load_enhancer(path_or_None) -> Enhancer                         enhancer(y, rate) -> y, .info
    train_enhancer(output, *, cache, config=EnhancerTrainConfig())  train one

(:mod:`.enhance_model` the network and its safeguard, :mod:`.enhance` the
callable and checkpoints, :mod:`.enhance_config`, :mod:`.enhance_sounds`,
:mod:`.enhance_content`, :mod:`.enhance_data`, :mod:`.enhance_render`,
:mod:`.enhance_loss` and :mod:`.enhance_train` its training.)

Only this package imports torch (``pip install 'visualmic[learn]'``); the
dataset builder (:mod:`visualmic.learn.data`) works without it.  Names are
imported on first use.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "PairConfig": "data",
    "PairSource": "data",
    "SyntheticSpec": "data",
    "Dataset": "data",
    "PairNormalizer": "data",
    "PairDataset": "data",
    "build_dataset": "data",
    "load_dataset": "data",
    "synthetic_sources": "data",
    "match_video_dir": "data",
    "frame_labels": "data",
    "split_indices": "data",
    "SiameseConfig": "models",
    "SiameseConvNet": "models",
    "ResNetConfig": "models",
    "ResNetSiamese": "models",
    "FPNConfig": "models",
    "FeaturePyramidNet": "models",
    "build_model": "models",
    "load_backbone_weights": "models",
    "ModelTrainConfig": "train",
    "Trainer": "train",
    "TrainResult": "train",
    "train_model": "train",
    "load_checkpoint": "train",
    "Generation": "generate",
    "generate": "generate",
    "evaluate_model": "generate",
    "Enhancer": "enhance",
    "load_enhancer": "enhance",
    "EnhancerTrainConfig": "enhance_config",
    "train_enhancer": "enhance_train",
}

__all__ = list(_LAZY)


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'visualmic.learn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
