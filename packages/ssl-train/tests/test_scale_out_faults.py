"""Faults in a 2-process run (real processes, gloo, CPU): one rank SIGKILLed makes the job exit
non-zero within 60 s naming the rank; the elastic launcher's restarts, and a relaunch after a
failed job, resume from the last checkpoint and end bit-identical to the uninterrupted run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from ssl_models import checkpoint as ckpt_format
from ssl_train.launch import LaunchError, launch
from ssl_train.worker import worker_argv

from .conftest import TINY
from .processes import child_pid
from .test_scale_out_equivalence import Job, Launch

#: 100 steps of 2 x 16 images; a checkpoint after every step (room for the 10 kills of
#: test_sigkill_at_10_random_moments_then_resume_is_bit_identical, which shares the
#: uninterrupted run with test_max_restarts_resume_from_the_last_checkpoint).
OVER = [o for o in TINY["simclr"] if not o.startswith("data.batch_size=")] + [
    "data.batch_size=16", "train.epochs=20", "train.checkpoint_every_steps=1", "train.threads=1",
]  # fmt: skip
STEPS = 100

LAUNCHER = textwrap.dedent("""
    import sys
    from ssl_train.launch import LaunchError, launch
    from ssl_train.worker import worker_argv
    try:
        launch(worker_argv(sys.argv[1], sys.argv[2], sys.argv[4:]), nproc_per_node=2, max_restarts=int(sys.argv[3]))
    except LaunchError as exc:
        print(f"ssl: error: {exc}", file=sys.stderr)
        sys.exit(1)
