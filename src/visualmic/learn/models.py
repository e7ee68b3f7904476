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
import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ModelError, ParameterError
from ._checkpoint import torch_load

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


def _check_input(x: torch.Tensor, channels: int, size: int, name: str) -> None:
    expected = (channels, size, 2 * size)
    if x.ndim != 4 or tuple(x.shape[1:]) != expected:
        raise ParameterError(
            f"{name} expects input of shape (batch, {channels}, {size}, {2 * size}), got "
            f"{tuple(x.shape)}; crop or resize the frames to the model's input_size"
        )


def _mlp(sizes: list[int], dropout: float) -> nn.Sequential:
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
        self.head = _mlp([self.feature_dim, *cfg.hidden, 1], cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_input(x, self.config.in_channels, self.config.input_size, "SiameseConvNet")
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


# --------------------------------------------------------------------------- ResNet-50


class Bottleneck(nn.Module):
    """ResNet bottleneck block (1x1, 3x3 with stride, 1x1 x4), torchvision naming."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50Trunk(nn.Module):
    """ResNet-50 feature extractor with torchvision-compatible parameter names.

    ``conv1, bn1, layer1..layer4`` carry exactly the names and shapes of
    torchvision's ``resnet50`` (without ``fc``), so its ImageNet state dict
    loads into it (see :func:`load_backbone_weights`).

    Parameters
    ----------
    in_channels : int
        Input channels (1 for grayscale, 3 for RGB).
    layers : tuple of int
        Bottleneck blocks per stage; ``(3, 4, 6, 3)`` is ResNet-50.
    width : int
        Channels of the stem; 64 for ResNet-50.

    Notes
    -----
    ``forward(x)`` maps ``(B, C, H, W)`` to globally average-pooled features
    ``(B, 8 * width * 4)``, i.e. ``(B, 2048)`` for ResNet-50.  Any input size
    of at least 32 x 32 works; 224 is the ImageNet size.
    """

    def __init__(self, in_channels: int = 1, layers: tuple[int, ...] = (3, 4, 6, 3),
                 width: int = 64) -> None:
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(in_channels, width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = self._stage(width, layers[0], 1)
        self.layer2 = self._stage(width * 2, layers[1], 2)
        self.layer3 = self._stage(width * 4, layers[2], 2)
        self.layer4 = self._stage(width * 8, layers[3], 2)
        self.out_features = width * 8 * Bottleneck.expansion
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():  # zero-init the last BN of each block (He et al. trick)
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)

    def _stage(self, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.in_planes, planes * 4, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * 4),
            )
        mods = [Bottleneck(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * 4
        mods += [Bottleneck(self.in_planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


@dataclass
class ResNetConfig:
    """Configuration of :class:`ResNetSiamese`.

    Attributes
    ----------
    in_channels : int
        Channels per frame (1 for grayscale).
    input_size : int
        Side ``S`` of each half in pixels: 224 as in the research design (a
        GPU job), 64 trains on a CPU.
    layers : tuple of int
        Bottleneck blocks per stage, ``(3, 4, 6, 3)`` for ResNet-50.
    hidden : tuple of int
        Head widths after the concatenated 2 x 2048 = 4096 features.
    dropout : float
        Dropout between hidden layers of the head.
    freeze_backbone : bool
        Keep the trunk's weights and BatchNorm statistics fixed (useful with
        ImageNet weights); only the head learns.
    fusion : {"cross", "late"}
        As :attr:`SiameseConfig.fusion`: ``"late"`` is the research design
        (each half through the trunk alone); ``"cross"`` (default) gives the
        trunk's first convolution both frames as channels, the pair forward
        in one branch and backward in the other.
    """

    in_channels: int = 1
    input_size: int = 224
    layers: tuple[int, ...] = (3, 4, 6, 3)
    hidden: tuple[int, ...] = (2048, 1024, 512, 256)
    dropout: float = 0.0
    freeze_backbone: bool = False
    fusion: str = "cross"


class ResNetSiamese(nn.Module):
    """Siamese ResNet-50: a shared ResNet-50 trunk per half, head 4096 -> ... -> 1.

    Parameters
    ----------
    config : ResNetConfig
        Architecture.  The trunk starts from random weights (He
        initialisation) unless :func:`load_backbone_weights` is called.

    Notes
    -----
    ``forward(x)`` takes ``x [shape=(B, C, S, 2S)]`` and returns
    ``y [shape=(B,)]`` in ``[-1, 1]``.  With ``freeze_backbone`` the trunk
    stays in eval mode (frozen BatchNorm statistics) even in ``train()``.
    """

    def __init__(self, config: ResNetConfig | None = None) -> None:
        super().__init__()
        cfg = config or ResNetConfig()
        if cfg.input_size < 32:
            raise ParameterError(f"input_size={cfg.input_size} is too small for ResNet-50; "
                                 "use at least 32 (224 is the ImageNet size)")
        if cfg.fusion not in ("cross", "late"):
            raise ParameterError(f"fusion={cfg.fusion!r} must be 'cross' or 'late'")
        self.config = cfg
        self.backbone = ResNet50Trunk(cfg.in_channels * (2 if cfg.fusion == "cross" else 1),
                                      tuple(cfg.layers))
        self.head = _mlp([2 * self.backbone.out_features, *cfg.hidden, 1], cfg.dropout)
        self.backbone_weights: str | None = None
        if cfg.freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> ResNetSiamese:  # noqa: D102
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_input(x, self.config.in_channels, self.config.input_size, "ResNetSiamese")
        left, right = split_pair(x)
        n = x.shape[0]
        if self.config.fusion == "cross":
            left, right = torch.cat([left, right], 1), torch.cat([left, -right], 1)
        feats = self.backbone(torch.cat([left, right], 0))
        return self.head(torch.cat([feats[:n], feats[n:]], 1)).squeeze(1)


def load_backbone_weights(model: ResNetSiamese, path: str | os.PathLike) -> list[str]:
    """Load a torchvision ``resnet50`` state dict from disk into the trunk.

    Nothing is downloaded.  The file may hold a plain state dict or one under
    ``"state_dict"`` or ``"model"``; ``module.`` / ``backbone.`` prefixes and
    the classifier ``fc.*`` are ignored.  An RGB ``conv1`` loaded into a
    grayscale model is summed over its colour channels (the response to a
    grey image is unchanged).  With cross fusion the trunk's first
    convolution sees two frames; each gets the (grey) ImageNet kernel.

    Parameters
    ----------
    model : ResNetSiamese
        Model whose ``backbone`` receives the weights.
    path : path-like
        A ``.pth``/``.pt`` file, e.g. torchvision's ``resnet50-0676ba61.pth``.

    Returns
    -------
    list of str
        Names of checkpoint entries that were ignored.

    Raises
    ------
    InputFileError
        If the file does not exist.
    ModelError
        If it cannot be read or its tensors do not fit a ResNet-50.
    """
    from .._errors import InputFileError

    p = os.fspath(path)
    if not os.path.isfile(p):
        raise InputFileError(f"backbone weights {p!r} not found; give the path of a local "
                             "torchvision resnet50 .pth file")
    state = torch_load(p, what="backbone weights", hint="expected a torch state dict (.pth)")
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ModelError(f"backbone weights {p!r} hold no state dict; expected a torchvision "
                         "resnet50 .pth file")
    target = model.backbone.state_dict()
    loaded, ignored = {}, []
    for name, tensor in state.items():
        key = name
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if key not in target or not torch.is_tensor(tensor):
            ignored.append(name)
            continue
        if key == "conv1.weight" and tensor.ndim == 4:
            per_frame = model.config.in_channels
            if tensor.shape[1] != per_frame:
                if per_frame == 1:
                    tensor = tensor.sum(1, keepdim=True)
                else:
                    tensor = tensor.mean(1, keepdim=True).repeat(1, per_frame, 1, 1)
            if target[key].shape[1] == 2 * per_frame:  # cross fusion: the kernel on both frames
                tensor = torch.cat([tensor, tensor], 1)
        if tuple(tensor.shape) != tuple(target[key].shape):
            raise ModelError(f"backbone weights {p!r}: {name} has shape {tuple(tensor.shape)}, "
                             f"expected {tuple(target[key].shape)}; is this a ResNet-50?")
        loaded[key] = tensor
    missing = sorted(set(target) - set(loaded))
    if missing:
        raise ModelError(f"backbone weights {p!r} lack {len(missing)} ResNet-50 tensors "
                         f"(first: {missing[0]}); is this a torchvision resnet50 state dict?")
    model.backbone.load_state_dict(loaded)
    model.backbone_weights = p
    return ignored


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
            self.head = _mlp([n_flat, cfg.flatten_hidden, 1], cfg.dropout)
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
                                      *_mlp([3 * 3 * hc, *cfg.hidden, 1], cfg.dropout))

    def _pyramid(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        c1 = self.down1(x)
        c2 = self.down2(c1)
        c3 = self.down3(c2)
        p3 = self.lat3(c3)
        p2 = self.smooth2(self.lat2(c2) + F.interpolate(p3, size=c2.shape[-2:], mode="nearest"))
        p1 = self.smooth1(self.lat1(c1) + F.interpolate(p2, size=c1.shape[-2:], mode="nearest"))
        return p1, p2, p3

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        _check_input(x, self.config.in_channels, self.config.input_size, "FeaturePyramidNet")
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

