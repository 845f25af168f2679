"""Shared helpers for ssl-convert's tests: tiny trunks with non-trivial batch-norm statistics."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch

import ssl_models


def _randomise_bn(module: torch.nn.Module) -> torch.nn.Module:
    """Random BN weights, biases and running stats in ``module`` (so misplaced keys show); eval mode."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(7)
    return module.eval()


def _randomised_trunk(name: str, seed: int = 0, **kwargs: object) -> ssl_models.Trunk:
    """A trunk whose BN weights, biases and running stats are random."""
    torch.manual_seed(seed)
    return _randomise_bn(ssl_models.build_trunk(name, **kwargs))  # type: ignore[return-value]


@pytest.fixture(scope="session")
def randomise_bn():
    """``randomise_bn(module) -> module``: random BN parameters and statistics, eval mode."""
    return _randomise_bn


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def free_port():
    """``free_port() -> int``: a free localhost TCP port for a gloo process group."""
    return _free_port
