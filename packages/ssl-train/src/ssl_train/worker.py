"""What every process of a launched run executes: ``python -m ssl_train.worker RECIPE OUT [key=value ...]``.

The elastic launcher (:func:`ssl_train.launch.launch`, ``torchrun``) and SLURM jobs
(:func:`ssl_train.slurm.submit`) start this in each process. It pretrains with
``resume="auto"``: a restarted or requeued process continues from ``OUT/checkpoints/last.pt``
when there is one. Errors end the process with one line on stderr naming the rank (exit 2 for a
bad config, 130/143 for SIGINT/SIGTERM after a checkpoint; other failures raise, and the
launcher reports the rank and its traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

__all__ = ["main", "worker_argv"]


def worker_argv(recipe: str, out_dir: str, overrides: Sequence[str] = ()) -> list[str]:
    """The argument list (for :func:`ssl_train.launch.launch`) that runs this module."""
    return ["-m", "ssl_train.worker", recipe, str(out_dir), *overrides]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one process of a launched pretraining; returns the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    rank = os.environ.get("RANK", "0")
    if len(args) < 2:
        print("ssl: error: usage: python -m ssl_train.worker RECIPE OUT [key=value ...]", file=sys.stderr)
        return 2
    from ssl_train.config import ConfigError, load_config
    from ssl_train.loop import TrainingInterrupted, pretrain
    from ssl_train.recipes import get_recipe

    recipe, out, overrides = args[0], args[1], args[2:]
    try:
        spec = get_recipe(recipe)
        cfg = load_config(spec.config_class(), overrides)
        pretrain(spec, cfg, out, resume="auto", progress=False)
    except (ConfigError, ValueError) as exc:
        print(f"ssl: error: rank {rank}: {exc}", file=sys.stderr, flush=True)
        return 2
    except TrainingInterrupted as exc:
        print(f"ssl: rank {rank}: {exc}", file=sys.stderr, flush=True)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
