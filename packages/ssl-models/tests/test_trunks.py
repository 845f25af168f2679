"""Every trunk in the factory map builds, runs forward and backward, and reports its named features
with the shapes the README documents.

Shapes are checked against the published architecture widths (tables below, not read from our code)
and the stride formulas of each family, for every name on the meta device (no memory, no compute).
Every name then runs forward and backward on the CPU in fp32 and under bf16 autocast at its full
published size (ViT-H/14, RegNetY-128GF included) on a small input; the trunks over 100M parameters
are marked slow (still part of the default run; deselect with -m "not slow" while developing).
"""

from __future__ import annotations

import math

import pytest
import torch

from ssl_models import build_trunk, list_trunks

# published output widths (papers / model cards)
EFFICIENTNET_WIDTH = {"b0": 1280, "b1": 1280, "b2": 1408, "b3": 1536, "b4": 1792, "b5": 2048, "b6": 2304, "b7": 2560}
# name -> (patch size, width, prefix tokens in blocks, blocks without the class token)
TRANSFORMERS = {
    "vision_transformer": (16, 768, 1, 0),
    "vit_b_16": (16, 768, 1, 0),
    "vit_b_32": (32, 768, 1, 0),
    "vit_l_16": (16, 1024, 1, 0),
    "vit_l_32": (32, 1024, 1, 0),
    "vit_h_14": (14, 1280, 1, 0),
    "deit_tiny": (16, 192, 1, 0),
    "deit_small": (16, 384, 1, 0),
    "deit_base": (16, 768, 1, 0),
    "convit_tiny": (16, 192, 1, 10),  # ConViT adds the class token after its 10 GPSA layers
    "convit_small": (16, 432, 1, 10),
    "convit_base": (16, 768, 1, 10),
    "xcit_small_12_p16": (16, 384, 0, 12),  # XCiT adds it in the class-attention layers
    "xcit_medium_24_p16": (16, 512, 0, 24),
    "xcit_large_24_p16": (16, 768, 0, 24),
    "xcit_small_12_p8": (8, 384, 0, 12),
}
# hierarchical timm trunks: name -> first stage width (doubling per stage)
HIERARCHICAL = {"swin_tiny": 96, "swin_small": 96, "swin_base": 128, "convnext_tiny": 96, "convnext_small": 96, "convnext_base": 128, "convnext_large": 192}
RESNET_EXPANSION = {18: 1, 34: 1, 50: 4, 101: 4, 152: 4, 200: 4}


def _kwargs(name: str) -> dict:
    if name == "timm":
        return {"model": "resnet18d"}
    if name == "torchvision":
        return {"model": "mobilenet_v3_small"}
    if name == "regnet":
        return {"depth": 13, "w_0": 24, "w_a": 36.0, "w_m": 2.5, "group_width": 8}
    return {}


def _size(name: str) -> int:
    if name.startswith(("alexnet", "vit", "deit", "convit", "xcit", "swin", "vision_transformer")):
        return 224  # fixed position embeddings / windows, and AlexNet's large strides
    return 64


