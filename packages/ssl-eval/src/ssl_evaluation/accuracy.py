"""Top-1 / top-5 accuracy in percent from logits, through torchmetrics."""

from __future__ import annotations

from torch import Tensor

__all__ = ["topk_accuracy"]


def topk_accuracy(logits: Tensor, labels: Tensor) -> dict[str, float]:
    """``logits [N, C]``, ``labels [N]`` -> ``{"top1": %, "top5": %}`` (micro averaged).

    Top-5 is top-``min(5, C)``.
    """
    # Imported here: importing torchmetrics costs seconds (it pulls in torchvision).
    from torchmetrics.functional.classification import multiclass_accuracy

    num_classes = int(logits.shape[1])
    out = {}
    for key, k in (("top1", 1), ("top5", min(5, num_classes))):
        acc = multiclass_accuracy(
            logits, labels, num_classes=num_classes, top_k=k, average="micro"
        )
        out[key] = 100.0 * float(acc)
    return out
