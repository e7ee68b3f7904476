"""The deep-learning models: shapes, learning, torchvision-compatible ResNet-50 names."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from visualmic import ModelError, ParameterError  # noqa: E402
from visualmic.learn.models import (  # noqa: E402
    FeaturePyramidNet,
    FPNConfig,
    ResNet50Trunk,
    ResNetConfig,
    ResNetSiamese,
    SiameseConfig,
    SiameseConvNet,
    build_model,
    load_backbone_weights,
    model_config,
)

# The ImageNet ResNet-50 of torchvision has 25,557,032 parameters, of which the
# classifier fc (2048*1000 + 1000) is 2,049,000: the trunk holds 23,508,032.
RESNET50_TRUNK_PARAMS = 23_508_032
# A few names of torchvision's resnet50 state dict (buffers included).
TORCHVISION_NAMES = [
    "conv1.weight", "bn1.running_mean", "bn1.num_batches_tracked",
    "layer1.0.downsample.0.weight", "layer1.0.downsample.1.running_var",
    "layer1.2.conv3.weight", "layer2.3.bn2.bias", "layer3.5.bn3.running_var",
    "layer4.0.downsample.0.weight", "layer4.2.conv3.weight",
]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def tiny_siamese(fusion="cross"):
    return SiameseConvNet(SiameseConfig(input_size=16, channels=(8, 16), hidden=(32, 16),
                                        fusion=fusion))


def tiny_fpn(head="pool", fusion="cross"):
    return FeaturePyramidNet(FPNConfig(input_size=16, channels=(4, 8, 8), pyramid_channels=8,
                                       head_channels=8, hidden=(16,), head=head,
                                       flatten_hidden=8, fusion=fusion))


def tiny_resnet():
    return ResNetSiamese(ResNetConfig(input_size=32, layers=(1, 1, 1, 1), hidden=(16,)))


@pytest.mark.parametrize("fusion", ["cross", "late"])
def test_siamese_research_shapes(fusion):
    net = SiameseConvNet(SiameseConfig(fusion=fusion))
    assert net.feature_dim == 2048  # 2 x 256 channels x 2 x 2 after four 2x2 pools
    widths = [m.out_features for m in net.head if isinstance(m, torch.nn.Linear)]
    assert widths == [1024, 512, 256, 1]
    y = net(torch.randn(3, 1, 32, 64))
    assert y.shape == (3,)
    assert torch.all(y.abs() <= 1)


def test_fpn_shapes_and_flatten_head_size():
    for fusion in ("cross", "none"):
        net = FeaturePyramidNet(FPNConfig(fusion=fusion))
        assert net.down1[0].in_channels == (2 if fusion == "cross" else 1)
        assert net(torch.randn(2, 1, 32, 64)).shape == (2,)
    # the research head: p1 (128 x 16 x 32) and p2 (128 x 8 x 16) flattened = 81,920
    pc, s = 128, 32
    assert pc * (s // 2) * s + pc * (s // 4) * (s // 2) == 81_920
    small = tiny_fpn("flatten")
    first = next(m for m in small.head if isinstance(m, torch.nn.Linear))
    assert first.in_features == 8 * 8 * 16 + 8 * 4 * 8 and first.out_features == 8
    assert small(torch.randn(2, 1, 16, 32)).shape == (2,)


def test_resnet_trunk_matches_torchvision_names_and_size():
    trunk = ResNet50Trunk(in_channels=3)
    names = set(trunk.state_dict())
    assert all(n in names for n in TORCHVISION_NAMES)
    assert not any(n.startswith("fc.") for n in names)
    assert sum(p.numel() for p in trunk.parameters()) == RESNET50_TRUNK_PARAMS
    net = ResNetSiamese(ResNetConfig(input_size=32))
    widths = [m.out_features for m in net.head if isinstance(m, torch.nn.Linear)]
    assert net.head[0].in_features == 4096 and widths == [2048, 1024, 512, 256, 1]
    assert net(torch.randn(2, 1, 32, 64)).shape == (2,)
    assert net.backbone.conv1.in_channels == 2  # cross fusion: both frames
    late = ResNetSiamese(ResNetConfig(input_size=32, fusion="late"))
    assert late.backbone.conv1.in_channels == 1
    assert late(torch.randn(2, 1, 32, 64)).shape == (2,)


@pytest.mark.parametrize("fusion", ["late", "cross"])
def test_backbone_weights_load_rgb_into_grayscale(tmp_path, fusion):
    src = ResNet50Trunk(in_channels=3, layers=(1, 1, 1, 1))
    state = {"module." + k: v for k, v in src.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 2048)  # a classifier is ignored
    path = tmp_path / "r.pth"
    torch.save({"state_dict": state}, path)
    net = ResNetSiamese(ResNetConfig(input_size=32, layers=(1, 1, 1, 1), hidden=(8,),
                                     fusion=fusion))
    ignored = load_backbone_weights(net, path)
    assert ignored == ["fc.weight"]
    got = net.backbone.conv1.weight
    frames = 2 if fusion == "cross" else 1
    assert got.shape[1] == frames
    for k in range(frames):  # every frame channel gets the grey kernel
        torch.testing.assert_close(got[:, k:k + 1], src.conv1.weight.sum(1, keepdim=True))
    torch.testing.assert_close(net.backbone.layer4[0].conv3.weight, src.layer4[0].conv3.weight)
    # a grey image gives the same first-layer response as its RGB copy
    grey = torch.rand(1, 1, 32, 32)
    one = torch.nn.functional.conv2d(grey, got[:, :1], stride=2, padding=3)
    torch.testing.assert_close(one, src.conv1(grey.repeat(1, 3, 1, 1)))


def test_backbone_weights_bad_files(tmp_path):
    net = tiny_resnet()
    with pytest.raises(Exception, match="not found"):
        load_backbone_weights(net, tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="cannot read backbone weights"):
        load_backbone_weights(net, bad)
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, partial)
    with pytest.raises(ModelError, match="lack"):
        load_backbone_weights(net, partial)


def test_freeze_backbone_keeps_weights_and_statistics():
    net = ResNetSiamese(ResNetConfig(input_size=32, layers=(1, 1, 1, 1), hidden=(8,),
                                     freeze_backbone=True))
    net.train()
    assert not net.backbone.training and net.head.training
    before = {k: v.clone() for k, v in net.backbone.state_dict().items()}
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=1e-2)
    loss = (net(torch.randn(4, 1, 32, 64)) - 0.5).pow(2).mean()
    loss.backward()
    opt.step()
    for k, v in net.backbone.state_dict().items():
        torch.testing.assert_close(v, before[k])


@pytest.mark.parametrize("make", [tiny_siamese, lambda: tiny_siamese("late"), tiny_fpn,
                                  lambda: tiny_fpn("flatten", "none"), tiny_resnet])
def test_one_optimiser_step_lowers_the_loss(make):
    net = make()
    size = net.config.input_size
    x = torch.randn(16, 1, size, 2 * size)
    y = torch.linspace(-0.8, 0.8, 16)
    opt = torch.optim.SGD(net.parameters(), lr=1e-2)
    net.train()
    loss0 = torch.nn.functional.mse_loss(net(x), y)
    opt.zero_grad()
    loss0.backward()
    opt.step()
    loss1 = torch.nn.functional.mse_loss(net(x), y)
    assert loss1.item() < loss0.item()


def test_tiny_dataset_is_overfit():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((48, 1, 16, 32)).astype(np.float32))
    y = torch.from_numpy(rng.uniform(-0.9, 0.9, 48).astype(np.float32))
    net = tiny_siamese()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    net.train()
    for _ in range(150):
        loss = torch.nn.functional.mse_loss(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        final = torch.nn.functional.mse_loss(net(x), y).item()
    assert final < 0.05 * y.var().item()


def test_bad_configs_and_names():
    with pytest.raises(ParameterError, match="unknown"):
        build_model("vgg")
    with pytest.raises(ParameterError, match="no field 'widht'"):
        model_config("siamese", widht=3)
    with pytest.raises(ParameterError, match="multiple of 16"):
        SiameseConvNet(SiameseConfig(input_size=24))
    with pytest.raises(ParameterError, match="fusion"):
        SiameseConvNet(SiameseConfig(fusion="early"))
    with pytest.raises(ParameterError, match="head"):
        FeaturePyramidNet(FPNConfig(head="dense"))
    with pytest.raises(ParameterError, match="fusion"):
        FeaturePyramidNet(FPNConfig(fusion="late"))
    with pytest.raises(ParameterError, match="fusion"):
        ResNetSiamese(ResNetConfig(input_size=32, fusion="early"))
    with pytest.raises(ParameterError, match=r"expects input of shape \(batch, 1, 32, 64\)"):
        SiameseConvNet()(torch.zeros(2, 1, 32, 32))


def test_build_model_from_checkpoint_dict():
    import dataclasses

    net = tiny_fpn()
    again = build_model("fpn", dataclasses.asdict(net.config))
    assert again.config == net.config
