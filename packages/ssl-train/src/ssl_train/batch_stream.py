"""The training batches of one rank, epoch by epoch, with the next batch's views computed while
the current step runs.

For in-memory data the views of a batch are computed by the batched augmentation
(:func:`ssl_train.views.augment_batch`), which is about a quarter of a SimCLR step on a small CPU.
With ``overlap`` a side thread computes batch ``k + 1``'s views while the caller trains on batch
``k`` (torch ops release the GIL, so the two run at once); the first batch of the next epoch is
prepared during the last step of the current one. The views are the same bits either way: every
sample's augmentation is drawn from ``(seed, epoch, index, view)`` only, and the batched
augmentation gives the same bits with any number of intra-op threads.

The loader runs one batch ahead of the steps, so :meth:`BatchStream.state_dict` is the loader's
state after the batches the caller has taken, saved when each was fetched, never the state after
the prefetched one: a checkpoint resumes at the first batch no step has consumed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import torch

from ssl_train.recipes.base import Batch
from ssl_train.training_data import TrainingData

__all__ = ["BatchStream", "side_thread_count"]


def side_thread_count(main_threads: int) -> int:
    """Intra-op threads of the side thread: a quarter of the main thread's (at least 1).

    The augmentation is about a quarter of a step, so a quarter of the threads keeps it ahead
    while the main thread keeps all of its own; left alone, a new thread would take torch's
    global count (the main thread's) and double the threads on the cores.
    """
    return max(1, main_threads // 4)


@dataclass
class _Pending:
    views: Future[Batch]
    loader_state: dict[str, Any]


class BatchStream:
    """A :class:`TrainingData`'s batches as :class:`Batch` es, one epoch at a time.

    Args:
        data: the rank's training data.
        device: where batches go (the views of in-memory data are computed there).
        overlap: compute the next batch's views on a side thread (in-memory data only; the
            streaming path already augments in DataLoader workers).
        side_threads: intra-op threads of the side thread (0: :func:`side_thread_count` of the
            caller's ``torch.get_num_threads()`` when the stream is entered).

    Use as a context manager (the side thread ends on exit). ``state_dict`` /
    ``load_state_dict`` stand in for the loader's in a :class:`ssl_train.state.TrainState`.
    """

    def __init__(self, data: TrainingData, device: torch.device, overlap: bool = True, side_threads: int = 0) -> None:
        self.data = data
        self.device = device
        self.overlap = bool(overlap and data.in_memory)
        self.side_threads = side_threads
        self._executor: ThreadPoolExecutor | None = None
        self._taken: dict[str, Any] | None = None  # loader state after the last batch handed out
        self._ahead: tuple[int, Iterator[Any], _Pending] | None = None  # next epoch's first batch

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> BatchStream:
        if self.overlap and self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ssl-views")
            main_threads = torch.get_num_threads()
            side = self.side_threads if self.side_threads > 0 else side_thread_count(main_threads)
            self._executor.submit(self._init_side_thread, side).result()
            # torch.set_num_threads also sets the count new threads start with: give it back
            torch.set_num_threads(main_threads)
        return self

    def _init_side_thread(self, threads: int) -> None:
        torch.get_num_threads()  # torch sets this thread's count from the global one on first use
        torch.set_num_threads(threads)  # this thread's OpenMP count (and the global one)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Drop a prepared batch and end the side thread (waits for work in flight)."""
        self._drop_ahead()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    # ------------------------------------------------------------------ the loader's stand-in
    def __len__(self) -> int:
        return len(self.data.loader)

    def state_dict(self) -> dict[str, Any]:
        """The loader's state after the batches handed out so far (not after a prefetched one)."""
        return copy.deepcopy(self._taken) if self._taken is not None else self.data.loader.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._drop_ahead()
        self._taken = None
        self.data.loader.load_state_dict(state)

    # ------------------------------------------------------------------ batches
    def epoch(self, epoch: int, start: bool, next_epoch: bool = False) -> Iterator[Batch]:
        """The batches of ``epoch``.

        Args:
            start: the epoch starts here (the loader is set to ``epoch``); False continues a
                resumed loader inside the epoch.
            next_epoch: another epoch follows; with ``overlap``, its first batch is prepared
                during this epoch's last step.
        """
        loader = self.data.loader
        if not self.overlap:
            if start:
                loader.set_epoch(epoch)
            for raw in loader:
                yield self.data.to_batch(raw, epoch, self.device)
            return
        if start and self._ahead is not None and self._ahead[0] == epoch:
            _, it, first = self._ahead
            pending: _Pending | None = first
        else:
            self._drop_ahead()
            if start:
                loader.set_epoch(epoch)
            it = iter(loader)
            pending = self._fetch(it, epoch)
        self._ahead = None
        try:
            while pending is not None:
                current = pending
                pending = self._fetch(it, epoch)
                if pending is None and next_epoch:
                    loader.set_epoch(epoch + 1)
                    following = iter(loader)
                    first = self._fetch(following, epoch + 1)
                    if first is not None:
                        self._ahead = (epoch + 1, following, first)
                batch = current.views.result()
                self._taken = current.loader_state
                yield batch
        finally:
            if pending is not None:  # the caller stopped inside the epoch: let the work finish, drop it
                _wait(pending)

    def _fetch(self, it: Iterator[Any], epoch: int) -> _Pending | None:
        """The next raw batch (read here) with its views started on the side thread."""
        try:
            raw = next(it)
        except StopIteration:
            return None
        state = copy.deepcopy(self.data.loader.state_dict())
        if self._executor is None:
            raise RuntimeError("enter the BatchStream (with ...) before taking batches with overlap")
        return _Pending(self._executor.submit(self.data.to_batch, raw, epoch, self.device), state)

    def _drop_ahead(self) -> None:
        if self._ahead is not None:
            _wait(self._ahead[2])
            self._ahead = None


def _wait(pending: _Pending) -> None:
    """Cancel a batch nobody will take, or wait for its views (their error is not raised)."""
    if not pending.views.cancel():
        pending.views.exception()
