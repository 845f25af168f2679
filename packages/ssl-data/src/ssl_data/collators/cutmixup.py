"""DeiT-style MixUp / CutMix / label smoothing on each crop of a batch (timm's ``Mixup``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from ssl_data.collators.samples import as_samples, stack_field

__all__ = ["cutmixup_collator"]


def cutmixup_collator(
    batch: Sequence[Any],
    mixup_alpha: float = 1.0,
    cutmix_alpha: float = 0.0,
    cutmix_minmax: Sequence[float] | None = None,
    prob: float = 1.0,
    switch_prob: float = 0.5,
    mode: str = "batch",
    correct_lam: bool = True,
    label_smoothing: float = 0.1,
    num_classes: int = 1000,
    ssl_method: str | None = None,
) -> dict[str, Any]:
    """MixUp and/or CutMix (timm's ``Mixup``; every crop gets its own draw) with soft, smoothed
    targets. Arguments are timm's/VISSL's (``mode`` "batch" | "pair" | "elem"); the batch size must
    be even. Needs timm (``pip install 'ssl-data[timm]'``).

    Output by ``ssl_method``:
    - None: ``data`` list of [B, C, H, W] per crop, ``label`` float [V * B, num_classes] crop-major;
    - "simclr": ``data`` [V * B, C, H, W] crop-major, ``label`` [V * B, num_classes];
    - "moco": ``data`` [B, ...], ``data_momentum`` [B, ...], ``label`` [B, num_classes] (view 0).
    ``data_valid``, ``data_idx`` follow ``data`` (MoCo: [B]). With SSL, use zero labels
    (VISSL's LABEL_TYPE zero) and ``num_classes`` >= 1.
    """
    try:
        from timm.data import Mixup
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("cutmixup_collator needs timm: pip install 'ssl-data[timm]'") from None
    if mode not in ("batch", "pair", "elem"):
        raise ValueError(f"mode must be 'batch', 'pair' or 'elem', got {mode!r}")
    if ssl_method not in (None, "simclr", "moco", "swav"):
        raise ValueError(f"ssl_method must be None, 'simclr', 'moco' or 'swav', got {ssl_method!r}")
    samples = as_samples(batch)
    if len(samples) % 2:
        raise ValueError(f"cutmixup_collator needs an even batch size, got {len(samples)}")
    mixer = Mixup(
        mixup_alpha=mixup_alpha, cutmix_alpha=cutmix_alpha,
        cutmix_minmax=list(cutmix_minmax) if cutmix_minmax is not None else None, prob=prob,
        switch_prob=switch_prob, mode=mode, correct_lam=correct_lam, label_smoothing=label_smoothing,
        num_classes=num_classes,
    )  # fmt: skip
    labels = stack_field(samples, "label").long()
    if labels.ndim != 1 or (labels.numel() and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"labels must be class ids in 0..{num_classes - 1} (got {labels.tolist()[:8]}...)")
    n = len(samples[0].views)
    data, targets = [], []
    for v in range(n):
        x = torch.stack([torch.as_tensor(s.views[v]) for s in samples]).float()
        x, y = mixer(x, labels.clone())  # timm mixes x in place and returns (x, soft target)
        data.append(x)
        targets.append(y)
    valid, index = stack_field(samples, "valid", n), stack_field(samples, "index", n)
    if ssl_method == "moco":
        if n != 2:
            raise ValueError(f"ssl_method 'moco' needs 2 views per sample, got {n}")
        b = len(samples)
        return {"data": data[0], "data_momentum": data[1], "label": targets[0], "data_valid": valid[:b], "data_idx": index[:b]}
    out_data: Tensor | list[Tensor] = torch.cat(data) if ssl_method == "simclr" else data
    return {"data": out_data, "label": torch.cat(targets), "data_valid": valid, "data_idx": index}
