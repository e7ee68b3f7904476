"""Training machinery for the frame-pair models: settings, the generic Trainer, checkpoints."""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._atomic import atomic_path
from .._errors import InputFileError, ModelError, ParameterError
from ._checkpoint import torch_load
from .models import build_model

__all__ = ["ModelTrainConfig", "Trainer", "set_seed", "auto_threads", "regression_metrics",
           "save_checkpoint", "load_checkpoint", "CHECKPOINT_FORMAT", "CHECKPOINT_VERSION"]

CHECKPOINT_FORMAT = "visualmic-frame-pair-model"
CHECKPOINT_VERSION = 1


@dataclass
class ModelTrainConfig:
    """Optimisation settings (defaults from the research design).

    Attributes
    ----------
    epochs : int
        Passes over the training samples (research design: 100).
    batch_size : int
        Pairs per step (32).
    learning_rate : float
        Adam step size (1e-3).
    step_size, gamma : int, float
        StepLR: multiply the learning rate by ``gamma`` every ``step_size``
        epochs (30, 0.1).
    weight_decay : float
        Adam weight decay (0).
    val_split : float
        Fraction at the end of every video held out for validation (0.2).
    gap : int
        Training frames dropped next to each train/validation boundary (32),
        so that no training frame neighbours a validation frame.
    kfold : int
        ``K >= 2`` trains K models, each validated on another contiguous
        segment of every video (0: off).
    augment : bool
        Random left-right (label negated) and up-down flips of training pairs.
    seed : int
        Seeds Python, NumPy and torch, the batch order and the augmentation.
    device : str
        ``"cpu"`` or ``"cuda"`` (or ``"cuda:1"``, ...).
    threads : int or None
        torch CPU threads (None: torch's default).
    """

    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = 1e-3
    step_size: int = 30
    gamma: float = 0.1
    weight_decay: float = 0.0
    val_split: float = 0.2
    gap: int = 32
    kfold: int = 0
    augment: bool = True
    seed: int = 0
    device: str = "cpu"
    threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "step_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ParameterError(f"{name}={v!r} must be a positive integer")
        for name in ("learning_rate", "gamma"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
                raise ParameterError(f"{name}={v!r} must be a positive number")
        if not (0.0 <= self.val_split < 1.0):
            raise ParameterError(f"val_split={self.val_split!r} must be in [0, 1)")
        if self.kfold == 1 or self.kfold < 0:
            raise ParameterError(f"kfold={self.kfold!r} must be 0 (off) or at least 2")


def auto_threads(window: float = 0.5) -> int:
    """Number of torch CPU threads to use: the cores that are idle now.

    torch splits every operation between its threads and waits for the
    slowest; on a machine busy with other work a thread is often descheduled
    and the others wait for it, which can make two threads several times
    slower than one.  This measures the idle CPU time over ``window`` seconds
    (``/proc/stat``; elsewhere the 1-minute load average) and returns the
    number of idle cores, at least 1: every core on an idle machine, one on
    a busy one.

    Parameters
    ----------
    window : float
        Seconds of measurement.

    Returns
    -------
    int
        Between 1 and ``os.cpu_count()``.
    """
    cores = os.cpu_count() or 1

    def sample():
        with open("/proc/stat") as fh:
            vals = [int(v) for v in fh.readline().split()[1:]]
        return vals[3] + vals[4], sum(vals[:8])

    try:
        idle0, total0 = sample()
        time.sleep(window)
        idle1, total1 = sample()
        idle = cores * (idle1 - idle0) / max(total1 - total0, 1)
    except (OSError, ValueError, IndexError):
        try:
            idle = cores - os.getloadavg()[0]
        except (AttributeError, OSError):
            idle = cores
    return max(1, min(cores, int(idle + 0.25)))


def set_seed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (one call per run)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def regression_metrics(pred: np.ndarray, target: np.ndarray) -> dict:
    """Loss, RMSE, MAE and Pearson r of predictions against labels.

    Parameters
    ----------
    pred, target : np.ndarray [shape=(n,)]
        Predictions and labels (no fitting: the model's own scale and sign).

    Returns
    -------
    dict
        ``loss`` (MSE), ``rmse``, ``mae``, ``pearson`` (0 when either is
        constant), ``zero_rmse`` (RMSE of predicting 0), ``n``.
    """
    p = np.asarray(pred, dtype=np.float64)
    t = np.asarray(target, dtype=np.float64)
    if p.size == 0:
        return {"loss": math.nan, "rmse": math.nan, "mae": math.nan, "pearson": math.nan,
                "zero_rmse": math.nan, "n": 0}
    err = p - t
    pc, tc = p - p.mean(), t - t.mean()
    den = math.sqrt(float(pc @ pc) * float(tc @ tc))
    mse = float(np.mean(err**2))
    return {"loss": mse, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(err))),
            "pearson": float(pc @ tc / den) if den > 0 else 0.0,
            "zero_rmse": float(np.sqrt(np.mean(t**2))), "n": int(p.size)}


