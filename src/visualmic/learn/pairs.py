"""Serving a dataset's pairs to a model: normalisation and the torch-style dataset."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._errors import ParameterError
from .dataset import Dataset

__all__ = ["PairNormalizer", "PairDataset"]

# --------------------------------------------------------------------------- normalisation


@dataclass
class PairNormalizer:
    """Turns raw pairs into model inputs: reference patch and scaled difference.

    For each pair ``(L, R)`` (reference or previous frame ``L``, current
    frame ``R``, grey levels) with ``m = mean(L)`` and
    ``s = sqrt(var(L) + floor**2)``:

    - left half: ``(L - m) / s`` — the texture, contrast-normalised;
    - right half: ``gain * (R - L) / s`` — the frame difference (which a
      sub-pixel motion ``d`` makes about ``-d · ∂L/∂u``), in the same
      contrast units, scaled to unit variance over the training set.

    ``floor`` and ``gain`` are statistics of the training samples only
    (:meth:`fit`).  Both halves scale together, so the input does not depend
    on the video's contrast or bit depth.

    Attributes
    ----------
    floor : float
        Contrast floor in grey levels (5% of the median patch contrast), so
        flat patches are not blown up to noise.
    gain : float
        Scale of the difference half.
    """

    floor: float = 1.0
    gain: float = 1.0

    @classmethod
    def fit(cls, pairs: np.ndarray, *, max_samples: int = 4096, seed: int = 0) -> PairNormalizer:
        """Estimate ``floor`` and ``gain`` from (a sample of) training pairs.

        Parameters
        ----------
        pairs : np.ndarray [shape=(N, S, 2S)]
            Training pairs in grey levels.
        max_samples : int
            At most this many pairs, drawn at random, are used.
        seed : int
            Seed of that draw.
        """
        n = pairs.shape[0]
        if n == 0:
            raise ParameterError("cannot fit the normalisation on 0 training samples")
        idx = np.arange(n) if n <= max_samples else np.sort(
            np.random.default_rng(seed).choice(n, max_samples, replace=False))
        p = np.asarray(pairs[idx], dtype=np.float64)
        s = p.shape[1]
        left, right = p[..., :s], p[..., s:]
        std = left.std(axis=(1, 2))
        floor = max(0.05 * float(np.median(std)), 1e-6)
        denom = np.sqrt(std**2 + floor**2)[:, None, None]
        diff = (right - left) / denom
        dstd = float(diff.std())
        gain = 1.0 / dstd if dstd > 0 else 1.0
        return cls(floor=floor, gain=gain)

    def __call__(self, pairs: np.ndarray) -> np.ndarray:
        """Normalise pairs.

        Parameters
        ----------
        pairs : np.ndarray [shape=(B, S, 2S)]
            Raw pairs in grey levels.

        Returns
        -------
        np.ndarray [shape=(B, 1, S, 2S)], float32
            Model input.
        """
        p = np.asarray(pairs, dtype=np.float32)
        s = p.shape[-2]
        left, right = p[..., :s], p[..., s:]
        m = left.mean(axis=(-2, -1), keepdims=True)
        var = left.var(axis=(-2, -1), keepdims=True)
        inv = 1.0 / np.sqrt(var + np.float32(self.floor) ** 2)
        out = np.empty(p.shape[:-2] + (1, s, 2 * s), np.float32)
        out[..., 0, :, :s] = (left - m) * inv
        out[..., 0, :, s:] = (right - left) * (inv * np.float32(self.gain))
        return out

    def to_dict(self) -> dict:
        """Plain dict for a checkpoint."""
        return {"kind": "reference-difference", "floor": float(self.floor),
                "gain": float(self.gain)}

    @classmethod
    def from_dict(cls, d: dict) -> PairNormalizer:
        """Rebuild from :meth:`to_dict` output."""
        try:
            return cls(floor=float(d["floor"]), gain=float(d["gain"]))
        except (KeyError, TypeError, ValueError):
            raise ParameterError(f"normalisation {d!r} is not a visualmic pair normalisation") from None


class PairDataset:
    """Map-style dataset of normalised pairs for ``torch.utils.data.DataLoader``.

    Parameters
    ----------
    dataset : Dataset
        The stored dataset.
    indices : np.ndarray of int
        The samples served (a split).
    normalizer : PairNormalizer
        Applied on the fly.
    augment : bool
        Random mirror images of the pair: a left-right flip negates the label
        (the horizontal component of the motion changes sign), an up-down
        flip keeps it.  Valid for the half-plane sign convention (see the
        module notes).
    seed : int
        Seed of the augmentation draws.

    Notes
    -----
    ``ds[i]`` returns ``(x [shape=(1, S, 2S)], y)`` float32 tensors;
    ``ds.__getitems__(list)`` returns a whole batch ``(x [shape=(B, 1, S, 2S)],
    y [shape=(B,)])`` at once (torch's DataLoader uses it; pass
    ``collate_fn=PairDataset.collate``).
    """

    def __init__(self, dataset: Dataset, indices: np.ndarray, normalizer: PairNormalizer, *,
                 augment: bool = False, seed: int = 0) -> None:
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)
        self.normalizer = normalizer
        self.augment = augment
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return int(self.indices.size)

    def arrays(self, items) -> tuple[np.ndarray, np.ndarray]:
        """Normalised inputs and labels of positions ``items`` as numpy arrays."""
        items = np.asarray(items, dtype=np.int64)
        rows = self.indices[items]
        order = np.argsort(rows)  # sorted reads from the memory map
        raw = np.empty((rows.size,) + self.dataset.pairs.shape[1:], np.float32)
        raw[order] = self.dataset.pairs[rows[order]]
        x = self.normalizer(raw)
        y = self.dataset.labels[rows].astype(np.float32)
        if self.augment:
            s = x.shape[-2]
            flip_lr = self.rng.random(rows.size) < 0.5
            flip_ud = self.rng.random(rows.size) < 0.5
            if flip_lr.any():
                sub = x[flip_lr]
                x[flip_lr, ..., :s] = sub[..., :s][..., ::-1]
                x[flip_lr, ..., s:] = sub[..., s:][..., ::-1]
                y[flip_lr] = -y[flip_lr]
            if flip_ud.any():
                x[flip_ud] = x[flip_ud][..., ::-1, :]
        return x, y

    def __getitem__(self, i: int):
        import torch

        x, y = self.arrays([i])
        return torch.from_numpy(x[0]), torch.from_numpy(y)[0]

    def __getitems__(self, items: list):
        import torch

        x, y = self.arrays(items)
        return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y)

    @staticmethod
    def collate(batch):
        """Identity collate for batches from :meth:`__getitems__`."""
        return batch

