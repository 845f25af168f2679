"""Caffe2 AlexNet models of the FAIR self-supervision benchmark -> ssl-models AlexNet trunks.

Blob names are written here from the benchmark's model definitions: ``conv{k}_w``/``_b``;
CaffeNet (supervised) has no batch norm; jigsaw has ``conv{3,4,5}_s{tower}_bn_{s,b,rm,riv}`` and
tower suffixes on every conv; colorization has ``conv{k}norm_*`` after every conv and a
1-channel (L) conv1; fc6-fc8 and pred blobs are the head.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ssl_models
from ssl_convert import FormatError, convert, detect_format

#: conv k -> block index in VISSL's AlexNet ``_feature_blocks`` (conv, pool, conv, pool, conv, conv, conv).
_BLOCK = {1: 0, 2: 2, 3: 4, 4: 5, 5: 6}
_BN = {"weight": "s", "bias": "b", "running_mean": "rm", "running_var": "riv"}


def _blobs(state: dict, conv: str, bn: str) -> dict:
    """Blobs of an ssl-models AlexNet state; ``conv``/``bn`` are name patterns with ``{k}``."""
    blobs = {}
    for k, i in _BLOCK.items():
        blobs[conv.format(k=k) + "_w"] = state[f"_feature_blocks.{i}.0.weight"].numpy().copy()
        blobs[conv.format(k=k) + "_b"] = state[f"_feature_blocks.{i}.0.bias"].numpy().copy()
        if f"_feature_blocks.{i}.1.weight" in state:
            for param, short in _BN.items():
                blobs[bn.format(k=k) + "_" + short] = state[f"_feature_blocks.{i}.1.{param}"].numpy().copy()
    return blobs


def _write(path: Path, obj: object) -> Path:
    path.write_bytes(pickle.dumps(obj, protocol=2))
    return path


def _assert_trunk_equals(path: Path, expected: dict, name: str) -> dict:
    ckpt = ssl_models.load_checkpoint(path)
    assert ckpt["trunk"]["name"] == name
    got = ckpt["trunk"]["state_dict"]
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(got[key], value), key
    return ckpt


def test_caffenet_supervised(tmp_path: Path, make_trunk) -> None:
    state = make_trunk("alexnet_bvlc").state_dict()
    blobs = _blobs(state, "conv{k}", "")
    head = {"fc6_w": (8, 9216), "fc6_b": (8,), "fc7_w": (8, 8), "fc7_b": (8,), "fc8_cls_w": (20, 8), "fc8_cls_b": (20,)}  # narrowed
    blobs.update({k: np.zeros(s, "float32") for k, s in head.items()})
    src = _write(tmp_path / "caffenet.pkl", {"blobs": blobs, "model_iter": np.array(3)})
    assert detect_format(src) == "caffe2"
    report = convert(src, tmp_path / "out.pt", "ssl", verify=True)
    assert set(head) <= set(report.dropped)
    _assert_trunk_equals(tmp_path / "out.pt", state, "alexnet_bvlc")


def test_jigsaw_towers_bgr_to_rgb_and_conv1_output(tmp_path: Path, make_trunk) -> None:
    towers = [make_trunk("alexnet_jigsaw", seed=s).state_dict() for s in range(3)]
    blobs = {}
    for t, state in enumerate(towers):
        blobs.update(_blobs(state, f"conv{{k}}_s{t}", f"conv{{k}}_s{t}_bn"))
    blobs["conv1_s0_w_momentum"] = np.zeros_like(blobs["conv1_s0_w"])
    blobs.update(fc6_w=np.zeros((8, 9216), "float32"), fc6_reshape_bn_s=np.ones(8, "float32"), fc7_s0_w=np.zeros((8, 8), "float32"))
    src = _write(tmp_path / "jigsaw.pkl", blobs)
    report = convert(src, tmp_path / "out.pt", "ssl", bgr_to_rgb=True)
    assert any("_s1_" in k for k in report.dropped) and any("_s2_" in k for k in report.dropped)
    assert {"conv1_s0_w_momentum", "fc6_w", "fc6_reshape_bn_s", "fc7_s0_w"} <= set(report.dropped)
    expected = dict(towers[0])
    expected["_feature_blocks.0.0.weight"] = expected["_feature_blocks.0.0.weight"].flip(1)
    ckpt = _assert_trunk_equals(tmp_path / "out.pt", expected, "alexnet_jigsaw")

    # independent check of the colour swap: Caffe2's conv1 on a BGR image == ours on the RGB image
    trunk = ssl_models.trunk_from_checkpoint(ckpt).eval()
    conv = trunk._feature_blocks[0][0]
    rgb = torch.randn(1, 3, 35, 35, generator=torch.Generator().manual_seed(0))
    w, b = torch.from_numpy(blobs["conv1_s0_w"]), torch.from_numpy(blobs["conv1_s0_b"])
    reference = F.relu(F.conv2d(rgb.flip(1), w, b, stride=conv.stride, padding=conv.padding))
    with torch.no_grad():
        got = trunk.forward_features(rgb, ["conv1"])["conv1"]
    torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)


def test_colorization_model(tmp_path: Path, make_trunk) -> None:
    state = make_trunk("alexnet_colorization").state_dict()
    blobs = _blobs(state, "conv{k}", "conv{k}norm")
    blobs.update(fc6_1_w=np.zeros((8, 256, 6, 6), "float32"), fc6_1_norm_s=np.ones(8, "float32"), fc8_cls_b=np.zeros(3, "float32"))
    src = _write(tmp_path / "color.pkl", {"blobs": blobs})
    report = convert(src, tmp_path / "out.pt", "ssl")
    assert {"fc6_1_w", "fc6_1_norm_s", "fc8_cls_b"} <= set(report.dropped)
    _assert_trunk_equals(tmp_path / "out.pt", state, "alexnet_colorization")
    with pytest.raises(FormatError, match="3 input channels"):
        convert(src, tmp_path / "bgr.pt", "ssl", bgr_to_rgb=True)


def test_unknown_alexnet_blob_is_refused(tmp_path: Path, make_trunk) -> None:
    from ssl_convert import KeyMappingError

    blobs = _blobs(make_trunk("alexnet_bvlc").state_dict(), "conv{k}", "")
    blobs["conv6_w"] = np.zeros((2, 2, 3, 3), "float32")
    with pytest.raises(KeyMappingError, match="conv6_w"):
        convert(_write(tmp_path / "odd.pkl", blobs), tmp_path / "out.pt", "ssl")
    assert not (tmp_path / "out.pt").exists()


@pytest.mark.parametrize("name", ["alexnet_rotnet", "alexnet_deepcluster", "alexnet_colorization"])
def test_alexnet_vissl_round_trip(tmp_path: Path, make_trunk, save_ours, name: str) -> None:
    trunk = make_trunk(name)
    convert(save_ours(trunk), tmp_path / "vissl.torch", "vissl", verify=True)
    convert(tmp_path / "vissl.torch", tmp_path / "back.pt", "ssl")
    _assert_trunk_equals(tmp_path / "back.pt", trunk.state_dict(), name)


def test_vissl_rotnet_without_metadata_is_recognised(tmp_path: Path, make_trunk) -> None:
    """A VISSL model_state_dict (``trunk._feature_blocks.*``, no ssl_convert entry): the variant
    comes from the weights (BN after every conv, 64-channel conv1 -> RotNet)."""
    state = make_trunk("alexnet_rotnet").state_dict()
    torch.save({"model_state_dict": {f"trunk.{k}": v for k, v in state.items()}}, tmp_path / "rotnet.torch")
    report = convert(tmp_path / "rotnet.torch", tmp_path / "out.pt", "ssl")
    assert report.source_format == "vissl"
    _assert_trunk_equals(tmp_path / "out.pt", state, "alexnet_rotnet")


def test_official_rotnet_checkpoint(tmp_path: Path, make_trunk) -> None:
    """RotNet's file: ``network`` with the same ``_feature_blocks`` conv names, plus its fc block
    (index 8: Linear, BN1d, Linear, BN1d after a Flatten) and classifier (index 9)."""
    state = make_trunk("alexnet_rotnet").state_dict()
    extra = {"_feature_blocks.8.1.weight": torch.zeros(8, 9216), "_feature_blocks.8.2.running_mean": torch.zeros(8),
             "_feature_blocks.9.0.weight": torch.zeros(4, 8), "_feature_blocks.9.0.bias": torch.zeros(4)}  # fmt: skip
    torch.save({"epoch": 30, "network": {**state, **extra}}, tmp_path / "model_net_epoch30")
    assert detect_format(tmp_path / "model_net_epoch30") == "rotnet"
    report = convert(tmp_path / "model_net_epoch30", tmp_path / "out.pt", "ssl")
    assert sorted(report.dropped) == sorted(extra)
    _assert_trunk_equals(tmp_path / "out.pt", state, "alexnet_rotnet")


def test_official_deepcluster_checkpoint_runs_like_deepclusters_alexnet(tmp_path: Path, make_trunk, randomise_bn) -> None:
    """DeepCluster's file (``features.module.{i}`` of its conv/BN/ReLU/pool Sequential, ``sobel``,
    ``classifier``, ``top_layer``); the converted trunk's flattened pool5 equals DeepCluster's own
    layer sequence, rebuilt here from its config (96/11/4/2, M, 256/5/1/2, M, 384/3/1/1,
    384/3/1/1, 256/3/1/1, M; BN after every conv) with the file's weights."""
    torch.manual_seed(3)
    layers: list[torch.nn.Module] = []
    cin = 2
    for v in [(96, 11, 4, 2), "M", (256, 5, 1, 2), "M", (384, 3, 1, 1), (384, 3, 1, 1), (256, 3, 1, 1), "M"]:
        if v == "M":
            layers.append(torch.nn.MaxPool2d(3, 2))
        else:
            layers += [torch.nn.Conv2d(cin, v[0], v[1], v[2], v[3]), torch.nn.BatchNorm2d(v[0]), torch.nn.ReLU()]
            cin = v[0]
    features = randomise_bn(torch.nn.Sequential(*layers))
    sobel = make_trunk("alexnet_deepcluster").sobel  # DeepCluster's fixed grey + Sobel filter values
    state = {f"features.module.{k}": v for k, v in features.state_dict().items()}
    state.update({f"sobel.{k}": v for k, v in sobel.state_dict().items()})
    state.update({"classifier.1.weight": torch.zeros(8, 9216), "top_layer.weight": torch.zeros(3, 8), "top_layer.bias": torch.zeros(3)})
    torch.save({"epoch": 400, "arch": "alexnet", "state_dict": state}, tmp_path / "checkpoint.pth.tar")
    assert detect_format(tmp_path / "checkpoint.pth.tar") == "deepcluster"
    report = convert(tmp_path / "checkpoint.pth.tar", tmp_path / "out.pt", "ssl")
    assert report.trunk_name == "alexnet_deepcluster"
    assert {"classifier.1.weight", "top_layer.weight", "top_layer.bias"} <= set(report.dropped)
    trunk = ssl_models.trunk_from_checkpoint(ssl_models.load_checkpoint(tmp_path / "out.pt")).eval()
    x = torch.randn(2, 3, 67, 67)
    with torch.no_grad():
        torch.testing.assert_close(trunk(x), features.eval()(sobel(x)).flatten(1), rtol=0, atol=1e-5)