def _expected(name: str, trunk, b: int, h: int) -> dict[str, tuple[int, ...]] | None:
    """Documented feature shapes for an input [b, 3, h, h]; None where only flatten is checked."""
    if name.startswith(("resnet", "resnext")):
        depth = 50 if name == "resnet" else int(name.removeprefix("resnet").removeprefix("resnext").split("_")[0])
        e = RESNET_EXPANSION[depth]
        return {
            "conv1": (b, 64, h // 2, h // 2),
            "res2": (b, 64 * e, h // 4, h // 4),
            "res3": (b, 128 * e, h // 8, h // 8),
            "res4": (b, 256 * e, h // 16, h // 16),
            "res5": (b, 512 * e, h // 32, h // 32),
            "res5avg": (b, 512 * e, 1, 1),
            "flatten": (b, 512 * e),
        }
    if name.startswith("regnet"):
        d = trunk.num_features
        return {"conv1": (b, 32, h // 2, h // 2), "res5": (b, d, h // 32, h // 32), "res5avg": (b, d, 1, 1), "flatten": (b, d)}
    if name.startswith("efficientnet"):
        d = EFFICIENTNET_WIDTH[name.split("_")[1] if "_" in name else "b0"]
        strides = {"stem": 2, "block1": 2, "block2": 4, "block3": 8, "block4": 16, "block5": 16, "block6": 32, "block7": 32, "conv_head": 32}
        shapes = {k: (h // s, h // s) for k, s in strides.items()}
        got = {k: (b, d, *shapes[k]) for k in ("conv_head",)}
        return {**got, "avgpool": (b, d, 1, 1), "flatten": (b, d)}
    if name in TRANSFORMERS:
        p, d, prefix, no_cls = TRANSFORMERS[name]
        n = (h // p) ** 2
        out = {f"blocks.{i}": (b, n + (prefix if i >= no_cls else 0), d) for i in range(3)}
        return {**out, "norm": (b, n + 1, d), "cls_token": (b, d), "flatten": (b, d)}
    if name in HIERARCHICAL:
        c = HIERARCHICAL[name]
        key, nhwc = ("layers", True) if name.startswith("swin") else ("stages", False)
        out = {}
        for i in range(4):
            side, ch = h // (4 * 2**i), c * 2**i
            out[f"{key}.{i}"] = (b, side, side, ch) if nhwc else (b, ch, side, side)
        return {**out, "flatten": (b, c * 8)}
    if name.startswith("alexnet"):
        from ssl_models.alexnet import ALEXNET_VARIANTS

        v = ALEXNET_VARIANTS[name]
        stride, pad = v.conv1
        s1 = (h + 2 * pad - 11) // stride + 1
        p1 = (s1 - 3) // 2 + 1
        p2 = (p1 - 3) // 2 + 1
        p5 = (p2 - 3) // 2 + 1
        w = v.widths
        return {
            "conv1": (b, w[0], s1, s1),
            "pool1": (b, w[0], p1, p1),
            "conv2": (b, w[1], p1, p1),
            "pool2": (b, w[1], p2, p2),
            "conv5": (b, w[4], p2, p2),
            "pool5": (b, w[4], p5, p5),
            "flatten": (b, w[4] * p5 * p5),
        }
    return None


@pytest.mark.parametrize("name", list_trunks())
def test_every_trunk_builds_and_reports_documented_feature_shapes(name: str) -> None:
    with torch.device("meta"):
        trunk = build_trunk(name, **_kwargs(name))
    h = _size(name)
    x = torch.empty(2, 3, h, h, device="meta")
    names = trunk.feature_names()
    assert names[-1] == "flatten" and trunk.pooled_feature == "flatten"
    feats = trunk.forward_features(x, names)
    assert list(feats) == names
    assert tuple(feats["flatten"].shape) == (2, trunk.num_features)
    expected = _expected(name, trunk, 2, h)
    if expected is not None:
        assert {k: tuple(feats[k].shape) for k in expected} == expected
    assert trunk.name == name


def _small(name: str) -> tuple[dict, int]:
    """The trunk's own options (its preset, full width and depth) and the smallest input side it
    takes (their position embeddings are sized at build time): plain ViTs (ViT, DeiT) get
    ``image_size`` = one patch (a patch token and the class token: every block, weight and
    attention still runs), ConViT and XCiT two patches per side (their local attention and
    patch interaction work on a grid of patches); convnets a 32 px image (every stage still
    runs, at 1x1 at the end; at 16 px two stages run at 1x1, where BatchNorm over a batch of 2
    values gives the deep ResNe(X)ts NaN gradients). A ViT giant's time is its bf16 backward (no
    AVX512-BF16 here: a slow reference kernel), which grows with the number of tokens: two
    patches per side took ViT-H/14 2.7x as long as one."""
    kwargs = _kwargs(name)
    if name in TRANSFORMERS:
        side = TRANSFORMERS[name][0] * (1 if name.startswith(("vit", "vision_transformer", "deit")) else 2)
        return {**kwargs, "image_size": side}, side
    if name.startswith("swin"):
        return {**kwargs, "image_size": 32}, 32
    if name.startswith("alexnet"):
        from ssl_models.alexnet import ALEXNET_VARIANTS

        side = 96 if ALEXNET_VARIANTS[name].conv1 == (4, 0) else 64
        return {**kwargs, "image_size": side}, side
    return kwargs, 32


def _run_fp32_and_bf16(name: str, kwargs: dict, size: int) -> None:
    torch.manual_seed(0)
    trunk = build_trunk(name, **kwargs)
    x = torch.randn(2, 3, size, size)
    # dtypes of every conv/linear output: under autocast they must be bf16 (weights stay fp32)
    seen: list[torch.dtype] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.append(out.dtype))
        for m in trunk.modules()
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))
    ]
    for dtype in (None, torch.bfloat16):
        trunk.zero_grad(set_to_none=True)
        seen.clear()
        with torch.autocast("cpu", dtype=dtype or torch.float32, enabled=dtype is not None):
            feats = trunk.forward_features(x, trunk.feature_names())
        assert seen and set(seen) == {dtype or torch.float32}, f"conv/linear outputs ran in {set(seen)}"
        out = feats["flatten"]
        assert out.shape == (2, trunk.num_features)
        assert all(torch.isfinite(v.float()).all() for v in feats.values())
        out.float().square().mean().backward()
        grads = [p.grad for p in trunk.parameters() if p.requires_grad]
        assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(float(g.abs().sum()) > 0 for g in grads)
    for hook in hooks:
        hook.remove()


# over 100M parameters: tens of seconds each on a 2-core CPU (bf16 matmul backward is slow on AVX2)
_GIANTS = {
    "regnet_y_32gf", "regnet_y_128gf", "regnet_x_32gf", "resnext152_32x8d", "vit_l_16", "vit_l_32", "vit_h_14",
    "xcit_large_24_p16", "convnext_large",
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in _GIANTS else n for n in list_trunks()])
def test_every_trunk_runs_forward_and_backward_on_cpu_in_fp32_and_bf16(name: str) -> None:
    """Each name at its full published size (ViT-H/14 and RegNetY-128GF included), small input."""
    kwargs, size = _small(name)
    _run_fp32_and_bf16(name, kwargs, size)


def test_huge_presets_parameter_counts_on_meta() -> None:
    """Too large to run on CPU in tests; built on the meta device and counted."""
    with torch.device("meta"):
        w5 = build_trunk("resnet200", width_multiplier=5)
        vit_h = build_trunk("vit_h_14")
    # ResNet-200 w5 (SwAV/SimCLR zoo): hundreds of millions of parameters, 10240-d features.
    assert w5.num_features == 10240
    assert 1.0e9 < sum(p.numel() for p in w5.parameters()) < 2.0e9
    # ViT-H/14: 632M with its classifier (1280*1000+1000 = 1.28M): 630.8M without.
    assert math.isclose(sum(p.numel() for p in vit_h.parameters()) / 1e6, 632 - 1.281, abs_tol=1.0)


def test_activation_checkpointing_gives_the_same_gradients() -> None:
    torch.manual_seed(0)
    trunk = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    x = torch.randn(2, 3, 16, 16)
    trunk(x).square().sum().backward()
    ref = [p.grad.clone() for p in trunk.parameters()]
    trunk.zero_grad(set_to_none=True)
    trunk.set_activation_checkpointing(True)
    trunk(x).square().sum().backward()
    for a, b in zip(ref, (p.grad for p in trunk.parameters())):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
