"""Training: a generic trainer with callbacks, and the recipe that trains a model on a dataset.

:class:`Trainer` knows nothing of frame pairs: it runs Adam on the mean
squared error with a StepLR schedule over any map-style dataset yielding
``(x, y)`` batches, evaluates every epoch under ``torch.no_grad()`` in eval
mode, and calls its callbacks (minGPT's ``Trainer``).  :func:`train_model`
is the recipe behind ``visualmic train``: it opens a dataset, splits it in
time, fits the input normalisation on the training samples only, trains,
and keeps the best checkpoint.

Checkpoint
----------
A checkpoint (``torch.save`` of a dict) rebuilds the model on its own
(nanoGPT's ``sample.py``)::

    format, version, model_name, model_config, model (state dict),
    normalisation, pair_config, train_config, epoch, best_val, metrics
    (the per-epoch history), optimizer, scheduler, dataset (path, size)

``<save>.last.pt`` holds the latest epoch (for ``--resume``); ``<save>``
holds the best one (lowest validation loss, or training loss without a
validation split).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_path, check_output_path
from .._errors import InputFileError, ModelError, ParameterError
from .._progress import ProgressCallback, report
from .data import Dataset, PairDataset, PairNormalizer, load_dataset, split_indices
from .models import MODELS, build_model, load_backbone_weights
from .trainer import (
    CHECKPOINT_FORMAT,
    CHECKPOINT_VERSION,
    ModelTrainConfig,
    Trainer,
    auto_threads,
    load_checkpoint,
    regression_metrics,
    save_checkpoint,
    set_seed,
)

__all__ = [
    "ModelTrainConfig",
    "Trainer",
    "TrainResult",
    "train_model",
    "set_seed",
    "auto_threads",
    "regression_metrics",
    "save_checkpoint",
    "load_checkpoint",
    "CHECKPOINT_FORMAT",
]
# --------------------------------------------------------------------------- recipe


@dataclass
class TrainResult:
    """What :func:`train_model` produced.

    Attributes
    ----------
    model : torch.nn.Module
        The best model (eval mode).
    checkpoint : dict
        Its checkpoint.
    history : list of dict
        Per-epoch metrics of the run (of the best fold with ``kfold``).
    best_epoch : int
        Epoch of the best checkpoint.
    folds : list of dict
        With ``kfold``: the best validation metrics of each fold.
    seconds : float
        Wall-clock training time.
    path : Path or None
        Where the best checkpoint was written.
    """

    model: nn.Module
    checkpoint: dict
    history: list
    best_epoch: int
    folds: list
    seconds: float
    path: Path | None


def _last_path(path: Path) -> Path:
    return path.with_name(path.stem + ".last" + (path.suffix or ".pt"))


def train_model(
    data_path: str | os.PathLike,
    *,
    model: str = "siamese",
    model_config: dict | None = None,
    config: ModelTrainConfig | None = None,
    save_path: str | os.PathLike | None = None,
    resume: str | os.PathLike | bool | None = None,
    backbone_weights: str | os.PathLike | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train a model on a frame-pair dataset and keep the best checkpoint.

    Parameters
    ----------
    data_path : path-like
        A dataset folder from ``visualmic dataset build``.
    model : {"siamese", "resnet", "fpn"}
        Model family.
    model_config : dict, optional
        Fields of the model's config to change (``input_size`` and
        ``in_channels`` always come from the dataset).
    config : ModelTrainConfig, optional
        Optimisation settings.
    save_path : path-like, optional
        Best checkpoint; the latest epoch also goes to ``<stem>.last.pt``.
    resume : path-like or True, optional
        Continue from a ``.last.pt`` checkpoint (True: the one beside
        ``save_path``) up to ``config.epochs``.
    backbone_weights : path-like, optional
        Local torchvision ``resnet50`` state dict for ``model="resnet"``.
    on_epoch : callable, optional
        Called with each epoch's record (for logging).
    progress : callable, optional
        ``progress(batches_done, total_batches)`` over the whole run.

    Returns
    -------
    TrainResult

    Raises
    ------
    ParameterError
        Unknown model, bad settings, a dataset too small to split.
    InputFileError
        Missing dataset, resume checkpoint or backbone weights.
    ModelError
        A corrupt resume checkpoint or a diverging loss.

    Notes
    -----
    Longer than 80 lines only by this documentation; its code is under 80 lines.
    """
    cfg = config or ModelTrainConfig()
    if model not in MODELS:
        raise ParameterError(f"model {model!r} is unknown; choose one of {', '.join(MODELS)}")
    if backbone_weights is not None and model != "resnet":
        raise ParameterError("--backbone-weights applies to --model resnet only")
    save = Path(save_path) if save_path is not None else None
    if save is not None:
        check_output_path(save)
    ds = load_dataset(data_path)
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    mcfg = dict(model_config or {})
    mcfg["input_size"] = ds.config.input_size
    mcfg["in_channels"] = 1
    folds = list(range(cfg.kfold)) if cfg.kfold else [None]
    t_start = time.perf_counter()
    counter = {"done": 0, "total": None}
    results = [
        _train_fold(ds, fold, n_folds=len(folds), model=model, mcfg=mcfg, cfg=cfg, save=save,
                    resume=resume, backbone_weights=backbone_weights, on_epoch=on_epoch,
                    progress=progress, counter=counter)
        for fold in folds
    ]
    seconds = time.perf_counter() - t_start
    chosen = min(results, key=lambda r: r["best"]["loss"])
    ck = chosen["best"]["payload"]
    ck["seconds"] = seconds
    fold_summary = [{"fold": r["fold"], "best_epoch": r["best"]["epoch"],
                     "val": r["val"]} for r in results] if cfg.kfold else []
    if cfg.kfold:
        ck["folds"] = fold_summary
    if save is not None:
        save_checkpoint(save, ck)
        with atomic_path(save.with_name(save.stem + ".json")) as tmp:
            tmp.write_text(json.dumps(_summary(ck, seconds), indent=2, default=float) + "\n")
    net = build_model(model, ck["model_config"])
    net.load_state_dict(ck["model"])
    net.eval()
    return TrainResult(model=net, checkpoint=ck, history=chosen["history"],
                       best_epoch=chosen["best"]["epoch"], folds=fold_summary, seconds=seconds,
                       path=save)


