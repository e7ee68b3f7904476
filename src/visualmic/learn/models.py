"""Neural networks that regress one audio sample from a pair of video frames.

This module holds ``torch.nn.Module`` classes and their ``@dataclass``
configurations, and nothing about data or training (as nanoGPT's ``model.py``).
Every model takes a batch of frame pairs placed side by side,
``x [shape=(B, C, S, 2*S)]`` (the reference half on the left, the current
frame's half on the right, ``C=1`` for grayscale), and returns one value per
pair in ``[-1, 1]``, ``y [shape=(B,)]``.

Models
------
SiameseConvNet
    Both ``S x S`` halves go through one shared convolutional trunk; the
    features are concatenated and regressed by a multilayer perceptron.
ResNetSiamese
    The same with a ResNet-50 trunk (He et al. 2016) whose parameter names
    match torchvision's ``resnet50`` state dict, so an ImageNet checkpoint on
    disk loads with :func:`load_backbone_weights`.
FeaturePyramidNet
    A three-level feature pyramid (Lin et al. 2017) over the whole pair, with
    a pooling head (default) or the research design's flattening head.

:func:`build_model` rebuilds any of them from ``(name, config dict)``, which
is how a checkpoint stores them.

References
----------
.. [1] K. He, X. Zhang, S. Ren, J. Sun, "Deep residual learning for image
   recognition", CVPR 2016. https://doi.org/10.1109/CVPR.2016.90
.. [2] T.-Y. Lin et al., "Feature pyramid networks for object detection",
   CVPR 2017. https://doi.org/10.1109/CVPR.2017.106
.. [3] A. Davis et al., "The visual microphone: passive recovery of sound from
   video", ACM TOG 33(4), 2014. https://doi.org/10.1145/2601097.2601119
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from .._errors import ParameterError
from ._layers import check_input, mlp, split_pair
from .models_fpn import FeaturePyramidNet, FPNConfig
from .models_resnet import ResNet50Trunk, ResNetConfig, ResNetSiamese, load_backbone_weights

__all__ = [
    "SiameseConfig",
    "SiameseConvNet",
    "ResNetConfig",
    "ResNetSiamese",
    "ResNet50Trunk",
    "FPNConfig",
    "FeaturePyramidNet",
    "MODELS",
    "build_model",
    "model_config",
    "load_backbone_weights",
    "split_pair",
]


# --------------------------------------------------------------------------- Siamese CNN


@dataclass
class SiameseConfig:
    """Configuration of :class:`SiameseConvNet`.

    Attributes
    ----------
    in_channels : int
        Channels per frame (1 for grayscale).
    input_size : int
        Side ``S`` of each square half, in pixels; must be divisible by
        ``2**len(channels)``.  The pair is ``S x 2S``.
    channels : tuple of int
        Output channels of the trunk's conv3x3 blocks (each conv -> ReLU ->
        BatchNorm -> 2x2 max-pool).  The research design: 32, 64, 128, 256.
    hidden : tuple of int
        Hidden widths of the regression head after the concatenated features
        (2048 for the defaults): 1024, 512, 256, then one tanh output.
    dropout : float
        Dropout probability between hidden layers (0 disables it).
    fusion : {"cross", "late"}
        What each branch of the shared trunk sees.  ``"late"`` is the
        research design: the left half alone in one branch, the right half
        alone in the other, compared only through the concatenated features.
        ``"cross"`` (default): each branch sees both halves stacked as
        channels, the pair forward ``(left, right)`` in one branch and
        backward ``(left, -right)`` in the other (the right half being a
        difference to the reference), so the first convolution can compare
        the frames pixel by pixel (see Notes of :class:`SiameseConvNet`).
    """

    in_channels: int = 1
    input_size: int = 32
    channels: tuple[int, ...] = (32, 64, 128, 256)
    hidden: tuple[int, ...] = (1024, 512, 256)
    dropout: float = 0.0
    fusion: str = "cross"


class SiameseConvNet(nn.Module):
    """Siamese CNN: one shared trunk for both halves, concatenated features, MLP.

    Parameters
    ----------
    config : SiameseConfig
        Architecture; the defaults are the research design (trunk conv3x3
        32 -> 64 -> 128 -> 256, features 2 x 1024 = 2048, head
        2048 -> 1024 -> 512 -> 256 -> 1, tanh).

    Notes
    -----
    ``forward(x)`` takes ``x [shape=(B, C, S, 2S)]`` and returns
    ``y [shape=(B,)]`` in ``[-1, 1]``.

    Why ``fusion="cross"``: a sub-pixel shift ``d`` changes a frame by about
    ``-d`` times the texture's derivative, so the right half (the difference
    to the reference, as :class:`visualmic.learn.data.PairNormalizer` makes
    it) is the reference's derivative scaled by ``-d``; its sign can only be
    read from a product of the two halves.  With late fusion each branch
    sees one half alone and the head would have to learn that product from
    pooled features: trained as in the bar of issue 3 it stays at r ~ 0
    (``benchmarks/models.py``, ``siamese:late``).  With cross fusion each
    branch sees both halves as channels, so the first convolution compares
    them pixel by pixel; the backward branch ``(left, -right)`` is the same
    pair reversed in time, whose label is the negative.
    """

    def __init__(self, config: SiameseConfig | None = None) -> None:
        super().__init__()
        cfg = config or SiameseConfig()
        n_pool = len(cfg.channels)
        if cfg.input_size <= 0 or cfg.input_size % (2**n_pool):
            raise ParameterError(
                f"input_size={cfg.input_size} must be a positive multiple of {2**n_pool} "
                f"for a trunk of {n_pool} pooling blocks"
            )
        if cfg.fusion not in ("cross", "late"):
            raise ParameterError(f"fusion={cfg.fusion!r} must be 'cross' or 'late'")
        self.config = cfg
        blocks: list[nn.Module] = []
        c_in = cfg.in_channels * (2 if cfg.fusion == "cross" else 1)
        for c_out in cfg.channels:
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.BatchNorm2d(c_out),
                nn.MaxPool2d(2),
            ))
            c_in = c_out
        self.trunk = nn.Sequential(*blocks)
        side = cfg.input_size // 2**n_pool
        self.feature_dim = 2 * c_in * side * side
        self.head = mlp([self.feature_dim, *cfg.hidden, 1], cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        check_input(x, self.config.in_channels, self.config.input_size, "SiameseConvNet")
        left, right = split_pair(x)
        n = x.shape[0]
        if self.config.fusion == "cross":
            a = torch.cat([left, right], 1)   # the pair forward in time
            b = torch.cat([left, -right], 1)  # and backward: the difference changes sign
        else:
            a, b = left, right
        # one pass of the shared trunk over both branches (same weights, batch statistics)
        feats = self.trunk(torch.cat([a, b], 0)).flatten(1)
        return self.head(torch.cat([feats[:n], feats[n:]], 1)).squeeze(1)


# --------------------------------------------------------------------------- registry

MODELS: dict[str, tuple[type, type]] = {
    "siamese": (SiameseConvNet, SiameseConfig),
    "resnet": (ResNetSiamese, ResNetConfig),
    "fpn": (FeaturePyramidNet, FPNConfig),
}


def model_config(name: str, **overrides) -> object:
    """Return the default config of model ``name`` with ``overrides`` applied.

    Parameters
    ----------
    name : {"siamese", "resnet", "fpn"}
        Model family.
    **overrides
        Config fields to change (unknown fields raise).

    Returns
    -------
    dataclass
        A :class:`SiameseConfig`, :class:`ResNetConfig` or :class:`FPNConfig`.

    Raises
    ------
    ParameterError
        For an unknown model name or config field.
    """
    if name not in MODELS:
        raise ParameterError(f"model {name!r} is unknown; choose one of {', '.join(MODELS)}")
    cls = MODELS[name][1]
    known = {f.name for f in dataclasses.fields(cls)}
    bad = sorted(set(overrides) - known)
    if bad:
        raise ParameterError(f"{cls.__name__} has no field {bad[0]!r}; known: {', '.join(sorted(known))}")
    values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in overrides.items()}
    return cls(**values)


def build_model(name: str, config: dict | object | None = None) -> nn.Module:
    """Build model ``name`` from a config dataclass or a dict of its fields.

    Parameters
    ----------
    name : {"siamese", "resnet", "fpn"}
        Model family.
    config : dataclass, dict or None
        Architecture; ``None`` gives the defaults.  A dict is what
        :func:`dataclasses.asdict` produced (as stored in a checkpoint).

    Returns
    -------
    torch.nn.Module

    Raises
    ------
    ParameterError
        For an unknown model name or config field.
    """
    if config is None or isinstance(config, dict):
        config = model_config(name, **(config or {}))
    elif name not in MODELS:
        raise ParameterError(f"model {name!r} is unknown; choose one of {', '.join(MODELS)}")
    return MODELS[name][0](config)

