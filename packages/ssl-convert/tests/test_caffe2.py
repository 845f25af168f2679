"""Caffe2 (Detectron-era .pkl with blobs) ResNet-50 in: names, jigsaw towers, momentum blobs,
BGR->RGB, affine-only and folded batch norms. Blob names follow the FAIR self-supervision
benchmark's ResNet-50 (res{stage}_{block}_branch2{a,b,c}, branch1, res_conv1_bn, pred)."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

import ssl_models
from ssl_convert import convert, detect_format
from ssl_convert.caffe2_format import BN_EPS, fold_batchnorm

_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}
_CONV = {"1": "2a", "2": "2b", "3": "2c"}


def _c2_name(key: str) -> str | None:
    """torchvision name -> Caffe2 blob name, written from the benchmark's naming."""
    parts = key.split(".")
    if parts[-1] == "num_batches_tracked":
        return None
    if key == "conv1.weight":
        return "conv1_w"
    if parts[0] == "bn1":
        return f"res_conv1_bn_{_BN[parts[1]]}"
    stage, block = int(parts[0][len("layer") :]) + 1, parts[1]
    if parts[2] == "downsample":
        branch, is_bn = "1", parts[3] == "1"
    else:
        branch, is_bn = _CONV[parts[2][-1]], parts[2].startswith("bn")
    base = f"res{stage}_{block}_branch{branch}"
    return f"{base}_bn_{_BN[parts[-1]]}" if is_bn else f"{base}_w"


def _blobs(state: dict) -> dict:
    blobs = {}
    for key, value in state.items():
        name = _c2_name(key)
        if name is not None:
            blobs[name] = value.numpy().copy()
    return blobs


def _write(path: Path, obj: object) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


@pytest.fixture
def r50(make_trunk):
    return make_trunk("resnet50", width_multiplier=0.25)


def test_supervised_style_model(tmp_path: Path, r50) -> None:
    state = r50.state_dict()
    blobs = _blobs(state)
    blobs.update(pred_w=np.zeros((10, 512), "float32"), pred_b=np.zeros(10, "float32"), lr=np.array(0.1), model_iter=np.array(5))
    blobs["conv1_w_momentum"] = np.zeros((16, 3, 7, 7), "float32")
    src = _write(tmp_path / "sup.pkl", {"blobs": blobs})
    assert detect_format(src) == "caffe2"
    report = convert(src, tmp_path / "out.pt", "ssl", verify=True)
    assert {"pred_w", "pred_b", "lr", "model_iter", "conv1_w_momentum"} <= set(report.dropped)
    got = ssl_models.load_checkpoint(tmp_path / "out.pt")["trunk"]["state_dict"]
    for key, value in state.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(got[key], value), key


def test_jigsaw_towers_and_bgr_to_rgb(tmp_path: Path, r50, make_trunk) -> None:
    towers = [r50.state_dict()] + [make_trunk("resnet50", seed=s, width_multiplier=0.25).state_dict() for s in (1, 2)]
    blobs = {}
    for t, state in enumerate(towers):
        for name, value in _blobs(state).items():
            stem, _, last = name.rpartition("_bn_") if "_bn_" in name else name.rpartition("_")
            sep = "_bn_" if "_bn_" in name else "_"
            blobs[f"{stem}_s{t}{sep}{last}"] = value
    src = _write(tmp_path / "jigsaw.pkl", {"blobs": blobs})
    report = convert(src, tmp_path / "out.pt", "ssl", bgr_to_rgb=True)
    assert any("_s1_" in k for k in report.dropped) and any("_s2_" in k for k in report.dropped)
    got = ssl_models.load_checkpoint(tmp_path / "out.pt")["trunk"]["state_dict"]
    expected = towers[0]
    assert torch.equal(got["conv1.weight"][:, 0], expected["conv1.weight"][:, 2])
    assert torch.equal(got["conv1.weight"][:, 2], expected["conv1.weight"][:, 0])
    assert torch.equal(got["layer4.2.bn3.running_var"], expected["layer4.2.bn3.running_var"])


def test_affine_only_norms_act_as_affine(tmp_path: Path, r50) -> None:
    blobs = {k: v for k, v in _blobs(r50.state_dict()).items() if not k.endswith(("_bn_rm", "_bn_riv"))}
    src = _write(tmp_path / "affine.pkl", blobs)
    convert(src, tmp_path / "out.pt", "ssl")
    trunk = ssl_models.trunk_from_checkpoint(ssl_models.load_checkpoint(tmp_path / "out.pt")).eval()
    x = torch.randn(2, 16, 5, 5)
    s, b = blobs["res_conv1_bn_s"], blobs["res_conv1_bn_b"]
    expected = x.numpy() * s[None, :, None, None] + b[None, :, None, None]
    with torch.no_grad():
        np.testing.assert_allclose(trunk.bn1(x).numpy(), expected, rtol=0, atol=1e-5)


def test_fold_batchnorm_is_the_same_map(r50) -> None:
    state = r50.state_dict()
    folded = fold_batchnorm(state)
    x = np.random.default_rng(0).normal(size=(2, 16, 4, 4)).astype("float32")
    w, b = state["bn1.weight"].numpy(), state["bn1.bias"].numpy()
    m, v = state["bn1.running_mean"].numpy(), state["bn1.running_var"].numpy()
    expected = (x - m[None, :, None, None]) / np.sqrt(v[None, :, None, None] + BN_EPS) * w[None, :, None, None] + b[None, :, None, None]
    bn = torch.nn.BatchNorm2d(16, eps=BN_EPS).eval()
    bn.load_state_dict({k[len("bn1.") :]: val for k, val in folded.items() if k.startswith("bn1.")})
    with torch.no_grad():
        np.testing.assert_allclose(bn(torch.from_numpy(x)).numpy(), expected, rtol=0, atol=1e-5)
    assert torch.all(folded["bn1.running_mean"] == 0)
