"""Official checkpoints in: MoCo v1/v2, SwAV, DeepCluster-v2, DINO, Barlow Twins (the layouts the
authors' repositories save; ViRB's converters take the MoCo, SwAV and VISSL PIRL ones)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import torch

import ssl_models
from ssl_convert import UnsafeLoadError, convert


def _linear(i: int, o: int, bias: bool = True) -> dict:
    out = {"weight": torch.randn(o, i) / i**0.5}
    if bias:
        out["bias"] = torch.randn(o)
    return out


def _bn1d(n: int, affine: bool = True) -> dict:
    out = {"running_mean": torch.randn(n) * 0.1, "running_var": torch.rand(n) + 0.5, "num_batches_tracked": torch.tensor(3)}
    if affine:
        out.update(weight=torch.rand(n) + 0.5, bias=torch.randn(n) * 0.1)
    return out


def _prefixed(prefix: str, state: dict) -> dict:
    return {f"{prefix}{k}": v for k, v in state.items()}


def _convert_to_ours(tmp_path: Path, obj: object, **kwargs) -> tuple[dict, object]:
    torch.save(obj, tmp_path / "in.pth.tar")
    report = convert(tmp_path / "in.pth.tar", tmp_path / "out.pt", "ssl", **kwargs)
    return ssl_models.load_checkpoint(tmp_path / "out.pt"), report


def _assert_trunk(ckpt: dict, expected: dict) -> None:
    got = ckpt["trunk"]["state_dict"]
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert torch.equal(got[k], v), k


@pytest.mark.parametrize("version", [1, 2])
def test_moco(tmp_path: Path, make_trunk, version: int) -> None:
    q = make_trunk("resnet18", seed=1, width_multiplier=0.25).state_dict()
    k = make_trunk("resnet18", seed=2, width_multiplier=0.25).state_dict()
    if version == 1:
        fc = _prefixed("fc.", _linear(128, 32))
    else:
        fc = {**_prefixed("fc.0.", _linear(128, 128)), **_prefixed("fc.2.", _linear(128, 32))}
    state = {
        **_prefixed("module.encoder_q.", {**q, **fc}),
        **_prefixed("module.encoder_k.", {**k, **fc}),
        "module.queue": torch.randn(32, 64),
        "module.queue_ptr": torch.zeros(1, dtype=torch.long),
    }
    obj = {"epoch": 200, "arch": "resnet50", "state_dict": state, "optimizer": {"state": {}, "param_groups": []}}
    ckpt, report = _convert_to_ours(tmp_path, obj)
    assert report.source_format == "moco"
    _assert_trunk(ckpt, q)
    (head,) = ckpt["heads"]
    assert head["kwargs"]["dims"] == ([128, 32] if version == 1 else [128, 128, 32])
    first = "fc.weight" if version == 1 else "fc.0.weight"
    assert torch.equal(head["state_dict"]["clf.0.weight"], state[f"module.encoder_q.{first}"])
    assert "module.encoder_k.conv1.weight" in report.dropped and "module.queue" in report.dropped


@pytest.mark.parametrize("prototypes", ["swav", "deepcluster_v2"])
def test_swav_and_deepcluster_v2(tmp_path: Path, make_trunk, prototypes: str) -> None:
    trunk = make_trunk("resnet18", width_multiplier=0.25).state_dict()
    proj = {**_prefixed("0.", _linear(128, 64)), **_prefixed("1.", _bn1d(64)), **_prefixed("3.", _linear(64, 16))}
    if prototypes == "swav":
        protos = {"prototypes.weight": torch.randn(30, 16) / 4}
    else:
        protos = {f"prototypes.prototypes{i}.weight": torch.randn(30 + i, 16) / 4 for i in range(3)}
    obj = _prefixed("module.", {**trunk, **_prefixed("projection_head.", proj), **protos})
    ckpt, report = _convert_to_ours(tmp_path, obj)
    assert report.source_format == "swav"
    _assert_trunk(ckpt, trunk)
    heads = ssl_models.checkpoint.heads_from_checkpoint(ckpt)
    assert len(heads) == 1 + len(protos)
    x = torch.randn(4, 128)
    with torch.no_grad():
        z = heads[0].eval()(x)
        # independent reference: Linear -> BN(eval) -> ReLU -> Linear
        h = x @ proj["0.weight"].T + proj["0.bias"]
        h = (h - proj["1.running_mean"]) / torch.sqrt(proj["1.running_var"] + 1e-5) * proj["1.weight"] + proj["1.bias"]
        expected = h.clamp_min(0) @ proj["3.weight"].T + proj["3.bias"]
        torch.testing.assert_close(z, expected, rtol=0, atol=1e-5)
        for head, weight in zip(heads[1:], protos.values()):
            torch.testing.assert_close(head(z), z @ weight.T, rtol=0, atol=1e-5)


def test_dino_teacher_and_student(tmp_path: Path, make_trunk) -> None:
    student = make_trunk("resnet18", seed=1, width_multiplier=0.25).state_dict()
    teacher = make_trunk("resnet18", seed=2, width_multiplier=0.25).state_dict()
    head = {"mlp.0.weight": torch.randn(64, 128), "mlp.0.bias": torch.randn(64), "last_layer.weight_g": torch.ones(100, 1), "last_layer.weight_v": torch.randn(100, 64)}
    obj = {
        "student": _prefixed("module.", {**_prefixed("backbone.", student), **_prefixed("head.", head)}),
        "teacher": {**_prefixed("backbone.", teacher), **_prefixed("head.", head)},
        "epoch": 100,
        "args": argparse.Namespace(arch="resnet50", out_dim=65536),
        "dino_loss": {"center": torch.zeros(1, 100)},
    }
    torch.save(obj, tmp_path / "checkpoint.pth")
    with pytest.raises(UnsafeLoadError, match="argparse.Namespace"):
        convert(tmp_path / "checkpoint.pth", tmp_path / "t.pt", "ssl")
    report = convert(tmp_path / "checkpoint.pth", tmp_path / "t.pt", "ssl", allow_unsafe_load=True)
    assert report.source_format == "dino" and "head.last_layer.weight_v" in report.dropped
    _assert_trunk(ssl_models.load_checkpoint(tmp_path / "t.pt"), teacher)
    convert(tmp_path / "checkpoint.pth", tmp_path / "s.pt", "torchvision", allow_unsafe_load=True, branch="student")
    got = torch.load(tmp_path / "s.pt", weights_only=True)
    assert all(torch.equal(got[k], v) for k, v in student.items())


def test_barlow_twins(tmp_path: Path, make_trunk) -> None:
    trunk = make_trunk("resnet18", width_multiplier=0.25).state_dict()
    projector = {
        **_prefixed("0.", _linear(128, 64, bias=False)), **_prefixed("1.", _bn1d(64)),
        **_prefixed("3.", _linear(64, 64, bias=False)), **_prefixed("4.", _bn1d(64)),
        **_prefixed("6.", _linear(64, 32, bias=False)),
    }  # fmt: skip
    model = _prefixed("module.", {**_prefixed("backbone.", trunk), **_prefixed("projector.", projector), **_prefixed("bn.", _bn1d(32, affine=False))})
    ckpt, report = _convert_to_ours(tmp_path, {"epoch": 1000, "model": model, "optimizer": {"state": {}, "param_groups": []}})
    assert report.source_format == "barlow_twins"
    _assert_trunk(ckpt, trunk)
    (head,) = ckpt["heads"]
    assert head["kwargs"]["dims"] == [128, 64, 64, 32]
    assert head["kwargs"]["use_bn"] and not head["kwargs"]["use_bias"]
    assert "bn.running_mean" in report.dropped
