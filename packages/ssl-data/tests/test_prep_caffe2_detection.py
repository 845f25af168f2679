"""FAIR benchmark pickle steps: jigsaw tower stripping and the Detectron1 pickle with
``absorb_std``, checked against torch's own Conv2d / BatchNorm2d."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ssl_data.prep import prepare
from ssl_data.prep.caffe2_detection import JIGSAW_PIXEL_STD_BGR


def _jigsaw_blobs(rng: np.random.Generator) -> dict[str, np.ndarray]:
    conv1 = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    bn = {k: rng.uniform(0.5, 2.0, size=4).astype(np.float32) for k in ("s", "b", "rm", "riv")}
    blobs: dict[str, np.ndarray] = {"lr": np.float32(0.1), "model_iter": np.int64(7), "fc_w": rng.normal(size=(2, 4)).astype(np.float32)}
    for t in range(3):
        blobs[f"conv1_s{t}_w"] = conv1.copy()
        blobs[f"conv1_s{t}_w_momentum"] = np.zeros_like(conv1)
        for k, v in bn.items():
            blobs[f"res_conv1_bn_s{t}_{k}"] = v.copy()
    blobs["conv1_s2_w"][0, 0, 0, 0] += 1.0  # tower 2 drifted
    return blobs


@pytest.fixture
def model(tmp_path):
    blobs = _jigsaw_blobs(np.random.default_rng(0))
    path = tmp_path / "jigsaw.pkl"
    path.write_bytes(pickle.dumps({"blobs": blobs, "meta": "kept"}, protocol=2))
    return path, blobs


def test_jigsaw_strip_keeps_tower_zero(tmp_path, model) -> None:
    path, blobs = model
    summary = prepare("caffe2_jigsaw_strip", path, tmp_path / "out")
    with open(summary["output"], "rb") as f:
        out = pickle.load(f)
    assert out["meta"] == "kept"
    assert sorted(out["blobs"]) == sorted(["lr", "model_iter", "fc_w", "conv1_w", "conv1_w_momentum"] + [f"res_conv1_bn_{k}" for k in ("s", "b", "rm", "riv")])
    np.testing.assert_array_equal(out["blobs"]["conv1_w"], blobs["conv1_s0_w"])
    assert summary["dropped"] == 12 and summary["towers_differing_from_0"] == ["conv1_s2_w"]


def test_detection_pickle_absorbs_std_and_folds_batch_norm(tmp_path, model) -> None:
    path, blobs = model
    summary = prepare("caffe2_detection", path, tmp_path / "out", absorb_std=True)
    with open(summary["output"], "rb") as f:
        out = pickle.load(f)["blobs"]
    assert not any(n.endswith("_momentum") for n in out) and "lr" not in out and "model_iter" not in out
    assert "res_conv1_bn_rm" not in out and "res_conv1_bn_riv" not in out
    assert summary["std_absorbed_into"] == "conv1_w" and summary["affine_batch_norms"] == 1
    # conv on std-normalised pixels (the pretext) == conv with the absorbed weight on raw pixels (Detectron1)
    x = torch.rand(2, 3, 8, 8) * 255 - 110
    std = torch.tensor(JIGSAW_PIXEL_STD_BGR).view(1, 3, 1, 1)
    w = torch.from_numpy(blobs["conv1_s0_w"])
    torch.testing.assert_close(F.conv2d(x, torch.from_numpy(out["conv1_w"])), F.conv2d(x / std, w), rtol=1e-5, atol=1e-5)
    # AffineChannel == torch's BatchNorm2d in eval mode with the original statistics
    bn = torch.nn.BatchNorm2d(4, eps=1e-5).eval()
    with torch.no_grad():
        for attr, k in (("weight", "s"), ("bias", "b"), ("running_mean", "rm"), ("running_var", "riv")):
            getattr(bn, attr).copy_(torch.from_numpy(blobs[f"res_conv1_bn_s0_{k}"]))
    y = torch.randn(2, 4, 5, 5)
    affine = y * torch.from_numpy(out["res_conv1_bn_s"]).view(1, 4, 1, 1) + torch.from_numpy(out["res_conv1_bn_b"]).view(1, 4, 1, 1)
    torch.testing.assert_close(affine, bn(y), rtol=1e-5, atol=1e-5)
    # without absorb_std the convolution is untouched
    plain = prepare("caffe2_detection", path, tmp_path / "plain")
    with open(plain["output"], "rb") as f:
        np.testing.assert_array_equal(pickle.load(f)["blobs"]["conv1_w"], blobs["conv1_s0_w"])


class _Evil:
    def __reduce__(self):
        return (os.getcwd, ())


@pytest.mark.parametrize(("payload", "message"), [
    (b"not a pickle at all", "is not a pickle of numpy arrays"),
    (pickle.dumps({"blobs": {"x": _Evil()}}), r"refusing to load posix\.getcwd|refusing to load os\.getcwd"),
    (pickle.dumps([1, 2, 3]), "holds a list"),
    (pickle.dumps({"blobs": {}}), "has no blobs"),
    (pickle.dumps({"blobs": {"conv1_w": np.ones((2, 2, 1, 1), np.float32)}}), "has 2 input channels but std has 3"),
])  # fmt: skip
def test_malformed_pickles_are_one_line_errors(tmp_path, payload, message) -> None:
    path = tmp_path / "bad.pkl"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=message) as e:
        prepare("caffe2_detection", path, tmp_path / "out", absorb_std=True)
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_strip_refuses_a_model_without_towers(tmp_path) -> None:
    path = tmp_path / "plain.pkl"
    path.write_bytes(pickle.dumps({"conv1_w": np.ones((2, 3, 1, 1), np.float32)}))
    with pytest.raises(ValueError, match="no jigsaw tower blobs"):
        prepare("caffe2_jigsaw_strip", path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
