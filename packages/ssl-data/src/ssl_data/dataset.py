"""SSLDataset: a source plus transform, label type, per-sample seeding and invalid-image handling."""

from __future__ import annotations

import logging
import multiprocessing
from collections.abc import Callable, Sequence
from typing import Any

from torch.utils.data import Dataset, Subset

from ssl_data.invalid_images import DECODE_ERRORS, InvalidImageQueue
from ssl_data.sampling.seeding import sample_seed, seeded_rngs
from ssl_data.sources.label_type import apply_label_type, check_label_type

__all__ = ["SSLDataset"]

logger = logging.getLogger("ssl_data.dataset")

_MAX_FAILED_REPLACEMENTS = 64


def _sample_path(source: Dataset, index: int) -> str:
    if isinstance(source, Subset):
        return _sample_path(source.dataset, int(source.indices[index]))
    path_of = getattr(source, "path_of", None)
    if callable(path_of):
        return str(path_of(index))
    samples = getattr(source, "samples", None)
    if samples is not None:
        try:
            return str(samples[index][0])
        except (IndexError, TypeError, KeyError):
            pass
    return f"<{type(source).__name__}[{index}]>"


class SSLDataset(Dataset):
    """What a training loader reads (VISSL's GenericSSLDataset role).

    ``dataset[i]`` returns ``(data, label, i)`` where ``data = transform(image)`` (for a
    multi-source item, a list with the transform applied to each source's image), and ``label``
    follows ``label_type`` ("standard", "sample_index" or "zero").

    Reproducibility: the transform runs with torch's, numpy's and Python's global generators
    seeded from ``sample_seed(seed, epoch, i)``, so the augmentation of sample ``i`` in a given
    epoch is the same whichever worker, rank or resumed run draws it. Call ``set_epoch`` every
    epoch (``SSLDataLoader.set_epoch`` does it).

    Invalid images (``invalid_images="replace"``, the default): when the source raises one of
    ``DECODE_ERRORS`` the sample is replaced by a recently decoded valid sample that is not in the
    same batch (the transform still uses sample ``i``'s seed), counted in ``num_invalid`` and
    logged with its path; ``TooManyInvalidImagesError`` past ``max_invalid_fraction``.
    ``invalid_images="raise"`` lets the error propagate.

    Args:
        source: a map-style dataset returning ``(image, label, index)`` without a transform of
            its own (``ImageFolderSource``, ``FileListSource``, ``TensorImageDataset``, ...).
        transform: callable on one image, e.g. ``ssl_data.simclr_transform(224)`` wrapped in
            ``ssl_data.MultiView``.
    """

    def __init__(
        self,
        source: Dataset,
        transform: Callable[[Any], Any] | None = None,
        seed: int = 0,
        label_type: str = "standard",
        invalid_images: str = "replace",
        max_invalid_fraction: float = 0.01,
        queue_size: int = 256,
    ) -> None:
        if invalid_images not in ("replace", "raise"):
            raise ValueError(f"invalid_images must be 'replace' or 'raise', got {invalid_images!r}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.source = source
        self.transform = transform
        self.seed = int(seed)
        self.label_type = check_label_type(label_type)
        self.invalid_images = invalid_images
        # Shared memory: persistent DataLoader workers see set_epoch calls made in the main process.
        self._epoch = multiprocessing.Value("q", 0, lock=False)
        self.invalid = InvalidImageQueue(len(source), queue_size, max_invalid_fraction)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.source)  # type: ignore[arg-type]

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation stream of ``epoch`` (seen by already running workers too)."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self._epoch.value = int(epoch)

    @property
    def epoch(self) -> int:
        return int(self._epoch.value)

    @property
    def num_invalid(self) -> int:
        """Invalid files replaced so far (summed over DataLoader workers)."""
        return self.invalid.num_invalid

    @property
    def num_seen(self) -> int:
        """Samples read so far (summed over DataLoader workers)."""
        return self.invalid.num_seen

    def __getitem__(self, index: int) -> tuple[Any, int, int]:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[tuple[Any, int, int]]:
        """Read a whole batch (torch's DataLoader calls this), so replacements avoid its members."""
        indices = [int(i) for i in indices]
        n = len(self)
        for i in indices:
            if not 0 <= i < n:
                raise IndexError(f"index {i} out of range for dataset of {n} samples")
        in_batch = set(indices)
        out = []
        epoch = self.epoch
        for i in indices:
            image, label = self._read(i, in_batch)
            with seeded_rngs(sample_seed(self.seed, epoch, i)):
                data = self._transform(image)
            del image  # not held while the next one decodes (two 40-Mpixel images in a row: +122 MB)
            out.append((data, apply_label_type(int(label), i, self.label_type), i))
        return out

    def _transform(self, image: Any) -> Any:
        if self.transform is None:
            return image
        if isinstance(image, list):  # one image per source (MultiSourceDataset)
            return [self.transform(x) for x in image]
        return self.transform(image)

    def _read(self, index: int, in_batch: set[int]) -> tuple[Any, int]:
        if self.invalid_images == "raise":
            image, label, _ = self.source[index]
            self.invalid.record_valid(index)
            return image, label
        try:
            image, label, _ = self.source[index]
        except DECODE_ERRORS as error:
            self.invalid.record_invalid(index, _sample_path(self.source, index), error)
        else:
            self.invalid.record_valid(index)
            return image, label
        failures = 0
        for candidate in self.invalid.candidates(index, in_batch):
            try:
                image, label, _ = self.source[candidate]
            except DECODE_ERRORS:
                failures += 1
                if failures >= _MAX_FAILED_REPLACEMENTS:
                    break
                continue
            in_batch.add(candidate)
            logger.info("sample %d replaced by sample %d", index, candidate)
            return image, label
        raise RuntimeError(
            f"no valid replacement found for invalid image {_sample_path(self.source, index)} "
            f"(tried {failures} candidates)"
        )
