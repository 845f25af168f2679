"""``progress_lines``: the plain-text view of ``progress(stage, done, total)`` for logs and pipes."""

from __future__ import annotations

import io
import re

from ssl_data.progress import Ticker, progress_lines, tracked

ETA = r"eta \d+:\d\d:\d\d"


def test_a_running_stage_gets_lines_with_its_eta_and_a_last_line_when_done() -> None:
    out = io.StringIO()
    progress = progress_lines(interval_s=0.0, stream=out)
    for done in range(0, 5):
        progress("stage", done, 4)
    lines = out.getvalue().splitlines()
    assert [line.split(",")[0] for line in lines] == ["stage: 1/4", "stage: 2/4", "stage: 3/4", "stage: 4/4"]
    assert all(re.fullmatch(r"stage: \d/4, [\d,.]+/s, " + ETA, line) for line in lines[:3]), lines
    assert re.fullmatch(r"stage: 4/4, [\d,.]+/s, done in \d+:\d\d:\d\d", lines[3]), lines


def test_between_lines_a_stage_waits_the_interval() -> None:
    out = io.StringIO()
    for _ in tracked(range(50), "images (train)", 50, progress_lines(stream=out)):  # default: 30 s apart
        pass
    assert len(out.getvalue().splitlines()) == 1 and out.getvalue().startswith("images (train): 50/50, ")


def test_unknown_totals_say_how_long_so_far_and_reruns_restart_the_clock() -> None:
    out = io.StringIO()
    progress = progress_lines(interval_s=0.0, stream=out)
    ticker = Ticker(progress, "download", 0)
    ticker.advance(3)
    assert re.fullmatch(r"download: 3/\?, [\d,.]+/s, \d+:\d\d:\d\d so far\n", out.getvalue()), out.getvalue()
    progress("download", 0, 2)  # the stage again, now with a total
    progress("download", 2, 2)
    assert out.getvalue().splitlines()[-1].startswith("download: 2/2, ")


def test_lines_go_to_the_stderr_of_the_moment(capsys) -> None:
    progress = progress_lines()  # made before pytest swaps stderr for each test phase: still found
    progress("x", 0, 1)
    progress("x", 1, 1)
    assert capsys.readouterr().err.startswith("x: 1/1, ")
