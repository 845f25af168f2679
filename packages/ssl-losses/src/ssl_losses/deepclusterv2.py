"""DeepClusterV2's loss with its memory of embeddings and per-epoch k-means (VISSL's ``deepclusterv2_loss``).

DeepClusterV2 is the improved DeepCluster of the SwAV paper (Caron et al. 2020): the embeddings of
the last epoch are clustered with spherical k-means and every crop learns to predict its
sample's cluster, with the (fixed) centroids as a cosine classifier.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses import distributed
from ssl_losses.full_precision import full_precision
from ssl_losses.last_occurrence import last_occurrence

__all__ = ["DeepClusterV2Loss"]

_UNASSIGNED = -100
_CHUNK_ROWS = 65536  # rows scored at once in the k-means E-step (bounds the [rows, K] matrix)


class DeepClusterV2Loss(nn.Module):
    """Cross entropy between crops' cosine scores against k-means centroids and their cluster.

    Training loop (every rank runs all of it; the k-means is collective)::

        loss_fn = DeepClusterV2Loss(num_train_samples=len(dataset), num_crops=2)
        for epoch in range(epochs):
            # epoch 0: the memory is empty, the loss is 0; VISSL first fills it with a forward
            # pass (call loss_fn.update_memory(...) under no_grad) and clusters.
            if epoch > 0:
                loss_fn.cluster_memory(seed=epoch)
            for crops, indices in loader:          # embeddings [num_crops * B, D]
                loss = loss_fn(model(crops), indices)

    ``forward`` L2-normalises the embeddings, scores them against each head's centroids
    (``scores = e . c / temperature``) and averages over heads the cross entropy with the
    assignment of the sample (``-100``, ignored, for a sample not yet clustered); then it writes
    the normalised embeddings of ``crops_for_mb`` into this rank's memory at the next free rows.
    ``cluster_memory`` runs spherical k-means for each head (head ``h`` clusters memory bank
    ``h % len(crops_for_mb)``) over the memories of ALL ranks: the initial centroids are the
    memory rows of ``K`` dataset indices drawn with ``seed`` (the same on every rank, whatever the
    number of ranks), the M-step all-reduces the per-cluster sums and counts, and the final
    assignments of every rank are gathered, so the centroids and the ``assignments`` table are
    identical on every rank. Then the memory write position goes back to 0.

    All state (memories, their dataset indices, write position, assignments, centroids) is in
    registered buffers: ``state_dict()`` (a checkpoint) holds it. The memory differs between
    ranks (``per_rank_buffers`` names those buffers): a multi-process checkpoint must hold every
    rank's.

    Each row's loss depends only on itself and the centroids, so each rank's loss is the mean
    over its own rows (DDP's average gives the global-batch loss).

    Args:
        num_train_samples: dataset size (rows of the ``assignments`` table; VISSL auto-fills it).
        num_crops: crops stacked in the embeddings (VISSL default 2).
        temperature: score temperature (default 0.1).
        num_clusters: ``K`` of each clustering head (default ``(3000, 3000, 3000)``).
        kmeans_iters: k-means iterations (default 10).
        crops_for_mb: crops whose embeddings are stored in the memory (default ``(0,)``).
        embedding_dim: embedding size ``D`` (default 128).
        memory_size: rows of this rank's memory; default ``ceil(num_train_samples /
            world_size)`` (one epoch of a distributed sampler).

    Shapes:
        ``forward(embeddings: Tensor[num_crops * B, D], indices: int64 Tensor[B]) -> Tensor[]``,
        crop-major (rows ``c*B:(c+1)*B`` are crop ``c``); ``indices`` are the dataset indices of
        the ``B`` images.
    """

    local_memory_embeddings: Tensor
    local_memory_index: Tensor
    memory_position: Tensor
    assignments: Tensor
    #: buffers that hold this rank's own rows (the memory): a trainer must save and restore them
    #: for every rank, not only rank 0's.
    per_rank_buffers: ClassVar[tuple[str, ...]] = ("local_memory_embeddings", "local_memory_index", "memory_position")

    def __init__(
        self,
        num_train_samples: int,
        num_crops: int = 2,
        temperature: float = 0.1,
        num_clusters: Sequence[int] = (3000, 3000, 3000),
        kmeans_iters: int = 10,
        crops_for_mb: Sequence[int] = (0,),
        embedding_dim: int = 128,
        memory_size: int | None = None,
    ) -> None:
        super().__init__()
        if num_train_samples < 1:
            raise ValueError(f"num_train_samples must be >= 1 (the dataset size), got {num_train_samples}")
        if num_crops < 1:
            raise ValueError(f"num_crops must be >= 1, got {num_crops}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        clusters = [int(k) for k in num_clusters]
        if not clusters or min(clusters) < 1:
            raise ValueError(f"num_clusters must be a non-empty list of positive ints, got {list(num_clusters)}")
        if kmeans_iters < 0:
            raise ValueError(f"kmeans_iters must be >= 0, got {kmeans_iters}")
        mb_crops = [int(c) for c in crops_for_mb]
        if not mb_crops or not all(0 <= c < num_crops for c in mb_crops):
            raise ValueError(f"crops_for_mb must be a non-empty list of crop ids in [0, num_crops={num_crops}), got {list(crops_for_mb)}")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        size = math.ceil(num_train_samples / distributed.world_size()) if memory_size is None else int(memory_size)
        if size < 1:
            raise ValueError(f"memory_size must be >= 1, got {memory_size}")
        self.num_train_samples = int(num_train_samples)
        self.num_crops = int(num_crops)
        self.temperature = float(temperature)
        self.num_clusters = clusters
        self.kmeans_iters = int(kmeans_iters)
        self.crops_for_mb = mb_crops
        self.embedding_dim = int(embedding_dim)
        self.memory_size = size

        self.register_buffer("local_memory_embeddings", torch.zeros(len(mb_crops), size, embedding_dim))
        self.register_buffer("local_memory_index", torch.full((size,), -1, dtype=torch.int64))
        self.register_buffer("memory_position", torch.zeros((), dtype=torch.int64))
        self.register_buffer("assignments", torch.full((len(clusters), num_train_samples), _UNASSIGNED, dtype=torch.int64))
        for h, k in enumerate(clusters):
            self.register_buffer(f"centroids{h}", F.normalize(torch.randn(k, embedding_dim, generator=torch.Generator().manual_seed(h)), dim=1))

    def centroids(self, head: int) -> Tensor:
        """The centroids of clustering head ``head``: ``Tensor[num_clusters[head], D]`` (unit rows)."""
        return getattr(self, f"centroids{head}")

    def forward(self, embeddings: Tensor, indices: Tensor) -> Tensor:
        """Return the loss averaged over heads and rows, and store the memory crops (see class docstring)."""
        batch = self._check(embeddings, indices)
        with torch.autocast(device_type=embeddings.device.type, enabled=False):
            emb = F.normalize(full_precision(embeddings), dim=1)
            targets_all = self.assignments[:, indices].repeat(1, self.num_crops)  # [heads, num_crops * B]
            loss = emb.new_zeros(())
            for h in range(len(self.num_clusters)):
                scores = emb @ self.centroids(h).t() / self.temperature
                targets = targets_all[h]
                if bool((targets != _UNASSIGNED).any()):
                    loss = loss + F.cross_entropy(scores, targets, ignore_index=_UNASSIGNED)
                else:
                    loss = loss + 0.0 * scores.sum()  # nothing clustered yet: zero, graph kept
            loss = loss / len(self.num_clusters)
        self._store(emb.detach(), indices, batch)
        return loss

    @torch.no_grad()
    def update_memory(self, embeddings: Tensor, indices: Tensor) -> None:
        """Store the crops ``crops_for_mb`` of ``embeddings: Tensor[num_crops * B, D]`` for the
        dataset ``indices: int64 Tensor[B]`` without computing the loss (VISSL's memory
        initialisation pass). Local to this rank."""
        batch = self._check(embeddings, indices)
        self._store(F.normalize(full_precision(embeddings.detach()), dim=1), indices, batch)

    def _store(self, emb: Tensor, indices: Tensor, batch: int) -> None:
        start = int(self.memory_position)
        if start + batch > self.memory_size:
            raise ValueError(
                f"the memory of {self.memory_size} rows per rank is full ({start} stored + {batch} new): call "
                "cluster_memory() at the start of every epoch, or raise memory_size"
            )
        with torch.no_grad():
            self.local_memory_index[start : start + batch] = indices
            for m, crop in enumerate(self.crops_for_mb):
                self.local_memory_embeddings[m, start : start + batch] = emb[crop * batch : (crop + 1) * batch]
            self.memory_position.fill_(start + batch)

    @torch.no_grad()
    def cluster_memory(self, seed: int = 0) -> None:
        """Run k-means over the memories of all ranks, set ``centroids`` and ``assignments``, and
        rewind the memory. Collective: every rank must call it with the same ``seed``."""
        filled = int(self.memory_position)
        rows = torch.arange(self.memory_size, device=self.local_memory_index.device)
        all_index = distributed.all_gather_no_grad(torch.where(rows < filled, self.local_memory_index, -1))
        stored = all_index >= 0
        stored_index = all_index[stored]
        last = last_occurrence(stored_index)  # a sample stored twice: its last row wins
        unique_ids = stored_index[last]  # sorted: the same on every rank
        local_index = self.local_memory_index[:filled]
        for h, k in enumerate(self.num_clusters):
            if unique_ids.numel() < k:
                raise ValueError(
                    f"num_clusters[{h}]={k} exceeds the {unique_ids.numel()} distinct samples stored in the memory"
                )
            memory = self.local_memory_embeddings[h % len(self.crops_for_mb), :filled]
            centroids = self._initial_centroids(memory, local_index, unique_ids, k, seed + h)
            assignment = _nearest(memory, centroids)
            for _ in range(self.kmeans_iters):
                sums = _cluster_sums(memory, assignment, k)
                counts = torch.bincount(assignment, minlength=k).to(sums.dtype)
                sums = distributed.all_reduce_sum(sums)
                counts = distributed.all_reduce_sum(counts)
                nonempty = counts > 0
                centroids[nonempty] = F.normalize(sums[nonempty] / counts[nonempty, None], dim=1)
                assignment = _nearest(memory, centroids)
            self.centroids(h).copy_(centroids)
            padded = torch.full_like(self.local_memory_index, _UNASSIGNED)
            padded[:filled] = assignment
            all_assignment = distributed.all_gather_no_grad(padded)
            self.assignments[h].fill_(_UNASSIGNED)
            self.assignments[h, unique_ids] = all_assignment[stored][last]
        self.memory_position.zero_()

    def _initial_centroids(self, memory: Tensor, local_index: Tensor, unique_ids: Tensor, k: int, seed: int) -> Tensor:
        """Memory rows of ``k`` dataset indices drawn with ``seed`` (averaged if stored twice)."""
        perm = torch.randperm(unique_ids.numel(), generator=torch.Generator().manual_seed(seed))[:k]
        chosen = unique_ids[perm.to(unique_ids.device)]
        slot = torch.full((self.num_train_samples,), -1, dtype=torch.int64, device=memory.device)
        slot[chosen] = torch.arange(k, device=memory.device)
        local_slot = slot[local_index]
        hit = local_slot >= 0
        sums = torch.zeros(k, self.embedding_dim, device=memory.device, dtype=memory.dtype).index_add_(0, local_slot[hit], memory[hit])
        counts = torch.zeros(k, device=memory.device, dtype=memory.dtype).index_add_(0, local_slot[hit], torch.ones_like(local_slot[hit], dtype=memory.dtype))
        sums = distributed.all_reduce_sum(sums)
        counts = distributed.all_reduce_sum(counts)
        return F.normalize(sums / counts[:, None], dim=1)

    def _check(self, embeddings: Tensor, indices: Tensor) -> int:
        if not isinstance(indices, Tensor) or indices.ndim != 1 or indices.dtype != torch.int64:
            got = f"{indices.dtype} {tuple(indices.shape)}" if isinstance(indices, Tensor) else type(indices).__name__
            raise ValueError(f"indices must be int64 Tensor[B] of dataset indices, got {got}")
        batch = indices.shape[0]
        if embeddings.ndim != 2 or embeddings.shape != (self.num_crops * batch, self.embedding_dim):
            raise ValueError(
                f"embeddings must be Tensor[num_crops * B = {self.num_crops} * {batch}, D = {self.embedding_dim}] "
                f"(crop-major, B from indices), got shape {tuple(embeddings.shape)}"
            )
        if batch and (int(indices.min()) < 0 or int(indices.max()) >= self.num_train_samples):
            raise ValueError(f"indices must lie in [0, num_train_samples={self.num_train_samples})")
        return batch


def _nearest(memory: Tensor, centroids: Tensor) -> Tensor:
    """Index of the centroid with the largest dot product for each row of ``memory: [n, D]``."""
    if memory.shape[0] == 0:
        return torch.zeros(0, dtype=torch.int64, device=memory.device)
    return torch.cat([(chunk @ centroids.t()).argmax(dim=1) for chunk in memory.split(_CHUNK_ROWS)])


def _cluster_sums(memory: Tensor, assignment: Tensor, k: int) -> Tensor:
    """Per-cluster sum of the rows of ``memory: [n, D]``: ``[k, D]``. A sparse one-hot product,
    about 3x faster on CPU than ``index_add_``."""
    n = memory.shape[0]
    positions = torch.stack([assignment, torch.arange(n, device=memory.device)])
    one_hot = torch.sparse_coo_tensor(
        positions, torch.ones(n, dtype=memory.dtype, device=memory.device), (k, n), check_invariants=False
    )
    return torch.sparse.mm(one_hot, memory)
