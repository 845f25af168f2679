"""SLURM through submitit: the local executor runs a real short pretraining; a preemption signal
requeues it and the requeued job resumes from the last checkpoint, ending bit-identical to an
uninterrupted run; the sbatch file of a 2-node job carries VISSL's SLURM options."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

pytest.importorskip("submitit", reason="the slurm extra (submitit) is not installed")

from ssl_models import checkpoint as ckpt_format  # noqa: E402
from ssl_train import get_recipe, load_config, pretrain  # noqa: E402
from ssl_train.slurm import SlurmOptions, sbatch_script, submit  # noqa: E402

from .conftest import TINY  # noqa: E402
from .processes import child_pid  # noqa: E402

OVER = TINY["simclr"] + ["train.threads=1"]


@pytest.mark.timeout(300)
def test_local_executor_runs_a_short_pretraining(tmp_path: Path) -> None:
    job = submit("simclr", tmp_path / "run", OVER + ["train.epochs=1"], SlurmOptions(time_minutes=5), cluster="local")
    final = Path(job.result())
    assert final == tmp_path / "run" / "checkpoints" / "final.pt" and final.is_file()
    assert ckpt_format.load_checkpoint(final)["recipe"]["name"] == "simclr"


@pytest.mark.timeout(600)
def test_preemption_requeues_and_resumes_bit_identically(tmp_path: Path) -> None:
    over = OVER + ["train.epochs=10", "train.checkpoint_every_steps=1"]
    straight = pretrain("simclr", load_config(get_recipe("simclr").config_class(), over), tmp_path / "a", progress=False)
    job = submit("simclr", tmp_path / "b", over, SlurmOptions(time_minutes=10), cluster="local")
    last = tmp_path / "b" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    os.kill(child_pid(job._process.pid, "SUBMITIT_LOCAL_GLOBALID=0"), signal.SIGUSR2)  # what SLURM sends the task
    job.result()
    log = "".join(p.read_text() for p in (tmp_path / "b" / "slurm-logs").rglob("*.err"))
    assert "Caught signal SIGUSR2" in log and "(resuming at step" in log, log[-2000:]
    a = ckpt_format.load_checkpoint(tmp_path / "a" / "checkpoints" / "last.pt")["train_state"]
    b = ckpt_format.load_checkpoint(last)["train_state"]
    assert b["loss_history"] == straight.loss_history == a["loss_history"]
    for key in a["method"]:
        assert torch.equal(a["method"][key], b["method"][key]), key


def test_two_node_sbatch_script(tmp_path: Path) -> None:
    opts = SlurmOptions(partition="learnlab", nodes=2, gpus_per_node=8, cpus_per_task=10, mem="480G", time_minutes=4320,
                        constraint="volta32gb", comment="ssl scale-out", job_name="dino-64", log_folder=str(tmp_path))  # fmt: skip
    text = sbatch_script(opts, tmp_path)
    for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=8", "#SBATCH --gpus-per-node=8", "#SBATCH --cpus-per-task=10",
                 "#SBATCH --partition=learnlab", "#SBATCH --mem=480G", "#SBATCH --time=4320", "#SBATCH --constraint=volta32gb",
                 "#SBATCH --comment='ssl scale-out'", "#SBATCH --job-name=dino-64", "#SBATCH --signal=USR2@120",
                 "#SBATCH --open-mode=append"):  # fmt: skip
        assert line in text.splitlines(), (line, text)
    assert "srun" in text and "submitit.core._submit" in text
    assert opts.executor_parameters()["tasks_per_node"] == 8
