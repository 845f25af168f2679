"""The progress callback every long loop of ssl-evaluation takes: ``progress(stage, done, total)``
(:data:`ProgressFn`, ssl-data's, which its preparers take too), and two ways to report it.

Algorithms and suites call it with plain numbers; whoever passes it decides how to show them
(the ``ssl`` command draws a bar with rate and ETA on a terminal, one line per stage otherwise).
``None`` means silent."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from ssl_data.progress import ProgressFn

__all__ = ["ProgressFn", "Ticker", "tracked"]

T = TypeVar("T")


class Ticker:
    """Counts the units of one stage and reports them: ``progress(stage, 0, total)`` at once, then
    ``progress(stage, done, total)`` after every :meth:`advance` (``done`` capped at ``total``;
    ``total`` 0 means unknown, and ``done`` is not capped)."""

    def __init__(self, progress: ProgressFn | None, stage: str, total: int) -> None:
        self.progress, self.stage, self.total, self.done = progress, stage, max(0, int(total)), 0
        if progress is not None:
            progress(stage, 0, self.total)

    def advance(self, units: int = 1) -> None:
        """``units`` more are done."""
        self.done += int(units)
        if self.progress is not None:
            self.progress(self.stage, min(self.done, self.total) if self.total else self.done, self.total)


def tracked(
    items: Iterable[T], stage: str, total: int, progress: ProgressFn | None, size_of: Callable[[T], int] = lambda _: 1
) -> Iterator[T]:
    """Yield ``items`` unchanged, reporting ``progress(stage, done, total)`` after each one
    (``done`` grows by ``size_of(item)``: 1, or the batch size)."""
    ticker = Ticker(progress, stage, total)
    for item in items:
        yield item
        ticker.advance(size_of(item))
