"""The progress callback of long loops, shared by ssl-data's preparers and ssl-evaluation:
``progress(stage, done, total)`` after each unit (image, video, iteration) of ``stage``.

:data:`ProgressFn` is the callback type; :class:`Ticker` and :func:`tracked` report a loop through
it; :func:`progress_lines` shows it as plain text lines (a log, a pipe: no terminal needed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TextIO, TypeVar

__all__ = ["LINE_INTERVAL_S", "ProgressFn", "Ticker", "progress_lines", "tracked"]

T = TypeVar("T")

#: ``progress(stage, done, total)``: ``done`` of ``total`` units of ``stage`` (``total`` 0: not
#: known in advance). Whoever passes it decides how to show it (the ``ssl`` command: a bar with
#: rate and ETA on a terminal, :func:`progress_lines` in a log); ``None`` means silent.
ProgressFn = Callable[[str, int, int], None]

#: Seconds between two lines of one running stage in :func:`progress_lines`.
LINE_INTERVAL_S = 30.0


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


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def progress_lines(interval_s: float | None = None, stream: TextIO | None = None) -> ProgressFn:
    """A :data:`ProgressFn` that writes ``STAGE: DONE/TOTAL, RATE/s, eta H:MM:SS`` lines to
    ``stream`` (default: ``sys.stderr`` at the time of each line): one when a stage ends (``done in
    H:MM:SS``) and at most one every ``interval_s`` seconds (default :data:`LINE_INTERVAL_S`) while
    it runs (``H:MM:SS so far`` when ``total`` is 0). ``done == 0`` (re)starts a stage's clock."""
    started: dict[str, float] = {}
    shown: dict[str, float] = {}

    def line(stage: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done == 0 or stage not in started:
            started[stage] = shown[stage] = now
        finished = 0 < total <= done
        every = LINE_INTERVAL_S if interval_s is None else interval_s
        if done == 0 or (not finished and now - shown[stage] < every):
            return
        shown[stage], rate = now, done / max(now - started[stage], 1e-9)
        left = f"eta {_clock((total - done) / rate)}" if total else f"{_clock(now - started[stage])} so far"
        tail = f"done in {_clock(now - started[stage])}" if finished else left
        print(f"{stage}: {done}/{total or '?'}, {rate:,.1f}/s, {tail}", file=stream or sys.stderr, flush=True)

    return line
