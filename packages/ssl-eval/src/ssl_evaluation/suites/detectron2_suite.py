"""VISSL's detection recipes through detectron2 (not on PyPI).

The caller converts the trunk to detectron2's pickle (``ssl convert ... --to detectron2``: ssl-eval
does not import ssl-convert; :func:`prepare_detectron2_weights` takes that converter as an
argument); this suite checks that detectron2 can build that trunk, writes the recipe as a
detectron2 YAML config next to the weights, and trains and evaluates where detectron2 is
installed. Without it the files are still written and :class:`Detectron2Missing` names them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ssl_evaluation.progress import ProgressFn

__all__ = [
    "Detectron2Missing", "Detectron2Protocol", "check_detectron2_trunk", "prepare_detectron2_weights", "run_detectron2_suite",
]


class Detectron2Missing(ValueError):
    """detectron2 is not importable: the files were prepared, the run did not happen."""


@dataclass
class Detectron2Protocol:
    """A VISSL detection recipe (``ssl_evaluation.detection.DETECTRON2_RECIPES``, each restating
    VISSL's ``configs/config/benchmark/object_detection`` file) run as written;
    ``prepare_only`` writes the config without running.

    The other fields change the recipe only where set (0 / "" keep it), for small or CPU runs:
    ``max_iter`` (SOLVER.MAX_ITER; STEPS beyond it are dropped, WARMUP_ITERS capped),
    ``ims_per_batch``, ``norm`` ("BN" instead of the recipes' "SyncBN" on one process),
    ``min_size`` (INPUT.MIN_SIZE_TRAIN/TEST), ``precise_bn_iters`` (TEST.PRECISE_BN.NUM_ITER),
    ``datasets_root`` (a folder holding ``VOC2007/`` / ``VOC2012/``: the recipe's VOC datasets are
    read from there instead of ``$DETECTRON2_DATASETS``); ``device`` "auto" is CUDA where available,
    else CPU; ``num_workers`` is detectron2's default (4)."""

    recipe: str = "voc07_r50_c4"
    prepare_only: bool = False
    max_iter: int = 0
    ims_per_batch: int = 0
    norm: str = ""
    min_size: int = 0
    precise_bn_iters: int = 0
    datasets_root: str = ""
    device: str = "auto"
    num_workers: int = 4


def check_detectron2_trunk(name: str, kwargs: dict[str, Any]) -> None:
    """Refuse, in one line, a trunk detectron2's ResNet cannot build: detectron2 asserts that
    R18 / R34 have ``RES2_OUT_CHANNELS == 64`` (basic blocks), so their width must be 1, and it has
    no other trunk families."""
    if not name.startswith("resnet") or not name[len("resnet"):].isdigit():
        raise ValueError(f"detectron2 builds ResNets only, not {name}")
    width = float(kwargs.get("width_multiplier", 1.0) or 1.0)
    depth = int(name[len("resnet"):])
    if depth in (18, 34) and width != 1.0:
        raise ValueError(f"detectron2 cannot build {name} at width {width:g}: its R18/R34 need RES2_OUT_CHANNELS 64 "
                         f"(basic blocks), this trunk has {int(64 * width)}")


def prepare_detectron2_weights(checkpoint: str | Path, out: str | Path, recipe: str,
                               convert: Callable[[Path, Path], object]) -> Path:
    """``out/model_final.pkl``: the trunk of the ssl ``checkpoint`` written by ``convert(checkpoint,
    weights)`` (ssl-convert's ``convert`` with ``to="detectron2"``, passed in by the caller) after
    checking, before anything is written, the ``recipe`` name, that ``out`` can be a folder and
    that detectron2 can build the trunk (:func:`check_detectron2_trunk`). ``out`` is created; a
    folder created here is removed again when the conversion fails."""
    from ssl_evaluation.detection import DETECTRON2_RECIPES
    from ssl_models import checkpoint as ckpt_format

    if recipe not in DETECTRON2_RECIPES:
        raise ValueError(f"unknown detectron2 recipe {recipe!r}; choose one of {', '.join(sorted(DETECTRON2_RECIPES))}")
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"output path exists and is not a folder: {folder}")
    trunk = ckpt_format.load_checkpoint(checkpoint)["trunk"]
    check_detectron2_trunk(trunk["name"], trunk.get("kwargs") or {})
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        convert(Path(checkpoint), folder / "model_final.pkl")
    except BaseException:
        if created:  # a checkpoint that does not convert leaves no empty run folder behind
            folder.rmdir()
        raise
    return folder / "model_final.pkl"


_TRUNK_KEYS = ("DEPTH", "NUM_GROUPS", "WIDTH_PER_GROUP", "STEM_OUT_CHANNELS", "RES2_OUT_CHANNELS")


def _trunk_keys(weights: Path) -> dict[str, Any]:
    """The trunk's shape from the YAML fragment ``ssl convert --to detectron2`` writes beside the
    weights (``WEIGHTS.yaml``): a narrower or deeper trunk than the recipe's R50 is built as it is."""
    import yaml

    fragment = weights.with_suffix(".yaml")
    if not fragment.is_file():
        return {}
    resnets = ((yaml.safe_load(fragment.read_text()) or {}).get("MODEL") or {}).get("RESNETS") or {}
    return {f"MODEL.RESNETS.{k}": resnets[k] for k in _TRUNK_KEYS if k in resnets}


def _protocol_keys(p: Detectron2Protocol) -> dict[str, Any]:
    """The protocol's small-run changes as dotted detectron2 keys."""
    import torch

    from ssl_evaluation.detection import DETECTRON2_RECIPES

    for name in ("max_iter", "ims_per_batch", "min_size", "precise_bn_iters", "num_workers"):
        if getattr(p, name) < 0:
            raise ValueError(f"detectron2 {name} must be >= 0, got {getattr(p, name)}")
    if p.device not in ("auto", "cpu", "cuda"):
        raise ValueError(f"detectron2 device must be auto, cpu or cuda, got {p.device!r}")
    if p.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("detectron2 device=cuda but CUDA is not available on this machine")
    device = p.device if p.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    keys: dict[str, Any] = {"MODEL.DEVICE": device, "DATALOADER.NUM_WORKERS": p.num_workers}
    solver = DETECTRON2_RECIPES[p.recipe]["SOLVER"]
    if p.max_iter:
        keys["SOLVER.MAX_ITER"] = p.max_iter
        keys["SOLVER.STEPS"] = [s for s in solver.get("STEPS", []) if s < p.max_iter]
        keys["SOLVER.WARMUP_ITERS"] = min(int(solver.get("WARMUP_ITERS", 0)), p.max_iter)
    if p.ims_per_batch:
        keys["SOLVER.IMS_PER_BATCH"] = p.ims_per_batch
    if p.norm:
        keys["MODEL.RESNETS.NORM"] = p.norm
    if p.min_size:
        keys["INPUT.MIN_SIZE_TRAIN"] = [p.min_size]
        keys["INPUT.MIN_SIZE_TEST"] = p.min_size
    if p.precise_bn_iters:
        keys["TEST.PRECISE_BN.NUM_ITER"] = p.precise_bn_iters
    if p.datasets_root and not Path(p.datasets_root).is_dir():
        raise FileNotFoundError(f"detectron2 datasets_root not found: {p.datasets_root}")
    return keys


def run_detectron2_suite(weights: str | Path, out: str | Path, protocol: Detectron2Protocol | None = None,
                         checkpoint: str | Path | None = None, progress: ProgressFn | None = None) -> dict[str, Any]:
    """Write ``out/config.yaml`` (the recipe with ``MODEL.WEIGHTS`` = ``weights`` and
    ``OUTPUT_DIR`` = ``out/detectron2``), then train and evaluate unless ``prepare_only``.

    Returns ``{metrics: {"detectron2": detectron2's evaluation results}, protocol, data, checkpoint,
    seconds, files}``. Raises :class:`Detectron2Missing` when a run is asked for without detectron2.
    """
    from ssl_evaluation.detection import DETECTRON2_RECIPES, detectron2_available, run_detectron2, write_detectron2_config

    started, p = time.perf_counter(), protocol or Detectron2Protocol()
    if p.recipe not in DETECTRON2_RECIPES:
        raise ValueError(f"unknown detectron2 recipe {p.recipe!r}; choose one of {', '.join(sorted(DETECTRON2_RECIPES))}")
    out = Path(out)
    config = write_detectron2_config(p.recipe, out / "config.yaml", weights=Path(weights).resolve(),
                                     output_dir=(out / "detectron2").resolve(),
                                     overrides={**_trunk_keys(Path(weights)), **_protocol_keys(p)})
    result: dict[str, Any] = {
        "metrics": {}, "protocol": {"detectron2": {"recipe": p.recipe, "config": DETECTRON2_RECIPES[p.recipe]}},
        "data": {"datasets": DETECTRON2_RECIPES[p.recipe].get("DATASETS", {})},
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "files": {"weights": str(weights), "config": str(config)},
    }
    if not p.prepare_only:
        if not detectron2_available():
            raise Detectron2Missing(
                f"detectron2 is not installed (it is not on PyPI): wrote {weights} and {config}; run "
                "`ssl benchmark detectron2` where detectron2 is installed, or use `ssl benchmark detection` (torchvision)")
        metrics = run_detectron2(config, datasets_root=p.datasets_root or None, progress=progress)
        if not metrics:
            raise ValueError(f"detectron2 returned no evaluation results for {config} (no test dataset evaluated?)")
        result["metrics"] = {"detectron2": metrics}
    result["seconds"] = round(time.perf_counter() - started, 2)
    return result
