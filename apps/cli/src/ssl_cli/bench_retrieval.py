"""Instance retrieval and copy detection: revisited ROxford5k / RParis6k, CopyDays, INSTRE."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_cli.bench_data import checkpoint_trunk
from ssl_cli.bench_options import parse_list
from ssl_cli.errors import UsageError

__all__ = ["RETRIEVAL_DATASETS", "run_retrieval"]

RETRIEVAL_DATASETS = ("roxford5k", "rparis6k", "copydays", "instre")
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def _guess_dataset(root: Path) -> str:
    for name in ("roxford5k", "rparis6k"):
        if (root / f"gnd_{name}.pkl").is_file():
            return name
    if (root / "gnd_instre.mat").is_file():
        return "instre"
    if (root / "queries").is_dir():
        return "copydays"
    raise UsageError(f"{root} holds no gnd_roxford5k.pkl, gnd_rparis6k.pkl, gnd_instre.mat or queries/; pass --dataset")


def _whitening_images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise FileNotFoundError(f"whitening image folder not found: {folder}")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in _IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f"whitening image folder has no images: {folder}")
    return paths


def run_retrieval(
    checkpoint: Path,
    data: str,
    *,
    dataset: str = "auto",
    layer: str = "res5",
    pooling: str = "gem",
    gem_p: float = 4.0,
    rmac_levels: int = 3,
    scales: str = "1.0",
    resize_max: int = 1024,
    similarity: str = "cosine",
    whitening: Path | None = None,
    num_pca: int = 512,
    crop_query_roi: bool = False,
    distractors: bool = False,
) -> dict[str, Any]:
    """VISSL's IMG_RETRIEVAL: describe every image by pooling the trunk's ``layer`` map (GeM p 4,
    R-MAC 3 levels, max, avg), optionally PCA-whitened on a separate image folder, rank by
    ``similarity``; revisited mAP E/M/H + mP@1,5,10, CopyDays mAP per distortion, INSTRE mAP."""
    from ssl_evaluation import retrieval

    root = Path(data).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"retrieval data folder not found: {root}")
    dataset = _guess_dataset(root) if dataset == "auto" else dataset
    if dataset not in RETRIEVAL_DATASETS:
        raise UsageError(f"--dataset must be one of {', '.join(RETRIEVAL_DATASETS)}, got {dataset!r}")
    if pooling not in ("gem", "rmac", "max", "avg", "none"):
        raise UsageError(f"--pooling must be gem, rmac, max, avg or none, got {pooling!r}")
    if similarity not in ("cosine", "l2"):
        raise UsageError(f"--similarity must be cosine or l2, got {similarity!r}")
    trunk, _ = checkpoint_trunk(checkpoint, 0)
    if layer not in trunk.feature_names():
        raise UsageError(f"the trunk has no layer {layer!r}; it has {', '.join(trunk.feature_names())}")
    options: dict[str, Any] = {
        "pooling": pooling, "gem_p": gem_p, "rmac_levels": rmac_levels, "resize_max": resize_max,
        "scales": parse_list(scales, float, "--scales"), "similarity": similarity, "num_pca": num_pca,
    }
    if whitening is not None:
        options["whitening_paths"] = _whitening_images(Path(whitening).expanduser())
    feature_fn = retrieval.feature_map_of(trunk.eval(), layer)
    if dataset in ("roxford5k", "rparis6k"):
        res = retrieval.evaluate_revisited(feature_fn, root, dataset, crop_query_roi=crop_query_roi, **options)
    elif dataset == "copydays":
        res = retrieval.evaluate_copydays(feature_fn, root, use_distractors=distractors, **options)
    else:
        res = retrieval.evaluate_instre(feature_fn, root, **options)
    protocol = {**res.pop("protocol"), "layer": layer}
    if whitening is not None:
        protocol["whitening_images"] = len(options["whitening_paths"])
    return {
        "checkpoint": str(checkpoint),
        "data": {"source": str(root), "dataset": dataset},
        "benchmarks": {"retrieval": res},
        "protocol": {"retrieval": protocol},
    }
