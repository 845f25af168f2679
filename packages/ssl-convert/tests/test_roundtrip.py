"""ours -> X -> ours is bit-identical for every writable format, on ResNet-50, a ResNeXt and w2
ResNets; the architecture comes back (from the file's metadata or from the weight shapes)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ssl_models
from ssl_convert import convert, detect_format
from ssl_convert.classy_format import classy_to_ours, ours_to_classy
from ssl_convert.resnet_arch import infer_resnet
from ssl_convert.timm_format import ours_to_timm, timm_to_ours
from ssl_convert.torchvision_format import ours_to_torchvision, torchvision_to_ours
from ssl_convert.vissl_format import ours_to_vissl_trunk, vissl_trunk_to_ours

FORMATS = ("torchvision", "timm", "vissl", "classy", "ssl")


def _assert_same_trunk(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory, make_trunk_module):
    """``sources(name, **kwargs) -> (trunk, our checkpoint file)``, built once per module."""
    cache: dict[str, tuple] = {}

    def get(name: str, **kwargs: object) -> tuple:
        key = f"{name}-{sorted(kwargs.items())}"
        if key not in cache:
            trunk = make_trunk_module(name, **kwargs)
            path = tmp_path_factory.mktemp("src") / "ours.pt"
            cache[key] = (trunk, ssl_models.save_checkpoint(ssl_models.model_payload(trunk), path))
        return cache[key]

    return get


def _round_trip(tmp_path: Path, src: Path, to: str, verify: bool = False) -> dict:
    mid = tmp_path / f"mid_{to}.pt"
    convert(src, mid, to, verify=verify)
    back = tmp_path / f"back_{to}.pt"
    report = convert(mid, back, "ssl")
    assert report.source_format == ("ssl" if to == "ssl" else "torchvision" if to == "timm" else to)
    return ssl_models.load_checkpoint(back)


@pytest.mark.parametrize("to", FORMATS)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("resnet50", {}), ("resnext50_32x4d", {"width_multiplier": 0.25})],
    ids=["resnet50", "resnext50_32x4d-w0.25"],
)
def test_file_round_trip_is_bit_identical(tmp_path: Path, sources, to: str, name: str, kwargs: dict) -> None:
    """Full-size ResNet-50 through files (no forward pass); the small ResNeXt also verified."""
    trunk, src = sources(name, **kwargs)
    back = _round_trip(tmp_path, src, to, verify=name != "resnet50")
    _assert_same_trunk(trunk.state_dict(), back["trunk"]["state_dict"])
    assert back["trunk"]["name"] == name
    assert {k: float(v) for k, v in back["trunk"]["kwargs"].items()} == {k: float(v) for k, v in kwargs.items()}
    ssl_models.trunk_from_checkpoint(back)  # builds and loads strictly


def test_vissl_round_trip_keeps_heads_and_kwargs(tmp_path: Path, save_ours, make_trunk) -> None:
    trunk = make_trunk("resnet18", width_multiplier=0.25, small_input=True)
    heads = [ssl_models.MLPHead([128, 64, 16], use_bn=True), ssl_models.MLPHead([16, 30], use_bias=False)]
    src = save_ours(trunk, heads)
    back = _round_trip(tmp_path, src, "vissl")
    assert back["trunk"]["kwargs"] == {"width_multiplier": 0.25, "small_input": True}
    assert [h["kwargs"] for h in back["heads"]] == [h.kwargs for h in heads]
    for h, entry in zip(heads, back["heads"]):
        _assert_same_trunk(h.state_dict(), entry["state_dict"])


@pytest.mark.slow
def test_resnet50_w2_vissl_file_round_trip(tmp_path: Path, save_ours) -> None:
    """The real VISSL/SwAV w2 shape (94M parameters) through files: the slowest test here."""
    trunk = ssl_models.build_trunk("resnet50", width_multiplier=2)
    src = save_ours(trunk)
    back = _round_trip(tmp_path, src, "vissl")
    _assert_same_trunk(trunk.state_dict(), back["trunk"]["state_dict"])
    assert detect_format(tmp_path / "mid_vissl.pt") == "vissl"


@pytest.mark.parametrize(
    ("forward", "backward"),
    [
        (ours_to_torchvision, torchvision_to_ours),
        (ours_to_timm, timm_to_ours),
        (ours_to_vissl_trunk, vissl_trunk_to_ours),
        (ours_to_classy, classy_to_ours),
    ],
    ids=["torchvision", "timm", "vissl", "classy"],
)
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("resnet50", {"width_multiplier": 2}), ("resnext50_32x4d", {}), ("resnext101_32x8d", {}), ("resnet200", {"width_multiplier": 4})],
)
def test_key_maps_round_trip_full_size_on_meta(forward, backward, name: str, kwargs: dict) -> None:
    """Full-size shapes (ResNet-50 w2, ResNeXt-101 32x8d) without allocating them: meta tensors."""
    with torch.device("meta"):
        state = ssl_models.build_trunk(name, **kwargs).state_dict()
    there = forward(state)
    assert not there.unconverted and not there.dropped
    assert len(set(there.state)) == len(state)
    back = backward(there.state)
    assert not back.unconverted and not back.dropped
    assert list(back.state) == list(state)
    assert all(back.state[k].shape == state[k].shape for k in state)
    assert infer_resnet(back.state) == (name, {k: float(v) for k, v in kwargs.items()})


_VIT = {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 32, "mlp_dim": 64, "qkv_bias": True}


@pytest.mark.parametrize("to", ["torchvision", "timm", "vissl", "ssl"])
def test_vit_file_round_trip_is_bit_identical(tmp_path: Path, save_ours, to: str) -> None:
    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("vision_transformer", **_VIT)
    src = save_ours(trunk)
    mid = tmp_path / "mid.pt"
    convert(src, mid, to, verify=True)
    # num_heads is not visible in ViT weights: files without our metadata need it given
    convert(mid, tmp_path / "back.pt", "ssl", arch_kwargs={"num_heads": 2})
    back = ssl_models.load_checkpoint(tmp_path / "back.pt")
    _assert_same_trunk(trunk.state_dict(), back["trunk"]["state_dict"])
    assert back["trunk"]["kwargs"] == _VIT


def test_timm_vit_weights_run_identically_in_torchvision() -> None:
    """Independent check of the ViT key table: timm's and torchvision's own ViT implementations
    give the same class-token features once the weights are renamed."""
    from timm.models.vision_transformer import VisionTransformer as TimmViT
    from torchvision.models.vision_transformer import VisionTransformer as TorchvisionViT

    from ssl_convert.vit_keys import timm_vit_to_torchvision, torchvision_vit_to_timm

    torch.manual_seed(0)
    timm_vit = TimmViT(img_size=32, patch_size=8, embed_dim=48, depth=3, num_heads=3, mlp_ratio=2.0, qkv_bias=True, num_classes=0).eval()
    tv_vit = TorchvisionViT(image_size=32, patch_size=8, num_layers=3, num_heads=3, hidden_dim=48, mlp_dim=96).eval()
    tv_vit.heads = torch.nn.Identity()
    mapped = timm_vit_to_torchvision(timm_vit.state_dict())
    assert not mapped.unconverted and not mapped.dropped
    tv_vit.load_state_dict(mapped.state, strict=True)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(tv_vit(x), timm_vit(x), rtol=0, atol=1e-5)
    back = torchvision_vit_to_timm(tv_vit.state_dict())
    _assert_same_trunk(timm_vit.state_dict(), back.state)


def test_vit_without_qkv_bias_to_torchvision_gets_zero_biases(tmp_path: Path, save_ours) -> None:
    """VISSL's default ViT has no qkv bias; torchvision's attention always has one: zeros."""
    trunk = ssl_models.build_trunk("vision_transformer", **{**_VIT, "qkv_bias": False})
    report = convert(save_ours(trunk), tmp_path / "tv.pth", "torchvision", verify=True)
    assert report.max_abs_diff < 1e-5
    state = torch.load(tmp_path / "tv.pth", weights_only=True)
    assert torch.all(state["encoder.layers.encoder_layer_0.self_attention.in_proj_bias"] == 0)


def test_regnet_torchvision_round_trip(tmp_path: Path, save_ours) -> None:
    trunk = ssl_models.build_trunk("regnet_x_400mf")
    src = save_ours(trunk)
    report = convert(src, tmp_path / "tv.pth", "torchvision", verify=True)
    assert report.max_abs_diff < 1e-5
    convert(tmp_path / "tv.pth", tmp_path / "back.pt", "ssl")
    back = ssl_models.load_checkpoint(tmp_path / "back.pt")
    assert back["trunk"]["name"] == "regnet_x_400mf"
    _assert_same_trunk(trunk.state_dict(), back["trunk"]["state_dict"])
