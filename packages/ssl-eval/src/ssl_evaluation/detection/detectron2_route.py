"""The detectron2 route of VISSL's detection benchmark: recipe configs written as YAML, and a
runner that works only where detectron2 is installed (it is not on PyPI).

The recipes restate VISSL's ``configs/config/benchmark/object_detection`` files (facts, our
layout). Weights go in as a detectron2 checkpoint (``ssl convert ... --to detectron2``).
"""

from __future__ import annotations

import copy
import importlib.util
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Any

from ssl_evaluation.atomic_files import atomic_write_text
from ssl_evaluation.progress import ProgressFn

__all__ = [
    "DETECTRON2_RECIPES",
    "Detectron2Unavailable",
    "detectron2_available",
    "detectron2_config",
    "write_detectron2_config",
    "run_detectron2",
]

_RGB_TORCHVISION = {"PIXEL_MEAN": [123.675, 116.280, 103.530], "PIXEL_STD": [58.395, 57.120, 57.375]}
_C4 = {
    "META_ARCHITECTURE": "GeneralizedRCNN",
    **_RGB_TORCHVISION,
    "MASK_ON": False,
    "RPN": {"PRE_NMS_TOPK_TEST": 6000, "POST_NMS_TOPK_TEST": 1000},
    "WEIGHTS": "",
    "RESNETS": {"DEPTH": 50, "NORM": "SyncBN", "STRIDE_IN_1X1": False},
    "BACKBONE": {"FREEZE_AT": 0},
}
_VOC_INPUT = {"MIN_SIZE_TRAIN": [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800], "MIN_SIZE_TEST": 800, "FORMAT": "RGB"}
_VOC0712 = {"TRAIN": ["voc_2007_trainval", "voc_2012_trainval"], "TEST": ["voc_2007_test"]}

