"""VISSL checkpoints in: every layout, and a VISSL ResNet-50 converted to torchvision runs like our
trunk in torchvision's own ResNet-50."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision

import ssl_models
from ssl_convert import KeyMappingError, convert, detect_format


def _vissl_classy(trunk_state: dict, heads: dict | None = None) -> dict:
    # VISSL's layout, written by hand: classy_state_dict -> base_model -> model -> trunk/heads
    trunk = {f"_feature_blocks.{k}": v for k, v in trunk_state.items()}
    return {
        "classy_state_dict": {"base_model": {"model": {"trunk": trunk, "heads": heads or {}}}},
        "phase_idx": 3,
        "iteration": 1000,
    }


def test_vissl_resnet50_to_torchvision_matches_our_trunk(tmp_path: Path, make_trunk) -> None:
    trunk = make_trunk("resnet50")
    torch.save(_vissl_classy(trunk.state_dict()), tmp_path / "vissl.torch")
    report = convert(tmp_path / "vissl.torch", tmp_path / "tv.pth", "torchvision")
    assert report.source_format == "vissl" and report.source_detected
    reference = torchvision.models.resnet50()
    reference.fc = torch.nn.Identity()
    reference.load_state_dict(torch.load(tmp_path / "tv.pth", weights_only=True), strict=True)
    reference.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(reference(x), trunk(x), rtol=0, atol=1e-5)


@pytest.mark.parametrize("layout", ["classy_state_dict", "model_state_dict", "flat", "flat_trunk_prefix"])
def test_every_vissl_layout_is_found(tmp_path: Path, make_trunk, layout: str) -> None:
    trunk = make_trunk("resnet18", width_multiplier=0.25)
    state = trunk.state_dict()
    head = {"0.clf.0.weight": torch.randn(10, 128), "0.clf.0.bias": torch.randn(10)}
    if layout == "classy_state_dict":
        obj = _vissl_classy(state, head)
    elif layout == "model_state_dict":
        flat = {f"trunk._feature_blocks.{k}": v for k, v in state.items()}
        obj = {"model_state_dict": {**flat, **{f"heads.{k}": v for k, v in head.items()}}}
    elif layout == "flat":
        obj = {f"_feature_blocks.{k}": v for k, v in state.items()}
    else:
        obj = {f"trunk.base_model._feature_blocks.{k}": v for k, v in state.items()}
    torch.save(obj, tmp_path / "in.torch")
    assert detect_format(tmp_path / "in.torch") == "vissl"
    convert(tmp_path / "in.torch", tmp_path / "out.pt", "ssl", verify=True)
    out = ssl_models.load_checkpoint(tmp_path / "out.pt")
    for key, value in state.items():
        assert torch.equal(out["trunk"]["state_dict"][key], value), key
    if layout in ("classy_state_dict", "model_state_dict"):
        (entry,) = out["heads"]
        assert entry["name"] == "mlp" and entry["kwargs"]["dims"] == [128, 10]
        assert torch.equal(entry["state_dict"]["clf.0.weight"], head["0.clf.0.weight"])


def test_pirl_style_vissl_checkpoint_keeps_its_mlp_head(tmp_path: Path, make_trunk) -> None:
    """PIRL / SimCLR heads in VISSL: Linear-BN-ReLU-Linear under <index>.clf."""
    trunk = make_trunk("resnet18", width_multiplier=0.25)
    head = ssl_models.MLPHead([128, 64, 16], use_bn=True).eval()
    with torch.no_grad():
        head.clf[1].running_mean.normal_()
    heads = {f"0.{k}": v for k, v in head.state_dict().items()}
    torch.save(_vissl_classy(trunk.state_dict(), heads), tmp_path / "pirl.torch")
    convert(tmp_path / "pirl.torch", tmp_path / "out.pt", "ssl")
    (rebuilt,) = ssl_models.checkpoint.heads_from_checkpoint(ssl_models.load_checkpoint(tmp_path / "out.pt"))
    rebuilt.eval()
    x = torch.randn(4, 128)
    # independent reference: Linear -> BatchNorm (eval) -> ReLU -> Linear written out
    w0, b0 = heads["0.clf.0.weight"], heads["0.clf.0.bias"]
    mean, var = heads["0.clf.1.running_mean"], heads["0.clf.1.running_var"]
    gamma, beta = heads["0.clf.1.weight"], heads["0.clf.1.bias"]
    h = x @ w0.T + b0
    h = ((h - mean) / torch.sqrt(var + 1e-5) * gamma + beta).clamp_min(0)
    expected = h @ heads["0.clf.3.weight"].T + heads["0.clf.3.bias"]
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), expected, rtol=0, atol=1e-5)


def test_duplicate_trunk_keys_collide(tmp_path: Path, make_trunk) -> None:
    state = make_trunk("resnet18", width_multiplier=0.25).state_dict()
    obj = {f"trunk._feature_blocks.{k}": v for k, v in state.items()}
    obj["_feature_blocks.conv1.weight"] = state["conv1.weight"]
    torch.save(obj, tmp_path / "dup.torch")
    with pytest.raises(KeyMappingError, match="would both become 'conv1.weight'"):
        convert(tmp_path / "dup.torch", tmp_path / "out.pt", "ssl")
    assert not (tmp_path / "out.pt").exists()
