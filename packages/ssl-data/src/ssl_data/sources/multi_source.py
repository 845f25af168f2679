"""Several sources read in parallel, one image from each per sample (VISSL's GenericSSLDataset)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

__all__ = ["MultiSourceDataset"]


class MultiSourceDataset(Dataset):
    """``dataset[i] = ([image_0, image_1, ...], label, i)``: item ``i`` of every source.

    VISSL's ``DATA_SOURCES: [a, b]`` (for example the same images from a folder and from a
    filelist, or an image and its precomputed patches). All sources must have the same length.

    Args:
        sources: map-style datasets returning ``(image, label, index)``.
        label_source: index of the source whose label is used, or None for the list of every
            source's label (VISSL's multi-source ``LABEL_SOURCES``).
    """

    def __init__(self, sources: Sequence[Dataset], label_source: int | None = 0) -> None:
        sources = list(sources)
        if not sources:
            raise ValueError("MultiSourceDataset needs at least one source")
        lengths = [len(s) for s in sources]  # type: ignore[arg-type]
        if len(set(lengths)) != 1:
            raise ValueError(f"all sources must have the same length, got {lengths}")
        if label_source is not None and not 0 <= label_source < len(sources):
            raise ValueError(f"label_source must be in [0, {len(sources) - 1}] or None, got {label_source}")
        self.sources = sources
        self.label_source = label_source

    def __len__(self) -> int:
        return len(self.sources[0])  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[list[Any], Any, int]:
        index = int(index)
        items = [s[index] for s in self.sources]
        images = [item[0] for item in items]
        labels = [int(item[1]) for item in items]
        label: Any = labels if self.label_source is None else labels[self.label_source]
        return images, label, index
