"""Extracted features on disk: chunked writes per rank, reload merged by dataset index, sampling.

Layout (one folder per run): ``{out_dir}/{split}/{layer}/rank{R}_chunk{I:05d}.npz``, each file
holding ``features [n, D]`` (float32), ``inds [n]`` (dataset indices, int64) and ``targets
[n, ...]``. Every rank writes its own chunks (VISSL's CHUNK_THRESHOLD: a file whenever
``chunk_rows`` rows have accumulated), so memory stays bounded and no gather is needed;
``load_features`` merges all ranks' chunks by dataset index (duplicates from a padded
``DistributedSampler`` appear once). Files are written atomically.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor

from ssl_evaluation.atomic_files import atomic_write_bytes
from ssl_evaluation.features import iterate_outputs

__all__ = ["FeatureChunkWriter", "extract_to_disk", "load_features", "sample_features"]


def _rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


class FeatureChunkWriter:
    """Accumulates batches of one split and writes a chunk per layer every ``chunk_rows`` rows."""

    def __init__(
        self, out_dir: str | os.PathLike[str], split: str, chunk_rows: int = 65536,
        rank: int | None = None,
    ) -> None:
        if chunk_rows < 1:
            raise ValueError(f"chunk_rows must be >= 1, got {chunk_rows}")
        if not split or "/" in split:
            raise ValueError(f"split must be a plain name, got {split!r}")
        self.root = Path(out_dir) / split
        self.chunk_rows = chunk_rows
        self.rank = _rank() if rank is None else rank
        self._pending: list[tuple[dict[str, Tensor], Tensor, Tensor]] = []
        self._rows = 0
        self._chunk = 0
        self.paths: list[Path] = []

    def add(self, features: Mapping[str, Tensor], targets: Tensor, indices: Tensor) -> None:
        """Queue one batch: ``features[layer] [B, D]``, ``targets [B, ...]``, ``indices [B]``."""
        self._pending.append((dict(features), targets, indices))
        self._rows += len(indices)
        if self._rows >= self.chunk_rows:
            self.flush()

    def flush(self) -> None:
        """Write what is queued (one file per layer) and start a new chunk."""
        if not self._pending:
            return
        targets = torch.cat([t for _, t, _ in self._pending]).numpy()
        inds = torch.cat([i for _, _, i in self._pending]).numpy().astype(np.int64)
        for layer in self._pending[0][0]:
            if layer == "" or "/" in layer:
                raise ValueError(f"layer names must be plain names, got {layer!r}")
            feats = torch.cat([f[layer] for f, _, _ in self._pending]).numpy()
            buffer = io.BytesIO()
            np.savez(buffer, features=feats.astype(np.float32), inds=inds, targets=targets)
            path = self.root / layer / f"rank{self.rank}_chunk{self._chunk:05d}.npz"
            self.paths.append(atomic_write_bytes(path, buffer.getvalue()))
        self._pending, self._rows = [], 0
        self._chunk += 1


def extract_to_disk(
    forward: Callable[[Tensor], Mapping[str, Tensor]],
    loader: Iterable[object],
    out_dir: str | os.PathLike[str],
    split: str,
    chunk_rows: int = 65536,
    device: str | torch.device = "cpu",
    autocast_dtype: torch.dtype | None = None,
) -> list[Path]:
    """Stream ``forward``'s outputs over ``loader`` into chunk files; returns the paths written.

    ``forward``: images -> ``{layer: [B, ...]}`` (for example ``layer_forward(trunk, layers)``).
    Batches without dataset indices get running positions on this rank.
    """
    writer = FeatureChunkWriter(out_dir, split, chunk_rows)
    seen = 0
    for outputs, labels, indices in iterate_outputs(forward, loader, device, autocast_dtype):
        if indices is None:
            indices = torch.arange(seen, seen + len(labels))
        seen += len(labels)
        writer.add(outputs, labels, indices)
    writer.flush()
    if seen == 0:
        raise ValueError(f"loader yielded no samples for split {split!r}: the split is empty")
    return writer.paths


def load_features(
    out_dir: str | os.PathLike[str], split: str, layer: str
) -> dict[str, np.ndarray]:
    """All chunks of ``split``/``layer`` merged: ``{"features" [N, D], "inds" [N], "targets"}``.

    Rows are sorted by dataset index, each index once. ``FileNotFoundError`` names the folder
    (and the layers or splits that do exist) when nothing was written there.
    """
    folder = Path(out_dir) / split / layer
    files = sorted(folder.glob("rank*_chunk*.npz"))
    if not files:
        split_dir = Path(out_dir) / split
        if split_dir.is_dir():
            have = sorted(p.name for p in split_dir.iterdir() if p.is_dir())
            raise FileNotFoundError(f"no features for layer {layer!r} in {split_dir}; found {have}")
        have = sorted(p.name for p in Path(out_dir).iterdir()) if Path(out_dir).is_dir() else []
        raise FileNotFoundError(f"no features for split {split!r} in {out_dir}; found {have}")
    parts = [np.load(path) for path in files]
    feats = np.concatenate([p["features"] for p in parts])
    inds = np.concatenate([p["inds"] for p in parts])
    targets = np.concatenate([p["targets"] for p in parts])
    order = np.argsort(inds, kind="stable")
    inds = inds[order]
    keep = np.r_[True, inds[1:] != inds[:-1]]
    rows = order[keep]
    return {"features": feats[rows], "inds": inds[keep], "targets": targets[rows]}


def sample_features(
    out_dir: str | os.PathLike[str], split: str, layer: str, num_samples: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """A random subset of ``num_samples`` rows (without replacement, sorted by dataset index)."""
    data = load_features(out_dir, split, layer)
    total = len(data["inds"])
    if not 1 <= num_samples <= total:
        raise ValueError(f"num_samples must be in [1, {total}], got {num_samples}")
    picked = np.sort(np.random.default_rng(seed).choice(total, size=num_samples, replace=False))
    return {key: value[picked] for key, value in data.items()}