def _train_fold(ds: Dataset, fold: int | None, *, n_folds: int, model: str, mcfg: dict,
                cfg: ModelTrainConfig, save: Path | None, resume, backbone_weights, on_epoch,
                progress, counter: dict) -> dict:
    """Train one model (one fold, or the only run); return its best checkpoint and history."""
    tr, va = split_indices(ds, val_split=cfg.val_split, kfold=cfg.kfold, fold=fold or 0,
                           gap=cfg.gap)
    seed = cfg.seed + (fold or 0)
    set_seed(seed)
    normalizer = _fit_norm(ds, tr, seed)
    train_set = PairDataset(ds, tr, normalizer, augment=cfg.augment, seed=seed)
    val_set = PairDataset(ds, va, normalizer) if va.size else None
    net = build_model(model, mcfg)
    if backbone_weights is not None:
        load_backbone_weights(net, backbone_weights)
    trainer = Trainer(net, train_set, val_set, dataclasses.replace(cfg, seed=seed))
    if counter["total"] is None:
        counter["total"] = trainer.batches_per_epoch * cfg.epochs * n_folds
    best: dict = {"loss": math.inf, "epoch": 0, "payload": None}
    keep_files = save is not None and fold is None

    def payload(tr_: Trainer) -> dict:
        return {
            "format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION,
            "model_name": model,
            "model_config": dataclasses.asdict(net.config),
            "model": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
            "normalisation": train_set.normalizer.to_dict(),
            "pair_config": dataclasses.asdict(ds.config),
            "train_config": dataclasses.asdict(cfg),
            "dataset": {"path": str(ds.root), "num_samples": len(ds),
                        "train_samples": int(tr.size), "val_samples": int(va.size),
                        "videos": [v["video_name"] for v in ds.videos],
                        "labels": ds.info.get("labels", "per-video"),
                        "label_unit_px": ds.info.get("label_unit_px")},
            "fold": fold, "epoch": tr_.epoch, "best_val": best["loss"],
            "metrics": tr_.history[-1] if tr_.history else {},
            "history": tr_.history,
            "backbone_weights": None if backbone_weights is None else str(backbone_weights),
        }

    def callback(event: str, tr_: Trainer) -> None:
        if event == "batch_end":
            counter["done"] += 1
            report(progress, counter["done"], counter["total"])
            return
        rec = tr_.last
        score = (rec["val"] or rec["train"])["loss"]
        if score < best["loss"]:
            best.update(loss=score, epoch=tr_.epoch)
            best["payload"] = payload(tr_)
            if keep_files:
                save_checkpoint(save, best["payload"])
        if keep_files:
            last = payload(tr_)
            last.update(optimizer_state=tr_.state(), best_epoch=best["epoch"])
            save_checkpoint(_last_path(save), last)
        if on_epoch is not None:
            on_epoch(dict(rec, fold=fold))

    trainer.callbacks.append(callback)
    if resume and fold is None:
        _resume_fold(resume, save, model, net, train_set, val_set, trainer, best, counter)
    trainer.fit()
    if best["payload"] is None:
        best["payload"] = payload(trainer)
    return {"fold": fold, "best": best, "history": trainer.history,
            "val": best["payload"]["metrics"].get("val")}


