"""ssl -> detectron2: a plain pickle holding exactly detectron2's R50 backbone keys.

The expected keys and shapes below are written out from detectron2's documented ResNet naming
(``build_resnet_backbone``: ``stem.conv1`` with ``.norm``, ``res2``..``res5`` of 3/4/6/3
bottleneck blocks with ``conv1..3`` each followed by ``.norm``, ``shortcut`` on the first block,
FrozenBN buffers ``weight``/``bias``/``running_mean``/``running_var``); they are not produced by
ssl-convert.
"""

from __future__ import annotations

import pickle
import pickletools
from pathlib import Path

import numpy as np
import pytest
import torch

import ssl_models
from ssl_convert import FormatError, convert

D2_R50_BACKBONE = [
    ("stem.conv1.weight", (64, 3, 7, 7)),
    ("stem.conv1.norm.weight", (64,)),
    ("stem.conv1.norm.bias", (64,)),
    ("stem.conv1.norm.running_mean", (64,)),
    ("stem.conv1.norm.running_var", (64,)),
    ("res2.0.shortcut.weight", (256, 64, 1, 1)),
    ("res2.0.shortcut.norm.weight", (256,)),
    ("res2.0.shortcut.norm.bias", (256,)),
    ("res2.0.shortcut.norm.running_mean", (256,)),
    ("res2.0.shortcut.norm.running_var", (256,)),
    ("res2.0.conv1.weight", (64, 64, 1, 1)),
    ("res2.0.conv1.norm.weight", (64,)),
    ("res2.0.conv1.norm.bias", (64,)),
    ("res2.0.conv1.norm.running_mean", (64,)),
    ("res2.0.conv1.norm.running_var", (64,)),
    ("res2.0.conv2.weight", (64, 64, 3, 3)),
    ("res2.0.conv2.norm.weight", (64,)),
    ("res2.0.conv2.norm.bias", (64,)),
    ("res2.0.conv2.norm.running_mean", (64,)),
    ("res2.0.conv2.norm.running_var", (64,)),
    ("res2.0.conv3.weight", (256, 64, 1, 1)),
    ("res2.0.conv3.norm.weight", (256,)),
    ("res2.0.conv3.norm.bias", (256,)),
    ("res2.0.conv3.norm.running_mean", (256,)),
    ("res2.0.conv3.norm.running_var", (256,)),
    ("res2.1.conv1.weight", (64, 256, 1, 1)),
    ("res2.1.conv1.norm.weight", (64,)),
    ("res2.1.conv1.norm.bias", (64,)),
    ("res2.1.conv1.norm.running_mean", (64,)),
    ("res2.1.conv1.norm.running_var", (64,)),
    ("res2.1.conv2.weight", (64, 64, 3, 3)),
    ("res2.1.conv2.norm.weight", (64,)),
    ("res2.1.conv2.norm.bias", (64,)),
    ("res2.1.conv2.norm.running_mean", (64,)),
    ("res2.1.conv2.norm.running_var", (64,)),
    ("res2.1.conv3.weight", (256, 64, 1, 1)),
    ("res2.1.conv3.norm.weight", (256,)),
    ("res2.1.conv3.norm.bias", (256,)),
    ("res2.1.conv3.norm.running_mean", (256,)),
    ("res2.1.conv3.norm.running_var", (256,)),
    ("res2.2.conv1.weight", (64, 256, 1, 1)),
    ("res2.2.conv1.norm.weight", (64,)),
    ("res2.2.conv1.norm.bias", (64,)),
    ("res2.2.conv1.norm.running_mean", (64,)),
    ("res2.2.conv1.norm.running_var", (64,)),
    ("res2.2.conv2.weight", (64, 64, 3, 3)),
    ("res2.2.conv2.norm.weight", (64,)),
    ("res2.2.conv2.norm.bias", (64,)),
    ("res2.2.conv2.norm.running_mean", (64,)),
    ("res2.2.conv2.norm.running_var", (64,)),
    ("res2.2.conv3.weight", (256, 64, 1, 1)),
    ("res2.2.conv3.norm.weight", (256,)),
    ("res2.2.conv3.norm.bias", (256,)),
    ("res2.2.conv3.norm.running_mean", (256,)),
    ("res2.2.conv3.norm.running_var", (256,)),
    ("res3.0.shortcut.weight", (512, 256, 1, 1)),
    ("res3.0.shortcut.norm.weight", (512,)),
    ("res3.0.shortcut.norm.bias", (512,)),
    ("res3.0.shortcut.norm.running_mean", (512,)),
    ("res3.0.shortcut.norm.running_var", (512,)),
    ("res3.0.conv1.weight", (128, 256, 1, 1)),
    ("res3.0.conv1.norm.weight", (128,)),
    ("res3.0.conv1.norm.bias", (128,)),
    ("res3.0.conv1.norm.running_mean", (128,)),
    ("res3.0.conv1.norm.running_var", (128,)),
    ("res3.0.conv2.weight", (128, 128, 3, 3)),
    ("res3.0.conv2.norm.weight", (128,)),
    ("res3.0.conv2.norm.bias", (128,)),
    ("res3.0.conv2.norm.running_mean", (128,)),
    ("res3.0.conv2.norm.running_var", (128,)),
    ("res3.0.conv3.weight", (512, 128, 1, 1)),
    ("res3.0.conv3.norm.weight", (512,)),
    ("res3.0.conv3.norm.bias", (512,)),
    ("res3.0.conv3.norm.running_mean", (512,)),
    ("res3.0.conv3.norm.running_var", (512,)),
    ("res3.1.conv1.weight", (128, 512, 1, 1)),
    ("res3.1.conv1.norm.weight", (128,)),
    ("res3.1.conv1.norm.bias", (128,)),
    ("res3.1.conv1.norm.running_mean", (128,)),
    ("res3.1.conv1.norm.running_var", (128,)),
    ("res3.1.conv2.weight", (128, 128, 3, 3)),
    ("res3.1.conv2.norm.weight", (128,)),
    ("res3.1.conv2.norm.bias", (128,)),
    ("res3.1.conv2.norm.running_mean", (128,)),
    ("res3.1.conv2.norm.running_var", (128,)),
    ("res3.1.conv3.weight", (512, 128, 1, 1)),
    ("res3.1.conv3.norm.weight", (512,)),
    ("res3.1.conv3.norm.bias", (512,)),
    ("res3.1.conv3.norm.running_mean", (512,)),
    ("res3.1.conv3.norm.running_var", (512,)),
    ("res3.2.conv1.weight", (128, 512, 1, 1)),
    ("res3.2.conv1.norm.weight", (128,)),
    ("res3.2.conv1.norm.bias", (128,)),
    ("res3.2.conv1.norm.running_mean", (128,)),
    ("res3.2.conv1.norm.running_var", (128,)),
    ("res3.2.conv2.weight", (128, 128, 3, 3)),
    ("res3.2.conv2.norm.weight", (128,)),
    ("res3.2.conv2.norm.bias", (128,)),
    ("res3.2.conv2.norm.running_mean", (128,)),
    ("res3.2.conv2.norm.running_var", (128,)),
    ("res3.2.conv3.weight", (512, 128, 1, 1)),
    ("res3.2.conv3.norm.weight", (512,)),
    ("res3.2.conv3.norm.bias", (512,)),
    ("res3.2.conv3.norm.running_mean", (512,)),
    ("res3.2.conv3.norm.running_var", (512,)),
    ("res3.3.conv1.weight", (128, 512, 1, 1)),
    ("res3.3.conv1.norm.weight", (128,)),
    ("res3.3.conv1.norm.bias", (128,)),
    ("res3.3.conv1.norm.running_mean", (128,)),
    ("res3.3.conv1.norm.running_var", (128,)),
    ("res3.3.conv2.weight", (128, 128, 3, 3)),
    ("res3.3.conv2.norm.weight", (128,)),
    ("res3.3.conv2.norm.bias", (128,)),
    ("res3.3.conv2.norm.running_mean", (128,)),
    ("res3.3.conv2.norm.running_var", (128,)),
    ("res3.3.conv3.weight", (512, 128, 1, 1)),
    ("res3.3.conv3.norm.weight", (512,)),
    ("res3.3.conv3.norm.bias", (512,)),
    ("res3.3.conv3.norm.running_mean", (512,)),
    ("res3.3.conv3.norm.running_var", (512,)),
    ("res4.0.shortcut.weight", (1024, 512, 1, 1)),
    ("res4.0.shortcut.norm.weight", (1024,)),
    ("res4.0.shortcut.norm.bias", (1024,)),
    ("res4.0.shortcut.norm.running_mean", (1024,)),
    ("res4.0.shortcut.norm.running_var", (1024,)),
    ("res4.0.conv1.weight", (256, 512, 1, 1)),
    ("res4.0.conv1.norm.weight", (256,)),
    ("res4.0.conv1.norm.bias", (256,)),
    ("res4.0.conv1.norm.running_mean", (256,)),
    ("res4.0.conv1.norm.running_var", (256,)),
    ("res4.0.conv2.weight", (256, 256, 3, 3)),
    ("res4.0.conv2.norm.weight", (256,)),
    ("res4.0.conv2.norm.bias", (256,)),
    ("res4.0.conv2.norm.running_mean", (256,)),
    ("res4.0.conv2.norm.running_var", (256,)),
    ("res4.0.conv3.weight", (1024, 256, 1, 1)),
    ("res4.0.conv3.norm.weight", (1024,)),
    ("res4.0.conv3.norm.bias", (1024,)),
    ("res4.0.conv3.norm.running_mean", (1024,)),
    ("res4.0.conv3.norm.running_var", (1024,)),
    ("res4.1.conv1.weight", (256, 1024, 1, 1)),
    ("res4.1.conv1.norm.weight", (256,)),
    ("res4.1.conv1.norm.bias", (256,)),
    ("res4.1.conv1.norm.running_mean", (256,)),
    ("res4.1.conv1.norm.running_var", (256,)),
    ("res4.1.conv2.weight", (256, 256, 3, 3)),
    ("res4.1.conv2.norm.weight", (256,)),
    ("res4.1.conv2.norm.bias", (256,)),
    ("res4.1.conv2.norm.running_mean", (256,)),
    ("res4.1.conv2.norm.running_var", (256,)),
    ("res4.1.conv3.weight", (1024, 256, 1, 1)),
    ("res4.1.conv3.norm.weight", (1024,)),
    ("res4.1.conv3.norm.bias", (1024,)),
    ("res4.1.conv3.norm.running_mean", (1024,)),
    ("res4.1.conv3.norm.running_var", (1024,)),
    ("res4.2.conv1.weight", (256, 1024, 1, 1)),
    ("res4.2.conv1.norm.weight", (256,)),
    ("res4.2.conv1.norm.bias", (256,)),
    ("res4.2.conv1.norm.running_mean", (256,)),
    ("res4.2.conv1.norm.running_var", (256,)),
    ("res4.2.conv2.weight", (256, 256, 3, 3)),
    ("res4.2.conv2.norm.weight", (256,)),
    ("res4.2.conv2.norm.bias", (256,)),
    ("res4.2.conv2.norm.running_mean", (256,)),
    ("res4.2.conv2.norm.running_var", (256,)),
    ("res4.2.conv3.weight", (1024, 256, 1, 1)),
    ("res4.2.conv3.norm.weight", (1024,)),
    ("res4.2.conv3.norm.bias", (1024,)),
    ("res4.2.conv3.norm.running_mean", (1024,)),
    ("res4.2.conv3.norm.running_var", (1024,)),
    ("res4.3.conv1.weight", (256, 1024, 1, 1)),
    ("res4.3.conv1.norm.weight", (256,)),
    ("res4.3.conv1.norm.bias", (256,)),
    ("res4.3.conv1.norm.running_mean", (256,)),
    ("res4.3.conv1.norm.running_var", (256,)),
    ("res4.3.conv2.weight", (256, 256, 3, 3)),
    ("res4.3.conv2.norm.weight", (256,)),
    ("res4.3.conv2.norm.bias", (256,)),
    ("res4.3.conv2.norm.running_mean", (256,)),
    ("res4.3.conv2.norm.running_var", (256,)),
    ("res4.3.conv3.weight", (1024, 256, 1, 1)),
    ("res4.3.conv3.norm.weight", (1024,)),
    ("res4.3.conv3.norm.bias", (1024,)),
    ("res4.3.conv3.norm.running_mean", (1024,)),
    ("res4.3.conv3.norm.running_var", (1024,)),
    ("res4.4.conv1.weight", (256, 1024, 1, 1)),
    ("res4.4.conv1.norm.weight", (256,)),
    ("res4.4.conv1.norm.bias", (256,)),
    ("res4.4.conv1.norm.running_mean", (256,)),
    ("res4.4.conv1.norm.running_var", (256,)),
    ("res4.4.conv2.weight", (256, 256, 3, 3)),
    ("res4.4.conv2.norm.weight", (256,)),
    ("res4.4.conv2.norm.bias", (256,)),
    ("res4.4.conv2.norm.running_mean", (256,)),
    ("res4.4.conv2.norm.running_var", (256,)),
    ("res4.4.conv3.weight", (1024, 256, 1, 1)),
    ("res4.4.conv3.norm.weight", (1024,)),
    ("res4.4.conv3.norm.bias", (1024,)),
    ("res4.4.conv3.norm.running_mean", (1024,)),
    ("res4.4.conv3.norm.running_var", (1024,)),
    ("res4.5.conv1.weight", (256, 1024, 1, 1)),
    ("res4.5.conv1.norm.weight", (256,)),
    ("res4.5.conv1.norm.bias", (256,)),
    ("res4.5.conv1.norm.running_mean", (256,)),
    ("res4.5.conv1.norm.running_var", (256,)),
    ("res4.5.conv2.weight", (256, 256, 3, 3)),
    ("res4.5.conv2.norm.weight", (256,)),
    ("res4.5.conv2.norm.bias", (256,)),
    ("res4.5.conv2.norm.running_mean", (256,)),
    ("res4.5.conv2.norm.running_var", (256,)),
    ("res4.5.conv3.weight", (1024, 256, 1, 1)),
    ("res4.5.conv3.norm.weight", (1024,)),
    ("res4.5.conv3.norm.bias", (1024,)),
    ("res4.5.conv3.norm.running_mean", (1024,)),
    ("res4.5.conv3.norm.running_var", (1024,)),
    ("res5.0.shortcut.weight", (2048, 1024, 1, 1)),
    ("res5.0.shortcut.norm.weight", (2048,)),
    ("res5.0.shortcut.norm.bias", (2048,)),
    ("res5.0.shortcut.norm.running_mean", (2048,)),
    ("res5.0.shortcut.norm.running_var", (2048,)),
    ("res5.0.conv1.weight", (512, 1024, 1, 1)),
    ("res5.0.conv1.norm.weight", (512,)),
    ("res5.0.conv1.norm.bias", (512,)),
    ("res5.0.conv1.norm.running_mean", (512,)),
    ("res5.0.conv1.norm.running_var", (512,)),
    ("res5.0.conv2.weight", (512, 512, 3, 3)),
    ("res5.0.conv2.norm.weight", (512,)),
    ("res5.0.conv2.norm.bias", (512,)),
    ("res5.0.conv2.norm.running_mean", (512,)),
    ("res5.0.conv2.norm.running_var", (512,)),
    ("res5.0.conv3.weight", (2048, 512, 1, 1)),
    ("res5.0.conv3.norm.weight", (2048,)),
    ("res5.0.conv3.norm.bias", (2048,)),
    ("res5.0.conv3.norm.running_mean", (2048,)),
    ("res5.0.conv3.norm.running_var", (2048,)),
    ("res5.1.conv1.weight", (512, 2048, 1, 1)),
    ("res5.1.conv1.norm.weight", (512,)),
    ("res5.1.conv1.norm.bias", (512,)),
    ("res5.1.conv1.norm.running_mean", (512,)),
    ("res5.1.conv1.norm.running_var", (512,)),
    ("res5.1.conv2.weight", (512, 512, 3, 3)),
    ("res5.1.conv2.norm.weight", (512,)),
    ("res5.1.conv2.norm.bias", (512,)),
    ("res5.1.conv2.norm.running_mean", (512,)),
    ("res5.1.conv2.norm.running_var", (512,)),
    ("res5.1.conv3.weight", (2048, 512, 1, 1)),
    ("res5.1.conv3.norm.weight", (2048,)),
    ("res5.1.conv3.norm.bias", (2048,)),
    ("res5.1.conv3.norm.running_mean", (2048,)),
    ("res5.1.conv3.norm.running_var", (2048,)),
    ("res5.2.conv1.weight", (512, 2048, 1, 1)),
    ("res5.2.conv1.norm.weight", (512,)),
    ("res5.2.conv1.norm.bias", (512,)),
    ("res5.2.conv1.norm.running_mean", (512,)),
    ("res5.2.conv1.norm.running_var", (512,)),
    ("res5.2.conv2.weight", (512, 512, 3, 3)),
    ("res5.2.conv2.norm.weight", (512,)),
    ("res5.2.conv2.norm.bias", (512,)),
    ("res5.2.conv2.norm.running_mean", (512,)),
    ("res5.2.conv2.norm.running_var", (512,)),
    ("res5.2.conv3.weight", (2048, 512, 1, 1)),
    ("res5.2.conv3.norm.weight", (2048,)),
    ("res5.2.conv3.norm.bias", (2048,)),
    ("res5.2.conv3.norm.running_mean", (2048,)),
    ("res5.2.conv3.norm.running_var", (2048,)),
]


