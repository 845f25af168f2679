"""VISSL's multi-layer linear evaluation: one ``eval_mlp`` head per trunk layer, trained together.

Each head is BatchNorm (per channel, eps 1e-5, momentum 0.1) followed by a Linear layer on that
layer's cached, pooled features (``extract_layer_features`` with ``VISSL_RESNET50_POOLING``).
All heads see the same mini-batches and share one SGD optimizer whose loss is the sum of the
heads' cross-entropies (so each head gets exactly the gradient it would get alone). Defaults are
VISSL's ImageNet linear-eval schedule (``benchmark/linear_image_classification/imagenet1k/
eval_resnet_8gpu_transfer_in1k_linear.yaml``): SGD momentum 0.9, Nesterov, weight decay 5e-4 on
the Linear weights and biases but not on the BatchNorm parameters (``regularize_bn: False``,
``regularize_bias: True``), lr 0.01 (for batch 256 = 32 x 8 GPUs) multiplied by 0.1 at epochs 8,
16 and 24 (values 0.01, 0.001, 1e-4, 1e-5), 28 epochs, batch 256. Linear weights start from
``N(0, 0.01^2)`` drawn with ``torch.Generator().manual_seed(seed + i)`` for the i-th layer,
biases at 0. Metrics: top-1 / top-5 per layer (VISSL's ``accuracy_list_meter``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.validation import check_pair, resolve_num_classes

__all__ = ["EvalMLP", "multi_layer_linear_eval"]


class EvalMLP(nn.Module):
    """BatchNorm over ``channels`` then Linear: ``[B, D] -> [B, num_classes]``.

    ``D`` must be a multiple of ``channels``; rows are viewed as ``[B, channels, D // channels]``
    (a pooled ``[C, h, w]`` map), so the BatchNorm is per channel as VISSL's BatchNorm2d.
    """

    def __init__(self, in_dim: int, channels: int, num_classes: int) -> None:
        super().__init__()
        if in_dim % channels:
            raise ValueError(f"feature width {in_dim} is not a multiple of channels={channels}")
        self.channels = channels
        self.norm = nn.BatchNorm1d(channels, eps=1e-5, momentum=0.1)
        self.linear = nn.Linear(in_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        b = x.shape[0]
        x = self.norm(x.reshape(b, self.channels, -1)).reshape(b, -1)
        return self.linear(x)


def multi_layer_linear_eval(
    train_features: Mapping[str, Tensor],
    train_labels: Tensor,
    test_features: Mapping[str, Tensor],
    test_labels: Tensor,
    channels: Mapping[str, int] | None = None,
    epochs: int = 28,
    lr: float = 0.01,
    milestones: Sequence[int] = (8, 16, 24),
    gamma: float = 0.1,
    momentum: float = 0.9,
    nesterov: bool = True,
    weight_decay: float = 5e-4,
    regularize_bn: bool = False,
    batch_size: int = 256,
    num_classes: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, dict[str, float]]:
    """Train one ``EvalMLP`` per layer together; return ``{layer: {"top1": %, "top5": %}}``.

    ``train_features[layer]`` is ``[N, D_layer]`` (``test_features`` the same layers, ``[M,
    D_layer]``); ``channels[layer]`` (default ``D_layer``: per-dimension BatchNorm) gives the
    channel count of a flattened pooled map. ``weight_decay`` applies to the Linear layers, and to
    the BatchNorm affine parameters only with ``regularize_bn=True`` (VISSL's ``regularize_bn``).
    ``progress("multi-layer linear", iterations done, epochs * iterations per epoch)`` after
    every iteration.
    """
    if not train_features:
        raise ValueError("train_features must hold at least one layer")
    missing = [name for name in train_features if name not in test_features]
    if missing:
        raise ValueError(f"test_features lacks layer(s) {missing}")
    layers = list(train_features)
    train = {}
    test = {}
    for name in layers:
        train[name], train_y = check_pair(train_features[name], train_labels, f"train[{name}]")
        test[name], test_y = check_pair(test_features[name], test_labels, f"test[{name}]")
        if train[name].shape[1] != test[name].shape[1]:
            raise ValueError(f"layer {name!r}: train and test widths differ")
    classes = resolve_num_classes([train_y, test_y], num_classes)
    channels = dict(channels or {})
    heads = nn.ModuleDict()
    for i, name in enumerate(layers):
        head = EvalMLP(train[name].shape[1], channels.get(name, train[name].shape[1]), classes)
        with torch.no_grad():
            gen = torch.Generator().manual_seed(seed + i)
            head.linear.weight.copy_(torch.randn(head.linear.weight.shape, generator=gen) * 0.01)
            head.linear.bias.zero_()
        heads[name] = head
    norm_params = [p for head in heads.values() for p in head.norm.parameters()]
    linear_params = [p for head in heads.values() for p in head.linear.parameters()]
    optimizer = torch.optim.SGD(
        [
            {"params": linear_params, "weight_decay": weight_decay},
            {"params": norm_params, "weight_decay": weight_decay if regularize_bn else 0.0},
        ],
        lr=lr,
        momentum=momentum,
        nesterov=nesterov,
    )
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, list(milestones), gamma)
    n = train_y.shape[0]
    generator = torch.Generator().manual_seed(seed)
    heads.train()
    ticker = Ticker(progress, "multi-layer linear", epochs * -(-n // batch_size))
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            ticker.advance()
            if len(rows) < 2:  # BatchNorm needs two rows; VISSL drops the last short batch too
                continue
            loss = sum(
                F.cross_entropy(heads[name](train[name][rows]), train_y[rows]) for name in layers
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[union-attr]
            optimizer.step()
        schedule.step()
    heads.eval()
    results = {}
    with torch.no_grad():
        for name in layers:
            results[name] = topk_accuracy(heads[name](test[name]), test_y)
    return results
