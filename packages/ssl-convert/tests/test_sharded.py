"""A torch.distributed.checkpoint written by real 2-process FSDP2 training (gloo, CPU) consolidates
into one file that a single process loads and evaluates with the same outputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import ssl_models
from ssl_convert import UnsafeLoadError, convert, detect_format

_X_TRAIN = 11
_X_EVAL = 5


def _train_and_save(rank: int, world: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_model_state_dict
    from torch.distributed.fsdp import fully_shard

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    for layer in (trunk.layer1, trunk.layer2, trunk.layer3, trunk.layer4):
        fully_shard(layer)
    fully_shard(trunk)
    optimizer = torch.optim.SGD(trunk.parameters(), lr=0.1)
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(_X_TRAIN))  # same batch: same BN stats
    for _ in range(2):
        optimizer.zero_grad()
        trunk(x).pow(2).mean().backward()
        optimizer.step()
    state = get_model_state_dict(trunk)
    assert type(state["conv1.weight"]).__name__ == "DTensor"  # really sharded
    payload = {
        "format": "ssl-checkpoint",
        "format_version": 1,
        "trunk": {"name": trunk.name, "kwargs": dict(trunk.kwargs), "state_dict": state},
        "heads": [],
    }
    dcp.save(payload, checkpoint_id=out)
    trunk.eval()
    with torch.no_grad():
        y = trunk(torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(_X_EVAL)))
    if rank == 0:
        torch.save(y, out + ".expected.pt")
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def fsdp_checkpoint(tmp_path_factory: pytest.TempPathFactory, free_port) -> Path:
    out = tmp_path_factory.mktemp("fsdp") / "step2"
    mp.start_processes(_train_and_save, args=(2, free_port(), str(out)), nprocs=2, start_method="fork")
    return out


def test_two_process_fsdp_checkpoint_consolidates(fsdp_checkpoint: Path, tmp_path: Path) -> None:
    assert sorted(p.name for p in fsdp_checkpoint.iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp"]
    assert detect_format(fsdp_checkpoint) == "dcp"
    report = convert(fsdp_checkpoint, tmp_path / "eval.pt", "ssl", verify=True)
    assert report.source_format == "dcp" and report.trunk_name == "resnet18"
    trunk = ssl_models.trunk_from_checkpoint(ssl_models.load_checkpoint(tmp_path / "eval.pt")).eval()
    expected = torch.load(str(fsdp_checkpoint) + ".expected.pt", weights_only=True)
    with torch.no_grad():
        y = trunk(torch.randn(3, 3, 16, 16, generator=torch.Generator().manual_seed(_X_EVAL)))
    torch.testing.assert_close(y, expected, rtol=0, atol=1e-6)


def test_consolidated_fsdp_checkpoint_goes_to_other_formats(fsdp_checkpoint: Path, tmp_path: Path) -> None:
    convert(fsdp_checkpoint, tmp_path / "tv.pth", "torchvision", verify=True)
    state = torch.load(tmp_path / "tv.pth", weights_only=True)
    assert state["conv1.weight"].shape == (16, 3, 3, 3)


def test_dcp_with_pickled_objects_needs_the_flag(tmp_path: Path) -> None:
    import argparse

    import torch.distributed.checkpoint as dcp

    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.25)
    dcp.save({"model": trunk.state_dict(), "args": argparse.Namespace(lr=0.1)}, checkpoint_id=tmp_path / "ck", no_dist=True)
    with pytest.raises(UnsafeLoadError, match="'args'"):
        convert(tmp_path / "ck", tmp_path / "out.pt", "ssl")
    report = convert(tmp_path / "ck", tmp_path / "out.pt", "ssl", allow_unsafe_load=True)
    assert report.trunk_name == "resnet18"