@pytest.fixture(scope="module")
def r50_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, torch.Tensor], object]:
    folder = tmp_path_factory.mktemp("d2")
    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet50")
    for m in trunk.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    head = ssl_models.MLPHead([2048, 10])
    src = folder / "r50.torch"
    ssl_models.save_checkpoint(ssl_models.model_payload(trunk, [head]), src)
    report = convert(src, folder / "r50.pkl", "detectron2")
    return folder / "r50.pkl", trunk.state_dict(), report


def test_plain_pickle_without_torch_objects(r50_files) -> None:
    path, _, _ = r50_files
    data = path.read_bytes()
    assert not data.startswith(b"PK"), "a torch zip archive, not a plain pickle"
    globals_seen = set()
    for op, arg, _pos in pickletools.genops(data):
        assert op.name not in ("PERSID", "BINPERSID"), "persistent ids mean torch storages"
        if op.name in ("GLOBAL", "INST"):
            globals_seen.add(str(arg).split(" ")[0])
        if op.name == "STACK_GLOBAL":
            globals_seen.add("stack_global")
    # protocol 4 names globals through SHORT_BINUNICODE + STACK_GLOBAL: check the strings instead
    strings = {str(arg) for op, arg, _ in pickletools.genops(data) if op.name in ("SHORT_BINUNICODE", "BINUNICODE")}
    assert not any("torch" in s for s in strings | globals_seen)
    obj = pickle.loads(data)  # plain pickle.load works, as detectron2 does it
    assert set(obj) == {"model", "__author__", "matching_heuristics"}
    assert obj["matching_heuristics"] is True


