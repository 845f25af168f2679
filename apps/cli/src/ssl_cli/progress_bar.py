"""A rich progress bar (count, rate, ETA) on stderr behind ssl-evaluation's progress callback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ssl_evaluation.suites import ProgressFn

__all__ = ["progress_bar"]


@contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn | None]:
    """Yields ``progress(stage, done, total)`` drawing one task per stage (``None`` when off)."""
    if not enabled:
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update
