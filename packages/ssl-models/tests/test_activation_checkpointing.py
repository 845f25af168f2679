"""Activation checkpointing: per stage and VISSL's NUM_ACTIVATION_CHECKPOINTING_SPLITS buckets.

The reference is the same trunk run without checkpointing (plain autograd): outputs, gradients,
BatchNorm running statistics and ``num_batches_tracked`` must be equal.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from ssl_models import build_trunk
from ssl_models.trunk import checkpoint_buckets

FEATURES = ["conv1", "res3", "flatten"]


def _loss(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return sum((f.float() * torch.linspace(-1, 1, f.numel()).view_as(f)).sum() for f in feats.values())  # type: ignore[return-value]


def _run(trunk: nn.Module, x: torch.Tensor, names: list[str]) -> tuple[dict[str, torch.Tensor], list[torch.Tensor]]:
    feats = trunk.forward_features(x, names)
    _loss(feats).backward()
    return {k: v.detach() for k, v in feats.items()}, [p.grad.clone() for p in trunk.parameters()]


@pytest.mark.parametrize("splits", [None, 1, 2, 5, 100])
def test_checkpointing_equals_plain_autograd(splits: int | None) -> None:
    torch.manual_seed(0)
    ref = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    ckpt = copy.deepcopy(ref)
    ckpt.set_activation_checkpointing(True, splits=splits)
    x = torch.randn(4, 3, 16, 16)
    calls = []
    ckpt.layer2[1].conv1.register_forward_pre_hook(lambda *_: calls.append(1))
    for _ in range(2):  # two steps: running statistics move twice
        ref.zero_grad(set_to_none=True)
        ckpt.zero_grad(set_to_none=True)
        ref_feats, ref_grads = _run(ref, x, FEATURES)
        feats, grads = _run(ckpt, x, FEATURES)
    assert len(calls) == 4  # recomputed in backward: the block ran twice per step
    for name in FEATURES:
        torch.testing.assert_close(feats[name], ref_feats[name], rtol=1e-5, atol=1e-6)
    for a, b in zip(ref_grads, grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    # BatchNorm statistics are updated once per step, not again during the recomputation.
    for (name, a), b in zip(ref.named_buffers(), ckpt.buffers()):
        torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-7, msg=name)


def test_no_recomputation_under_no_grad() -> None:
    trunk = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    trunk.set_activation_checkpointing(True, splits=3)
    calls = []
    trunk.layer1[0].register_forward_hook(lambda *_: calls.append(1))
    with torch.no_grad():
        trunk(torch.randn(2, 3, 8, 8))
    assert len(calls) == 1


def test_efficientnet_buckets_give_the_same_gradients() -> None:
    torch.manual_seed(0)
    ref = build_trunk("efficientnet_b0", drop_path_rate=0.0)
    ckpt = copy.deepcopy(ref)
    ckpt.set_activation_checkpointing(True, splits=4)
    x = torch.randn(2, 3, 32, 32)
    ref_feats, ref_grads = _run(ref, x, ["block3", "flatten"])
    feats, grads = _run(ckpt, x, ["block3", "flatten"])
    torch.testing.assert_close(feats["flatten"], ref_feats["flatten"], rtol=1e-5, atol=1e-6)
    for a, b in zip(ref_grads, grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-6)


def test_buckets_follow_vissl_splitting() -> None:
    trunk = build_trunk("resnet50", width_multiplier=0.25)
    stages = trunk._stage_blocks()
    blocks = [b for _, bs in stages for b in bs]
    # conv1, bn1, relu | maxpool + 3 | 4 | 6 | 3 bottlenecks | avgpool | flatten = 22 blocks.
    assert len(blocks) == 22
    # Halving the largest bucket (first one on ties, cut at len // 2): 22 -> 11 + 11 -> 5 + 6 + 5 + 6.
    assert [len(b) for _, b in checkpoint_buckets(stages, {"flatten"}, 4)] == [5, 6, 5, 6]
    # Requested features always end a bucket; only the halves made by splitting carry None.
    buckets = checkpoint_buckets(stages, {"conv1", "res4", "flatten"}, 6)
    assert [e for e, _ in buckets if e is not None] == ["conv1", "res4", "flatten"]
    assert len(buckets) == 6
    for splits in (1, 3, 8, 64):
        buckets = checkpoint_buckets(stages, {"flatten"}, splits)
        assert [b for _, bs in buckets for b in bs] == blocks  # a partition, order kept
        assert all(not getattr(bs[0], "inplace", False) for _, bs in buckets)  # never before ReLU(inplace)
    # At most one bucket per block, and [bn1, relu] cannot be cut: 21 buckets for 22 blocks.
    assert len(checkpoint_buckets(stages, {"flatten"}, 64)) == 21
    # More requested features than splits: no merging.
    assert len(checkpoint_buckets(stages, {"conv1", "res2", "res3", "flatten"}, 2)) == 4


def test_bad_splits_and_unsupported_trunks() -> None:
    trunk = build_trunk("resnet18", width_multiplier=0.25)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="splits"):
            trunk.set_activation_checkpointing(True, splits=bad)  # type: ignore[arg-type]
    vit = build_trunk("vision_transformer", image_size=16, patch_size=8, num_layers=1, num_heads=2, hidden_dim=8, mlp_dim=8)
    with pytest.raises(NotImplementedError, match="splits"):
        vit.set_activation_checkpointing(True, splits=2)
