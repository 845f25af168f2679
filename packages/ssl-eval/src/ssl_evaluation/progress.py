"""The progress callback every long loop of ssl-evaluation takes: ``progress(stage, done, total)``
(:data:`ProgressFn`) and the ways to report and show it, all ssl-data's (:mod:`ssl_data.progress`,
which its preparers use too), re-exported here.

Algorithms and suites call it with plain numbers; whoever passes it decides how to show them
(the ``ssl`` command draws a bar with rate and ETA on a terminal, one line per stage otherwise).
``None`` means silent."""

from __future__ import annotations

from ssl_data.progress import ProgressFn, Ticker, progress_lines, tracked

__all__ = ["ProgressFn", "Ticker", "progress_lines", "tracked"]
