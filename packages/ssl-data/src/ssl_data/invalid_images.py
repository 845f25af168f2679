"""Invalid-image handling in the spirit of VISSL's QueueDataset.

A file that cannot be decoded is replaced by a recently seen valid sample (never one already in
the same batch), each replacement is counted and logged with its path, and a run that meets more
than ``max_invalid_fraction`` invalid images stops with a clear error.
"""

from __future__ import annotations

import logging
import multiprocessing
import struct
import zlib
from collections import deque
from collections.abc import Iterator

from PIL import Image

__all__ = ["DECODE_ERRORS", "InvalidImageQueue", "TooManyInvalidImagesError"]

logger = logging.getLogger("ssl_data.invalid_images")

#: Exceptions that mean "this file is not a readable image" (missing, truncated, corrupt, bomb).
DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
)


class TooManyInvalidImagesError(RuntimeError):
    """Raised when the fraction of invalid images exceeds the configured maximum."""


class InvalidImageQueue:
    """Bookkeeping for invalid images: a queue of recent valid indices plus run-wide counters.

    The counters (``num_seen``, ``num_invalid``) are shared-memory integers, so DataLoader
    workers (fork, spawn or forkserver) add to the same totals that the main process reads.
    The queue itself is per process (each worker replaces from what it has decoded).

    Args:
        dataset_size: number of samples; ``min(dataset_size, 1000)`` is the smallest
            denominator of the invalid fraction, so one bad file among the very first samples
            does not stop a long run.
        queue_size: how many recent valid indices are kept as replacement candidates.
        max_invalid_fraction: stop (``TooManyInvalidImagesError``) when
            ``num_invalid > max_invalid_fraction * max(num_seen, min(dataset_size, 1000))``.
    """

    def __init__(self, dataset_size: int, queue_size: int = 256, max_invalid_fraction: float = 0.01) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1, got {queue_size}")
        if not 0.0 <= max_invalid_fraction <= 1.0:
            raise ValueError(f"max_invalid_fraction must be in [0, 1], got {max_invalid_fraction}")
        self.dataset_size = dataset_size
        self.queue_size = queue_size
        self.max_invalid_fraction = max_invalid_fraction
        self._recent: deque[int] = deque(maxlen=queue_size)
        self._seen = multiprocessing.Value("q", 0)
        self._invalid = multiprocessing.Value("q", 0)

    @property
    def num_seen(self) -> int:
        """Samples requested so far (all processes of this dataset)."""
        return int(self._seen.value)

    @property
    def num_invalid(self) -> int:
        """Invalid files met so far (all processes of this dataset)."""
        return int(self._invalid.value)

    def reset_counts(self) -> None:
        with self._seen.get_lock():
            self._seen.value = 0
        with self._invalid.get_lock():
            self._invalid.value = 0

    def record_valid(self, index: int) -> None:
        with self._seen.get_lock():
            self._seen.value += 1
        self._recent.append(index)

    def record_invalid(self, index: int, path: str, error: BaseException) -> None:
        """Count and log one invalid file; raise TooManyInvalidImagesError past the limit."""
        with self._seen.get_lock():
            self._seen.value += 1
            seen = self._seen.value
        with self._invalid.get_lock():
            self._invalid.value += 1
            invalid = self._invalid.value
        logger.warning("invalid image %s (index %d): %s: %s; replaced", path, index, type(error).__name__, error)
        floor = min(self.dataset_size, 1000)
        if invalid > self.max_invalid_fraction * max(seen, floor):
            raise TooManyInvalidImagesError(
                f"{invalid} invalid images among {seen} read (last: {path}: {error}), more than "
                f"max_invalid_fraction={self.max_invalid_fraction}; fix or remove the files"
            )

    def candidates(self, index: int, exclude: set[int]) -> Iterator[int]:
        """Replacement indices for ``index``: recent valid samples (newest first) not in
        ``exclude``, then, when none is left, the following indices of the dataset in order."""
        for candidate in reversed(list(self._recent)):
            if candidate not in exclude:
                yield candidate
        for step in range(1, self.dataset_size):
            candidate = (index + step) % self.dataset_size
            if candidate not in exclude:
                yield candidate
