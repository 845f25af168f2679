"""``ssl extract``: trunk features of a checkpoint on the train and test splits of a data set,
streamed to chunk files on disk (reloaded with ``ssl_evaluation.load_features``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.suites.benchmark_data import feature_batches, open_split
from ssl_evaluation.suites.checkpoint_trunk import checkpoint_trunk, resolve_image_size

__all__ = ["export_features"]


def export_features(checkpoint: str | Path, data: str, layers: Sequence[str], out: str | Path, image_size: int = 0,
                    batch_size: int = 512, progress: ProgressFn | None = None) -> dict[str, tuple[int, list[Path]]]:
    """Write ``out/SPLIT/LAYER/rank0_chunk*.npz`` of ``layers`` (trunk feature names, e.g.
    ``res4``, ``res5avg``) for ``data``'s train and test splits (any classification source of
    ``ssl benchmark``) at ``image_size`` (0: the checkpoint's recipe, else 224), ``batch_size``
    images per forward pass. Returns ``{split: (images, files written)}``;
    ``progress(f"features ({split})", images done, N)``. Both splits are opened (and checked)
    before the first feature is computed."""
    import ssl_evaluation

    if not layers:
        raise ValueError("layers is empty")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    trunk, trained = checkpoint_trunk(checkpoint)
    size = resolve_image_size(image_size, trained)
    forward = ssl_evaluation.layer_forward(trunk, list(layers))
    splits = {split: open_split(data, split, size) for split in ("train", "test")}
    written = {}
    for split, images in splits.items():
        batches = feature_batches(images, batch_size, progress=progress, stage=f"features ({split})")
        written[split] = (len(images), ssl_evaluation.extract_to_disk(forward, batches, out, split))
    return written
