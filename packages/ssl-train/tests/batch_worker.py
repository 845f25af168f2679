"""What each process of one equivalence-test launch runs: several pretrainings, one after the other.

``python batch_worker.py JOBS.json`` under the elastic launcher (``ssl_train.launch.launch``);
``JOBS.json`` is a list of ``{"recipe": name, "out": folder, "overrides": [key=value, ...]}``.
The process group is made once and kept for every job (``pretrain`` joins a group that exists
and leaves it alone), so the processes start and import torch once per launch instead of once
per recipe. A job that raises writes its traceback to ``OUT/failed-rank{R}.txt`` and ends the
launch: the jobs after it do not run.
"""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

from ssl_models.atomic_files import atomic_write_text
from ssl_train import get_recipe, load_config, pretrain
from ssl_train.distributed import init_distributed, shutdown_distributed


def main(jobs_file: str) -> None:
    jobs = json.loads(Path(jobs_file).read_text())
    info = init_distributed("ddp", "cpu")
    try:
        for job in jobs:
            try:
                cfg = load_config(get_recipe(job["recipe"]).config_class(), job["overrides"])
                pretrain(job["recipe"], cfg, job["out"], progress=False)
            except BaseException:
                Path(job["out"]).mkdir(parents=True, exist_ok=True)
                atomic_write_text(Path(job["out"]) / f"failed-rank{info.rank}.txt", traceback.format_exc())
                raise
    finally:
        shutdown_distributed(info)


if __name__ == "__main__":
    main(sys.argv[1])
