"""ResNe(X)t trunks: torchvision weights load unchanged and give torchvision's outputs."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from ssl_models import build_trunk
from ssl_models.resnet import LINEAR_EVAL_FEAT_POOL_OPS_MAP, StandardizedConv2d, linear_eval_pool


def _randomise_norm_stats(model: nn.Module, seed: int) -> None:
    """Give BN layers non-trivial running stats and affine params so eval outputs test them."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)


def _torchvision_features(tv: torchvision.models.ResNet, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """VISSL's feature keys computed by hand from torchvision's modules."""
    out = {}
    x = tv.relu(tv.bn1(tv.conv1(x)))
    out["conv1"] = x
    x = tv.layer1(tv.maxpool(x))
    out["res2"] = x
    for key, layer in (("res3", tv.layer2), ("res4", tv.layer3), ("res5", tv.layer4)):
        x = layer(x)
        out[key] = x
    out["res5avg"] = tv.avgpool(x)
    out["flatten"] = torch.flatten(out["res5avg"], 1)
    return out


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d"])
def test_torchvision_state_dict_loads_strict_and_matches(name: str) -> None:
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None)
    _randomise_norm_stats(tv, seed=1)
    tv.eval()
    state = {k: v for k, v in tv.state_dict().items() if not k.startswith("fc.")}
    ours = build_trunk(name)
    ours.load_state_dict(state, strict=True)
    ours.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = _torchvision_features(tv, x)
        got = ours.forward_features(x, list(expected))
        pooled = ours(x)
    for key, ref in expected.items():
        torch.testing.assert_close(got[key], ref, atol=1e-5, rtol=1e-5, msg=key)
    torch.testing.assert_close(pooled, expected["flatten"], atol=1e-5, rtol=1e-5)
    # the classifier on our flatten feature equals torchvision's logits
    with torch.no_grad():
        torch.testing.assert_close(tv.fc(pooled), tv(x), atol=1e-5, rtol=1e-5)


def test_parameter_names_are_torchvision_without_fc() -> None:
    tv_keys = {k for k in torchvision.models.resnet101(weights=None).state_dict() if not k.startswith("fc.")}
    assert set(build_trunk("resnet101").state_dict()) == tv_keys


def _params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_published_parameter_counts_without_classifier() -> None:
    # ResNet-50: 25.6M with its 1000-class fc (2048*1000 + 1000); SimCLR's w2/w4: 94M / 375M trunk only.
    with torch.device("meta"):
        r50 = _params(build_trunk("resnet50"))
        w2 = _params(build_trunk("resnet50", width_multiplier=2))
        w4 = _params(build_trunk("resnet50", width_multiplier=4))
    assert round((r50 + 2048 * 1000 + 1000) / 1e6, 1) == 25.6
    assert round(w2 / 1e6) == 94
    assert round(w4 / 1e6) == 375


def test_width_multiplier_widens_every_layer_including_the_stem() -> None:
    t = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    assert t.conv1.out_channels == 16 and t.conv1.kernel_size == (3, 3) and t.conv1.stride == (1, 1)
    assert isinstance(t.maxpool, nn.Identity)
    assert t.num_features == 128
    x = torch.randn(3, 3, 28, 28)
    feats = t.forward_features(x, t.feature_names())
    shapes = {k: tuple(v.shape) for k, v in feats.items()}
    assert shapes == {
        "conv1": (3, 16, 28, 28),
        "res2": (3, 16, 28, 28),
        "res3": (3, 32, 14, 14),
        "res4": (3, 64, 7, 7),
        "res5": (3, 128, 4, 4),
        "res5avg": (3, 128, 1, 1),
        "flatten": (3, 128),
    }
    assert t.feature_shapes((3, 3, 28, 28)) == shapes
    w2 = build_trunk("resnet50", width_multiplier=2)
    assert w2.conv1.out_channels == 128 and w2.layer1[0].conv1.out_channels == 128 and w2.num_features == 4096


@pytest.mark.parametrize("bad", [{"width_multiplier": 0.3}, {"width_multiplier": 0}, {"layer4_stride": 3}, {"norm": "InstanceNorm"}])
def test_bad_options_raise_value_error(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        build_trunk("resnet18", **bad)


def test_preset_name_rejects_conflicting_depth() -> None:
    with pytest.raises(ValueError, match="depth"):
        build_trunk("resnet50", depth=18)
    assert build_trunk("resnet", depth=18).num_features == 512


def test_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown trunk name 'resnet7'"):
        build_trunk("resnet7")
    t = build_trunk("resnet18", width_multiplier=0.25)
    with pytest.raises(ValueError, match="unknown feature name 'res6'"):
        t.forward_features(torch.randn(1, 3, 32, 32), ["res6"])


def test_norm_variants() -> None:
    gn = build_trunk("resnet50", width_multiplier=0.5, norm="GroupNorm")
    assert isinstance(gn.bn1, nn.GroupNorm) and gn.bn1.num_groups == 32
    ln = build_trunk("resnet18", width_multiplier=0.25, norm="LayerNorm")
    assert isinstance(ln.bn1, nn.GroupNorm) and ln.bn1.num_groups == 1
    x = torch.randn(2, 3, 16, 16)
    # LayerNorm over (C, H, W) per sample, checked against torch's layer_norm
    conv = ln.conv1(x)
    torch.testing.assert_close(ln.bn1(conv), nn.functional.layer_norm(conv, conv.shape[1:]), atol=1e-5, rtol=1e-5)


def test_standardized_convolutions_match_definition() -> None:
    t = build_trunk("resnet18", width_multiplier=0.25, standardize_convolutions=True)
    convs = [m for m in t.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(isinstance(m, StandardizedConv2d) for m in convs)
    conv = t.conv1
    x = torch.randn(2, 3, 16, 16)
    w = conv.weight.detach().numpy().reshape(conv.out_channels, -1)
    w_std = (w - w.mean(1, keepdims=True)) / (w.var(1, keepdims=True) + 1e-5) ** 0.5
    ref = nn.functional.conv2d(x, torch.from_numpy(w_std).reshape(conv.weight.shape), stride=2, padding=3)
    torch.testing.assert_close(conv(x), ref, atol=1e-5, rtol=1e-5)
    assert "conv1.weight" in t.state_dict()


def test_zero_init_residual_makes_blocks_identity_plus_relu() -> None:
    t = build_trunk("resnet50", width_multiplier=0.25, zero_init_residual=True).eval()
    assert all(bool((b.bn3.weight == 0).all()) for layer in (t.layer1, t.layer2, t.layer3, t.layer4) for b in layer)
    block = t.layer2[1]  # no downsample: output = relu(input) for non-negative inputs = input
    x = torch.rand(1, block.conv1.in_channels, 8, 8)
    torch.testing.assert_close(block(x.clone()), x)


def test_layer4_stride_one_keeps_res5_resolution() -> None:
    t = build_trunk("resnet50", width_multiplier=0.25, layer4_stride=1)
    shapes = t.feature_shapes((1, 3, 64, 64))
    assert shapes["res4"][2:] == (4, 4) and shapes["res5"][2:] == (4, 4)


def test_linear_eval_pool_preset_gives_vissl_dimensions_at_224() -> None:
    shapes = build_trunk("resnet50").feature_shapes((1, 3, 224, 224))
    dims = {}
    for name in LINEAR_EVAL_FEAT_POOL_OPS_MAP:
        dims[name] = linear_eval_pool(name, torch.empty(shapes[name], device="meta")).shape[1]
    assert dims == {"conv1": 9216, "res2": 9216, "res3": 8192, "res4": 9216, "res5": 8192, "res5avg": 2048}
