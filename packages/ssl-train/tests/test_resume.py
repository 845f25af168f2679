"""Crash anywhere and resume: the run ends bit-identical to an uninterrupted one (every weight and
buffer of the method, the optimizer, the loss history), for SimCLR and DINO, in memory and
streaming from a folder with 0 and 2 loader workers; a real SIGKILL'ed process resumes too."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ssl_models import checkpoint as ckpt_format
from ssl_train import ConfigError, get_recipe, load_config, pretrain
from ssl_train.hooks import Hook

from .conftest import TINY


class Crash(Hook):
    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_step_end(self, run, metrics):
        if run.state.step == self.at_step:
            raise RuntimeError("simulated crash")


def _assert_same_state(a: Path, b: Path) -> None:
    sa = ckpt_format.load_checkpoint(a / "checkpoints" / "last.pt")["train_state"]
    sb = ckpt_format.load_checkpoint(b / "checkpoints" / "last.pt")["train_state"]
    assert sa["step"] == sb["step"] and sa["loss_history"] == sb["loss_history"]
    assert sa["method"].keys() == sb["method"].keys()
    for key in sa["method"]:
        assert torch.equal(sa["method"][key], sb["method"][key]), key
    for (ka, va), (kb, vb) in zip(sorted(sa["optimizer"]["state"].items()), sorted(sb["optimizer"]["state"].items())):
        for name in va:
            assert torch.equal(torch.as_tensor(va[name]), torch.as_tensor(vb[name])), (ka, name)


def _config(name: str, source: str, workers: int):
    over = TINY[name] + [f"data.source={source}", f"data.num_workers={workers}", "train.checkpoint_every_steps=2"]
    if source != "digits":
        over += ["data.batch_size=16", "data.limit=0"]
    return load_config(get_recipe(name).config_class(), over)


#: every data path for SimCLR and DINO; in memory for the other recipes that keep state between
#: steps (MoCo's queue and key encoder, SwAV's queue and iteration counter, BYOL's target).
RESUME_CASES = [(n, d, w) for n in ("simclr", "dino") for d, w in (("memory", 0), ("folder", 0), ("folder", 2))]
RESUME_CASES += [(n, "memory", 0) for n in ("moco", "swav", "byol")]
#: memory banks, k-means memories and assignments, pseudo-labels, jigsaw permutation sets
RESUME_CASES += [(n, "memory", 0) for n in ("npid", "pirl", "deepclusterv2", "clusterfit", "jigsaw")]


@pytest.mark.parametrize("name,data,workers", RESUME_CASES)
def test_crash_and_resume_is_bit_identical(tmp_path, image_folder, name: str, data: str, workers: int) -> None:
    source = "digits" if data == "memory" else str(image_folder)
    cfg = _config(name, source, workers)
    straight = pretrain(name, cfg, tmp_path / "a", progress=False)
    crash_at = straight.steps // 2 + 1  # inside the second epoch, after a checkpoint, before the next
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain(name, cfg, tmp_path / "b", progress=False, hooks=[Crash(crash_at)])
    assert not (tmp_path / "b" / "checkpoints" / "final.pt").exists()
    resumed = pretrain(name, cfg, tmp_path / "b", resume=True, progress=False)
    assert resumed.steps == straight.steps and resumed.loss_history == straight.loss_history
    _assert_same_state(tmp_path / "a", tmp_path / "b")


SCRIPT = textwrap.dedent("""
    import sys
    from ssl_train import get_recipe, load_config, pretrain
    cfg = load_config(get_recipe("simclr").config_class(), sys.argv[2:])
    pretrain("simclr", cfg, sys.argv[1], progress=False)
""")


@pytest.mark.parametrize("delay", [0.0, 0.5, 1.2])
def test_sigkill_at_a_moment_then_resume(tmp_path, delay: float) -> None:
    """SIGKILL ``delay`` seconds after the first checkpoint appeared (checkpoints every step, so
    kills land in steps and in checkpoint writes alike)."""
    over = TINY["simclr"] + ["train.epochs=8", "train.checkpoint_every_steps=1"]
    cfg = load_config(get_recipe("simclr").config_class(), over)
    straight = pretrain("simclr", cfg, tmp_path / "a", progress=False)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / "b"), *over], env={**os.environ, "PYTHONHASHSEED": "0"})
    last = tmp_path / "b" / "checkpoints" / "last.pt"
    deadline = time.monotonic() + 120
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the run ended before the kill: make it longer"
    assert last.exists()
    assert (tmp_path / "b" / ".ssl-run.lock").exists()  # left by the killed process; resume takes it over
    resumed = pretrain("simclr", cfg, tmp_path / "b", resume=True, progress=False)
    assert resumed.loss_history == straight.loss_history
    _assert_same_state(tmp_path / "a", tmp_path / "b")
    assert not list((tmp_path / "b" / "checkpoints").glob(".*.tmp"))


def test_resume_refuses_a_changed_config_and_a_missing_checkpoint(tmp_path) -> None:
    cfg = load_config(get_recipe("simclr").config_class(), TINY["simclr"] + ["train.epochs=1"])
    pretrain("simclr", cfg, tmp_path, progress=False)
    before = (tmp_path / "checkpoints" / "last.pt").read_bytes()
    changed = load_config(get_recipe("simclr").config_class(), TINY["simclr"] + ["train.epochs=1", "optim.lr=0.1", "data.batch_size=16"])
    with pytest.raises(ConfigError, match=r"differs from the checkpoint's in data\.batch_size, optim\.lr"):
        pretrain("simclr", changed, tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoints" / "last.pt").read_bytes() == before
    longer = load_config(get_recipe("simclr").config_class(), TINY["simclr"] + ["train.epochs=2"])
    assert pretrain("simclr", longer, tmp_path, resume=True, progress=False).epochs == 2  # a safe key
    with pytest.raises(ConfigError, match="no checkpoint to resume"):
        pretrain("simclr", cfg, tmp_path / "empty", resume=True, progress=False)
    assert not (tmp_path / "empty").exists()
