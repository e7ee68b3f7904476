"""The feature-pyramid frame-pair model."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ParameterError
from ._layers import check_input, mlp, split_pair

__all__ = ["FPNConfig", "FeaturePyramidNet"]


# --------------------------------------------------------------------------- FPN


@dataclass
class FPNConfig:
    """Configuration of :class:`FeaturePyramidNet`.

    Attributes
    ----------
    in_channels : int
        Channels per frame (1 for grayscale).
    input_size : int
        Height ``S`` of the pair (width ``2S``); a multiple of 8.
    channels : tuple of int
        Bottom-up block widths (conv3x3 -> BatchNorm -> ReLU -> 2x2 max-pool);
        the research design: 16, 32, 128.
    pyramid_channels : int
        Width of the top-down pathway (1x1 laterals, 3x3 smoothing): 128.
    head : {"pool", "flatten"}
        ``"pool"`` (default): each pyramid level is split into its reference
        and current-frame halves; two different 1x1 convolutions project them
        to ``head_channels`` each, and the head pools the mean of each
        projection and the mean of their product (a learned bilinear
        correlation of the two frames' features at the same place),
        batch-normalised, followed by a small MLP; under a million weights
        in all.  ``"flatten"``: the research design's head, p1 and
        p2 flattened (81,920 values at S=32) into a ``flatten_hidden`` linear
        layer (10,240: 839 M weights, 3.4 GB in float32, GPU only).
    head_channels : int
        Channels of the pooling head's projections.
    hidden : tuple of int
        Hidden widths of the pooling head's MLP.
    flatten_hidden : int
        Width of the flattening head's first layer.
    dropout : float
        Dropout between hidden layers.
    fusion : {"cross", "none"}
        ``"none"``: the research design, the pair image alone.  ``"cross"``
        (default): a second channel holds the pair with its halves swapped,
        so that every position of the image shows both frames at that place
        and the first convolution can compare them (as the Siamese CNN's
        cross fusion); see Notes of :class:`FeaturePyramidNet`.
    """

    in_channels: int = 1
    input_size: int = 32
    fusion: str = "cross"
    channels: tuple[int, ...] = (16, 32, 128)
    pyramid_channels: int = 128
    head: str = "pool"
    head_channels: int = 64
    hidden: tuple[int, ...] = (256, 64)
    flatten_hidden: int = 10240
    dropout: float = 0.0


class FeaturePyramidNet(nn.Module):
    """Feature pyramid network on the whole side-by-side pair.

    Bottom-up: three conv blocks (16, 32, 128 channels by default), each
    halving the resolution (c1 at S/2, c2 at S/4, c3 at S/8).  Top-down:
    ``p3 = lat3(c3)``, ``p2 = smooth2(lat2(c2) + up(p3))``,
    ``p1 = smooth1(lat1(c1) + up(p2))`` with 1x1 laterals to
    ``pyramid_channels`` and 3x3 smoothing.

    Parameters
    ----------
    config : FPNConfig
        Architecture and head (``"pool"`` by default, ``"flatten"`` for the
        research design's 839 M-weight head).

    Notes
    -----
    ``forward(x)`` takes ``x [shape=(B, C, S, 2S)]`` and returns
    ``y [shape=(B,)]`` in ``[-1, 1]``.

    On the pair image alone (``fusion="none"``) the two frames meet only in
    the head, after pooling, at positions ``S`` pixels apart: trained as in
    the bar of issue 3 the network sits on a constant output for many epochs
    and, depending on the seed, never leaves it.  With ``fusion="cross"``
    the first convolution sees both frames at every position and the
    network learns within the first epochs (``benchmarks/models.py``).
    """

    def __init__(self, config: FPNConfig | None = None) -> None:
        super().__init__()
        cfg = config or FPNConfig()
        if len(cfg.channels) != 3:
            raise ParameterError(f"channels={cfg.channels} must list three bottom-up widths")
        if cfg.input_size <= 0 or cfg.input_size % 8:
            raise ParameterError(f"input_size={cfg.input_size} must be a positive multiple of 8")
        if cfg.head not in ("pool", "flatten"):
            raise ParameterError(f"head={cfg.head!r} must be 'pool' or 'flatten'")
        if cfg.fusion not in ("cross", "none"):
            raise ParameterError(f"fusion={cfg.fusion!r} must be 'cross' or 'none'")
        self.config = cfg
        c_in = cfg.in_channels * (2 if cfg.fusion == "cross" else 1)
        downs = []
        for c_out in cfg.channels:
            downs.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2),
            ))
            c_in = c_out
        self.down1, self.down2, self.down3 = downs
        pc = cfg.pyramid_channels
        self.lat1 = nn.Conv2d(cfg.channels[0], pc, 1)
        self.lat2 = nn.Conv2d(cfg.channels[1], pc, 1)
        self.lat3 = nn.Conv2d(cfg.channels[2], pc, 1)
        self.smooth1 = nn.Conv2d(pc, pc, 3, padding=1)
        self.smooth2 = nn.Conv2d(pc, pc, 3, padding=1)
        s = cfg.input_size
        if cfg.head == "flatten":
            n_flat = pc * (s // 2) * s + pc * (s // 4) * (s // 2)
            self.head = mlp([n_flat, cfg.flatten_hidden, 1], cfg.dropout)
        else:
            # Per level: the two halves projected by *different* 1x1 convolutions.  A product
            # of the same feature of both halves would be useless: for a small shift d the
            # current frame's feature is about -d times its derivative, and the sum of
            # f * f' over positions telescopes to border terms.
            hc = cfg.head_channels
            self.proj_ref = nn.ModuleList(nn.Conv2d(pc, hc, 1) for _ in range(3))
            self.proj_cur = nn.ModuleList(nn.Conv2d(pc, hc, 1) for _ in range(3))
            # The pooled statistics differ in scale by orders of magnitude (the correlation
            # of a 0.1 px shift is tiny at first): BatchNorm puts them on one scale, without
            # which training can sit on a constant output for many epochs.
            self.head = nn.Sequential(nn.BatchNorm1d(3 * 3 * hc),
                                      *mlp([3 * 3 * hc, *cfg.hidden, 1], cfg.dropout))

    def _pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c1 = self.down1(x)
        c2 = self.down2(c1)
        c3 = self.down3(c2)
        p3 = self.lat3(c3)
        p2 = self.smooth2(self.lat2(c2) + F.interpolate(p3, size=c2.shape[-2:], mode="nearest"))
        p1 = self.smooth1(self.lat1(c1) + F.interpolate(p2, size=c1.shape[-2:], mode="nearest"))
        return p1, p2, p3

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        check_input(x, self.config.in_channels, self.config.input_size, "FeaturePyramidNet")
        if self.config.fusion == "cross":
            left, right = split_pair(x)
            x = torch.cat([x, torch.cat([right, left], -1)], 1)
        p1, p2, p3 = self._pyramid(x)
        if self.config.head == "flatten":
            return self.head(torch.cat([p1.flatten(1), p2.flatten(1)], 1)).squeeze(1)
        pooled = []
        for p, proj_ref, proj_cur in zip((p1, p2, p3), self.proj_ref, self.proj_cur):
            w = p.shape[-1] // 2
            a, b = proj_ref(p[..., :w]), proj_cur(p[..., w:])
            pooled += [a.mean((2, 3)), b.mean((2, 3)), (a * b).mean((2, 3))]
        return self.head(torch.cat(pooled, 1)).squeeze(1)


