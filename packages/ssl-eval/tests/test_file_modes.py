"""Results and reports are created with the user's umask (they were 0600 whatever the umask)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ssl_evaluation import write_report, write_results


@pytest.mark.parametrize(("mask", "file_mode", "dir_mode"), [(0o022, 0o644, 0o755), (0o027, 0o640, 0o750)])
def test_results_and_report_follow_the_umask(tmp_path: Path, mask: int, file_mode: int, dir_mode: int) -> None:
    before = os.umask(mask)
    try:
        out = tmp_path / "run"
        results = {"benchmarks": {"knn": {"top1": 50.0}}}
        written = [write_results(out, results), write_report(out, results, loss_history=[3.0, 2.0, 1.5])]
        written.append(out / "loss_curve.png")
    finally:
        os.umask(before)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == file_mode
    assert stat.S_IMODE(out.stat().st_mode) == dir_mode
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
