"""Shared helpers for ssl-convert's tests: tiny trunks with non-trivial batch-norm statistics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import ssl_models


def _randomised_trunk(name: str, seed: int = 0, **kwargs: object) -> ssl_models.Trunk:
    """A trunk whose BN weights, biases and running stats are random (so misplaced keys show)."""
    torch.manual_seed(seed)
    trunk = ssl_models.build_trunk(name, **kwargs)
    with torch.no_grad():
        for m in trunk.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return trunk.eval()


@pytest.fixture
def make_trunk():
    """``make_trunk(name, seed=0, **kwargs)``: a trunk with random BN weights and statistics."""
    return _randomised_trunk


@pytest.fixture(scope="module")
def make_trunk_module():
    """``make_trunk`` for module-scoped fixtures."""
    return _randomised_trunk


@pytest.fixture
def save_ours(tmp_path: Path):
    """``save_ours(trunk, heads=(), name="ours.pt") -> Path`` in our checkpoint format."""

    def save(trunk: ssl_models.Trunk, heads=(), name: str = "ours.pt") -> Path:
        return ssl_models.save_checkpoint(ssl_models.model_payload(trunk, list(heads)), tmp_path / name)

    return save
