"""NCE / InfoNCE against a memory bank of every training sample (VISSL's ``nce_loss_with_memory``).

The loss of NPID (Wu et al. 2018), NPID++ and PIRL (Misra and van der Maaten 2020).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_losses import distributed
from ssl_losses.full_precision import full_precision
from ssl_losses.last_occurrence import last_occurrence

__all__ = ["NCEMemoryLoss"]

_FLOAT32_EPS = float(torch.finfo(torch.float32).eps)


class NCEMemoryLoss(nn.Module):
    """Non-parametric instance discrimination against a memory bank, with NCE or InfoNCE.

    The memory bank holds one L2-normalised row per training sample (rows indexed by dataset
    index). For each embedding ``f`` of sample ``i`` the scores are ``s_j = m_j . f / temperature``
    for the positive row ``j = i`` and ``num_negatives`` rows drawn uniformly at random.

    - ``loss_type="nce"`` (NPID): ``P_j = exp(s_j) / Z`` and noise-contrastive estimation with a
      uniform noise distribution ``P_n = 1 / num_train_samples``: ``-(sum_b log(P_pos / (P_pos + K
      P_n + eps)) + sum_b sum_neg log(K P_n / (P_neg + K P_n + eps))) / B`` with ``K`` negatives.
      ``Z = norm_constant``; when it is negative it is estimated once, at the first call, as
      ``num_train_samples`` times the mean of ``exp(s)`` over the global batch, then kept.
    - ``loss_type="cross_entropy"`` (InfoNCE, NPID++ / PIRL): cross entropy of the scores with
      the positive as the class.

    After an output's scores are computed, the rows of its samples are updated:
    ``m_i <- normalise(momentum * m_i + (1 - momentum) * f)``. The embeddings and indices of all
    processes are gathered first, so the bank stays identical on every rank (an index repeated
    in the global batch is updated once, with its last row, on every rank alike). It starts identical
    too: it is initialised from ``seed`` (uniform in ``+-1 / sqrt(embedding_dim / 3)``, then
    L2-normalised when ``norm_init``), with no communication. ``memory`` and ``norm_constant`` are
    registered buffers, so ``state_dict()`` (a checkpoint) holds them.

    Each row's loss depends only on itself and the bank, so each rank's loss is the mean over its
    own rows (DDP's average gives the global-batch loss); negatives are drawn per rank.

    Args:
        num_train_samples: rows in the memory bank (dataset size; VISSL auto-fills it).
        embedding_dim: embedding size ``D`` (VISSL default 128).
        num_negatives: random negatives per embedding (VISSL default 16000; NPID used 4096).
        temperature: score temperature (default 0.07).
        momentum: memory update momentum (default 0.5).
        loss_type: ``"nce"`` (default) or ``"cross_entropy"``.
        norm_embedding: L2-normalise embeddings before scoring and updating (default True).
        norm_init: L2-normalise the initial memory rows (default True).
        norm_constant: NCE's ``Z``; ``-1`` (default) estimates it at the first call.
        loss_weights: one weight per output (PIRL: ``(0.5, 0.5)`` for patches and image).
        update_mem_on_forward: True (default): every output updates the memory after its scores.
            False: only output ``update_mem_with_emb_index`` does (PIRL: 1, the image embedding);
            :meth:`update_memory` updates it by hand.
        update_mem_with_emb_index: see above (VISSL default -100: unused).
        ignore_index: dataset index that marks a row to leave out (VISSL's invalid images).
        seed: seed of the memory's initialisation (the same on every rank).

    Shapes:
        ``forward(embeddings, indices, negatives=None, generator=None) -> Tensor[]``:
        ``embeddings`` is one ``Tensor[B, D]`` or a sequence of ``len(loss_weights)`` of them
        (PIRL: patch and image embeddings of the same samples); ``indices`` is ``int64
        Tensor[B]``, the dataset index of each row (every rank passes the same ``B``);
        ``negatives`` optionally fixes the negative indices, ``int64 Tensor[B, K]`` (else they
        are drawn with ``generator``, which must live on the memory's device).
    """

    memory: Tensor
    norm_constant: Tensor

    def __init__(
        self,
        num_train_samples: int,
        embedding_dim: int = 128,
        num_negatives: int = 16000,
        temperature: float = 0.07,
        momentum: float = 0.5,
        loss_type: Literal["nce", "cross_entropy"] = "nce",
        norm_embedding: bool = True,
        norm_init: bool = True,
        norm_constant: float = -1.0,
        loss_weights: Sequence[float] = (1.0,),
        update_mem_on_forward: bool = True,
        update_mem_with_emb_index: int = -100,
        ignore_index: int = -1,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if num_train_samples < 1:
            raise ValueError(f"num_train_samples must be >= 1 (the dataset size), got {num_train_samples}")
        if embedding_dim < 1:
            raise ValueError(f"embedding_dim must be >= 1, got {embedding_dim}")
        if num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, got {num_negatives}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be in [0, 1], got {momentum}")
        if loss_type not in ("nce", "cross_entropy"):
            raise ValueError(f"loss_type must be 'nce' or 'cross_entropy', got {loss_type!r}")
        weights = [float(w) for w in loss_weights]
        if not weights:
            raise ValueError("loss_weights must hold one weight per output, got an empty list")
        if not update_mem_on_forward and not 0 <= update_mem_with_emb_index < len(weights):
            raise ValueError(
                "update_mem_with_emb_index must name an output (0 <= index < len(loss_weights)="
                f"{len(weights)}) when update_mem_on_forward is False, got {update_mem_with_emb_index}"
            )
        if 0 <= ignore_index < num_train_samples:
            raise ValueError(f"ignore_index must not be a valid dataset index, got {ignore_index}")
        self.num_train_samples = int(num_train_samples)
        self.embedding_dim = int(embedding_dim)
        self.num_negatives = int(num_negatives)
        self.temperature = float(temperature)
        self.momentum = float(momentum)
        self.loss_type = loss_type
        self.norm_embedding = bool(norm_embedding)
        self.loss_weights = weights
        self.update_mem_on_forward = bool(update_mem_on_forward)
        self.update_mem_with_emb_index = int(update_mem_with_emb_index)
        self.ignore_index = int(ignore_index)

        stdv = 1.0 / math.sqrt(embedding_dim / 3)
        g = torch.Generator().manual_seed(seed)
        memory = torch.rand(num_train_samples, embedding_dim, generator=g) * (2 * stdv) - stdv
        if norm_init:
            memory = F.normalize(memory, dim=1)
        self.register_buffer("memory", memory)
        self.register_buffer("norm_constant", torch.tensor(float(norm_constant), dtype=torch.float64))

    def forward(
        self,
        embeddings: Tensor | Sequence[Tensor],
        indices: Tensor,
        negatives: Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Return ``sum_l loss_weights[l] * loss(embeddings[l])`` and update the memory (see class docstring)."""
        outs = [embeddings] if isinstance(embeddings, Tensor) else list(embeddings)
        if len(outs) != len(self.loss_weights):
            raise ValueError(
                f"embeddings holds {len(outs)} outputs but loss_weights has {len(self.loss_weights)} weights"
            )
        self._check_indices(indices, "indices")
        batch = indices.shape[0]
        for i, out in enumerate(outs):
            if out.ndim != 2 or out.shape != (batch, self.embedding_dim):
                raise ValueError(
                    f"embeddings[{i}] must be Tensor[B={batch}, D={self.embedding_dim}] (B from indices), "
                    f"got shape {tuple(out.shape)}"
                )
        if negatives is not None:
            if negatives.ndim != 2 or negatives.shape[0] != batch or negatives.dtype != torch.int64:
                raise ValueError(f"negatives must be int64 Tensor[B={batch}, K], got {negatives.dtype} {tuple(negatives.shape)}")
            if negatives.numel() and (int(negatives.min()) < 0 or int(negatives.max()) >= self.num_train_samples):
                raise ValueError(f"negatives must lie in [0, num_train_samples={self.num_train_samples})")

        kept = indices != self.ignore_index
        device = self.memory.device
        loss = torch.zeros((), device=device)
        with torch.autocast(device_type=device.type, enabled=False):
            for i, out in enumerate(outs):
                emb = full_precision(out)
                if self.norm_embedding:
                    emb = F.normalize(emb, dim=1)
                if negatives is None:
                    neg = torch.randint(
                        0, self.num_train_samples, (batch, self.num_negatives), generator=generator, device=device
                    )
                else:
                    neg = negatives
                loss = loss + self.loss_weights[i] * self._instance_loss(emb[kept], indices[kept], neg[kept])
                if self.update_mem_on_forward or i == self.update_mem_with_emb_index:
                    self._momentum_update(emb.detach(), indices)
        return loss

    def _instance_loss(self, emb: Tensor, idx: Tensor, neg: Tensor) -> Tensor:
        """``emb``: ``[b, D]`` normalised, ``idx``: ``[b]``, ``neg``: ``[b, K]`` -> scalar."""
        rows = torch.cat([idx[:, None], neg], dim=1)  # [b, 1 + K], column 0 is the positive
        scores = torch.einsum("bkd,bd->bk", self.memory[rows], emb) / self.temperature
        if self.loss_type == "cross_entropy":
            if scores.shape[0] == 0:
                return scores.sum()
            return F.cross_entropy(scores, torch.zeros(scores.shape[0], dtype=torch.int64, device=scores.device))
        probs = torch.exp(scores)
        if float(self.norm_constant) < 0:
            self._estimate_norm_constant(probs.detach())
        probs = probs / float(self.norm_constant)
        noise = rows.shape[1] - 1
        noise_mass = noise / self.num_train_samples
        positive = torch.log(probs[:, 0] / (probs[:, 0] + noise_mass + _FLOAT32_EPS))
        negative = torch.log(noise_mass / (probs[:, 1:] + noise_mass + _FLOAT32_EPS))
        return -(positive.sum() + negative.sum()) / max(scores.shape[0], 1)

    def _estimate_norm_constant(self, probs: Tensor) -> None:
        totals = torch.stack([probs.double().sum(), torch.tensor(float(probs.numel()), dtype=torch.float64, device=probs.device)])
        totals = distributed.all_reduce_sum(totals)
        if float(totals[1]) == 0:
            raise ValueError("cannot estimate norm_constant: no valid row in the global batch")
        self.norm_constant.fill_(float(totals[0] / totals[1]) * self.num_train_samples)

    @torch.no_grad()
    def _momentum_update(self, emb: Tensor, indices: Tensor) -> None:
        all_emb = distributed.all_gather_no_grad(emb)
        all_idx = distributed.all_gather_no_grad(indices)
        keep = all_idx != self.ignore_index
        all_emb, all_idx = all_emb[keep].to(self.memory.dtype), all_idx[keep]
        last = last_occurrence(all_idx)  # a repeated index: the last row wins, on every rank alike
        all_emb, all_idx = all_emb[last], all_idx[last]
        rows = self.memory[all_idx] * self.momentum + all_emb * (1.0 - self.momentum)
        self.memory.index_copy_(0, all_idx, F.normalize(rows, dim=1))

    @torch.no_grad()
    def update_memory(self, embeddings: Tensor, indices: Tensor) -> None:
        """Momentum-update the rows ``indices`` (``int64 Tensor[B]``) with ``embeddings: Tensor[B, D]``.

        For ``update_mem_on_forward=False`` setups that update after the step. Gathers over all
        ranks (every rank must call it), normalises the embeddings when ``norm_embedding``.
        """
        self._check_indices(indices, "indices")
        if embeddings.shape != (indices.shape[0], self.embedding_dim):
            raise ValueError(
                f"embeddings must be Tensor[B={indices.shape[0]}, D={self.embedding_dim}], got {tuple(embeddings.shape)}"
            )
        emb = full_precision(embeddings.detach())
        if self.norm_embedding:
            emb = F.normalize(emb, dim=1)
        self._momentum_update(emb, indices)

    def _check_indices(self, indices: Tensor, name: str) -> None:
        if not isinstance(indices, Tensor) or indices.ndim != 1 or indices.dtype != torch.int64:
            got = f"{indices.dtype} {tuple(indices.shape)}" if isinstance(indices, Tensor) else type(indices).__name__
            raise ValueError(f"{name} must be int64 Tensor[B] of dataset indices, got {got}")
        valid = indices[indices != self.ignore_index]
        if valid.numel() and (int(valid.min()) < 0 or int(valid.max()) >= self.num_train_samples):
            raise ValueError(
                f"{name} must lie in [0, num_train_samples={self.num_train_samples}) or equal ignore_index="
                f"{self.ignore_index}, got values in [{int(valid.min())}, {int(valid.max())}]"
            )
