"""Run a function on 2 real ``torch.distributed`` processes (gloo, CPU) from a test.

Usage in a test module (this folder is put on ``sys.path`` by ``conftest.py``)::

    from dist_harness import run_on_ranks

    def _body(x):            # module-level function; runs on every rank
        from ssl_losses import distributed
        return distributed.all_reduce_sum(x)

    def test_sum():
        results = run_on_ranks(_body, torch.ones(2))   # list, index = rank
        assert torch.equal(results[0], torch.full((2,), 2.0))

Design: a pool of ``WORLD_SIZE`` spawned worker processes is started on the first
call and kept for the whole pytest session (starting Python + torch costs seconds on
a loaded 2-core machine). Each worker joins one gloo process group (file init in a
temporary folder), then runs tasks: ``fn`` is shipped as (source file, qualified name)
and loaded in the worker from that file, so it works under pytest's
``--import-mode=importlib``. Arguments and results are pickled (tensors, numbers,
plain containers). Every rank gets the same arguments; use ``distributed.rank()``
inside ``fn`` to pick a rank's share. If any rank raises or a task takes longer than
``timeout`` seconds, the pool is torn down (a rank left waiting in a collective cannot
be reused) and ``RankError`` carries the rank's traceback; the next call starts a new
pool.
"""

from __future__ import annotations

import atexit
import importlib.util
import inspect
import multiprocessing as mp
import os
import queue
import sys
import tempfile
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["WORLD_SIZE", "RankError", "concat_crop_major", "run_on_ranks", "shutdown"]

WORLD_SIZE = 2


def concat_crop_major(per_rank: Any, num_crops: int) -> Any:
    """``[world, num_crops * B, ...]`` (each rank's crop-major rows) -> ``[num_crops * world * B, ...]``.

    The crop-major batch one process would see for all ranks' images (rank-major within each
    crop), i.e. the "concatenated batch" to compare a 2-process run with. Also maps per-rank
    gradients to the single-process layout.
    """
    world, rows = per_rank.shape[:2]
    rest = tuple(per_rank.shape[2:])
    split = per_rank.reshape(world, num_crops, rows // num_crops, *rest)
    return split.transpose(0, 1).reshape(num_crops * world * (rows // num_crops), *rest)


class RankError(RuntimeError):
    """A rank raised, died or timed out; the message holds its traceback."""


def _load(path: str, qualname: str, cache: dict[str, Any]) -> Callable[..., Any]:
    module = cache.get(path)
    if module is None:
        name = f"_dist_task_{len(cache)}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        cache[path] = module
    obj: Any = module
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _worker(rank: int, world: int, init_file: str, tasks: Any, results: Any) -> None:
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    cache: dict[str, Any] = {}
    try:
        dist.init_process_group(
            "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world
        )
    except BaseException:
        results.put((rank, False, traceback.format_exc()))
        return
    results.put((rank, True, "ready"))
    while True:
        task = tasks.get()
        if task is None:
            break
        path, qualname, args, kwargs = task
        try:
            fn = _load(path, qualname, cache)
            out = fn(*args, **kwargs)
            results.put((rank, True, out))
        except BaseException:
            results.put((rank, False, traceback.format_exc()))
    dist.destroy_process_group()


class _Pool:
    def __init__(self, world: int, timeout: float) -> None:
        ctx = mp.get_context("spawn")
        self.world = world
        self.tmpdir = tempfile.TemporaryDirectory(prefix="ssl_losses_dist_")
        init_file = os.path.join(self.tmpdir.name, "init")
        self.tasks = [ctx.Queue() for _ in range(world)]
        self.results = ctx.Queue()
        self.procs = [
            ctx.Process(
                target=_worker,
                args=(r, world, init_file, self.tasks[r], self.results),
                daemon=True,
            )
            for r in range(world)
        ]
        for p in self.procs:
            p.start()
        self._collect(timeout, "start-up")

    def _collect(self, timeout: float, what: str) -> list[Any]:
        out: list[Any] = [None] * self.world
        pending = set(range(self.world))
        while pending:
            try:
                r, ok, value = self.results.get(timeout=timeout)
            except queue.Empty:
                dead = [r for r in pending if not self.procs[r].is_alive()]
                raise RankError(
                    f"ranks {sorted(pending)} gave no result for {what} within {timeout}s"
                    + (f" (dead: {dead})" if dead else "")
                ) from None
            if not ok:
                raise RankError(f"rank {r} failed in {what}:\n{value}")
            out[r] = value
            pending.discard(r)
        return out

    def run(self, fn: Callable[..., Any], args: tuple, kwargs: dict, timeout: float) -> list[Any]:
        path = inspect.getfile(fn)
        for q in self.tasks:
            q.put((path, fn.__qualname__, args, kwargs))
        return self._collect(timeout, fn.__qualname__)

    def close(self) -> None:
        for q, p in zip(self.tasks, self.procs):
            if p.is_alive():
                try:
                    q.put(None)
                except (OSError, ValueError):
                    pass
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.terminate()
                p.join(timeout=5)
        self.tmpdir.cleanup()


_pool: _Pool | None = None


def shutdown() -> None:
    """Stop the worker processes (also registered with ``atexit``)."""
    global _pool
    if _pool is not None:
        pool, _pool = _pool, None
        pool.close()


atexit.register(shutdown)


def run_on_ranks(
    fn: Callable[..., Any], *args: Any, timeout: float = 120.0, **kwargs: Any
) -> list[Any]:
    """Run ``fn(*args, **kwargs)`` on each of ``WORLD_SIZE`` gloo ranks.

    ``fn`` must be a module-level function (or a class attribute reachable by its
    qualified name) of an importable source file; it may use ``torch.distributed``
    collectives on the default group. Returns the ``WORLD_SIZE`` return values,
    indexed by rank. Raises ``RankError`` with the failing rank's traceback.
    """
    global _pool
    if _pool is None:
        _pool = _Pool(WORLD_SIZE, timeout)
    try:
        return _pool.run(fn, args, kwargs, timeout)
    except BaseException:
        shutdown()
        raise
