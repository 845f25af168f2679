"""ViRB's KITTI optical-flow task: a decoder on the frozen trunk's maps of a frame pair predicts
the flow ``(u, v)`` of every pixel; metrics are KITTI's end-point error and Fl-all.

The maps of the first and the second frame are concatenated channel-wise per layer and read by
a :class:`~ssl_evaluation.virb.decoder.PixelDecoder` with 2 outputs, trained with Adam on the
mean end-point error of valid pixels (ground truth NaN = no flow, as ``ssl data prepare
kitti_flow`` writes it). ``EPE = |pred - gt|_2`` per pixel; ``Fl-all`` is the percentage of
valid pixels whose EPE exceeds both 3 px and 5 % of the ground-truth flow's length (KITTI 2015).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ssl_evaluation.progress import ProgressFn, Ticker
from ssl_evaluation.virb.decoder import PixelDecoder
from ssl_evaluation.virb.pixel_tasks import PIXEL_LAYERS, encode_maps

__all__ = ["flow_metrics", "flow_task"]


def _as_flow(flow: Tensor, name: str) -> Tensor:
    """``[N, H, W, 2]`` -> ``[N, 2, H, W]`` float32."""
    if not isinstance(flow, Tensor) or flow.ndim != 4 or flow.shape[3] != 2:
        raise ValueError(f"{name} must be [N, H, W, 2] (u, v), got {tuple(getattr(flow, 'shape', ()))}")
    return flow.permute(0, 3, 1, 2).float()


def flow_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """``{"epe": px, "fl_all": %, "num_pixels"}`` for ``pred`` and ``target`` ``[N, H, W, 2]``,
    over the pixels where ``target`` is finite."""
    pred, target = _as_flow(pred, "pred"), _as_flow(target, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    valid = torch.isfinite(target).all(dim=1)
    if not bool(valid.any()):
        raise ValueError("the target flow has no valid pixel")
    err = (pred - torch.nan_to_num(target)).double().square().sum(dim=1).sqrt()[valid]
    mag = torch.nan_to_num(target).double().square().sum(dim=1).sqrt()[valid]
    outlier = (err > 3.0) & (err > 0.05 * mag)
    return {"epe": float(err.mean()), "fl_all": 100.0 * float(outlier.double().mean()), "num_pixels": int(valid.sum())}


def _pair_maps(trunk: nn.Module, first: Tensor, second: Tensor, layers: Sequence[str], batch_size: int,
               device: str | torch.device, progress: ProgressFn | None = None) -> dict[str, Tensor]:
    a = encode_maps(trunk, first, layers, batch_size, device, progress)
    b = encode_maps(trunk, second, layers, batch_size, device, progress)
    return {name: torch.cat([a[name], b[name]], dim=1) for name in layers}


def _epe_loss(out: Tensor, target: Tensor) -> Tensor:
    valid = torch.isfinite(target).all(dim=1)
    err = (out - torch.nan_to_num(target)).square().sum(dim=1).clamp_min(1e-12).sqrt()
    return err[valid].mean() if bool(valid.any()) else out.sum() * 0.0


def flow_task(
    trunk: nn.Module,
    train_first: Tensor,
    train_second: Tensor,
    train_flow: Tensor,
    test_first: Tensor,
    test_second: Tensor,
    test_flow: Tensor,
    layers: Sequence[str] = PIXEL_LAYERS,
    epochs: int = 50,
    batch_size: int = 8,
    lr: float = 3e-4,
    width: int = 64,
    device: str | torch.device = "cpu",
    seed: int = 0,
    progress: ProgressFn | None = None,
) -> dict[str, object]:
    """Optical flow on a frozen trunk. Frames ``[N, 3, H, W]`` (normalised for the trunk), flow
    ``[N, H, W, 2]`` pixels (NaN = invalid); test likewise with ``M``. Returns
    ``{"epe", "fl_all", "num_pixels", "train_loss": [per epoch], "protocol"}``;
    ``progress("trunk maps", ...)`` per frame set, then ``progress("flow decoder", iterations
    done, total)``."""
    for name, x in (("train_first", train_first), ("train_second", train_second), ("test_first", test_first), ("test_second", test_second)):
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[0] == 0:
            raise ValueError(f"{name} must be a non-empty float tensor [N, 3, H, W]")
    if train_first.shape != train_second.shape or test_first.shape != test_second.shape:
        raise ValueError("the first and second frames of a split must have the same shape")
    train_t, test_t = _as_flow(train_flow, "train_flow"), _as_flow(test_flow, "test_flow")
    for frames, flow, split in ((train_first, train_t, "train"), (test_first, test_t, "test")):
        if flow.shape[0] != frames.shape[0] or flow.shape[2:] != frames.shape[2:]:
            raise ValueError(f"{split} flow {tuple(flow.shape)} does not match its frames {tuple(frames.shape)}")
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs}, {batch_size}")
    layers = list(layers)
    train_maps = _pair_maps(trunk, train_first.float(), train_second.float(), layers, batch_size, device, progress)
    test_maps = _pair_maps(trunk, test_first.float(), test_second.float(), layers, batch_size, device, progress)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        decoder = PixelDecoder({n: m.shape[1] for n, m in train_maps.items()}, 2, width)
    decoder.to(device).train()
    optimizer = torch.optim.Adam(decoder.parameters(), lr=lr)
    size = (train_first.shape[2], train_first.shape[3])
    generator = torch.Generator().manual_seed(seed)
    history = []
    n = train_first.shape[0]
    ticker = Ticker(progress, "flow decoder", epochs * math.ceil(n / batch_size))
    for _ in range(epochs):
        order = torch.randperm(n, generator=generator)
        total = 0.0
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            out = decoder({k: v[rows].to(device) for k, v in train_maps.items()}, size)
            loss = _epe_loss(out, train_t[rows].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += float(loss.detach())
            ticker.advance()
        history.append(total / math.ceil(n / batch_size))
    decoder.eval()
    with torch.no_grad():
        pred = torch.cat([
            decoder({k: v[s : s + batch_size].to(device) for k, v in test_maps.items()}, (test_first.shape[2], test_first.shape[3])).cpu()
            for s in range(0, test_first.shape[0], batch_size)
        ]).permute(0, 2, 3, 1)  # fmt: skip
    protocol = {"task": "optical_flow", "layers": layers, "pair": "concatenate maps [first, second]", "loss": "epe",
                "optimizer": "adam", "lr": lr, "epochs": epochs, "batch_size": batch_size, "width": width, "seed": seed}  # fmt: skip
    return {**flow_metrics(pred, test_flow), "train_loss": history, "protocol": protocol}
