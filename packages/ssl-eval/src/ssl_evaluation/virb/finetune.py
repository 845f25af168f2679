"""ViRB's encoder fine-tuning mode for the pixelwise tasks: the trunk trains together with the
decoder (ViRB: "Fine tuning the encoder is also supported but takes significantly more time"),
optionally with per-class loss weights (:mod:`ssl_evaluation.virb.class_weights`).

With ``finetune=False`` the trunk stays frozen (evaluation mode, no gradients) and only the
decoder trains, as in :func:`~ssl_evaluation.virb.pixel_tasks.segmentation_task`, but the maps
are recomputed every batch: this is the path for class weights on a frozen trunk. The trunk's
parameters get ``trunk_lr`` (default a tenth of ``lr``), the decoder's ``lr``, both with Adam.
Scores come from the same evaluators as the frozen tasks. The trunk is modified in place when
fine-tuned: pass a copy to keep the original.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.virb.decoder import PixelDecoder
from ssl_evaluation.virb.metrics import IGNORE_INDEX
from ssl_evaluation.virb.pixel_tasks import PIXEL_LAYERS, evaluate_depth, evaluate_segmentation

__all__ = ["pixel_finetune_task"]

_TASKS = ("segmentation", "depth")


def _loss(out: Tensor, target: Tensor, task: str, weights: Tensor | None, ignore_index: int) -> Tensor:
    if task == "segmentation":
        return F.cross_entropy(out, target, weight=weights, ignore_index=ignore_index)
    valid = target > 0
    return (out[:, 0] - target).abs()[valid].mean() if bool(valid.any()) else out.sum() * 0.0


def pixel_finetune_task(
    trunk: nn.Module,
    train_images: Tensor,
    train_targets: Tensor,
    test_images: Tensor,
    test_targets: Tensor,
    task: str,
    num_classes: int = 1,
    layers: Sequence[str] = PIXEL_LAYERS,
    finetune: bool = True,
    class_weights: Tensor | None = None,
    epochs: int = 20,
    batch_size: int = 16,
    lr: float = 3e-4,
    trunk_lr: float | None = None,
    width: int = 64,
    ignore_index: int = IGNORE_INDEX,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Train trunk (``finetune=True``) + decoder, or the decoder alone, and score on test.

    Shapes: images ``[N, 3, H, W]``; segmentation targets int ``[N, H, W]`` (class ids or
    ``ignore_index``, ``num_classes`` outputs, ``class_weights`` float ``[num_classes]``); depth
    targets float ``[N, H, W]`` (0 = no depth, L1 loss). Returns the evaluator's metrics (mIoU
    ... or RMSE ...) plus ``"train_loss"`` per epoch and ``"protocol"``;
    ``progress(f"{task} fine-tuning", iterations done, total)`` after every iteration, then
    ``progress("decoder (test)", images done, M)``.
    """
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}")
    if not hasattr(trunk, "forward_features"):
        raise ValueError("the trunk needs forward_features(x, names) -> {name: [B, C, h, w]}")
    for name, x in (("train_images", train_images), ("test_images", test_images)):
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty float tensor [N, 3, H, W]")
    outputs = num_classes if task == "segmentation" else 1
    weights = None
    if class_weights is not None:
        if task != "segmentation":
            raise ValueError("class_weights apply to segmentation only")
        weights = torch.as_tensor(class_weights, dtype=torch.float32).reshape(-1)
        if weights.shape[0] != num_classes or bool((weights < 0).any()):
            raise ValueError(f"class_weights must be {num_classes} non-negative numbers, got {tuple(weights.shape)}")
        weights = weights.to(device)
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    layers = list(layers)
    train_targets = torch.as_tensor(train_targets)
    train_targets = train_targets.long() if task == "segmentation" else train_targets.float().reshape(train_images.shape[0], *train_images.shape[2:])
    trunk.to(device)
    with torch.no_grad():
        probe = trunk.eval().forward_features(train_images[:1].float().to(device), layers)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = PixelDecoder({n: probe[n].shape[1] for n in layers}, outputs, width).to(device)
    groups = [{"params": decoder.parameters(), "lr": lr}]
    if finetune:
        groups.append({"params": [p for p in trunk.parameters() if p.requires_grad], "lr": trunk_lr if trunk_lr is not None else lr / 10})
    optimizer = torch.optim.Adam(groups)
    generator = torch.Generator().manual_seed(seed)
    size = (train_images.shape[2], train_images.shape[3])
    history = []
    n = train_images.shape[0]
    trunk.train(finetune)
    decoder.train()
    ticker = Ticker(progress, f"{task} fine-tuning", epochs * math.ceil(n / batch_size))
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            x = train_images[rows].float().to(device)
            with torch.set_grad_enabled(finetune):
                maps = trunk.forward_features(x, layers)
            loss = _loss(decoder(maps, size), train_targets[rows].to(device), task, weights, ignore_index)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            ticker.advance()
        history.append(total / math.ceil(n / batch_size))
    trunk.eval()
    decoder.eval()
    if task == "segmentation":
        scores = evaluate_segmentation(decoder, trunk, test_images.float(), torch.as_tensor(test_targets).long(), num_classes, layers, ignore_index, batch_size, device, progress)
    else:
        scores = evaluate_depth(decoder, trunk, test_images.float(), torch.as_tensor(test_targets).float(), layers, batch_size=batch_size, device=device, progress=progress)
    protocol = {"task": task, "finetune": finetune, "layers": layers, "optimizer": "adam", "lr": lr,
                "trunk_lr": (trunk_lr if trunk_lr is not None else lr / 10) if finetune else None,
                "class_weights": None if weights is None else [round(float(w), 6) for w in weights.cpu()],
                "epochs": epochs, "batch_size": batch_size, "width": width, "seed": seed}  # fmt: skip
    return {**scores, "train_loss": history, "protocol": protocol}
