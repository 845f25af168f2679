"""Layer / head features with pooling, chunked files on disk, reload and sampling."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from ssl_evaluation.feature_store import extract_to_disk, load_features, sample_features
from ssl_evaluation.layer_features import extract_layer_features, layer_forward

_spec = importlib.util.spec_from_file_location("tiny_trunk", Path(__file__).with_name("tiny_trunk.py"))
tiny_trunk = importlib.util.module_from_spec(_spec)
sys.modules["tiny_trunk"] = tiny_trunk
_spec.loader.exec_module(tiny_trunk)


def _batches(n: int = 11, size: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    images = torch.randn(n, 3, 8, 8, generator=g)
    labels = torch.randint(0, 3, (n,), generator=g)
    order = torch.randperm(n, generator=g)
    batches = [(images[order[i : i + size]], labels[order[i : i + size]], order[i : i + size])
               for i in range(0, n, size)]
    return images, labels, batches


def test_layers_pooling_and_heads_by_hand() -> None:
    trunk = tiny_trunk.TinyTrunk().train()
    head = nn.Linear(6, 2)
    images, labels, batches = _batches()
    out = extract_layer_features(
        trunk, batches, ["conv1", "res2", "res5avg", "heads"], head=head,
        pooling={"conv1": ((4, 4), 4, 0), "res2": None},
    )
    assert trunk.training  # restored after the pass
    trunk.eval()
    with torch.no_grad():
        conv1 = torch.relu(trunk.conv1(images))
        res2 = torch.relu(trunk.bn(trunk.res2(conv1)))
        expected = {
            "conv1": F.avg_pool2d(conv1, 4, 4).flatten(1),  # [N, 4*2*2]
            "res2": res2.flatten(1),  # identity pooling: the whole map
            "res5avg": res2.mean(dim=(2, 3)),
            "heads": head(res2.mean(dim=(2, 3))),
        }
    for name, value in expected.items():
        torch.testing.assert_close(out.features[name], value, msg=name)
    assert out.features["conv1"].shape == (11, 16)
    assert torch.equal(out.labels, labels)
    assert torch.equal(out.indices, torch.arange(11))


def test_layer_errors() -> None:
    trunk = tiny_trunk.TinyTrunk()
    with pytest.raises(ValueError, match=r"unknown layer name\(s\) \['res4'\]; the trunk has"):
        layer_forward(trunk, ["res2", "res4"])
    with pytest.raises(ValueError, match="needs the head"):
        layer_forward(trunk, ["heads"])
    _, _, batches = _batches()
    with pytest.raises(ValueError, match="kernel"):
        extract_layer_features(trunk, batches, ["res2"], pooling={"res2": ((6, 6), 1, 0)})


def test_chunks_reload_and_sample(tmp_path: Path) -> None:
    trunk = tiny_trunk.TinyTrunk().eval()
    images, labels, batches = _batches(n=23, size=5)
    forward = layer_forward(trunk, ["res5avg", "conv1"])
    paths = extract_to_disk(forward, batches, tmp_path, "train", chunk_rows=7)
    # batches of 5 rows, a chunk once >= 7 rows wait: 10 + 10 + 3 rows -> 3 files per layer
    assert len(paths) == 2 * 3
    data = load_features(tmp_path, "train", "res5avg")
    with torch.no_grad():
        expected = trunk(images).numpy()
    np.testing.assert_allclose(data["features"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(data["inds"], np.arange(23))
    np.testing.assert_array_equal(data["targets"], labels.numpy())
    part = sample_features(tmp_path, "train", "res5avg", 9, seed=3)
    assert len(part["inds"]) == 9 and np.all(np.diff(part["inds"]) > 0)
    np.testing.assert_allclose(part["features"], expected[part["inds"]], rtol=1e-5, atol=1e-6)
    again = sample_features(tmp_path, "train", "res5avg", 9, seed=3)
    np.testing.assert_array_equal(again["inds"], part["inds"])
    with pytest.raises(FileNotFoundError, match=r"no features for layer 'res4'.*\['conv1', 'res5avg'\]"):
        load_features(tmp_path, "train", "res4")
    with pytest.raises(FileNotFoundError, match="no features for split 'val'"):
        load_features(tmp_path, "val", "res5avg")
    with pytest.raises(ValueError, match="num_samples must be in"):
        sample_features(tmp_path, "train", "res5avg", 24)
    with pytest.raises(ValueError, match="empty"):
        extract_to_disk(forward, [], tmp_path, "test")
