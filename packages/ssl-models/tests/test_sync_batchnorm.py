"""Synchronised BatchNorm on CPU with real gloo process groups.

Every rank holds a different slice of one batch. The independent reference is torch's own
single-process ``nn.BatchNorm1d/2d`` applied to the concatenation of the slices of a group (all
ranks, or each group of ``group_size`` ranks): outputs, input gradients, weight/bias gradients
(summed over the group's ranks) and running statistics after two steps must be equal.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from ssl_models import CPUSyncBatchNorm, build_trunk, convert_sync_batchnorm, sync_batchnorm_group

C = 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _data(sizes: list[int]) -> dict[str, torch.Tensor]:
    """The whole batch of every step (rows of all ranks), the loss weights, the BN init."""
    g = torch.Generator().manual_seed(7)
    n = sum(sizes)
    return {
        "x2d": torch.randn(2, n, C, 5, 4, generator=g) * 3 + 1.5,  # [steps, N, C, H, W], far from N(0, 1)
        "w2d": torch.randn(2, n, C, 5, 4, generator=g),
        "x1d": torch.randn(2, n, C, generator=g) * 2 - 4,  # [steps, N, C]
        "w1d": torch.randn(2, n, C, generator=g),
        "weight": torch.rand(C, generator=g) + 0.5,
        "bias": torch.randn(C, generator=g),
    }


def _plain_bn() -> nn.ModuleDict:
    """The layers before conversion: BN2d with momentum 0.1 and BN1d with a cumulative average."""
    return nn.ModuleDict({"bn2d": nn.BatchNorm2d(C), "bn1d": nn.BatchNorm1d(C, momentum=None)})


def _init(bns: nn.ModuleDict, data: dict[str, torch.Tensor]) -> nn.ModuleDict:
    with torch.no_grad():
        for bn in bns.values():
            bn.weight.copy_(data["weight"])
            bn.bias.copy_(data["bias"])
    return bns


def _steps(bns: nn.ModuleDict, data: dict[str, torch.Tensor], rows: slice) -> dict[str, torch.Tensor]:
    """Two training steps on ``rows`` then one eval pass; everything a comparison needs."""
    out: dict[str, torch.Tensor] = {}
    for kind in ("2d", "1d"):
        bn = bns[f"bn{kind}"]
        bn.train()
        for step in range(2):
            x = data[f"x{kind}"][step, rows].clone().requires_grad_(True)
            bn.zero_grad(set_to_none=True)
            y = bn(x)
            (y * data[f"w{kind}"][step, rows]).sum().backward()
            out[f"y{kind}_{step}"] = y.detach()
            out[f"dx{kind}_{step}"] = x.grad
            out[f"dweight{kind}_{step}"] = bn.weight.grad.clone()
            out[f"dbias{kind}_{step}"] = bn.bias.grad.clone()
        for key, value in bn.state_dict().items():
            out[f"{key}{kind}"] = value.clone()
        bn.eval()
        with torch.no_grad():
            out[f"eval{kind}"] = bn(data[f"x{kind}"][0, rows])
    return out


def _trunk_step(trunk: nn.Module, x: torch.Tensor, weights: torch.Tensor) -> dict[str, torch.Tensor]:
    """One training step of a width-0.25 ResNet-18; its outputs, gradients and BN buffers."""
    x = x.clone().requires_grad_(True)
    out = trunk(x)
    (out * weights).sum().backward()
    result = {"y": out.detach(), "dx": x.grad}
    result.update({f"d{name}": p.grad.clone() for name, p in trunk.named_parameters()})
    result.update({name: b.clone() for name, b in trunk.named_buffers()})
    return result


def _trunk_data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    return torch.randn(n, 3, 8, 8, generator=g, dtype=torch.float64), torch.randn(n, 128, generator=g, dtype=torch.float64)


def _trunk() -> nn.Module:
    """float64: 20 BN layers on 5 images amplify float32 rounding in the gradients to ~1e-3."""
    torch.manual_seed(0)
    return build_trunk("resnet18", width_multiplier=0.25, small_input=True).double()


def _worker(rank: int, world: int, port: int, out_dir: str, sizes: list[int], group_sizes: list[int]) -> None:
    torch.set_num_threads(1)
    os.environ["LOCAL_WORLD_SIZE"] = "2"  # two "nodes" of two ranks when world == 4
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        data = _data(sizes)
        start = sum(sizes[:rank])
        rows = slice(start, start + sizes[rank])
        results = {}
        for group_size in group_sizes:
            bns = convert_sync_batchnorm(_init(_plain_bn(), data), group_size=group_size)
            assert all(type(m) is CPUSyncBatchNorm for m in bns.values())
            results[group_size] = _steps(bns, data, rows)
        if world == 2:
            # A whole trunk with synchronised BN and split activation checkpointing (the
            # collectives run again when a bucket is recomputed in backward).
            trunk = convert_sync_batchnorm(_trunk(), group_size=0)
            trunk.set_activation_checkpointing(True, splits=3)
            x, weights = _trunk_data(sum(sizes))
            results["trunk"] = _trunk_step(trunk, x[rows], weights[rows])
        if world == 4:
            try:
                sync_batchnorm_group(3)
            except ValueError as e:
                results["error"] = str(e)
        torch.save(results, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _launch(tmp_path: Path, sizes: list[int], group_sizes: list[int]) -> list[dict]:
    world = len(sizes)
    mp.start_processes(_worker, args=(world, _free_port(), str(tmp_path), sizes, group_sizes), nprocs=world, start_method="fork")
    return [torch.load(tmp_path / f"rank{r}.pt") for r in range(world)]


def _check_groups(per_rank: list[dict[str, torch.Tensor]], sizes: list[int], groups: list[list[int]]) -> None:
    data = _data(sizes)
    offsets = [sum(sizes[:r]) for r in range(len(sizes) + 1)]
    for members in groups:
        rows = slice(offsets[members[0]], offsets[members[-1] + 1])  # the group's concatenated batch
        ref = _steps(_init(_plain_bn(), data), data, rows)
        got = [per_rank[r] for r in members]
        for key, expected in ref.items():
            if key.startswith(("y", "dx", "eval")):
                value = torch.cat([g[key] for g in got])  # per-row results, rank by rank
            elif key.startswith("d"):
                value = torch.stack([g[key] for g in got]).sum(0)  # parameter gradients: summed over ranks
            else:
                for g in got:  # buffers: identical on every rank of the group
                    torch.testing.assert_close(g[key], got[0][key], rtol=0, atol=0)
                value = got[0][key]
            torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-5, msg=f"{key} of group {members}")


def test_two_ranks_match_batchnorm_on_the_whole_batch(tmp_path: Path) -> None:
    sizes = [3, 5]  # uneven slices: the statistics weight every row, not every rank, equally
    per_rank = _launch(tmp_path, sizes, group_sizes=[0])
    _check_groups([r[0] for r in per_rank], sizes, [[0, 1]])
    # The sync really happened: a rank's own-slice BatchNorm gives different statistics.
    local = _steps(_init(_plain_bn(), _data(sizes)), _data(sizes), slice(0, 3))
    assert not torch.allclose(per_rank[0][0]["running_mean2d"], local["running_mean2d"])


def test_two_ranks_trunk_with_checkpointing_matches_one_process(tmp_path: Path) -> None:
    sizes = [2, 3]
    per_rank = [r["trunk"] for r in _launch(tmp_path, sizes, group_sizes=[])]
    x, weights = _trunk_data(sum(sizes))
    ref = _trunk_step(_trunk(), x, weights)  # plain BatchNorm2d, no checkpointing, whole batch
    for key, expected in ref.items():
        if key in ("y", "dx"):
            value = torch.cat([r[key] for r in per_rank])
        elif key.startswith("d"):
            value = per_rank[0][key] + per_rank[1][key]
        else:
            value = per_rank[0][key]
            torch.testing.assert_close(per_rank[1][key], value, rtol=0, atol=0)
        torch.testing.assert_close(value, expected, rtol=1e-9, atol=1e-9, msg=key)


def test_four_ranks_in_groups_of_two(tmp_path: Path) -> None:
    sizes = [2, 3, 4, 2]
    per_rank = _launch(tmp_path, sizes, group_sizes=[2, -1])  # -1: one group per node (LOCAL_WORLD_SIZE=2)
    for group_size in (2, -1):
        _check_groups([r[group_size] for r in per_rank], sizes, [[0, 1], [2, 3]])
    assert "group_size 3 does not divide the world size 4" in per_rank[0]["error"]


def test_single_process_is_plain_batchnorm() -> None:
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(4)
    ours = convert_sync_batchnorm(nn.BatchNorm2d(4))
    assert type(ours) is CPUSyncBatchNorm
    x = torch.randn(6, 4, 3, 3)
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ours.running_var, ref.running_var)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        ours(torch.randn(4))


def test_conversion_keeps_state_dict_keys_and_values() -> None:
    torch.manual_seed(0)
    trunk = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    with torch.no_grad():
        for m in trunk.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.num_batches_tracked.fill_(5)
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    x = torch.randn(2, 3, 8, 8)
    expected = trunk.eval()(x)
    for implementation in ("cpu", "torch"):
        converted = convert_sync_batchnorm(build_trunk("resnet18", width_multiplier=0.25, small_input=True), implementation=implementation)
        converted.load_state_dict(before, strict=True)  # a plain-BN checkpoint loads into the converted model
        state = converted.state_dict()
        assert list(state) == list(before)
        for key, value in before.items():
            assert torch.equal(state[key], value), key
        kinds = {type(m) for m in converted.modules()}
        assert (CPUSyncBatchNorm if implementation == "cpu" else nn.SyncBatchNorm) in kinds and nn.BatchNorm2d not in kinds
    converted = convert_sync_batchnorm(trunk)  # in place of the original layers, parameters shared
    assert {type(m) for m in converted.modules()} >= {CPUSyncBatchNorm}
    torch.testing.assert_close(converted.eval()(x), expected)
    plain = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    plain.load_state_dict(converted.state_dict(), strict=True)  # and back


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="implementation"):
        convert_sync_batchnorm(nn.BatchNorm1d(2), implementation="apex")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="group_size"):
        convert_sync_batchnorm(nn.BatchNorm1d(2), group_size=-2)
    assert sync_batchnorm_group(4) is None  # no torch.distributed: the default group
