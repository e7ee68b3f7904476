"""The ResNet-50 Siamese model and torchvision weight loading."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .._errors import ModelError, ParameterError
from ._checkpoint import torch_load
from ._layers import check_input, mlp, split_pair

__all__ = ["Bottleneck", "ResNet50Trunk", "ResNetConfig", "ResNetSiamese", "load_backbone_weights"]


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
        self.head = mlp([2 * self.backbone.out_features, *cfg.hidden, 1], cfg.dropout)
        self.backbone_weights: str | None = None
        if cfg.freeze_backbone:
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> ResNetSiamese:  # noqa: D102
        super().train(mode)
        if self.config.freeze_backbone:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        check_input(x, self.config.in_channels, self.config.input_size, "ResNetSiamese")
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


