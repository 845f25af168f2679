"""With train.threads=0 a single-process run takes torch's default thread count less the cores
that other processes keep busy at start-up: real busy processes, real /proc readings."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from ssl_train import get_recipe, load_config, pretrain
from ssl_train.hooks import Hook
from ssl_train.runtime import busy_cores_elsewhere, resolve_threads

from .conftest import TINY

SPIN = "import time\nend = time.monotonic() + 60\nwhile time.monotonic() < end:\n    pass\n"


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads Linux's /proc")
def test_busy_cores_elsewhere_count_and_leave_one_thread() -> None:
    cores = os.cpu_count() or 1
    if cores < 2 or torch.get_num_threads() < 2:
        pytest.skip("needs a machine where torch runs more than one thread")
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(cores)]
    try:
        time.sleep(0.5)  # the interpreters are up and spinning
        assert busy_cores_elsewhere() >= cores - 1
        threads, how = resolve_threads(0, 1)
        assert threads == 1, how
        assert how.startswith("auto: ") and "busy with other work" in how
    finally:
        for p in spinners:
            p.kill()
            p.wait()


def test_set_and_per_rank_counts_do_not_read_the_load() -> None:
    assert resolve_threads(3, 1) == (3, "set")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    assert resolve_threads(0, 2) == (max(1, cores // 2), "auto: the cores shared by 2 ranks on this host")


class ThreadsDuringSteps(Hook):
    def __init__(self) -> None:
        self.counts: list[int] = []

    def on_step_end(self, run, metrics) -> None:
        self.counts.append(torch.get_num_threads())


def test_a_run_gives_the_callers_thread_count_back(tmp_path) -> None:
    """A run sets torch's process-wide count (here 1, ``train.threads=1``); afterwards the caller's
    count is back, so that a second run in the same process (a benchmark looping over recipes)
    resolves its own count from torch's default, not from the first run's choice."""
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        watch = ThreadsDuringSteps()
        cfg = load_config(get_recipe("simclr").config_class(), TINY["simclr"] + ["train.threads=1", "train.max_steps=2"])
        result = pretrain("simclr", cfg, tmp_path / "run", progress=False, hooks=[watch])
        assert watch.counts == [1, 1] and result.threads == 1
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
