"""A real 2-process FSDP run (``ssl pretrain --nproc-per-node 2 train.parallel=fsdp``): ``ssl
convert`` reads its sharded checkpoint folder ``last.dcp/`` directly, and a planted ``.metadata``
runs nothing, neither there nor in ``ssl_train.consolidate_dcp``."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import pytest
import torch

from cli_runner import run_ssl
from ssl_models import UnsafePickleError
from ssl_models import checkpoint as ckpt_format
from ssl_train import consolidate_dcp

TINY = [
    "data.source=digits", "data.image_size=16", "data.batch_size=16", "data.limit=128", "data.num_workers=0",
    "train.precision=fp32", "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.projection_dim=16", "train.epochs=1",
    "train.tensorboard=false", "monitor.knn_every_epochs=0", "train.parallel=fsdp", "train.sync_bn=true",
]  # fmt: skip


class _Payload:
    """What an attacker plants: unpickling it writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').write('pwned')",)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fsdp") / "run"
    proc = run_ssl("pretrain", "simclr", "--out", str(out), "--nproc-per-node", "2", "--no-progress", *TINY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "checkpoints" / "last.dcp" / ".metadata").is_file()
    return out


def test_ssl_convert_reads_the_runs_sharded_folder(run: Path, tmp_path: Path) -> None:
    proc = run_ssl("convert", str(run / "checkpoints" / "last.dcp"), str(tmp_path / "model.pt"), "--to", "ssl")
    assert proc.returncode == 0, proc.stderr
    assert "ssl-train run" in proc.stdout
    converted = ckpt_format.load_checkpoint(tmp_path / "model.pt")
    # final.pt holds the full weights gathered from the shards at the end (FSDP's own full state
    # dict); the last sharded checkpoint was written at the same, last step
    final = ckpt_format.load_checkpoint(run / "checkpoints" / "final.pt")
    assert converted["trunk"]["name"] == final["trunk"]["name"] and converted["trunk"]["kwargs"] == final["trunk"]["kwargs"]
    assert converted["trunk"]["state_dict"].keys() == final["trunk"]["state_dict"].keys()
    for key, value in final["trunk"]["state_dict"].items():
        assert torch.equal(converted["trunk"]["state_dict"][key], value), key
    assert [h["name"] for h in converted["heads"]] == [h["name"] for h in final["heads"]]
    for got, want in zip(converted["heads"], final["heads"]):
        assert got["state_dict"].keys() == want["state_dict"].keys()
        assert all(torch.equal(got["state_dict"][k], v) for k, v in want["state_dict"].items())
    proc = run_ssl("convert", str(run / "checkpoints" / "last.dcp"), str(tmp_path / "tv.pth"), "--to", "torchvision")
    assert proc.returncode == 0, proc.stderr
    assert torch.equal(torch.load(tmp_path / "tv.pth", weights_only=True)["conv1.weight"], final["trunk"]["state_dict"]["conv1.weight"])


def test_a_planted_metadata_runs_nothing(run: Path, tmp_path: Path) -> None:
    planted = tmp_path / "checkpoints"
    shutil.copytree(run / "checkpoints", planted)
    marker = tmp_path / "marker"
    (planted / "last.dcp" / ".metadata").write_bytes(pickle.dumps(_Payload(marker)))

    proc = run_ssl("convert", str(planted / "last.dcp"), str(tmp_path / "model.pt"), "--to", "ssl")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("ssl: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "pickles builtins.exec" in proc.stderr and "--unsafe-load" in proc.stderr
    with pytest.raises(UnsafePickleError, match="builtins.exec"):
        consolidate_dcp(planted / "last.dcp", tmp_path / "consolidated.pt")
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "model.pt").exists() and not (tmp_path / "consolidated.pt").exists()

    # the payload is real: torch's own reader runs it (what consolidate_dcp used to call), then
    # fails on the payload's result (DCP's CheckpointException is a BaseException)
    from torch.distributed.checkpoint.api import CheckpointException
    from torch.distributed.checkpoint.format_utils import dcp_to_torch_save

    with pytest.raises(CheckpointException):
        dcp_to_torch_save(planted / "last.dcp", tmp_path / "torch.pt")
    assert marker.read_text() == "pwned"