def test_exactly_the_detectron2_r50_keys_and_shapes(r50_files) -> None:
    path, _, _ = r50_files
    model = pickle.loads(path.read_bytes())["model"]
    expected = dict(D2_R50_BACKBONE)
    assert len(expected) == 265
    assert sorted(model) == sorted(expected)
    for key, shape in expected.items():
        assert isinstance(model[key], np.ndarray), key
        assert model[key].dtype == np.float32, key
        assert model[key].shape == shape, key


def test_values_land_on_the_right_keys(r50_files) -> None:
    path, state, _ = r50_files
    model = pickle.loads(path.read_bytes())["model"]
    pairs = {
        "stem.conv1.weight": "conv1.weight",
        "stem.conv1.norm.running_var": "bn1.running_var",
        "res2.0.conv2.weight": "layer1.0.conv2.weight",
        "res3.0.shortcut.weight": "layer2.0.downsample.0.weight",
        "res3.0.shortcut.norm.running_mean": "layer2.0.downsample.1.running_mean",
        "res4.5.conv3.norm.bias": "layer3.5.bn3.bias",
        "res5.2.conv3.norm.running_var": "layer4.2.bn3.running_var",
    }
    for d2, tv in pairs.items():
        np.testing.assert_array_equal(model[d2], state[tv].numpy())


