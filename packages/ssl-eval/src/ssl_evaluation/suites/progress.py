"""The progress callback every long loop of the suites takes: ``progress(stage, done, total)``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

__all__ = ["ProgressFn", "tracked"]

#: ``progress(stage, done, total)``: ``done`` of ``total`` units (images, iterations) of ``stage``.
ProgressFn = Callable[[str, int, int], None]

T = TypeVar("T")


def tracked(
    items: Iterable[T], stage: str, total: int, progress: ProgressFn | None, size_of: Callable[[T], int] = lambda _: 1
) -> Iterator[T]:
    """Yield ``items`` unchanged, reporting ``progress(stage, done, total)`` after each one
    (``done`` grows by ``size_of(item)``: 1, or the batch size)."""
    done = 0
    if progress is not None:
        progress(stage, 0, total)
    for item in items:
        yield item
        done += size_of(item)
        if progress is not None:
            progress(stage, min(done, total), total)
