"""VISSL pretraining configs -> our recipe and dotted overrides (migration from VISSL).

``from_vissl(path)`` reads a VISSL pretraining YAML (the ``config:`` tree of VISSL's
``configs/config/pretrain/...`` files, as in VISSL's docs), picks the recipe from the loss (and,
for the losses several methods share, from the transforms), and turns every key it understands
into one of our ``key=value`` overrides. Keys VISSL fills in itself (``@auto-filled``: dataset
sizes, world sizes, crop counts inferred from transforms) are dropped, because our recipes derive
them too; every other key that has no counterpart in the recipe's config is returned by name, so
nothing is dropped silently. Values are mapped as they are (VISSL's ImageNet sizes stay ImageNet
sizes): the recipe's own small-data defaults apply only where VISSL's file says nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ssl_train.config import ConfigError, config_to_dict
from ssl_train.recipes import RECIPES

__all__ = ["from_vissl", "vissl_recipe_name"]

#: loss name -> recipe, for losses that name one method.
LOSS_RECIPES = {
    "simclr_info_nce_loss": "simclr", "multicrop_simclr_info_nce_loss": "simclr", "moco_loss": "moco",
    "swav_loss": "swav", "swav_momentum_loss": "swav", "dino_loss": "dino", "barlow_twins_loss": "barlow_twins",
    "deepclusterv2_loss": "deepclusterv2",
}  # fmt: skip

#: keys VISSL fills in before the run (and our recipes derive): dropped, not reported.
AUTO_FILLED = {
    "num_train_samples", "num_crops", "buffer_params.world_size", "buffer_params.effective_batch_size",
    "BATCHSIZE_PER_REPLICA", "DROP_LAST", "output_dir", "queue.local_queue_length", "memory_params.memory_size",
    "num_prototypes", "embedding_dim", "buffer_params.embedding_dim", "output_dim",
}  # fmt: skip

#: loss parameter -> our key, per loss (tried in order; a key the recipe lacks is reported).
LOSS_KEYS: dict[str, dict[str, list[str]]] = {
    "nce_loss_with_memory": {
        "temperature": ["loss.temperature"], "loss_type": ["loss.loss_type"], "norm_constant": ["loss.norm_constant"],
        "negative_sampling_params.num_negatives": ["loss.num_negatives"], "memory_params.momentum": ["loss.momentum"],
    },
    "deepclusterv2_loss": {
        "temperature": ["loss.temperature"], "num_clusters": ["loss.num_clusters"],
        "kmeans_iters": ["loss.kmeans_iters"], "memory_params.crops_for_mb": ["loss.crops_for_mb"],
    },
    "dino_loss": {
        "momentum": ["loss.momentum_start"], "student_temp": ["loss.student_temp"],
        "teacher_temp_min": ["loss.teacher_temp_start"], "teacher_temp_max": ["loss.teacher_temp"],
        "ema_center": ["loss.center_momentum"], "normalize_last_layer": ["model.norm_last_layer"],
    },
}  # fmt: skip

#: VISSL transforms our recipes' views already contain (their parameters are ImageNet sizes).
BUILT_IN_TRANSFORMS = {
    "ImgReplicatePil", "RandomResizedCrop", "RandomHorizontalFlip", "ToTensor", "Normalize", "ImgPilColorDistortion",
    "ImgPilGaussianBlur", "ImgPilToMultiCrop", "ImgRotatePil", "ImgPatchesFromTensor", "ShuffleImgPatches",
    "ImgPilToPatchesAndImage", "ColorJitter", "RandomGrayscale", "Resize", "CenterCrop", "RandomCrop",
    "ImgPilRandomPhotometric", "ImgPilMultiCropRandomApply", "ImgPilRandomSolarize",
}  # fmt: skip


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            out.update(_leaves(value, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: node}


def _transform_names(cfg: dict[str, Any]) -> list[str]:
    transforms = ((cfg.get("DATA") or {}).get("TRAIN") or {}).get("TRANSFORMS") or []
    return [t.get("name", "") for t in transforms if isinstance(t, dict)]


def vissl_recipe_name(cfg: dict[str, Any]) -> str:
    """The recipe a VISSL config (its ``config:`` tree as a dict) trains; ``ValueError`` if none."""
    loss = (cfg.get("LOSS") or {}).get("name")
    if not loss:
        raise ValueError("not a VISSL pretraining config: no LOSS.name")
    if loss in LOSS_RECIPES:
        return LOSS_RECIPES[loss]
    transforms = _transform_names(cfg)
    if loss == "nce_loss_with_memory":
        if "ImgPilToPatchesAndImage" in transforms or (cfg.get("MODEL") or {}).get("MULTI_INPUT_HEAD_MAPPING"):
            return "pirl"
        params = (cfg.get("LOSS") or {}).get(loss) or {}
        negatives = (params.get("negative_sampling_params") or {}).get("num_negatives", 0)
        return "npid++" if params.get("loss_type") == "cross_entropy" or negatives >= 32000 else "npid"
    if loss == "cross_entropy_multiple_output_single_target":
        if "ImgRotatePil" in transforms:
            return "rotnet"
        if "ShuffleImgPatches" in transforms:
            return "jigsaw"
        return "supervised"
    raise ValueError(f"VISSL loss {loss!r} has no recipe here (known: {', '.join(sorted({*LOSS_RECIPES, 'nce_loss_with_memory', 'cross_entropy_multiple_output_single_target'}))})")


def _value(v: Any) -> str:
    if isinstance(v, float) and math.isfinite(v):
        return repr(float(f"{v:.6g}"))
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_value(x) for x in v) + "]"
    return str(v)


def _lr_overrides(lr: dict[str, Any], epochs: int | None, put: Callable[[str, str, Any], bool]) -> set[str]:
    """OPTIMIZER.param_schedulers.lr -> optim.lr / schedule.*; returns the lr keys used."""
    used: set[str] = set()
    auto = lr.get("auto_lr_scaling") or {}
    if lr and auto.get("auto_scale") is None:  # VISSL scales only when asked
        put("auto_lr_scaling.auto_scale", "optim.auto_scale", "none")
    if auto.get("auto_scale") is not None:
        used.add("auto_lr_scaling.auto_scale")
        if not auto["auto_scale"]:
            put("auto_lr_scaling.auto_scale", "optim.auto_scale", "none")
        elif auto.get("scaling_type", "linear") in ("linear", "sqrt"):
            put("auto_lr_scaling.auto_scale", "optim.auto_scale", auto.get("scaling_type", "linear"))
            used.add("auto_lr_scaling.scaling_type")
        for key, ours in (("base_value", "optim.lr"), ("base_lr_batch_size", "optim.reference_batch_size")):
            if key in auto and put(f"auto_lr_scaling.{key}", ours, auto[key]):
                used.add(f"auto_lr_scaling.{key}")
    name = lr.get("name")
    schedulers = [lr]
    if name == "composite":
        schedulers = list(lr.get("schedulers") or [])
        lengths = lr.get("lengths") or []
        if len(schedulers) == 2 and len(lengths) == 2 and schedulers[0].get("name") == "linear" and epochs:
            put("lengths", "schedule.warmup_epochs", round(float(lengths[0]) * epochs, 4))
            used.update({"name", "lengths", "schedulers"})
            schedulers = schedulers[1:]
        else:
            return used
    one = schedulers[0]
    kind = one.get("name")
    if kind in ("cosine", "linear", "constant", "multistep"):
        put("name", "schedule.name", kind)
        used.add("name")
        start = one.get("start_value", one.get("value"))
        if kind == "multistep":
            values = one.get("values") or []
            if values:
                put("values", "schedule.values", [v / values[0] for v in values])
                if not auto.get("auto_scale"):
                    put("values", "optim.lr", values[0])
                put("milestones", "schedule.milestones", [float(m) for m in one.get("milestones") or []])
                used.update({"values", "milestones"})
        elif start:
            if not auto.get("auto_scale"):
                put("start_value", "optim.lr", start)
            if kind in ("cosine", "linear") and "end_value" in one:
                put("end_value", "schedule.final_fraction", float(one["end_value"]) / float(start))
            used.update({"start_value", "end_value", "value"})
    if "update_interval" in lr:
        put("update_interval", "schedule.update_interval", lr["update_interval"])
        used.add("update_interval")
    return used


def from_vissl(yaml_path: str | Path) -> tuple[str, list[str], list[str]]:
    """A VISSL pretraining YAML -> ``(recipe name, ["key=value" overrides], [unmapped VISSL keys])``.

    The overrides are valid keys of the recipe's config when the recipe exists here (for a
    recipe not in ``list_recipes()`` every key is reported unmapped except the shared sections).
    Unmapped keys are dotted VISSL paths (``DISTRIBUTED.NUM_NODES``,
    ``LOSS.swav_loss.epsilon``, ``DATA.TRAIN.TRANSFORMS[3].name=ImgPilFoo``...).

    Raises:
        ConfigError: a missing or unreadable file, not a VISSL pretraining config, a loss
            without a recipe (one line).
    """
    path = Path(yaml_path)
    if not path.is_file():
        raise ConfigError(f"VISSL config not found: {path}")
    try:
        doc = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except Exception as exc:  # yaml's scanner/parser errors, undecodable bytes: the same user error
        raise ConfigError(f"VISSL config {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    cfg = doc.get("config", doc) if isinstance(doc, dict) else None
    if not isinstance(cfg, dict):
        raise ConfigError(f"VISSL config {path} holds no mapping of settings")
    try:
        name = vissl_recipe_name(cfg)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    recipe = RECIPES.get(name)
    known = set(_leaves(config_to_dict(recipe.config_class()))) if recipe is not None else set()
    overrides: dict[str, str] = {}
    mapped: set[str] = set()

    def put(vissl_key: str, ours: str, value: Any) -> bool:
        if ours not in known:
            return False
        overrides[ours] = _value(value)
        mapped.add(vissl_key)
        return True

    leaves = _leaves(cfg)
    loss = cfg["LOSS"]["name"]
    mapped.add("LOSS.name")
    params = _leaves((cfg["LOSS"].get(loss) or {}))
    loss_map = LOSS_KEYS.get(loss, {})
    for key, value in params.items():
        full = f"LOSS.{loss}.{key}"
        if key in AUTO_FILLED or key.split(".")[-1] in {"num_train_samples", "num_crops", "world_size", "effective_batch_size"}:
            mapped.add(full)
        elif key == "loss_weights" and name == "pirl" and isinstance(value, list) and len(value) == 2:
            put(full, "loss.patch_weight", value[0])
            put(full, "loss.image_weight", value[1])
        else:
            for ours in loss_map.get(key, [f"loss.{key}"]):
                if put(full, ours, value):
                    break
    if loss == "nce_loss_with_memory" and "loss.memory_init" in known:
        overrides["loss.memory_init"] = "random"  # VISSL's memory bank starts from random rows
    epochs = (cfg.get("OPTIMIZER") or {}).get("num_epochs")
    simple = {
        "DATA.TRAIN.BATCHSIZE_PER_REPLICA": "data.batch_size", "DATA.NUM_DATALOADER_WORKERS": "data.num_workers",
        "OPTIMIZER.num_epochs": "train.epochs", "OPTIMIZER.name": "optim.name", "OPTIMIZER.weight_decay": "optim.weight_decay",
        "OPTIMIZER.momentum": "optim.momentum", "OPTIMIZER.nesterov": "optim.nesterov",
        "OPTIMIZER.regularize_bn": "optim.regularize_bn", "OPTIMIZER.regularize_bias": "optim.regularize_bias",
        "OPTIMIZER.use_larc": "optim.use_larc", "OPTIMIZER.larc_config.clip": "optim.larc_clip",
        "OPTIMIZER.larc_config.trust_coefficient": "optim.larc_trust_coefficient", "OPTIMIZER.larc_config.eps": "optim.larc_eps",
        "SEED_VALUE": "train.seed", "MODEL.SYNC_BN_CONFIG.CONVERT_BN_TO_SYNC_BN": "train.sync_bn",
        "MODEL.ACTIVATION_CHECKPOINTING.USE_ACTIVATION_CHECKPOINTING": "train.activation_checkpointing",
        "MODEL.TRUNK.RESNETS.WIDTH_MULTIPLIER": "model.width_multiplier",
    }  # fmt: skip
    for key, ours in simple.items():
        if key in leaves:
            value = leaves[key]
            if key == "OPTIMIZER.name" and value not in ("sgd", "lars", "adamw"):
                continue
            put(key, ours, value)
    trunk = ((cfg.get("MODEL") or {}).get("TRUNK") or {})
    if trunk.get("NAME") == "resnet" and put("MODEL.TRUNK.NAME", "model.trunk", f"resnet{(trunk.get('RESNETS') or {}).get('DEPTH', 50)}"):
        mapped.add("MODEL.TRUNK.RESNETS.DEPTH")
    if "MODEL.AMP_PARAMS.USE_AMP" in leaves:
        put("MODEL.AMP_PARAMS.USE_AMP", "train.precision", "auto" if leaves["MODEL.AMP_PARAMS.USE_AMP"] else "fp32")
    lr = ((cfg.get("OPTIMIZER") or {}).get("param_schedulers") or {}).get("lr") or {}
    mapped.update(f"OPTIMIZER.param_schedulers.lr.{k}" for k in _lr_overrides(lr, epochs, lambda vk, o, v: put(f"OPTIMIZER.param_schedulers.lr.{vk}", o, v)))
    transforms = ((cfg.get("DATA") or {}).get("TRAIN") or {}).get("TRANSFORMS") or []
    mapped.add("DATA.TRAIN.TRANSFORMS")  # judged entry by entry below
    extra: list[str] = []
    for i, t in enumerate(transforms):
        tname = t.get("name", "") if isinstance(t, dict) else ""
        if tname == "ShuffleImgPatches" and "perm_file" in t and "://" not in str(t["perm_file"]):
            put(f"DATA.TRAIN.TRANSFORMS[{i}].perm_file", "loss.permutations_file", t["perm_file"])
        elif tname == "ShuffleImgPatches" and "perm_file" in t:
            extra.append(f"DATA.TRAIN.TRANSFORMS[{i}].perm_file={t['perm_file']} (a URL: download it, pass loss.permutations_file)")
        elif tname not in BUILT_IN_TRANSFORMS:
            extra.append(f"DATA.TRAIN.TRANSFORMS[{i}].name={tname}")
    unmapped = sorted([k for k in leaves if k not in mapped] + extra)
    return name, [f"{k}={v}" for k, v in overrides.items()], unmapped
