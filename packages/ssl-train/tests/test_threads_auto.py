"""With train.threads=0 a single-process run takes torch's default thread count less the cores
that other processes keep busy at start-up: real busy processes, real /proc readings."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import torch

from ssl_train.runtime import busy_cores_elsewhere, resolve_threads

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
