"""FSDP2 (``train.parallel=fsdp``, ``fully_shard`` on gloo/CPU) with real processes: a 2-process
sharded run equals the 1-process run (losses, weights, optimizer state, read back through
:func:`ssl_train.consolidate_dcp` from the DCP folder), and a rank killed under the elastic
launcher's restarts resumes from the sharded checkpoint bit-identically."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from ssl_models import checkpoint as ckpt_format
from ssl_train import consolidate_dcp

from .processes import child_pid
from .test_scale_out_equivalence import (EPOCHS, LOSS_TOL, Case, STEPS_PER_EPOCH, WEIGHT_TOL, _assert_optimizers_close, _max_weight_difference,
                                         _overrides, _run_one, _run_pair, _run_two)  # fmt: skip

FSDP = ["train.parallel=fsdp"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """(the 1-process SimCLR run's last state, the 2-process FSDP run's folder)."""
    tmp = tmp_path_factory.mktemp("fsdp")
    one, _, _ = _run_pair("simclr", tmp, two_extra=FSDP)
    return one, tmp / "two"


def _consolidated(run: Path, tmp: Path) -> dict:
    return ckpt_format.load_checkpoint(consolidate_dcp(run / "checkpoints" / "last.dcp", tmp / "consolidated.pt"))


@pytest.mark.timeout(900)
def test_fsdp_two_processes_equal_one_process(pair: tuple[dict, Path], tmp_path: Path) -> None:
    one, run = pair
    single = ckpt_format.load_checkpoint(run / "checkpoints" / "last.pt")
    assert single["sharded"]["folder"] == "last.dcp" and single["trunk"]["state_dict"] == {}
    assert single["train_state"]["optimizer"] is None
    assert not any(k.startswith("model.") for k in single["train_state"]["method"])
    two = _consolidated(run, tmp_path)["train_state"]
    assert two["step"] == one["step"] == STEPS_PER_EPOCH * EPOCHS and two["world_size"] == 2
    np.testing.assert_allclose(two["loss_history"], one["loss_history"], rtol=0, atol=LOSS_TOL)
    worst, where = _max_weight_difference(one["method"], two["method"])
    assert worst <= WEIGHT_TOL, f"{where} differs by {worst:.3g}"
    _assert_optimizers_close(one["optimizer"], two["optimizer"])


def test_final_checkpoint_holds_the_full_weights(pair: tuple[dict, Path], tmp_path: Path) -> None:
    _, run = pair
    final = ckpt_format.load_checkpoint(run / "checkpoints" / "final.pt")
    consolidated = _consolidated(run, tmp_path)
    for key, value in consolidated["trunk"]["state_dict"].items():
        assert torch.equal(final["trunk"]["state_dict"][key], value), key
    trunk = ckpt_format.trunk_from_checkpoint(consolidated)
    assert trunk(torch.zeros(2, 3, 16, 16)).shape[0] == 2


def test_consolidate_refuses_a_folder_without_its_single_file(tmp_path: Path) -> None:
    (tmp_path / "last.dcp").mkdir()
    with pytest.raises(FileNotFoundError, match="last.pt"):
        consolidate_dcp(tmp_path / "last.dcp", tmp_path / "out.pt")
    assert not (tmp_path / "out.pt").exists()


LAUNCHER = textwrap.dedent("""
    import sys
    from ssl_train.launch import launch
    from ssl_train.worker import worker_argv
    launch(worker_argv("simclr", sys.argv[1], sys.argv[2:]), nproc_per_node=2, max_restarts=1)
""")


@pytest.mark.timeout(900)
def test_fsdp_restart_after_a_killed_rank_resumes_bit_identically(pair: tuple[dict, Path], tmp_path: Path) -> None:
    """The same run with a checkpoint after every step (a resume-safe key); rank 1 is killed
    after the 5th checkpoint; the restarted group reads last.pt + last.dcp and ends equal."""
    _, straight = pair
    over, batch = _overrides("simclr")
    over = over + [f"data.batch_size={batch // 2}", *FSDP, "train.checkpoint_every_steps=1"]
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(out), *over], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    last = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            if ckpt_format.load_checkpoint(last)["train_state"]["step"] >= 5:
                break
        except ckpt_format.CheckpointError:
            pass
        time.sleep(0.1)
    assert proc.poll() is None, "the run ended before the kill"
    os.kill(child_pid(proc.pid, "RANK=1"), signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming at step" in err
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _consolidated(out, tmp_path / "a")["train_state"]
    b = _consolidated(straight, tmp_path / "b")["train_state"]
    assert a["loss_history"] == b["loss_history"]
    for key in b["method"]:
        assert torch.equal(a["method"][key], b["method"][key]), key
    _assert_optimizers_close(b["optimizer"], a["optimizer"], tol=0.0)


@pytest.mark.timeout(900)
def test_fsdp_with_an_ema_teacher_equals_one_process(tmp_path: Path) -> None:
    """DINO: the teacher (a MomentumEncoder, unsharded) follows the sharded student, and the
    center is the same; compared after consolidation as above. DINO trains channels-last by
    default, which FSDP2 cannot shard: the sharded run turns it off (it crashed before), and
    equals a 1-process run with it off (with it on, other kernels: 4e-4 apart after 20 steps).
    Both run in float64 like the DDP case (:data:`FLOAT64`: the head's BatchNorm amplifies float32
    rounding)."""
    case = Case("dino", "dino")
    over, batch = _overrides("dino", extra=case.overrides)
    one = _run_one("dino", tmp_path / "one", [*over, "train.channels_last=false"], batch)["state"]
    _run_two("dino", tmp_path / "two", over, batch, FSDP)
    two = _consolidated(tmp_path / "two", tmp_path)["train_state"]
    loss_tol, weight_tol = case.tolerances
    np.testing.assert_allclose(two["loss_history"], one["loss_history"], rtol=0, atol=loss_tol)
    worst, where = _max_weight_difference(one["method"], two["method"])  # student, teacher, center
    assert worst <= weight_tol, f"{where} differs by {worst:.3g}"
