"""Feature extraction: run a frozen model over a loader and collect features in dataset order.

The loader yields ``(images, labels)`` or ``(images, labels, indices)``. With indices, rows come
back sorted by dataset index; under ``torch.distributed`` every rank extracts its shard (for
example through ``DistributedSampler``) and the shards are gathered and merged by dataset index,
so duplicates added by the sampler's padding appear once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import Tensor, nn

__all__ = [
    "ExtractedFeatures",
    "collect_outputs",
    "extract_features",
    "iterate_outputs",
    "merge_by_index",
]


@dataclass(frozen=True)
class ExtractedFeatures:
    """Features of one split.

    Attributes:
        features: layer name -> float32 ``[N, D_layer]``.
        labels: int64 ``[N]`` targets (any shape ``[N, ...]`` for multi-label targets).
        indices: int64 ``[N]`` dataset indices (``arange(N)`` when the loader gave none).
    """

    features: dict[str, Tensor]
    labels: Tensor
    indices: Tensor


def _unpack(batch: object) -> tuple[Tensor, Tensor, Tensor | None]:
    if isinstance(batch, Mapping):
        images, labels, indices = batch["images"], batch["labels"], batch.get("indices")
    elif isinstance(batch, (tuple, list)) and len(batch) in (2, 3):
        images, labels = batch[0], batch[1]
        indices = batch[2] if len(batch) == 3 else None
    else:
        raise ValueError(
            "loader must yield (images, labels) or (images, labels, indices), got "
            f"{type(batch).__name__}"
        )
    labels_t = torch.as_tensor(labels)
    indices_t = None if indices is None else torch.as_tensor(indices, dtype=torch.int64)
    return images, labels_t, indices_t


def _gather_rows(tensor: Tensor) -> Tensor:
    """All-gather ``[n_r, ...]`` tensors of different lengths -> ``[sum_r n_r, ...]``."""
    world = dist.get_world_size()
    count = torch.tensor([tensor.shape[0]], dtype=torch.int64)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    longest = int(max(int(c) for c in counts))
    padded = tensor.new_zeros((longest, *tensor.shape[1:]))
    padded[: tensor.shape[0]] = tensor
    buckets = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(buckets, padded.contiguous())
    return torch.cat([b[: int(c)] for b, c in zip(buckets, counts)])


def merge_by_index(
    features: dict[str, Tensor], labels: Tensor, indices: Tensor
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    """Sort rows by dataset index and drop repeated indices (first occurrence kept)."""
    order = torch.argsort(indices, stable=True)
    sorted_idx = indices[order]
    keep = torch.ones_like(sorted_idx, dtype=torch.bool)
    keep[1:] = sorted_idx[1:] != sorted_idx[:-1]
    rows = order[keep]
    return {k: v[rows] for k, v in features.items()}, labels[rows], indices[rows]


def iterate_outputs(
    forward: Callable[[Tensor], Mapping[str, Tensor]],
    loader: Iterable[object],
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> Iterator[tuple[dict[str, Tensor], Tensor, Tensor | None]]:
    """Yield ``(outputs, labels, indices)`` per batch: every output flattened to float32 CPU
    ``[B, D]``; ``indices`` is ``None`` when the loader gives none."""
    device = torch.device(device)
    autocast = (
        torch.autocast(device_type=device.type, dtype=autocast_dtype)
        if autocast_dtype is not None
        else contextlib.nullcontext()
    )
    have_indices: bool | None = None
    for batch in loader:
        images, labels, indices = _unpack(batch)
        if have_indices is None:
            have_indices = indices is not None
        elif have_indices != (indices is not None):
            raise ValueError("loader yields indices for some batches but not for others")
        with torch.inference_mode(), autocast:
            outputs = forward(images.to(device, non_blocking=True))
        batch_size = int(images.shape[0])
        flat = {}
        for name, value in outputs.items():
            if value.shape[0] != batch_size:
                raise ValueError(
                    f"model output {name!r} has {value.shape[0]} rows for a batch of "
                    f"{batch_size} images"
                )
            flat[name] = value.detach().reshape(batch_size, -1).float().cpu()
        yield flat, labels.cpu(), None if indices is None else indices.cpu()


def collect_outputs(
    forward: Callable[[Tensor], Mapping[str, Tensor]],
    loader: Iterable[object],
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
    gather: bool | None = None,
) -> ExtractedFeatures:
    """Run ``forward`` (images ``[B, C, H, W]`` -> name -> ``[B, ...]``) over ``loader``.

    Every output is flattened to ``[B, D]`` and stored as float32 on the CPU. ``gather`` (default:
    whenever ``torch.distributed`` is initialised with more than one rank) all-gathers every
    rank's rows and merges them by dataset index; this needs the loader to yield indices.
    """
    if gather is None:
        gather = dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
    chunks: dict[str, list[Tensor]] = {}
    labels_list: list[Tensor] = []
    index_list: list[Tensor] = []
    seen = 0
    have_indices: bool | None = None
    for outputs, labels, indices in iterate_outputs(forward, loader, device, autocast_dtype):
        have_indices = indices is not None
        for name, value in outputs.items():
            chunks.setdefault(name, []).append(value)
        batch_size = labels.shape[0]
        labels_list.append(labels)
        index_list.append(indices if indices is not None else torch.arange(seen, seen + batch_size))
        seen += batch_size
    if seen == 0 and not gather:
        raise ValueError("loader yielded no samples: the split is empty")
    if gather and have_indices is False:
        raise ValueError("distributed extraction needs a loader that yields dataset indices")
    features = {name: torch.cat(parts) for name, parts in chunks.items()}
    labels_all = torch.cat(labels_list) if labels_list else torch.empty(0, dtype=torch.int64)
    indices_all = torch.cat(index_list) if index_list else torch.empty(0, dtype=torch.int64)
    if gather:
        features, labels_all, indices_all = _gather_split(features, labels_all, indices_all)
        if indices_all.numel() == 0:
            raise ValueError("loader yielded no samples on any rank: the split is empty")
    if have_indices or gather:
        features, labels_all, indices_all = merge_by_index(features, labels_all, indices_all)
    return ExtractedFeatures(features=features, labels=labels_all, indices=indices_all)


def _gather_split(
    features: dict[str, Tensor], labels: Tensor, indices: Tensor
) -> tuple[dict[str, Tensor], Tensor, Tensor]:
    # Ranks may have seen no batch (tiny splits); agree on names and widths through rank 0's view.
    meta = {name: (tuple(v.shape[1:]), v.dtype) for name, v in features.items()}
    metas: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(metas, (meta, tuple(labels.shape[1:]), labels.dtype))
    known = [m for m in metas if m is not None and m[0]]  # type: ignore[index]
    if not known:
        return features, labels, indices
    ref_meta, label_tail, label_dtype = known[0]  # type: ignore[misc]
    gathered: dict[str, Tensor] = {}
    for name, (tail, dtype) in ref_meta.items():
        local = features.get(name, torch.empty((0, *tail), dtype=dtype))
        gathered[name] = _gather_rows(local)
    local_labels = labels if labels.numel() else torch.empty((0, *label_tail), dtype=label_dtype)
    return gathered, _gather_rows(local_labels), _gather_rows(indices)


def extract_features(
    model: Callable[[Tensor], Tensor],
    loader: Iterable[object],
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Features of ``model`` (images ``[B, C, H, W]`` -> ``[B, D]``) over ``loader``.

    Returns float32 ``[N, D]`` features and int64 ``[N]`` labels, on the CPU. An ``nn.Module`` is
    put in eval mode for the pass (its previous mode is restored). Rows are sorted by dataset
    index when the loader yields indices, and merged across ranks under ``torch.distributed``.
    ``autocast_dtype`` (for example ``torch.bfloat16``) runs the model under ``torch.autocast``.
    """

    def forward(images: Tensor) -> dict[str, Tensor]:
        out = model(images)
        if not isinstance(out, Tensor):
            raise ValueError(f"model must return a Tensor [B, D], got {type(out).__name__}")
        return {"output": out}

    was_training = isinstance(model, nn.Module) and model.training
    if isinstance(model, nn.Module):
        model.eval()
    try:
        result = collect_outputs(forward, loader, device=device, autocast_dtype=autocast_dtype)
    finally:
        if was_training:
            assert isinstance(model, nn.Module)
            model.train()
    return result.features["output"], result.labels
