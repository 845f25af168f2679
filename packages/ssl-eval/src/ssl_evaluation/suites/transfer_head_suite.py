"""``ssl benchmark transfer-head``: ViRB's test-only reuse of a trained head (ImageNet-v2 read with
the ImageNet head). A linear head is trained on ``data``'s train split (ViRB's image head: Adam
1e-4, batch 32, 100 epochs on standardised encodings), scored on ``data``'s own test split, then on
``test_data``, a folder that is never trained on (one class tree, read whole, or its ``val/`` /
``test/`` split).

``label_map`` says how ``test_data``'s class folders name the head's classes:

* ``name``: the same folder names as ``data``'s train classes;
* ``index``: each folder is named by the head's class index (ImageNet-v2's ``0`` ... ``999``,
  the index in the sorted ImageNet wnids);
* ``auto``: ``name`` when every test folder is a train class name, else ``index`` when every
  test folder name is a number;
* a path to a JSON file ``{test folder name: head class name or index}``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.benchmark_data import BenchmarkSplit, open_split
from ssl_evaluation.suites.image_splits import (
    ImageData,
    checked_trunk,
    class_ids_only,
    data_summary,
    layer_features,
    open_train_test,
    suite_result,
)

__all__ = ["TransferHeadProtocol", "run_transfer_head", "head_label_map"]


@dataclass
class TransferHeadProtocol(ImageData):
    """A head trained on ``data`` and scored on the test-only ``test_data`` (module docstring).

    Defaults: ViRB's image-level head (Adam lr 1e-4, constant, batch 32, 100 epochs) on the
    trunk's pooled encoding (``layer=res5avg``; another layer is globally average-pooled).
    """

    test_data: str = ""
    label_map: str = "auto"
    layer: str = "res5avg"
    epochs: int = 100
    lr: float = 1e-4
    head_batch_size: int = 32


def head_label_map(test_classes: list[str], train_classes: list[str], num_classes: int, rule: str) -> tuple[dict[int, int], str]:
    """``({test class id: head class id}, rule used)`` for a test folder's class names (``rule``:
    ``auto``, ``name``, ``index`` or a JSON file, see the module docstring)."""
    if rule not in ("auto", "name", "index"):
        path = Path(rule).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"label_map must be auto, name, index or a JSON file; file not found: {path}")
        from ssl_data.prep.outputs import read_json

        table = read_json(path, "label_map file")
        if not isinstance(table, dict):
            raise ValueError(f"label_map file {path} must map test folder names to head classes")
        missing = [c for c in test_classes if c not in table]
        if missing:
            raise ValueError(f"label_map file {path} has no entry for test class folder(s) {missing[:5]}")
        out = {}
        for i, name in enumerate(test_classes):
            value = table[name]
            if isinstance(value, str) and value in train_classes:
                out[i] = train_classes.index(value)
            elif isinstance(value, int) and not isinstance(value, bool):
                out[i] = value
            else:
                raise ValueError(f"label_map file {path}: {name!r} -> {value!r} is neither a train class name nor an index")
        return out, str(path)
    if rule in ("auto", "name") and train_classes and all(c in train_classes for c in test_classes):
        return {i: train_classes.index(c) for i, c in enumerate(test_classes)}, "name"
    if rule == "name":
        unknown = [c for c in test_classes if c not in train_classes]
        raise ValueError(f"label_map=name: test class folder(s) {unknown[:5]} are not train classes"
                         + ("" if train_classes else " (the train data has no class folder names)"))
    if all(c.isdigit() for c in test_classes):
        return {i: int(c) for i, c in enumerate(test_classes)}, "index"
    raise ValueError(f"cannot map the test class folders ({', '.join(test_classes[:5])}, ...) to the head's "
                     f"{num_classes} classes: name them as the train classes or by class index, or give label_map=FILE.json")


def run_transfer_head(checkpoint: str | Path | nn.Module, data: str, protocol: TransferHeadProtocol | None = None,
                      progress: ProgressFn | None = None) -> dict[str, Any]:
    """``{metrics: {"transfer-head": {"top1", "top5", "num_samples", "source": {...}}}, ...}``:
    the test-only set's accuracy, and under ``source`` that of ``data``'s own test split."""
    from ssl_evaluation.linear_heads import HeadConfig
    from ssl_evaluation.virb.transfer_head import evaluate_image_head, train_image_head

    started, p = time.perf_counter(), protocol or TransferHeadProtocol()
    needed = [] if p.layer == "res5avg" else [p.layer]
    trunk, size = checked_trunk(checkpoint, p.image_size, needed, f"transfer-head layer={p.layer}")
    train, test = open_train_test(data, size, p)
    class_ids_only("transfer-head", train, test)
    if not p.test_data:
        raise ValueError("transfer-head needs test_data=FOLDER: the test-only set (e.g. ImageNet-v2) scored with the head")
    target: BenchmarkSplit = open_split(p.test_data, "test", size, held_out=False)
    class_ids_only("transfer-head", target)
    num_classes = max(train.num_classes, len(train.classes))
    if not target.classes:
        raise ValueError(f"test_data must be an image folder of class folders, got {p.test_data!r}")
    label_map, rule = head_label_map(target.classes, train.classes, num_classes, p.label_map)

    def features(split: BenchmarkSplit, stage: str) -> Any:
        return layer_features(trunk, split, p.batch_size, p.layer, progress, stage)

    head = train_image_head(features(train, "features (train)"), train.targets, num_classes,
                            HeadConfig("adam", p.lr, "constant"), p.epochs, p.head_batch_size, p.seed, progress)
    source = evaluate_image_head(head, features(test, "features (test)"), test.targets)
    scores = {**evaluate_image_head(head, features(target, "features (test-only)"), target.targets, label_map),
              "source": source}
    summary = {**data_summary(data, size, train=train, test=test), "test_only": target.source,
               "test_only_images": len(target)}
    return suite_result("transfer-head", scores, p, summary, checkpoint, started,
                        {"image_size_used": size, "label_map_used": rule, "num_classes": num_classes,
                         "optimizer": "adam", "scheduler": "constant"})
