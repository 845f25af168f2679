"""Start a run on N processes per machine and M machines through torch's elastic launcher.

:func:`launch` is ``torchrun`` as a library call (``torch.distributed.run``): it starts
``nproc_per_node`` workers on this machine, joins the other machines at the rendezvous, watches
the workers, and when one fails stops the others and either restarts all of them
(``max_restarts``; each restarted process resumes from ``OUT/checkpoints/last.pt`` because the
worker pretrains with ``resume="auto"``) or raises :class:`LaunchError` naming the rank that
failed first.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

__all__ = ["LaunchError", "launch"]


class LaunchError(RuntimeError):
    """A worker failed (after the allowed restarts). ``rank`` failed first, with ``exit_code``
    (negative: killed by that signal); the message is one line."""

    def __init__(self, message: str, rank: int, exit_code: int) -> None:
        super().__init__(message)
        self.rank = rank
        self.exit_code = exit_code


def _launcher_args(
    argv: Sequence[str], nproc_per_node: int, nnodes: int | str, node_rank: int, rdzv_endpoint: str | None,
    rdzv_id: str | None, max_restarts: int, monitor_interval: float, log_dir: str | None,
) -> list[str]:  # fmt: skip
    args = [f"--nproc-per-node={nproc_per_node}", f"--max-restarts={max_restarts}", f"--monitor-interval={monitor_interval}"]
    if rdzv_endpoint is None:
        if str(nnodes) not in ("1", "1:1"):
            raise ValueError(f"nnodes={nnodes} needs rdzv_endpoint (HOST:PORT of the rendezvous)")
        args.append("--standalone")
    else:
        args += [f"--nnodes={nnodes}", f"--node-rank={node_rank}", "--rdzv-backend=c10d",
                 f"--rdzv-endpoint={rdzv_endpoint}", f"--rdzv-id={rdzv_id or 'ssl'}"]  # fmt: skip
    if log_dir is not None:
        args.append(f"--log-dir={log_dir}")
    argv = list(argv)
    if argv[:1] == ["-m"]:
        if len(argv) < 2:
            raise ValueError("argv ['-m'] needs a module name")
        args += ["--module", *argv[1:]]
    else:
        args += argv
    return args


def launch(
    argv: Sequence[str],
    *,
    nproc_per_node: int = 1,
    nnodes: int | str = 1,
    node_rank: int = 0,
    rdzv_endpoint: str | None = None,
    rdzv_id: str | None = None,
    max_restarts: int = 0,
    monitor_interval: float = 0.5,
    log_dir: str | None = None,
) -> None:
    """Run ``python argv...`` in ``nproc_per_node`` processes on this machine, as one job.

    Args:
        argv: what each process runs, as after ``python``: ``["-m", "module", args...]`` or
            ``["script.py", args...]``; for pretraining ``ssl_train.worker.worker_argv(recipe,
            out, overrides)`` (the ``ssl`` command passes its own entry point).
        nproc_per_node: processes on this machine (one per GPU; on a CPU, cores / threads each).
        nnodes: machines (``M`` or an elastic range ``"MIN:MAX"``); more than one needs
            ``rdzv_endpoint``.
        node_rank: this machine's index (0 .. nnodes - 1).
        rdzv_endpoint: ``HOST:PORT`` every machine can reach (usually node 0); ``None`` runs a
            single-machine job on a free local port.
        rdzv_id: the job's id at the rendezvous (the same on every machine).
        max_restarts: after a failure, restart every worker up to this many times (each
            resumes from the last checkpoint).
        monitor_interval: seconds between the launcher's health checks of its workers.
        log_dir: keep each worker's stdout/stderr there.

    Raises:
        LaunchError: a worker failed and no restart was left; one line naming the rank that
            failed first, its exit code or signal, and every other rank that failed.
        ValueError: bad arguments.
    """
    if nproc_per_node < 1:
        raise ValueError(f"nproc_per_node must be >= 1, got {nproc_per_node}")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be >= 0, got {max_restarts}")
    if not argv:
        raise ValueError("argv is empty: give what each process runs, e.g. ['-m', 'ssl_train.worker', ...]")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    args = parse_args(_launcher_args(argv, nproc_per_node, nnodes, node_rank, rdzv_endpoint,
                                     rdzv_id, max_restarts, monitor_interval, log_dir))  # fmt: skip
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the launcher's own default, said once instead of warned
    try:
        run(args)
    except ChildFailedError as exc:
        rank, first = exc.get_first_failure()
        others = sorted(r for r in exc.failures if r != rank)
        how = f"signal {first.signal_name()}" if first.exitcode < 0 else f"exit code {first.exitcode}"
        tail = f"; the launcher then stopped rank(s) {', '.join(map(str, others))}" if others else ""
        detail = "" if first.exitcode < 0 or not first.message or first.message.startswith("To enable") else f": {first.message.strip().splitlines()[-1]}"
        raise LaunchError(f"rank {rank} (local rank {first.local_rank}, pid {first.pid}) failed with {how}{detail}{tail}",
                          rank, first.exitcode) from None  # fmt: skip
