"""Online kNN monitor: the accuracy curve while training (solo-learn / stable-pretraining style)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_train.hooks.base import Hook, RunInfo
from ssl_train.training_data import LabelledImages

__all__ = ["KNNMonitorHook", "weighted_knn_top1"]


def weighted_knn_top1(
    memory: Tensor, memory_labels: Tensor, queries: Tensor, query_labels: Tensor, k: int = 20, temperature: float = 0.07
) -> float:
    """Top-1 (%) of Wu et al. (2018)'s weighted kNN: cosine similarity, the ``k`` nearest memory
    rows vote for their class with weight ``exp(similarity / temperature)``.

    Args:
        memory: ``[N, D]`` features; memory_labels: int64 ``[N]``.
        queries: ``[M, D]`` features; query_labels: int64 ``[M]``.
    """
    memory = F.normalize(memory.float(), dim=1)
    queries = F.normalize(queries.float(), dim=1)
    classes = int(max(memory_labels.max(), query_labels.max())) + 1
    k = min(k, memory.shape[0])
    correct = 0
    for start in range(0, queries.shape[0], 1024):
        sim, idx = (queries[start:start + 1024] @ memory.T).topk(k, dim=1)
        votes = torch.zeros(sim.shape[0], classes, dtype=sim.dtype).scatter_add_(1, memory_labels[idx], (sim / temperature).exp())
        correct += int((votes.argmax(1) == query_labels[start:start + 1024]).sum())
    return 100.0 * correct / queries.shape[0]


@torch.no_grad()
def _features(trunk: nn.Module, images: LabelledImages, device: torch.device) -> tuple[Tensor, Tensor]:
    feats, labels = [], []
    for x, y in images.batches():
        feats.append(trunk(x.to(device)).float().cpu())
        labels.append(y.to(torch.int64))
    return torch.cat(feats), torch.cat(labels)


class KNNMonitorHook(Hook):
    """Every ``every_epochs`` epochs, the trunk (in eval mode) embeds a labelled memory set and a
    disjoint query set drawn from the training images; the weighted kNN top-1 is appended to
    ``state.monitor_history`` (``{"epoch", "step", "knn_top1"}``), logged and checkpointed.

    The trunk is restored to training mode afterwards; no random generator is touched, so a
    monitored run trains exactly like an unmonitored one.
    """

    def __init__(
        self, trunk: nn.Module, memory: LabelledImages, queries: LabelledImages, device: torch.device,
        every_epochs: int = 1, k: int = 20, temperature: float = 0.07,
    ) -> None:  # fmt: skip
        self.trunk = trunk
        self.memory = memory
        self.queries = queries
        self.device = device
        self.every_epochs = max(1, every_epochs)
        self.k = k
        self.temperature = temperature

    def evaluate(self) -> float:
        was_training = self.trunk.training
        self.trunk.eval()
        try:
            mem, mem_y = _features(self.trunk, self.memory, self.device)
            qry, qry_y = _features(self.trunk, self.queries, self.device)
        finally:
            self.trunk.train(was_training)
        return weighted_knn_top1(mem, mem_y, qry, qry_y, self.k, self.temperature)

    def on_epoch_end(self, run: RunInfo) -> None:
        if run.state.epoch % self.every_epochs and run.state.epoch != run.epochs:
            return
        if any(int(m["epoch"]) == run.state.epoch for m in run.state.monitor_history):
            return
        top1 = self.evaluate()
        run.state.monitor_history.append({"epoch": float(run.state.epoch), "step": float(run.state.step), "knn_top1": top1})