def test_report_lists_dropped_keys_and_config(r50_files) -> None:
    path, _, report = r50_files
    assert "heads.0.clf.0.weight" in report.dropped and "heads.0.clf.0.bias" in report.dropped
    assert "bn1.num_batches_tracked" in report.dropped
    assert report.config["MODEL.RESNETS.STRIDE_IN_1X1"] is False
    assert report.config["INPUT.FORMAT"] == "RGB"
    assert report.config["MODEL.PIXEL_MEAN"] == [123.675, 116.28, 103.53]
    assert report.config["MODEL.PIXEL_STD"] == [58.395, 57.12, 57.375]
    assert report.config["MODEL.RESNETS.DEPTH"] == 50
    text = report.config_path.read_text()
    assert "STRIDE_IN_1X1: False" in text and 'FORMAT: "RGB"' in text and f'WEIGHTS: "{path.name}"' in text


@pytest.mark.parametrize(
    ("name", "kwargs", "config"),
    [
        ("resnet18", {"width_multiplier": 0.25}, {"DEPTH": 18, "RES2_OUT_CHANNELS": 16, "STEM_OUT_CHANNELS": 16}),
        ("resnet34", {"width_multiplier": 0.5}, {"DEPTH": 34, "STEM_OUT_CHANNELS": 32, "RES2_OUT_CHANNELS": 32}),
        ("resnext50_32x4d", {"width_multiplier": 0.25}, {"NUM_GROUPS": 32, "WIDTH_PER_GROUP": 1, "RES2_OUT_CHANNELS": 64}),
    ],
)
def test_other_depths_and_widths(tmp_path: Path, name: str, kwargs: dict, config: dict) -> None:
    # detectron2 sizes: res2 bottleneck width = NUM_GROUPS * WIDTH_PER_GROUP, output RES2_OUT_CHANNELS
    trunk = ssl_models.build_trunk(name, **kwargs)
    ssl_models.save_checkpoint(ssl_models.model_payload(trunk), tmp_path / "in.pt")
    report = convert(tmp_path / "in.pt", tmp_path / "out.pkl", "detectron2", verify=True)
    assert report.max_abs_diff is not None and report.max_abs_diff < 1e-5
    for key, value in config.items():
        assert report.config[f"MODEL.RESNETS.{key}"] == value
    model = pickle.loads((tmp_path / "out.pkl").read_bytes())["model"]
    groups = report.config["MODEL.RESNETS.NUM_GROUPS"]
    width = groups * report.config["MODEL.RESNETS.WIDTH_PER_GROUP"]
    basic = name in ("resnet18", "resnet34")
    assert model["res2.0.conv1.weight"].shape[0] == (report.config["MODEL.RESNETS.RES2_OUT_CHANNELS"] if basic else width)


def test_refuses_non_pkl_path_and_small_input_stem(tmp_path: Path) -> None:
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    ssl_models.save_checkpoint(ssl_models.model_payload(trunk), tmp_path / "in.pt")
    with pytest.raises(FormatError, match=r"\.pkl"):
        convert(tmp_path / "in.pt", tmp_path / "out.torch", "detectron2")
    with pytest.raises(FormatError, match="7x7"):
        convert(tmp_path / "in.pt", tmp_path / "out.pkl", "detectron2")
    assert not (tmp_path / "out.pkl").exists()
