"""Building blocks shared by the frame-pair models (learn-private)."""

from __future__ import annotations

import torch
from torch import nn

from .._errors import ParameterError

__all__ = ["split_pair", "check_input", "mlp"]


def split_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split side-by-side pairs into their two halves.

    Parameters
    ----------
    x : torch.Tensor [shape=(B, C, S, 2*S)]
        Reference half on the left, current frame on the right.

    Returns
    -------
    left, right : torch.Tensor [shape=(B, C, S, S)]
    """
    if x.ndim != 4 or x.shape[-1] != 2 * x.shape[-2]:
        raise ParameterError(
            f"input of shape {tuple(x.shape)} is not a batch of side-by-side pairs; "
            "expected (batch, channels, S, 2*S)"
        )
    s = x.shape[-2]
    return x[..., :s], x[..., s:]


def check_input(x: torch.Tensor, channels: int, size: int, name: str) -> None:
    expected = (channels, size, 2 * size)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ParameterError(
            f"{name} expects input of shape (batch, {channels}, {size}, {2 * size}), got "
            f"{tuple(x.shape)}; crop or resize the frames to the model's input_size"
        )


def mlp(sizes: list[int], dropout: float) -> nn.Sequential:
    """Linear layers with ReLU (and dropout) between them, ending in tanh."""
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU(inplace=True))
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
    layers.append(nn.Tanh())
    return nn.Sequential(*layers)


