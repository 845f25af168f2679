"""kill -9 at 10 seeded random moments inside checkpoint writes of a real `ssl pretrain simclr`, then
`--resume`: the end is bit-identical to an uninterrupted run and no temporary file is left
(benchmarks/kill_during_checkpoint.py, run here with its defaults).

It starts 12 `ssl` processes (44 minutes on the project's 2 cores at load 8), so it stays out of
the default run: ``SSL_LONG_TESTS=1 hatch run test tests/test_kill_during_checkpoint.py``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from kill_during_checkpoint import differences, run  # noqa: E402

from ssl_models import checkpoint as ckpt_format  # noqa: E402


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(os.environ.get("SSL_LONG_TESTS") != "1", reason="12 ssl processes, long: set SSL_LONG_TESTS=1")
def test_kill_9_in_10_checkpoint_writes_then_resume_is_bit_identical(tmp_path: Path) -> None:
    record = run(kills=10, seed=0, max_steps=60, work=tmp_path)
    assert record["kills_total"] == 10 and record["last_pt_loadable_after_every_kill"]
    assert record["kills_in_write"] >= 8, record["kills"]  # aimed at writes; one may end just before its kill
    steps = [k["last_pt_step"] for k in record["kills"]]
    assert steps == sorted(steps) and steps[-1] < 60, steps  # every attempt made progress, none reached the end
    assert record["bit_identical"], record["differences"]
    assert record["temp_files_left_at_end"] == []
    # the comparison sees one changed value of one tensor, or of the loss history
    last = tmp_path / "killed" / "checkpoints" / "last.pt"
    payload, changed = ckpt_format.load_checkpoint(last), ckpt_format.load_checkpoint(last)
    key = next(iter(changed["train_state"]["method"]))
    changed["train_state"]["method"][key].view(-1)[0] += 1  # shares storage with the trunk's entry
    assert f"/train_state/method/{key}" in differences(payload, changed)
    changed = ckpt_format.load_checkpoint(last)
    changed["train_state"]["loss_history"][3] += 1e-7
    changed["train_state"]["elapsed_seconds"] += 1.0  # wall-clock: not compared
    assert differences(payload, changed) == ["/train_state/loss_history[3]"]