#: recipe name -> detectron2 config (plain dict). Notes on each in the README.
DETECTRON2_RECIPES: dict[str, dict[str, Any]] = {
    # voc0712/mocoV2/rn50_transfer_voc0712_detectron2_e2e.yaml (also simclr_swav, pirl_npid variants)
    "voc0712_r50_c4": {
        "MODEL": {**_C4, "ROI_HEADS": {"NAME": "Res5ROIHeadsExtraNorm", "NUM_CLASSES": 20}},
        "INPUT": _VOC_INPUT,
        "DATASETS": _VOC0712,
        "TEST": {"PRECISE_BN": {"ENABLED": True}},
        "SOLVER": {"STEPS": [18000, 22000], "MAX_ITER": 24000, "WARMUP_ITERS": 1000, "IMS_PER_BATCH": 16, "BASE_LR": 0.02},
    },
    # voc0712/iccv19/rn50_transfer_voc0712_detectron2_e2e.yaml (Goyal et al. 2019)
    "voc0712_r50_c4_iccv19": {
        "MODEL": {
            **{k: v for k, v in _C4.items() if k != "BACKBONE"},
            "RESNETS": {"DEPTH": 50, "STRIDE_IN_1X1": False},
            "ROI_HEADS": {"NAME": "Res5ROIHeads", "NUM_CLASSES": 20},
        },
        "INPUT": _VOC_INPUT,
        "DATASETS": _VOC0712,
        "SOLVER": {"STEPS": [17000], "MAX_ITER": 25000, "WARMUP_ITERS": 100, "IMS_PER_BATCH": 16, "BASE_LR": 0.02},
    },
    # voc07/rn50_transfer_voc07_detectron2_e2e.yaml: VOC07 trainval only. Its solver schedule is
    # not in our references; the VOC07+12 schedule is used (see README).
    "voc07_r50_c4": {
        "MODEL": {**_C4, "ROI_HEADS": {"NAME": "Res5ROIHeadsExtraNorm", "NUM_CLASSES": 20}},
        "INPUT": _VOC_INPUT,
        "DATASETS": {"TRAIN": ["voc_2007_trainval"], "TEST": ["voc_2007_test"]},
        "TEST": {"PRECISE_BN": {"ENABLED": True}},
        "SOLVER": {"STEPS": [18000, 22000], "MAX_ITER": 24000, "WARMUP_ITERS": 1000, "IMS_PER_BATCH": 16, "BASE_LR": 0.02},
    },
    # R50_C4_COCO/sbnExtraNorm_precBN_r50_c4_coco.yaml (boxes only)
    "coco_r50_c4": {
        "MODEL": {**{k: v for k, v in _C4.items() if k != "BACKBONE"}, "ROI_HEADS": {"NAME": "Res5ROIHeadsExtraNorm"}},
        "DATASETS": {"TRAIN": ["coco_2017_train"], "TEST": ["coco_2017_val"]},
        "TEST": {"PRECISE_BN": {"ENABLED": True}},
        "SOLVER": {"IMS_PER_BATCH": 16, "BASE_LR": 0.02, "STEPS": [60000, 80000], "MAX_ITER": 90000, "WARMUP_ITERS": 50},
        "INPUT": {"MIN_SIZE_TRAIN": [640, 672, 704, 736, 768, 800], "FORMAT": "RGB"},
        "VERSION": 2,
    },
    # R50_FPN_MaskRCNN_COCOInstance/sBN_precBN.yaml (Mask R-CNN, FPN)
    "coco_r50_fpn_mask": {
        "MODEL": {
            **_RGB_TORCHVISION,
            "WEIGHTS": "",
            "MASK_ON": True,
            "META_ARCHITECTURE": "GeneralizedRCNN",
            "RESNETS": {"DEPTH": 50, "NORM": "SyncBN", "STRIDE_IN_1X1": False, "OUT_FEATURES": ["res2", "res3", "res4", "res5"]},
            "BACKBONE": {"FREEZE_AT": 0, "NAME": "build_resnet_fpn_backbone"},
            "FPN": {"IN_FEATURES": ["res2", "res3", "res4", "res5"]},
            "ANCHOR_GENERATOR": {"SIZES": [[32], [64], [128], [256], [512]], "ASPECT_RATIOS": [[0.5, 1.0, 2.0]]},
            "RPN": {
                "IN_FEATURES": ["p2", "p3", "p4", "p5", "p6"], "PRE_NMS_TOPK_TRAIN": 2000,
                "PRE_NMS_TOPK_TEST": 1000, "POST_NMS_TOPK_TRAIN": 1000, "POST_NMS_TOPK_TEST": 1000,
            },
            "ROI_HEADS": {"NAME": "StandardROIHeads", "IN_FEATURES": ["p2", "p3", "p4", "p5"]},
            "ROI_BOX_HEAD": {"NAME": "FastRCNNConvFCHead", "NUM_FC": 2, "POOLER_RESOLUTION": 7},
            "ROI_MASK_HEAD": {"NAME": "MaskRCNNConvUpsampleHead", "NUM_CONV": 4, "POOLER_RESOLUTION": 14},
        },
        "DATASETS": {"TRAIN": ["coco_2017_train"], "TEST": ["coco_2017_val"]},
        "SOLVER": {"IMS_PER_BATCH": 16, "BASE_LR": 0.001, "STEPS": [60000, 80000], "MAX_ITER": 90000, "WARMUP_ITERS": 100},
        "INPUT": {"MIN_SIZE_TRAIN": [640, 672, 704, 736, 768, 800], "FORMAT": "RGB"},
        "TEST": {"PRECISE_BN": {"ENABLED": True}},
        "VERSION": 2,
    },
}
DETECTRON2_RECIPES["voc07_r50_c4_pirl_npid"] = copy.deepcopy(DETECTRON2_RECIPES["voc07_r50_c4"])
DETECTRON2_RECIPES["voc07_r50_c4_pirl_npid"]["SOLVER"].update({"WARMUP_ITERS": 1000, "BASE_LR": 0.002})


class Detectron2Unavailable(RuntimeError):
    """Raised by :func:`run_detectron2` where detectron2 is not installed."""


def detectron2_available() -> bool:
    return importlib.util.find_spec("detectron2") is not None


def detectron2_config(recipe: str, weights: str | PathLike[str] = "", output_dir: str | PathLike[str] | None = None,
                      overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A deep copy of a recipe with ``MODEL.WEIGHTS`` (and ``OUTPUT_DIR``) filled in and the
    dotted ``overrides`` (``{"SOLVER.MAX_ITER": 10}``) applied."""
    if recipe not in DETECTRON2_RECIPES:
        raise ValueError(f"unknown detectron2 recipe {recipe!r}; known: {sorted(DETECTRON2_RECIPES)}")
    cfg = copy.deepcopy(DETECTRON2_RECIPES[recipe])
    cfg["MODEL"]["WEIGHTS"] = str(weights)
    if output_dir is not None:
        cfg["OUTPUT_DIR"] = str(output_dir)
    for dotted, value in (overrides or {}).items():
        node = cfg
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return cfg


def write_detectron2_config(
    recipe: str, path: str | PathLike[str], weights: str | PathLike[str] = "", output_dir: str | PathLike[str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Path:
    """Write a recipe (with dotted ``overrides``) as YAML at ``path`` atomically (temp file in the
    same folder, fsync, rename; the folder is created when missing)."""
    import yaml

    cfg = detectron2_config(recipe, weights, output_dir, overrides)
    return atomic_write_text(path, yaml.safe_dump(cfg, sort_keys=False))


def _register_voc(names: Any, root: Path) -> None:
    """(Re-)register detectron2's builtin ``voc_YYYY_SPLIT`` datasets to read ``root/VOCYYYY``."""
    from detectron2.data import DatasetCatalog, MetadataCatalog
    from detectron2.data.datasets import register_pascal_voc

    for name in names:
        parts = str(name).split("_")
        if len(parts) != 3 or parts[0] != "voc":
            continue
        year, split = parts[1], parts[2]
        if not (root / f"VOC{year}").is_dir():
            raise FileNotFoundError(f"detectron2 dataset {name}: folder not found: {root / f'VOC{year}'}")
        if name in DatasetCatalog.list():
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)
        register_pascal_voc(name, str(root / f"VOC{year}"), split, int(year))