def _resume_fold(resume, save: Path | None, model: str, net, train_set, val_set, trainer,
                 best: dict, counter: dict) -> None:
    """Load the model, normalisation, optimiser and best score of an interrupted run."""
    if resume is True:
        if save is None:
            raise ParameterError("--resume needs --save-model (or a checkpoint path)")
        rpath = _last_path(save)
    else:
        rpath = Path(resume)
    _, ck = load_checkpoint(rpath)
    if ck.get("model_name") != model:
        raise ModelError(f"cannot resume {model!r} from a {ck.get('model_name')!r} "
                         f"checkpoint {str(rpath)!r}")
    if "optimizer_state" not in ck:
        raise ModelError(f"{str(rpath)!r} holds no optimizer state; resume from the "
                         "'.last.pt' file written beside --save-model")
    net.load_state_dict(ck["model"])
    train_set.normalizer = PairNormalizer.from_dict(ck["normalisation"])
    if val_set is not None:
        val_set.normalizer = train_set.normalizer
    trainer.load_state(ck["optimizer_state"])
    best.update(loss=float(ck.get("best_val", math.inf)), epoch=int(ck.get("best_epoch", 0)))
    if save is not None and save.is_file():
        try:
            best["payload"] = load_checkpoint(save)[1]
        except (ModelError, InputFileError):
            best["payload"] = None
    counter["done"] = trainer.batches_per_epoch * trainer.epoch


def _fit_norm(ds: Dataset, train_idx: np.ndarray, seed: int) -> PairNormalizer:
    """Fit the normalisation on (a sample of) the training samples only."""
    rng = np.random.default_rng(seed)
    take = train_idx if train_idx.size <= 4096 else np.sort(rng.choice(train_idx, 4096,
                                                                        replace=False))
    return PairNormalizer.fit(np.asarray(ds.pairs[take]))


def _summary(ck: dict, seconds: float) -> dict:
    """The run's configuration and results, written beside the checkpoint (minGPT)."""
    return {"model_name": ck["model_name"], "model_config": ck["model_config"],
            "train_config": ck["train_config"], "pair_config": ck["pair_config"],
            "normalisation": ck["normalisation"], "dataset": ck["dataset"],
            "best_epoch": ck["epoch"], "best_val": ck["best_val"], "metrics": ck["metrics"],
            "folds": ck.get("folds", []), "seconds": seconds,
            "history": [{"epoch": h["epoch"], "lr": h["lr"], "seconds": h["seconds"],
                         "train": h["train"], "val": h["val"]} for h in ck.get("history", [])]}

