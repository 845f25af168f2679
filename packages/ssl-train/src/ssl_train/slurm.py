"""Pretraining on SLURM through submitit (the optional extra ``ssl-train[slurm]``).

One SLURM task per GPU (``tasks_per_node = gpus_per_node``, one task on a CPU node); each task
joins the process group from SLURM's variables (submitit's ``TorchDistributedEnvironment``) and
pretrains with ``resume="auto"``. On preemption or time-out SLURM signals the job (USR2,
``signal_delay_s`` before the end), submitit requeues it, and the requeued job resumes from
``OUT/checkpoints/last.pt``: at most ``train.checkpoint_every_steps`` steps are lost.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

__all__ = ["PretrainJob", "SlurmOptions", "sbatch_script", "submit"]


def _submitit() -> Any:
    try:
        import submitit
    except ImportError:
        raise ImportError("SLURM submission needs submitit: pip install 'ssl-train[slurm]'") from None
    return submitit


@dataclass
class SlurmOptions:
    """VISSL's SLURM options (``config.SLURM``), as submitit parameters.

    Attributes:
        partition: SLURM partition (``--partition``).
        nodes: machines (``--nodes``).
        gpus_per_node: GPUs per machine; one task (process) per GPU (0 on CPU nodes: one task).
        cpus_per_task: CPU cores per process (``--cpus-per-task``).
        mem: memory per node, e.g. ``"64G"`` (``--mem``; VISSL MEM_GB).
        time_minutes: wall-clock limit (``--time``; VISSL TIME_HOURS x 60).
        constraint: node features (``--constraint``, e.g. ``"volta32gb"``).
        comment: ``--comment``.
        job_name: ``--job-name``.
        log_folder: where submitit writes the submission script, logs and pickles
            (``%j`` is replaced by the job id).
        account, qos: ``--account``, ``--qos``.
        signal_delay_s: seconds before the time limit at which the job is signalled to requeue.
        max_requeues: how many time-outs may requeue the job (preemptions always requeue).
        additional: further sbatch parameters (``{"exclusive": True}``).
    """

    partition: str | None = None
    nodes: int = 1
    gpus_per_node: int = 0
    cpus_per_task: int = 8
    mem: str | None = None
    time_minutes: int = 72 * 60
    constraint: str | None = None
    comment: str | None = None
    job_name: str = "ssl-pretrain"
    log_folder: str = "slurm-logs/%j"
    account: str | None = None
    qos: str | None = None
    signal_delay_s: int = 120
    max_requeues: int = 3
    additional: dict[str, Any] = field(default_factory=dict)

    def executor_parameters(self) -> dict[str, Any]:
        """The options as ``submitit.AutoExecutor.update_parameters`` keywords (``slurm_`` ones
        apply on SLURM only)."""
        params: dict[str, Any] = {
            "name": self.job_name, "nodes": self.nodes, "tasks_per_node": max(1, self.gpus_per_node),
            "gpus_per_node": self.gpus_per_node, "cpus_per_task": self.cpus_per_task,
            "timeout_min": self.time_minutes, "slurm_signal_delay_s": self.signal_delay_s,
        }  # fmt: skip
        slurm = {"partition": self.partition, "constraint": self.constraint, "comment": self.comment,
                 "account": self.account, "qos": self.qos, "mem": self.mem}  # fmt: skip
        params.update({f"slurm_{k}": v for k, v in slurm.items() if v is not None})
        if self.additional:
            params["slurm_additional_parameters"] = dict(self.additional)
        return params


class PretrainJob:
    """A picklable pretraining task; submitit calls it once per SLURM task and calls
    :meth:`checkpoint` on preemption/time-out to requeue it (the run itself resumes from its own
    last checkpoint, so requeueing needs no further state)."""

    def __init__(self, recipe: str, out_dir: str, overrides: Sequence[str] = ()) -> None:
        self.recipe, self.out_dir, self.overrides = recipe, str(out_dir), list(overrides)

    def __call__(self) -> str:
        submitit = _submitit()
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # RANK, WORLD_SIZE, MASTER_ADDR/PORT, LOCAL_RANK, LOCAL_WORLD_SIZE
            submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
        from ssl_train.config import load_config
        from ssl_train.loop import pretrain
        from ssl_train.recipes import get_recipe

        spec = get_recipe(self.recipe)
        cfg = load_config(spec.config_class(), self.overrides)
        result = pretrain(spec, cfg, self.out_dir, resume="auto", progress=False)
        return str(result.checkpoint)

    def checkpoint(self) -> Any:
        """Requeue the same job; it resumes from ``OUT/checkpoints/last.pt``."""
        return _submitit().helpers.DelayedSubmission(PretrainJob(self.recipe, self.out_dir, self.overrides))


def submit(
    recipe: str,
    out_dir: str | Path,
    overrides: Sequence[str] = (),
    options: SlurmOptions | None = None,
    *,
    cluster: str | None = None,
) -> Any:
    """Submit a pretraining run; returns the ``submitit.Job`` (``job.job_id``, ``job.result()``).

    Args:
        recipe, out_dir, overrides: as for ``ssl pretrain RECIPE --out OUT key=value ...``.
        options: the SLURM resources (:class:`SlurmOptions`).
        cluster: ``None`` (SLURM when ``sbatch`` is on PATH, else local processes), ``"slurm"``,
            ``"local"`` (submitit's local executor: real processes on this machine, same
            requeue path) or ``"debug"`` (in this process).

    Raises:
        ImportError: submitit is not installed (the message names the ``slurm`` extra).
    """
    submitit = _submitit()
    opts = options or SlurmOptions()
    out = Path(out_dir)
    folder = Path(opts.log_folder) if Path(opts.log_folder).is_absolute() else out / opts.log_folder
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=opts.max_requeues)
    executor.update_parameters(**opts.executor_parameters())
    return executor.submit(PretrainJob(recipe, str(out), overrides))


def sbatch_script(options: SlurmOptions, folder: str | Path) -> str:
    """The sbatch file submitit writes for these options (to check a submission without a
    cluster: submitit's SLURM executor itself needs ``srun``)."""
    _submitit()
    from submitit.slurm.slurm import _make_sbatch_string  # submitit's own writer (no public name)

    extra = {k: v for k, v in {"partition": options.partition, "constraint": options.constraint, "comment": options.comment,
                               "account": options.account, "qos": options.qos, "mem": options.mem}.items() if v is not None}  # fmt: skip
    command = " ".join([sys.executable, "-u -m submitit.core._submit", str(folder)])
    return _make_sbatch_string(
        command=command, folder=folder, job_name=options.job_name, time=options.time_minutes, nodes=options.nodes,
        ntasks_per_node=max(1, options.gpus_per_node), cpus_per_task=options.cpus_per_task,
        gpus_per_node=options.gpus_per_node or None, signal_delay_s=options.signal_delay_s,
        additional_parameters=dict(options.additional) or None, **extra,
    )  # fmt: skip
