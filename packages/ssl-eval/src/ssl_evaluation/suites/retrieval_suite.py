"""Instance retrieval and copy detection: revisited ROxford5k / RParis6k, CopyDays, INSTRE."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ssl_evaluation.suites.image_splits import checked_trunk, suite_result
from ssl_evaluation.progress import ProgressFn

__all__ = ["RetrievalDataset", "RetrievalPooling", "RetrievalProtocol", "Similarity", "run_retrieval"]

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class RetrievalDataset(str, enum.Enum):
    """The ground-truth layout; ``auto`` looks for ``gnd_*.pkl``, ``gnd_instre.mat`` or ``queries/``."""

    auto = "auto"
    roxford5k = "roxford5k"
    rparis6k = "rparis6k"
    copydays = "copydays"
    instre = "instre"


class RetrievalPooling(str, enum.Enum):
    """How a feature map becomes a descriptor."""

    gem = "gem"
    rmac = "rmac"
    max = "max"
    avg = "avg"
    none = "none"


class Similarity(str, enum.Enum):
    """Ranking similarity."""

    cosine = "cosine"
    l2 = "l2"


@dataclass
class RetrievalProtocol:
    """VISSL's ``IMG_RETRIEVAL``: pool the trunk's ``layer`` map, optionally PCA-whiten on a separate
    image folder (``whitening``, ``""``: none), rank by ``similarity``.

    Defaults: VISSL's ``benchmark/instance_retrieval`` configs: ``res5``, GeM with
    ``GEM_POOL_POWER 4.0``, R-MAC ``SPATIAL_LEVELS 3``, ``RESIZE_IMG 1024``, ``N_PCA 512``,
    ``CROP_QUERY_ROI False``, one scale, normalised features (cosine).
    """

    dataset: RetrievalDataset = RetrievalDataset.auto
    layer: str = "res5"
    pooling: RetrievalPooling = RetrievalPooling.gem
    gem_p: float = 4.0
    rmac_levels: int = 3
    scales: list[float] = field(default_factory=lambda: [1.0])
    resize_max: int = 1024
    similarity: Similarity = Similarity.cosine
    whitening: str = ""
    num_pca: int = 512
    crop_query_roi: bool = False
    distractors: bool = False


def _guess_dataset(root: Path) -> str:
    for name in ("roxford5k", "rparis6k"):
        if (root / f"gnd_{name}.pkl").is_file():
            return name
    if (root / "gnd_instre.mat").is_file():
        return "instre"
    if (root / "queries").is_dir():
        return "copydays"
    raise ValueError(f"{root} holds no gnd_roxford5k.pkl, gnd_rparis6k.pkl, gnd_instre.mat or queries/; set dataset=")


def _whitening_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"whitening image folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"whitening image folder has no images: {folder}")
    return paths


def run_retrieval(checkpoint: str | Path, data: str, protocol: RetrievalProtocol | None = None,
                  progress: ProgressFn | None = None) -> dict[str, Any]:
    """Revisited mAP E/M/H + mP@1,5,10, CopyDays mAP per distortion, or INSTRE mAP, as
    ``{metrics: {"retrieval": {...}}, ...}``."""
    from ssl_evaluation import retrieval

    started, p = time.perf_counter(), protocol or RetrievalProtocol()
    root = Path(data).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"retrieval data folder not found: {root}")
    if not p.scales:
        raise ValueError("scales is empty")
    dataset = _guess_dataset(root) if p.dataset == RetrievalDataset.auto else p.dataset.value
    trunk, _ = checked_trunk(checkpoint, layers=[p.layer], what="retrieval")
    options: dict[str, Any] = {
        "pooling": p.pooling.value, "gem_p": p.gem_p, "rmac_levels": p.rmac_levels, "resize_max": p.resize_max,
        "scales": list(p.scales), "similarity": p.similarity.value, "num_pca": p.num_pca, "progress": progress,
    }
    constants: dict[str, Any] = {"dataset_used": dataset}
    if p.whitening:
        options["whitening_paths"] = _whitening_images(Path(p.whitening).expanduser())
        constants["whitening_images"] = len(options["whitening_paths"])
    feature_fn = retrieval.feature_map_of(trunk, p.layer)
    if dataset in ("roxford5k", "rparis6k"):
        res = retrieval.evaluate_revisited(feature_fn, root, dataset, crop_query_roi=p.crop_query_roi, **options)
    elif dataset == "copydays":
        res = retrieval.evaluate_copydays(feature_fn, root, use_distractors=p.distractors, **options)
    else:
        res = retrieval.evaluate_instre(feature_fn, root, **options)
    constants.update(res.pop("protocol"))
    return suite_result("retrieval", res, p, {"name": data, "source": str(root), "dataset": dataset}, checkpoint,
                        started, constants)