""")


def _start(out: Path, max_restarts: int = 0, overrides: list[str] = OVER, recipe: str = "simclr") -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", LAUNCHER, recipe, str(out), str(max_restarts), *overrides],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def _worker_pid(launcher: int, rank: int) -> int:
    return child_pid(launcher, f"RANK={rank}")


def _wait_for_checkpoint(out: Path, proc: subprocess.Popen, timeout: float = 180) -> None:
    last = out / "checkpoints" / "last.pt"
    deadline = time.monotonic() + timeout
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last.exists(), "no checkpoint appeared"


def _wait_for_step(out: Path, proc: subprocess.Popen, step: int, timeout: float = 180) -> None:
    """Until ``last.pt`` holds ``step`` or later (the run is past its start-up). The file is read
    when its status changed or 1 s after the last read (reading it at every poll took CPU from
    the workers)."""
    last, seen, read_at = out / "checkpoints" / "last.pt", None, 0.0
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        try:
            stat = last.stat()
            if (stat.st_mtime_ns, stat.st_ino, stat.st_size) != seen or time.monotonic() - read_at > 1.0:
                seen, read_at = (stat.st_mtime_ns, stat.st_ino, stat.st_size), time.monotonic()
                if ckpt_format.load_checkpoint(last)["train_state"]["step"] >= step:
                    return
        except (OSError, ckpt_format.CheckpointError):
            seen = None
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of step {step} appeared")


def _state(out: Path) -> dict:
    return ckpt_format.load_checkpoint(out / "checkpoints" / "last.pt")["train_state"]


def _assert_identical(a: dict, b: dict) -> None:
    assert a["step"] == b["step"] and a["loss_history"] == b["loss_history"]
    for key in a["method"]:
        assert torch.equal(a["method"][key], b["method"][key]), key
    for rank_a, rank_b in zip(a["ranks"], b["ranks"], strict=True):  # per-rank buffers (queues, memories)
        assert rank_a["buffers"].keys() == rank_b["buffers"].keys()
        for key in rank_a["buffers"]:
            assert torch.equal(rank_a["buffers"][key], rank_b["buffers"][key]), key
    for (_, va), (_, vb) in zip(sorted(a["optimizer"]["state"].items()), sorted(b["optimizer"]["state"].items())):
        for name in va:
            assert torch.equal(torch.as_tensor(va[name]), torch.as_tensor(vb[name])), name


#: recipes whose loss keeps state that differs between ranks (``per_rank_buffers``): SwAV's queue
#: (in use from step 5: epoch 1 of 5 steps), DeepClusterV2's memory (clustered at every epoch start).
PER_RANK_STATE = {
    recipe: [o for o in TINY[recipe] if not o.startswith("data.batch_size=")]
    + ["data.batch_size=16", "data.limit=160", "train.epochs=4", "train.checkpoint_every_steps=1", "train.threads=1"]
    for recipe in ("deepclusterv2", "swav")
}
#: the uninterrupted 2-process runs the tests compare with, by recipe.
STRAIGHT = {"simclr": Job("simclr", "simclr", tuple(OVER))} | {r: Job(r, r, tuple(o)) for r, o in PER_RANK_STATE.items()}


@pytest.fixture(scope="module")
def straight_runs(tmp_path_factory: pytest.TempPathFactory) -> Launch:
    """Every uninterrupted run, in one launch of ``batch_worker.py`` (the processes start and
    import torch once for the three runs)."""
    return Launch(list(STRAIGHT.values()), tmp_path_factory.mktemp("straight"))


@pytest.fixture(scope="module")
def straight(straight_runs: Launch) -> dict:
    """The uninterrupted 2-process SimCLR run of ``OVER``."""
    return straight_runs.state(STRAIGHT["simclr"])


@pytest.mark.timeout(300)
def test_a_killed_rank_stops_the_job_within_60s_naming_it(tmp_path: Path) -> None:
    proc = _start(tmp_path)
    _wait_for_checkpoint(tmp_path, proc)
    os.kill(_worker_pid(proc.pid, 1), signal.SIGKILL)
    killed = time.monotonic()
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError("the job still runs 60 s after one of its ranks was killed") from None
    assert time.monotonic() - killed < 60
    assert proc.returncode != 0
    line = [x for x in err.splitlines() if x.startswith("ssl: error:")]
    assert line and "rank 1 " in line[-1] and "SIGKILL" in line[-1], err[-2000:]


def test_launch_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="nproc_per_node"):
        launch(["-m", "ssl_train.worker"], nproc_per_node=0)
    with pytest.raises(ValueError, match="rdzv_endpoint"):
        launch(["-m", "ssl_train.worker"], nnodes=2)
    with pytest.raises(LaunchError, match="rank 0 .*exit code 2"):
        launch(worker_argv("simclr", "/nonexistent-dir/x", ["no.such_key=1"]), nproc_per_node=1)


@pytest.mark.timeout(600)
def test_max_restarts_resume_from_the_last_checkpoint(tmp_path: Path, straight: dict) -> None:
    proc = _start(tmp_path, max_restarts=1)
    _wait_for_checkpoint(tmp_path, proc)
    time.sleep(0.7)
    os.kill(_worker_pid(proc.pid, 1), signal.SIGKILL)
    _, err = proc.communicate(timeout=400)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming at step" in err  # the restarted group resumed (not a run that ended before the kill)
    _assert_identical(_state(tmp_path), straight)


@pytest.mark.timeout(900)
@pytest.mark.parametrize("recipe", sorted(PER_RANK_STATE))
def test_a_restarted_rank_gets_its_own_queue_or_memory_back(tmp_path: Path, straight_runs: Launch, recipe: str) -> None:
    """Rank 1 killed after the queue / memory filled; the restarted job resumes every rank with
    its own buffers (not rank 0's) and ends bit-identical to the uninterrupted run."""
    over = PER_RANK_STATE[recipe]
    straight = straight_runs.state(STRAIGHT[recipe])
    r0, r1 = (r["buffers"] for r in straight["ranks"])
    assert r0 and any(not torch.equal(r0[k], r1[k]) for k in r0), "the ranks' buffers should differ"
    out = tmp_path / "killed"
    proc = _start(out, max_restarts=1, overrides=over, recipe=recipe)
    _wait_for_step(out, proc, 7)  # mid-epoch 1: the queue holds entries, the memory is half filled
    os.kill(_worker_pid(proc.pid, 1), signal.SIGKILL)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert "resuming at step" in err
    _assert_identical(_state(out), straight)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_sigkill_at_10_random_moments_then_resume_is_bit_identical(tmp_path: Path, straight: dict) -> None:
    """kill -9 of a random rank at 10 random moments (during steps and checkpoint writes alike),
    each after the attempt has written a new checkpoint; each time the job fails, and launching
    it again resumes it. The end is bit-identical to the uninterrupted 2-process run.

    Each attempt is a new launch (3 processes importing torch: most of the test's time). The
    moments are drawn over 0.5 s, several steps with their checkpoint writes (about 0.1 s each
    on an idle 2-core CPU), so that the 10 kills land within the shared run's 100 steps."""
    rng = random.Random(12)
    steps = []  # the checkpoint's step after each kill
    for attempt in range(10):
        proc = _start(tmp_path)
        _wait_for_step(tmp_path, proc, steps[-1] + 1 if steps else 1)  # this attempt is training
        time.sleep(rng.uniform(0.0, 0.5))
        rank = rng.randrange(2)
        os.kill(_worker_pid(proc.pid, rank), signal.SIGKILL)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode != 0, f"the run finished before kill {attempt + 1} landed (steps so far {steps})"
        assert f"rank {rank} " in err, err[-2000:]
        steps.append(ckpt_format.load_checkpoint(tmp_path / "checkpoints" / "last.pt")["train_state"]["step"])
    print(f"checkpoint step after each of the 10 kills: {steps}")
    assert steps[-1] < STEPS, "the kills should land before the end of the run"
    launch(worker_argv("simclr", str(tmp_path), OVER), nproc_per_node=2)
    _assert_identical(_state(tmp_path), straight)
