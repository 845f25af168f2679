"""Linear probe on frozen features: standardised features, one linear layer, SGD + cosine."""

from __future__ import annotations

import time

from torch import Tensor

from ssl_evaluation.accuracy import topk_accuracy
from ssl_evaluation.linear_heads import HeadConfig, predict_logits, train_linear_heads
from ssl_evaluation.progress import ProgressFn
from ssl_evaluation.validation import check_splits

__all__ = ["linear_probe"]


def linear_probe(
    train_features: Tensor,
    train_labels: Tensor,
    test_features: Tensor,
    test_labels: Tensor,
    epochs: int = 100,
    lr: float = 0.1,
    batch_size: int = 1024,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    num_classes: int | None = None,
    seed: int = 0,
    progress: ProgressFn | None = None,
    return_predictions: bool = False,
) -> dict[str, object]:
    """Train a linear classifier on frozen features and report test accuracy.

    Features are standardised with the train mean/std; a linear layer (zero init) is trained
    with SGD (momentum 0.9) and a per-iteration cosine schedule from ``lr`` to 0, mini-batches of
    ``batch_size`` rows reshuffled every epoch. Defaults: 100 epochs, lr 0.1, batch 1024 (large
    batches keep the pass over cached features cheap: the cost is a few skinny matrix products
    per step), no weight decay. See the README for timings on 60,000 x 512 features.

    Shapes: train ``[N, D]`` / ``[N]``, test ``[M, D]`` / ``[M]``. ``progress("linear probe",
    iterations done, total)`` after every SGD iteration.

    Returns:
        ``{"top1": %, "top5": %, "train_loss": [per-epoch mean], "epochs", "lr", "batch_size",
        "weight_decay", "seconds"}``, plus ``"predictions"`` (int64 ``[M]``, the arg-max class of
        every test row) with ``return_predictions=True``.
    """
    train_x, train_y, test_x, test_y, classes = check_splits(
        train_features, train_labels, test_features, test_labels, num_classes
    )
    start = time.perf_counter()
    config = HeadConfig(
        optimizer="sgd", lr=lr, scheduler="cosine", momentum=momentum, weight_decay=weight_decay
    )
    heads = train_linear_heads(
        train_x, train_y, [config], classes, epochs=epochs, batch_size=batch_size, seed=seed,
        progress=progress, stage="linear probe",
    )
    logits = predict_logits(heads, test_x)[0]
    result: dict[str, object] = dict(topk_accuracy(logits, test_y))
    result.update(
        train_loss=[float(v) for v in heads.loss_history[:, 0]],
        epochs=epochs,
        lr=lr,
        batch_size=batch_size,
        weight_decay=weight_decay,
        seconds=time.perf_counter() - start,
    )
    if return_predictions:
        result["predictions"] = logits.argmax(dim=1)
    return result