def _device(name: str) -> torch.device:
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        raise ParameterError(f"device={name!r} is not a torch device; use 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={name!r} requested but CUDA is not available; use --device cpu")
    if dev.type not in ("cpu", "cuda"):
        raise ParameterError(f"device={name!r} is not supported; use 'cpu' or 'cuda'")
    return dev


class Trainer:
    """Adam + MSE + StepLR over a map-style dataset, with callbacks.

    Parameters
    ----------
    model : torch.nn.Module
        Maps a batch ``x`` to predictions ``(B,)``.
    train_set, val_set : dataset
        Objects with ``__len__`` and ``__getitems__(list) -> (x, y)`` (such
        as :class:`visualmic.learn.data.PairDataset`); ``val_set`` may be None.
    config : ModelTrainConfig
        Optimisation settings.
    callbacks : list of callable
        Each is called ``cb(event, trainer)`` with ``event`` in
        ``{"batch_end", "epoch_end"}``; ``trainer.epoch``, ``trainer.history``
        and ``trainer.last`` (the epoch's metrics) describe the state.

    Attributes
    ----------
    history : list of dict
        Per epoch: ``epoch``, ``lr``, ``seconds``, ``train`` and ``val`` metrics.
    """

    def __init__(self, model: nn.Module, train_set, val_set, config: ModelTrainConfig,
                 callbacks: list[Callable] | None = None) -> None:
        self.config = config
        self.device = _device(config.device)
        self.model = model.to(self.device)
        self.train_set, self.val_set = train_set, val_set
        self.callbacks = list(callbacks or [])
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=config.learning_rate,
                                          weight_decay=config.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, config.step_size,
                                                         config.gamma)
        self.loss_fn = nn.MSELoss()
        self.epoch = 0
        self.step = 0
        self.history: list[dict] = []
        self.last: dict = {}
        self.batches_per_epoch = max(1, math.ceil(len(train_set) / config.batch_size))
        self._gen = torch.Generator().manual_seed(config.seed)

    def _emit(self, event: str) -> None:
        for cb in self.callbacks:
            cb(event, self)

    def _batches(self, dataset, shuffle: bool, batch_size: int):
        n = len(dataset)
        order = torch.randperm(n, generator=self._gen).numpy() if shuffle else np.arange(n)
        for i in range(0, n, batch_size):
            x, y = dataset.__getitems__(order[i:i + batch_size].tolist())
            yield x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)

    @torch.no_grad()
    def predict(self, dataset, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """Predictions and labels over a whole dataset (eval mode, then back)."""
        was = self.model.training
        self.model.eval()
        preds, labels = [], []
        for x, y in self._batches(dataset, False, batch_size):
            preds.append(self.model(x).float().cpu().numpy())
            labels.append(y.cpu().numpy())
        self.model.train(was)
        if not preds:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(preds), np.concatenate(labels)

    def run_epoch(self) -> dict:
        """Train one epoch, evaluate, call the callbacks; return the epoch's record."""
        t0 = time.perf_counter()
        self.model.train()
        preds, labels = [], []
        lr = self.optimizer.param_groups[0]["lr"]
        for x, y in self._batches(self.train_set, True, self.config.batch_size):
            if x.shape[0] < 2 and any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                      for m in self.model.modules()):
                continue  # BatchNorm cannot train on a batch of one
            out = self.model(x)
            loss = self.loss_fn(out, y)
            if not torch.isfinite(loss):
                raise ModelError(f"the training loss became {loss.item()} at epoch "
                                 f"{self.epoch + 1}; lower --learning-rate")
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.step += 1
            preds.append(out.detach().float().cpu().numpy())
            labels.append(y.cpu().numpy())
            self._emit("batch_end")
        self.scheduler.step()
        self.epoch += 1
        train_m = regression_metrics(np.concatenate(preds) if preds else np.zeros(0),
                                     np.concatenate(labels) if labels else np.zeros(0))
        val_m = None
        if self.val_set is not None and len(self.val_set):
            val_m = regression_metrics(*self.predict(self.val_set))
        self.last = {"epoch": self.epoch, "lr": lr, "seconds": time.perf_counter() - t0,
                     "train": train_m, "val": val_m}
        self.history.append(self.last)
        self._emit("epoch_end")
        return self.last

    def fit(self, epochs: int | None = None) -> list[dict]:
        """Run epochs until ``epochs`` (default ``config.epochs``) are done in total."""
        target = self.config.epochs if epochs is None else epochs
        while self.epoch < target:
            self.run_epoch()
        return self.history

    def state(self) -> dict:
        """Optimizer, scheduler and counters, for resuming."""
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "epoch": self.epoch, "step": self.step, "history": self.history,
                "torch_rng": torch.get_rng_state(), "gen_state": self._gen.get_state(),
                "np_rng": self.train_set.rng.bit_generator.state
                if hasattr(self.train_set, "rng") else None}

    def load_state(self, state: dict) -> None:
        """Restore :meth:`state` (after the model's weights)."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.history = list(state["history"])
        self.last = self.history[-1] if self.history else {}
        torch.set_rng_state(state["torch_rng"])
        self._gen.set_state(state["gen_state"])
        if state.get("np_rng") is not None and hasattr(self.train_set, "rng"):
            self.train_set.rng.bit_generator.state = state["np_rng"]


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write a checkpoint dict atomically with ``torch.save``."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_checkpoint(path: str | os.PathLike, *, device: str = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a model from a checkpoint alone.

    Parameters
    ----------
    path : path-like
        A file written by ``visualmic train``.
    device : str
        Where to put the model.

    Returns
    -------
    model : torch.nn.Module
        In eval mode, on ``device``.
    checkpoint : dict
        The checkpoint (``normalisation``, ``pair_config``, ``metrics``, ...).

    Raises
    ------
    InputFileError
        If the file does not exist.
    ModelError
        If it is not a readable visualmic checkpoint.
    """
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"model {str(p)!r} does not exist; train one with 'visualmic train'")
    ckpt = torch_load(p, what="model", hint="the file is corrupt or not a visualmic checkpoint")
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ModelError(f"{str(p)!r} is not a visualmic model checkpoint; give a file written by "
                         "'visualmic train'")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise ModelError(f"model {str(p)!r} has checkpoint version {ckpt.get('version')}; this "
                         f"visualmic reads up to {CHECKPOINT_VERSION}: upgrade visualmic")
    try:
        model = build_model(ckpt["model_name"], ckpt["model_config"])
        model.load_state_dict(ckpt["model"])
    except (KeyError, RuntimeError, ParameterError, TypeError) as exc:
        raise ModelError(f"model {str(p)!r} does not rebuild ({type(exc).__name__}); the "
                         "checkpoint is damaged or from an incompatible version") from None
    model.to(_device(device)).eval()
    return model, ckpt


