"""Progress of long work on stderr behind the ``progress(stage, done, total)`` callback of
ssl-evaluation and ssl-data: on a terminal a rich bar per stage (count, rate, ETA); otherwise
(a log, a pipe) a plain line per stage when it ends and at most every 30 s while it runs."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ssl_data.progress import ProgressFn

__all__ = ["LINE_INTERVAL_S", "progress_bar"]

LINE_INTERVAL_S = 30.0  # seconds between two plain lines of one running stage


def _lines() -> ProgressFn:
    """``STAGE: DONE/TOTAL, RATE/s, eta H:MM:SS`` (``done in H:MM:SS`` at the end) lines."""
    started: dict[str, float] = {}
    shown: dict[str, float] = {}

    def clock(seconds: float) -> str:
        s = round(seconds)
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"

    def line(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == 0 or stage not in started:
            started[stage] = shown[stage] = now
        finished = 0 < total <= done
        if done == 0 or (not finished and now - shown[stage] < LINE_INTERVAL_S):
            return
        shown[stage], rate = now, done / max(now - started[stage], 1e-9)
        left = f"eta {clock((total - done) / rate)}" if total else f"{clock(now - started[stage])} so far"
        tail = f"done in {clock(now - started[stage])}" if finished else left
        print(f"{stage}: {done}/{total or '?'}, {rate:,.1f}/s, {tail}", file=sys.stderr, flush=True)

    return line


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn | None]:
    """Yields ``progress(stage, done, total)`` (``total`` 0: unknown), ``None`` when off."""
    from rich import progress as rp
    from rich.console import Console

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield _lines() if enabled else None
        return

    class Rate(rp.ProgressColumn):
        def render(self, task: Any) -> rp.Text:
            speed = task.finished_speed or task.speed
            return rp.Text("" if speed is None else f"{speed:,.1f}/s", style="progress.data.speed")

    columns = (rp.TextColumn("{task.description}"), rp.BarColumn(), rp.MofNCompleteColumn(), Rate(),
               rp.TextColumn("eta"), rp.TimeRemainingColumn())  # fmt: skip
    with rp.Progress(*columns, console=console) as bar:
        tasks: dict[str, Any] = {}
        reached: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks or (done == 0 and reached[stage] > 0):  # a stage run again: a new row
                tasks[stage] = bar.add_task(stage, total=total or None)
            reached[stage] = done
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update
