"""The progress callback of long loops, shared by ssl-data's preparers and ssl-evaluation:
``progress(stage, done, total)`` after each unit (image, video, iteration) of ``stage``."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ProgressFn"]

#: ``progress(stage, done, total)``: ``done`` of ``total`` units of ``stage`` (``total`` 0: not
#: known in advance). Whoever passes it decides how to show it (the ``ssl`` command: a bar with
#: rate and ETA on a terminal, plain lines in a log); ``None`` means silent.
ProgressFn = Callable[[str, int, int], None]
