"""Weights of the reference libraries load strict into our trunks and give their outputs; published
parameter counts."""

from __future__ import annotations

import math

import pytest
import timm
import torch
import torchvision
from torch import nn

from ssl_models import build_trunk


def _params(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())


def _perturb_bn(model: nn.Module) -> None:
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


@pytest.mark.parametrize(("ours", "tv_name"), [("regnet_y_400mf", "regnet_y_400mf"), ("efficientnet_b0", "efficientnet_b0")])
def test_torchvision_regnet_and_efficientnet_load_strict_and_match(ours: str, tv_name: str) -> None:
    torch.manual_seed(0)
    tv = torchvision.models.get_model(tv_name, weights=None).eval()
    _perturb_bn(tv)
    head = "fc." if tv_name.startswith("regnet") else "classifier."
    trunk = build_trunk(ours).eval()
    trunk.load_state_dict({k: v for k, v in tv.state_dict().items() if not k.startswith(head)}, strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        pooled = trunk(x)
        classifier = tv.fc if tv_name.startswith("regnet") else tv.classifier
        torch.testing.assert_close(classifier(pooled), tv(x), rtol=1e-5, atol=1e-5)


def test_timm_deit_loads_strict_and_matches() -> None:
    torch.manual_seed(0)
    ref = timm.create_model("deit_tiny_patch16_224", pretrained=False, img_size=32).eval()
    trunk = build_trunk("deit_tiny", image_size=32).eval()
    state = {k: v for k, v in ref.state_dict().items() if not k.startswith("head.")}
    assert set(trunk.state_dict()) == set(state)  # timm's own key names, no prefix
    trunk.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = ref.forward_features(x)
        torch.testing.assert_close(trunk(x), tokens[:, 0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ref.head(trunk(x)), ref(x), rtol=1e-5, atol=1e-5)
        feats = trunk.forward_features(x, ["blocks.11", "cls_token"])
        torch.testing.assert_close(feats["cls_token"], tokens[:, 0], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(ref.norm(feats["blocks.11"]), tokens, rtol=1e-5, atol=1e-5)


def test_vissl_form_vision_transformer_matches_timm_vit_with_the_same_weights() -> None:
    torch.manual_seed(0)
    cfg = {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64, "qkv_bias": True}
    ours = build_trunk("vision_transformer", **cfg).eval()
    ref = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2, mlp_ratio=2.0, qkv_bias=True, num_classes=0
    ).eval()
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-5, atol=1e-5)
    assert not any(k.endswith("qkv.bias") for k in build_trunk("vision_transformer", image_size=32).state_dict())  # VISSL default


def test_published_parameter_counts() -> None:
    with torch.device("meta"):
        regnet = _params(build_trunk("regnet_y_400mf"))
        vit = _params(build_trunk("vit_b_16"))
        seer = _params(build_trunk("regnet", depth=27, w_0=640, w_a=230.83, w_m=2.53, group_width=373))
    # RegNetY-400MF: 4.3M with its 1000-class classifier (440*1000 + 1000).
    assert round((regnet + 440 * 1000 + 1000) / 1e6, 1) == 4.3
    # ViT-B/16: 86.6M with its classifier (768*1000 + 1000); 85.8M trunk only.
    assert round((vit + 768 * 1000 + 1000) / 1e6, 1) == 86.6
    # SEER RegNet-256GF: 1.3B.
    assert math.isclose(seer / 1e9, 1.3, abs_tol=0.05)