def run_detectron2(config_file: str | PathLike[str], *, resume: bool = False, eval_only: bool = False,
                   datasets_root: str | PathLike[str] | None = None,
                   progress: ProgressFn | None = None) -> dict[str, Any]:
    """Train (unless ``eval_only``) and evaluate with detectron2's ``DefaultTrainer`` on one process.

    Registers the ``Res5ROIHeadsExtraNorm`` head the C4 recipes use (detectron2's ``Res5ROIHeads``
    with a batch-norm layer after ``res5``, as in MoCo's detection code). The VOC/COCO dataset
    names must be registered in detectron2 (its builtin datasets read ``$DETECTRON2_DATASETS``);
    ``datasets_root`` re-registers the config's ``voc_YYYY_SPLIT`` datasets from ``root/VOCYYYY``.
    Returns detectron2's evaluation results. Raises :class:`Detectron2Unavailable` when
    detectron2 is not installed. ``progress("detectron2 (train)", iterations done, MAX_ITER)``
    after every training iteration (a trainer hook).
    """
    if not detectron2_available():
        raise Detectron2Unavailable(
            "detectron2 is not installed (it is not on PyPI; build it from source to use this route). "
            "The torchvision route (build_detector / train_detector / evaluate_detector) runs everywhere."
        )
    path = Path(config_file)
    if not path.is_file():
        raise FileNotFoundError(f"detectron2 config not found: {path}")
    from detectron2.config import get_cfg
    from detectron2.engine import DefaultTrainer
    from detectron2.evaluation import COCOEvaluator, PascalVOCDetectionEvaluator
    from detectron2.layers import get_norm
    from detectron2.modeling import ROI_HEADS_REGISTRY
    from detectron2.modeling.roi_heads import Res5ROIHeads

    if "Res5ROIHeadsExtraNorm" not in ROI_HEADS_REGISTRY:

        @ROI_HEADS_REGISTRY.register()
        class Res5ROIHeadsExtraNorm(Res5ROIHeads):  # noqa: F811
            def _build_res5_block(self, cfg):  # type: ignore[no-untyped-def]
                seq, out_channels = super()._build_res5_block(cfg)
                seq.add_module("norm", get_norm(cfg.MODEL.RESNETS.NORM, out_channels))
                return seq, out_channels

    cfg = get_cfg()
    cfg.merge_from_file(str(path))
    cfg.freeze()
    if datasets_root is not None:
        _register_voc([*cfg.DATASETS.TRAIN, *cfg.DATASETS.TEST], Path(datasets_root))

    class Trainer(DefaultTrainer):
        @classmethod
        def build_evaluator(cls, cfg, dataset_name, output_folder=None):  # type: ignore[no-untyped-def]
            if "voc" in dataset_name:
                return PascalVOCDetectionEvaluator(dataset_name)
            return COCOEvaluator(dataset_name, output_dir=output_folder or cfg.OUTPUT_DIR)

    if eval_only:
        from detectron2.checkpoint import DetectionCheckpointer

        model = Trainer.build_model(cfg)
        DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=resume)
        return dict(Trainer.test(cfg, model))
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=resume)
    if progress is not None:
        from detectron2.engine import HookBase

        class _Progress(HookBase):
            def after_step(self) -> None:
                progress("detectron2 (train)", self.trainer.iter + 1, self.trainer.max_iter)

        trainer.register_hooks([_Progress()])
    trainer.train()  # returns None unless TEST.EXPECTED_RESULTS is set; the final EvalHook keeps the results
    results = getattr(trainer, "_last_eval_results", None) or Trainer.test(cfg, trainer.model)
    return dict(results)
