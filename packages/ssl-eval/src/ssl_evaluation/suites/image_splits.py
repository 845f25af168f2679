"""What the feature and fine-tuning suites share: the checkpoint's trunk and the train / test
splits of ``data`` (streamed, see :func:`ssl_evaluation.suites.open_split`), features of a layer
computed batch by batch, and the one result shape ``{metrics, protocol, data, checkpoint, seconds}``."""

from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, feature_batches, open_split
from ssl_evaluation.suites.checkpoint_trunk import checkpoint_trunk, resolve_image_size
from ssl_evaluation.progress import ProgressFn

__all__ = [
    "ImageData",
    "checked_trunk",
    "checkpoint_classifier",
    "class_ids_only",
    "data_summary",
    "layer_features",
    "open_train_test",
    "plain_values",
    "suite_result",
]


@dataclass
class ImageData:
    """How the suites read labelled images: resize + centre crop to ``image_size`` (0: the
    checkpoint recipe's size, else 224, VISSL's test transform), ``batch_size`` images per forward
    pass, at most ``limit`` train images (class-balanced and seeded, VISSL's ``DATA_LIMIT`` with
    ``IS_BALANCED``; 0 keeps all), ``val_fraction`` held out of a single class tree as the test split."""

    image_size: int = 0
    batch_size: int = 256
    limit: int = 0
    seed: int = 0
    val_fraction: float = 0.2


def checked_trunk(checkpoint: str | Path | nn.Module, image_size: int = 0, layers: Sequence[str] = (),
                  what: str = "this benchmark") -> tuple[nn.Module, int]:
    """The trunk (eval mode) of a checkpoint file or module and the image side to use; one clear
    ValueError when the trunk lacks one of ``layers``."""
    if isinstance(checkpoint, nn.Module):
        trunk, trained = checkpoint.eval(), 0
    else:
        trunk, trained = checkpoint_trunk(checkpoint)
    known = list(trunk.feature_names()) if hasattr(trunk, "feature_names") else []
    missing = [name for name in layers if name not in known]
    if missing:
        raise ValueError(f"the trunk ({getattr(trunk, 'name', type(trunk).__name__)}) has no layer(s) "
                         f"{', '.join(missing)} needed by {what}; it has {', '.join(known) or 'no named layers'}")
    return trunk, resolve_image_size(image_size, trained)


def checkpoint_classifier(checkpoint: str | Path) -> nn.Module:
    """``nn.Sequential(trunk, *heads)`` of a checkpoint (e.g. one a fine-tuning suite saved):
    ``[B, 3, H, W] -> [B, num_outputs]``, eval mode."""
    from ssl_models import checkpoint as ckpt_format

    payload = ckpt_format.load_checkpoint(checkpoint)
    trunk = ckpt_format.trunk_from_checkpoint(payload)
    return nn.Sequential(trunk, *ckpt_format.heads_from_checkpoint(payload)).eval()


def open_train_test(data: str, image_size: int, spec: ImageData, limit: int | None = None) -> tuple[BenchmarkSplit, BenchmarkSplit]:
    """Train (``limit``, default ``spec.limit``, applied) and test splits of ``data``, not decoded."""
    limit = spec.limit if limit is None else limit
    train = open_split(data, "train", image_size, limit=limit, seed=spec.seed, val_fraction=spec.val_fraction)
    test = open_split(data, "test", image_size, val_fraction=spec.val_fraction)
    return train, test


def class_ids_only(what: str, *splits: BenchmarkSplit) -> None:
    """Refuse ``[N, C]`` label matrices for benchmarks that need class ids."""
    for split in splits:
        if split.targets.ndim != 1:
            raise ValueError(f"{what} needs class ids, but {split.source} has a [N, C] label matrix")


def layer_features(trunk: nn.Module, split: BenchmarkSplit, batch_size: int, layer: str = "res5avg",
                   progress: ProgressFn | None = None, stage: str = "features") -> torch.Tensor:
    """Features ``[N, D]`` of ``split`` in dataset order, read batch by batch: the trunk's pooled
    output for ``res5avg``, else the named layer globally average-pooled."""
    import ssl_evaluation

    batches = feature_batches(split, batch_size, progress=progress, stage=stage)
    if layer == "res5avg":
        return ssl_evaluation.extract_features(trunk, batches)[0]
    return ssl_evaluation.extract_layer_features(trunk, batches, [layer]).features[layer]


def data_summary(data: str, image_size: int, **splits: BenchmarkSplit) -> dict[str, Any]:
    """``{"name", "source", "image_size", "<split>_images": N, "invalid_images": {...}}`` for results.json."""
    first = next(iter(splits.values()), None)
    out: dict[str, Any] = {"name": data, "source": first.source if first is not None else data, "image_size": image_size}
    for name, split in splits.items():
        out[f"{name}_images"] = len(split)
    invalid = {name: split.invalid_summary() for name, split in splits.items() if hasattr(split, "invalid_summary")}
    if invalid:
        out["invalid_images"] = invalid
    return out


def plain_values(value: Any) -> Any:
    """Dataclasses, enums, paths and tuples as JSON-ready values (enums by their value)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain_values(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_values(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def suite_result(name: str, metrics: dict[str, Any], protocol: Any, data: dict[str, Any],
                 checkpoint: str | Path | nn.Module | None, started: float, constants: dict[str, Any] | None = None,
                 **more: Any) -> dict[str, Any]:
    """The result shape of every suite runner: ``{"metrics": {name: ...}, "protocol": {name:
    protocol values + ``constants`` + ``more`` (fixed constants the algorithm used)}, "data",
    "checkpoint", "seconds"}``."""
    constants = {**(constants or {}), **more}
    where = None if checkpoint is None or isinstance(checkpoint, nn.Module) else str(checkpoint)
    return {
        "metrics": {name: metrics},
        "protocol": {name: {**plain_values(protocol), **plain_values(constants)}},
        "data": data,
        "checkpoint": where,
        "seconds": round(time.perf_counter() - started, 2),
    }
