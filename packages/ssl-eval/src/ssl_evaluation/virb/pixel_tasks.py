"""ViRB's pixelwise end tasks: semantic segmentation (mIoU) and depth (RMSE, delta < 1.25).

A frozen trunk with ``forward_features(x, names) -> {name: [B, C, h, w]}`` (ssl-models' ``Trunk``
or any module with that method) gives multi-scale maps; a ``PixelDecoder`` is trained on them.
The trunk never trains, so by default its maps are computed once per split
(``cache_features=True``) and the decoder's epochs only run the decoder; with
``cache_features=False`` the trunk runs on every batch (less memory, more time).

Protocol defaults come from ViRB's task list (``configs/virb_configs/all.yaml``):

- segmentation (Cityscapes): Adam, lr 3e-4, Poly schedule (power 0.9, per batch), batch 16,
  100 epochs, cross-entropy; pixels labelled 255 are ignored in the loss and the metric (mIoU);
- depth (THOR / NYU depth): Adam, lr 3e-4, constant, batch 16, 50 epochs, L1 loss on valid
  pixels (depth > 0); metrics RMSE, MAE (ViRB's L1 error), abs-rel and delta < 1.25.

Images are float ``[N, 3, H, W]`` already normalised the way the trunk expects. The trunk must
already sit on ``device``; the decoder is moved there, batches of maps and targets are copied
there, results come back on the CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.virb.decoder import PixelDecoder
from ssl_evaluation.virb.metrics import IGNORE_INDEX, DepthMeter, SegmentationMeter

__all__ = [
    "PIXEL_LAYERS",
    "depth_task",
    "encode_maps",
    "evaluate_depth",
    "evaluate_segmentation",
    "predict_pixels",
    "segmentation_task",
    "train_pixel_decoder",
]

#: The ResNet maps ViRB's pixelwise heads read (its ``layer1..layer5``), finest first.
PIXEL_LAYERS = ("conv1", "res2", "res3", "res4", "res5")

_TASKS = ("segmentation", "depth")
_SCHEDULERS = ("constant", "poly")


def _check_images(images: Tensor, name: str) -> Tensor:
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"{name} must be a float tensor [N, C, H, W], got {shape}")
    if images.shape[0] == 0:
        raise ValueError(f"{name} is empty (0 images): the split has no samples")
    return images.float()


def _check_layers(trunk: nn.Module, layers: Sequence[str]) -> list[str]:
    if not layers:
        raise ValueError("layers must name at least one trunk map")
    if not hasattr(trunk, "forward_features"):
        raise ValueError("the trunk needs forward_features(x, names) -> {name: [B, C, h, w]}")
    if hasattr(trunk, "feature_names"):
        known = list(trunk.feature_names())
        unknown = [name for name in layers if name not in known]
        if unknown:
            raise ValueError(f"unknown layer name(s) {unknown}; the trunk has {known}")
    return list(layers)


def encode_maps(
    trunk: nn.Module,
    images: Tensor,
    layers: Sequence[str] = PIXEL_LAYERS,
    batch_size: int = 64,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, Tensor]:
    """The trunk's maps of every image, once: ``{layer: [N, C, h, w]}`` (CPU, float32).

    The trunk runs in eval mode under ``torch.inference_mode`` (its mode is restored after);
    ``progress("trunk maps", images done, N)`` after every batch.
    """
    images = _check_images(images, "images")
    layers = _check_layers(trunk, layers)
    was_training = trunk.training
    trunk.eval()
    chunks: dict[str, list[Tensor]] = {name: [] for name in layers}
    ticker = Ticker(progress, "trunk maps", images.shape[0])
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                maps = trunk.forward_features(images[start : start + batch_size].to(device), layers)
                for name in layers:
                    if maps[name].ndim != 4:
                        raise ValueError(
                            f"layer {name!r} gives shape {tuple(maps[name].shape)}; pixelwise "
                            "tasks need spatial maps [B, C, h, w]"
                        )
                    chunks[name].append(maps[name].float().cpu())
                ticker.advance(min(batch_size, images.shape[0] - start))
    finally:
        trunk.train(was_training)
    return {name: torch.cat(parts) for name, parts in chunks.items()}


def _map_source(
    trunk: nn.Module, images: Tensor, layers: list[str], cache: bool, device: str | torch.device,
    progress: ProgressFn | None = None,
) -> Callable[[Tensor], dict[str, Tensor]]:
    """A function ``rows -> {layer: [b, C, h, w]}`` on ``device`` (cached or run on demand)."""
    if cache:
        maps = encode_maps(trunk, images, layers, device=device, progress=progress)
        return lambda rows: {name: maps[name][rows].to(device) for name in layers}

    def run(rows: Tensor) -> dict[str, Tensor]:
        with torch.no_grad():
            out = trunk.forward_features(images[rows].to(device), layers)
        return {name: out[name].float() for name in layers}

    trunk.eval()
    return run


def train_pixel_decoder(
    trunk: nn.Module,
    images: Tensor,
    targets: Tensor,
    task: str,
    num_outputs: int,
    layers: Sequence[str] = PIXEL_LAYERS,
    epochs: int = 50,
    batch_size: int = 16,
    lr: float = 3e-4,
    scheduler: str = "constant",
    poly_power: float = 0.9,
    width: int = 64,
    ignore_index: int = IGNORE_INDEX,
    min_depth: float = 0.0,
    cache_features: bool = True,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> tuple[PixelDecoder, list[float]]:
    """Train a ``PixelDecoder`` on the frozen trunk's maps with Adam; return it and the mean
    train loss per epoch.

    ``task="segmentation"``: ``targets`` int ``[N, H, W]``, cross-entropy ignoring
    ``ignore_index``. ``task="depth"``: ``targets`` float ``[N, H, W]`` (or ``[N, 1, H, W]``), L1
    on pixels with ``target > min_depth``. ``scheduler="poly"``: ``lr * (1 - t / T) ** poly_power``
    per batch (PyTorch's ``PolynomialLR``). The decoder starts from PyTorch's default init
    drawn after ``torch.manual_seed(seed)``; batches are shuffled with ``seed``.
    ``progress(f"{task} decoder", iterations done, total)`` after every iteration (and
    ``"trunk maps"`` while the maps are cached).
    """
    if task not in _TASKS:
        raise ValueError(f"task must be one of {_TASKS}, got {task!r}")
    if scheduler not in _SCHEDULERS:
        raise ValueError(f"scheduler must be one of {_SCHEDULERS}, got {scheduler!r}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    images = _check_images(images, "images")
    layers = _check_layers(trunk, layers)
    targets = _check_targets(targets, images, task, "targets")
    if task == "segmentation":
        bad = (targets != ignore_index) & ((targets < 0) | (targets >= num_outputs))
        if bool(bad.any()):
            raise ValueError(
                f"targets hold class id {int(targets[bad][0])}, outside [0, {num_outputs}) and "
                f"not ignore_index={ignore_index}"
            )
    trunk_was_training = trunk.training
    try:
        source = _map_source(trunk, images, layers, cache_features, device, progress)
        probe = source(torch.arange(1))
        channels = {name: probe[name].shape[1] for name in layers}
        with torch.random.fork_rng(devices=[]):  # seeded init without touching the global RNG
            torch.manual_seed(seed)
            decoder = PixelDecoder(channels, num_outputs, width)
        decoder.to(device).train()
        optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
        n = images.shape[0]
        total = epochs * math.ceil(n / batch_size)
        schedule = (
            torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=total, power=poly_power)
            if scheduler == "poly"
            else None
        )
        size = (images.shape[2], images.shape[3])
        generator = torch.Generator().manual_seed(seed)
        history = []
        ticker = Ticker(progress, f"{task} decoder", total)
        for _ in range(epochs):
            order = torch.randperm(n, generator=generator)
            running, batches = 0.0, 0
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                out = decoder(source(rows), size)
                target = targets[rows].to(device)
                loss = _loss(out, target, task, ignore_index, min_depth)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if schedule is not None:
                    schedule.step()
                running += float(loss.detach())
                batches += 1
                ticker.advance()
            history.append(running / batches)
    finally:
        trunk.train(trunk_was_training)
    decoder.eval()
    return decoder, history


def _check_targets(targets: Tensor, images: Tensor, task: str, name: str) -> Tensor:
    if not isinstance(targets, Tensor):
        raise ValueError(f"{name} must be a tensor, got {type(targets).__name__}")
    if task == "depth" and targets.ndim == 4 and targets.shape[1] == 1:
        targets = targets[:, 0]
    expected = (images.shape[0], images.shape[2], images.shape[3])
    if tuple(targets.shape) != expected:
        raise ValueError(
            f"{name} must have shape [N, H, W] = {expected} to match the images, got "
            f"{tuple(targets.shape)}"
        )
    if task == "segmentation":
        if targets.is_floating_point():
            raise ValueError(f"{name} for segmentation must hold integer class ids")
        return targets.long()
    return targets.float()


def _loss(out: Tensor, target: Tensor, task: str, ignore_index: int, min_depth: float) -> Tensor:
    if task == "segmentation":
        return F.cross_entropy(out, target, ignore_index=ignore_index)
    valid = torch.isfinite(target) & (target > min_depth)
    if not bool(valid.any()):
        return out.sum() * 0.0  # no valid pixel in the batch: no gradient
    return F.l1_loss(out[:, 0][valid], target[valid])


def predict_pixels(
    decoder: PixelDecoder,
    trunk: nn.Module,
    images: Tensor,
    layers: Sequence[str] = PIXEL_LAYERS,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
) -> Tensor:
    """Decoder outputs for ``images [N, 3, H, W]``: ``[N, out_channels, H, W]`` (CPU)."""
    images = _check_images(images, "images")
    layers = _check_layers(trunk, layers)
    was_training = trunk.training
    trunk.eval()
    decoder.eval()
    size = (images.shape[2], images.shape[3])
    out = []
    try:
        with torch.inference_mode():
            for start in range(0, images.shape[0], batch_size):
                maps = trunk.forward_features(images[start : start + batch_size].to(device), layers)
                out.append(decoder({k: maps[k].float() for k in layers}, size).float().cpu())
    finally:
        trunk.train(was_training)
    return torch.cat(out)


def _score(
    meter: SegmentationMeter | DepthMeter,
    decoder: PixelDecoder,
    trunk: nn.Module,
    images: Tensor,
    targets: Tensor,
    layers: Sequence[str],
    batch_size: int,
    device: str | torch.device,
    progress: ProgressFn | None = None,
) -> None:
    """Feed the decoder's outputs for ``images`` to ``meter`` batch by batch (depth: channel 0);
    ``progress("decoder (test)", images done, M)``."""
    ticker = Ticker(progress, "decoder (test)", images.shape[0])
    for start in range(0, images.shape[0], batch_size):
        rows = slice(start, start + batch_size)
        out = predict_pixels(decoder, trunk, images[rows], layers, batch_size, device)
        meter.update(out[:, 0] if isinstance(meter, DepthMeter) else out, targets[rows])
        ticker.advance(out.shape[0])


def evaluate_segmentation(
    decoder: PixelDecoder,
    trunk: nn.Module,
    images: Tensor,
    masks: Tensor,
    num_classes: int,
    layers: Sequence[str] = PIXEL_LAYERS,
    ignore_index: int = IGNORE_INDEX,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """mIoU of a trained decoder on ``images [M, 3, H, W]`` / ``masks int [M, H, W]``
    (``SegmentationMeter.compute()``'s dict); ``progress("decoder (test)", images done, M)``."""
    images = _check_images(images, "images")
    masks = _check_targets(masks, images, "segmentation", "masks")
    meter = SegmentationMeter(num_classes, ignore_index)
    _score(meter, decoder, trunk, images, masks, layers, batch_size, device, progress)
    return meter.compute()


def evaluate_depth(
    decoder: PixelDecoder,
    trunk: nn.Module,
    images: Tensor,
    depth: Tensor,
    layers: Sequence[str] = PIXEL_LAYERS,
    min_depth: float = 0.0,
    batch_size: int = 16,
    device: str | torch.device = "cpu",
    progress: ProgressFn | None = None,
) -> dict[str, float]:
    """Depth errors of a trained decoder on ``images [M, 3, H, W]`` / ``depth [M, H, W]``
    (``DepthMeter.compute()``'s dict); ``progress("decoder (test)", images done, M)``."""
    images = _check_images(images, "images")
    depth = _check_targets(depth, images, "depth", "depth")
    meter = DepthMeter(min_depth)
    _score(meter, decoder, trunk, images, depth, layers, batch_size, device, progress)
    return meter.compute()


def _protocol(task: str, layers: Sequence[str], **constants: object) -> dict[str, object]:
    return {"task": task, "layers": list(layers), "decoder": "PixelDecoder", "optimizer": "adam",
            **constants, "metric_pooling": "all valid pixels of the split"}


def segmentation_task(
    trunk: nn.Module,
    train_images: Tensor,
    train_masks: Tensor,
    test_images: Tensor,
    test_masks: Tensor,
    num_classes: int,
    layers: Sequence[str] = PIXEL_LAYERS,
    epochs: int = 100,
    batch_size: int = 16,
    lr: float = 3e-4,
    scheduler: str = "poly",
    poly_power: float = 0.9,
    width: int = 64,
    ignore_index: int = IGNORE_INDEX,
    cache_features: bool = True,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Semantic segmentation on a frozen trunk: train a decoder, report test mIoU
    (``progress`` as for :func:`train_pixel_decoder` and :func:`evaluate_segmentation`).

    Shapes: images ``[N, 3, H, W]`` / ``[M, 3, H, W]``, masks int ``[N, H, W]`` / ``[M, H, W]``
    with class ids in ``[0, num_classes)`` or ``ignore_index``.

    Returns:
        ``{"miou": %, "per_class_iou": [% or None for classes absent from targets and
        predictions], "pixel_accuracy": %, "num_pixels", "train_loss": [per epoch],
        "protocol": {...}}``.
    """
    test_images = _check_images(test_images, "test_images")
    test_masks = _check_targets(test_masks, test_images, "segmentation", "test_masks")
    SegmentationMeter(num_classes, ignore_index)  # checks num_classes / ignore_index up front
    decoder, history = train_pixel_decoder(
        trunk, train_images, train_masks, "segmentation", num_classes, layers, epochs, batch_size,
        lr, scheduler, poly_power, width, ignore_index=ignore_index,
        cache_features=cache_features, device=device, seed=seed, progress=progress,
    )
    scores = evaluate_segmentation(decoder, trunk, test_images, test_masks, num_classes, layers,
                                   ignore_index, batch_size, device, progress)
    protocol = _protocol(
        "segmentation", layers, lr=lr, scheduler=scheduler,
        poly_power=poly_power if scheduler == "poly" else None, epochs=epochs,
        batch_size=batch_size, width=width, loss="cross_entropy", ignore_index=ignore_index,
        num_classes=num_classes,
    )
    return {**scores, "train_loss": history, "protocol": protocol}


def depth_task(
    trunk: nn.Module,
    train_images: Tensor,
    train_depth: Tensor,
    test_images: Tensor,
    test_depth: Tensor,
    layers: Sequence[str] = PIXEL_LAYERS,
    epochs: int = 50,
    batch_size: int = 16,
    lr: float = 3e-4,
    scheduler: str = "constant",
    width: int = 64,
    min_depth: float = 0.0,
    cache_features: bool = True,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Depth estimation on a frozen trunk: train a decoder (L1), report test depth errors
    (``progress`` as for :func:`train_pixel_decoder` and :func:`evaluate_depth`).

    Shapes: images ``[N, 3, H, W]``, depth float ``[N, H, W]`` (or ``[N, 1, H, W]``); pixels with
    depth ``<= min_depth`` (missing depth) are left out of the loss and the metrics.

    Returns:
        ``{"rmse", "mae", "abs_rel", "delta1": %, "num_pixels", "train_loss": [per epoch],
        "protocol": {...}}``.
    """
    test_images = _check_images(test_images, "test_images")
    test_depth = _check_targets(test_depth, test_images, "depth", "test_depth")
    decoder, history = train_pixel_decoder(
        trunk, train_images, train_depth, "depth", 1, layers, epochs, batch_size, lr, scheduler,
        width=width, min_depth=min_depth, cache_features=cache_features, device=device, seed=seed,
        progress=progress,
    )
    scores = evaluate_depth(decoder, trunk, test_images, test_depth, layers, min_depth,
                            batch_size, device, progress)
    protocol = _protocol(
        "depth", layers, lr=lr, scheduler=scheduler, epochs=epochs, batch_size=batch_size,
        width=width, loss="l1 on valid pixels", min_depth=min_depth,
    )
    return {**scores, "train_loss": history, "protocol": protocol}
