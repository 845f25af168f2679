"""`ssl benchmark detectron2`: VISSL's detection recipes through detectron2 (not on PyPI).

The checkpoint's trunk is converted to detectron2's pickle (ssl-convert) and the recipe written as a
detectron2 YAML config next to it (ssl-eval); training and evaluation run only where detectron2 is
installed. Without it the two files are still written, and the command ends with one line that
names them, so the run can be finished on a machine that has detectron2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_cli.errors import UsageError

__all__ = ["Detectron2Missing", "prepare_detectron2", "run_detectron2_benchmark"]


class Detectron2Missing(ValueError):
    """detectron2 is not importable: the files were prepared, the run did not happen."""


def prepare_detectron2(checkpoint: Path, recipe: str, out: Path) -> tuple[Path, Path]:
    """Write OUT/model_final.pkl (the trunk, detectron2 layout) and OUT/config.yaml (the recipe
    with MODEL.WEIGHTS and OUTPUT_DIR filled in). Returns (weights, config)."""
    from ssl_convert import convert
    from ssl_evaluation.detection import DETECTRON2_RECIPES, write_detectron2_config

    if recipe not in DETECTRON2_RECIPES:
        raise UsageError(f"unknown detectron2 recipe {recipe!r}; choose one of {', '.join(sorted(DETECTRON2_RECIPES))}")
    if not checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint not found: {checkpoint}")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "model_final.pkl"
    try:
        convert(checkpoint, weights, to="detectron2")
    except BaseException:
        if created:  # a checkpoint that does not convert leaves no empty run folder behind
            out.rmdir()
        raise
    config = write_detectron2_config(recipe, out / "config.yaml", weights=weights.resolve(), output_dir=(out / "detectron2").resolve())
    return weights, config


def run_detectron2_benchmark(checkpoint: Path, recipe: str, out: Path, *, prepare_only: bool = False) -> dict[str, Any]:
    """Prepare the weights and config, then train and evaluate with detectron2 unless
    ``prepare_only``. Raises :class:`Detectron2Missing` (one line naming the written files) when
    detectron2 is not installed and a run was asked for."""
    from ssl_evaluation.detection import DETECTRON2_RECIPES, detectron2_available, run_detectron2

    weights, config = prepare_detectron2(checkpoint, recipe, out)
    results: dict[str, Any] = {
        "checkpoint": str(checkpoint),
        "files": {"weights": str(weights), "config": str(config)},
        "protocol": {"detectron2": {"recipe": recipe, "config": DETECTRON2_RECIPES[recipe]}},
    }
    if prepare_only:
        return {**results, "benchmarks": {}}
    if not detectron2_available():
        raise Detectron2Missing(
            f"detectron2 is not installed (it is not on PyPI): wrote {weights} and {config}; "
            f"run `ssl benchmark detectron2` where detectron2 is installed, or use `ssl benchmark detection` (torchvision)"
        )
    return {**results, "benchmarks": {"detectron2": run_detectron2(config)}}
