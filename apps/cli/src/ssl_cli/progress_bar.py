"""Progress of long work on stderr behind the ``progress(stage, done, total)`` callback of
ssl-evaluation, ssl-data and ssl-convert: on a terminal a rich bar per stage (count, rate, ETA);
otherwise (a log, a pipe) ssl-data's plain lines (:func:`ssl_data.progress.progress_lines`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ssl_data.progress import ProgressFn

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn | None]:
    """Yields ``progress(stage, done, total)`` (``total`` 0: unknown), ``None`` when off."""
    from rich import progress as rp
    from rich.console import Console
    from ssl_data.progress import progress_lines

    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield progress_lines() if enabled else None
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
