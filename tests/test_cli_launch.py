"""`ssl pretrain --nproc-per-node 2`: the command launches two real processes through torch's
elastic launcher; the run is one job (one checkpoint written by rank 0 with both ranks' states)."""

from __future__ import annotations

import torch

from cli_runner import run_ssl

TINY = [
    "data.source=digits", "data.image_size=16", "data.batch_size=16", "data.limit=128", "data.num_workers=0",
    "train.precision=fp32", "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.projection_dim=16",
    "train.epochs=1", "train.tensorboard=false", "monitor.knn_every_epochs=0",
]


def test_two_processes_from_the_command(tmp_path) -> None:
    proc = run_ssl("pretrain", "simclr", "--out", str(tmp_path / "run"), "--nproc-per-node", "2", "--no-progress", *TINY)
    assert proc.returncode == 0, proc.stderr[-2000:]
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.pt", weights_only=True)["train_state"]
    assert state["world_size"] == 2 and len(state["ranks"]) == 2
    assert state["step"] == 128 // (16 * 2)
    assert (tmp_path / "run" / "checkpoints" / "final.pt").is_file()


def test_launch_options_are_checked_before_starting(tmp_path) -> None:
    (tmp_path / "c.yaml").write_text("train:\n  epochs: 1\n")
    proc = run_ssl("pretrain", "simclr", "--out", str(tmp_path / "run"), "--nproc-per-node", "2",
                   "--config", str(tmp_path / "c.yaml"), *TINY)  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "--config" in proc.stderr
    assert not (tmp_path / "run").exists()
