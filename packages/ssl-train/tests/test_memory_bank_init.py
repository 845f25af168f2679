"""NPID / NPID++ / PIRL with ``loss.memory_init=features``: before the first step the memory bank
holds the initial network's embedding of every training image (not random rows)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ssl_data
import ssl_train
from ssl_train import load_config, pretrain
from ssl_train.hooks import Hook

from .conftest import TINY

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


class Capture(Hook):
    """The method as built (before any epoch start) and its memory bank after the first step."""

    def on_start(self, run):
        self.initial = copy.deepcopy(run.state.method)

    def on_step_end(self, run, metrics):
        self.memory = run.state.method.loss.memory.detach().clone()


def _reference_embeddings(method, name: str, size: int) -> torch.Tensor:
    """L2-normalised embeddings of every digits training image, computed here: uint8 -> [0, 1],
    bilinear resize, ImageNet normalisation, the initial trunk and the bank's projection head."""
    images, _ = ssl_data.load_digits("train")
    x = images.float().div(255.0)[:, None].expand(-1, 3, -1, -1)
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    x = (x - MEAN) / STD
    head = method.model.heads[1 if name == "pirl" else 0]
    with torch.no_grad():
        method.eval()
        out = method.model.trunk(x)
        for layer in head:
            out = layer(out)
    return F.normalize(out, dim=1)


@pytest.mark.parametrize("name", ["npid", "pirl"])
@pytest.mark.parametrize("init", ["features", "random"])
def test_memory_init_features_fills_the_bank_with_initial_embeddings(tmp_path, name: str, init: str) -> None:
    cfg = load_config(ssl_train.get_recipe(name).config_class(),
                      TINY[name] + ["data.limit=0", "train.max_steps=1", "data.batch_size=32", f"loss.memory_init={init}"])  # fmt: skip
    hook = Capture()
    pretrain(name, cfg, tmp_path, progress=False, hooks=[hook])
    expected = _reference_embeddings(hook.initial, name, cfg.data.image_size)
    assert hook.memory.shape == expected.shape  # one row per training image (1,437)
    close = np.isclose(hook.memory.numpy(), expected.numpy(), atol=2e-4).all(axis=1)
    if init == "features":  # every row but the first batch's 32 (moved by the momentum update)
        assert close.sum() >= len(close) - 32
    else:
        assert close.sum() == 0


def test_memory_init_refuses_an_unknown_value(tmp_path) -> None:
    cfg = load_config(ssl_train.get_recipe("npid").config_class(), TINY["npid"] + ["loss.memory_init=zeros"])
    with pytest.raises(ssl_train.ConfigError, match="loss.memory_init must be one of random, features"):
        pretrain("npid", cfg, tmp_path, progress=False)
