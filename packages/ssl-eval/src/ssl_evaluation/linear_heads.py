"""Many linear heads trained together on cached features, each with its own hyper-parameters.

All heads see the same mini-batches. Their weights live in one ``[H, C, D]`` tensor, so one
matrix product serves every head's forward and backward pass; the optimizer step (SGD with
momentum / Nesterov, or Adam, both with PyTorch's update rules and L2 weight decay) runs as a
few batched tensor operations with a per-head learning rate (and momentum, for one-cycle). This
is how ViRB's hyper-parameter grid runs on encodings computed once, and the single-head
``linear_probe`` uses the same code path.

Learning-rate schedules (closed forms of the PyTorch schedulers of the same name):

- ``"constant"``; ``"cosine"``: ``CosineAnnealingLR(T_max=total_steps)``, stepped per iteration;
- ``"step"``: ``StepLR(step_size, gamma)`` per epoch; ``"multistep"``: ``MultiStepLR`` per epoch;
- ``"onecycle"``: ``OneCycleLR(max_lr=lr, total_steps)`` with PyTorch's defaults (pct_start 0.3,
  cosine annealing, div_factor 25, final_div_factor 1e4, momentum / Adam beta1 cycled
  0.95 <-> 0.85);
- ``"poly"``: ``PolynomialLR(total_iters=total_steps, power=poly_power)`` per iteration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor

from ssl_evaluation.progress import ProgressFn, Ticker

__all__ = [
    "HeadConfig",
    "LinearHeads",
    "head_schedule",
    "predict_logits",
    "train_linear_heads",
]

_OPTIMIZERS = ("sgd", "adam")
_SCHEDULERS = ("constant", "cosine", "step", "multistep", "onecycle", "poly")


@dataclass(frozen=True)
class HeadConfig:
    """Hyper-parameters of one linear head.

    Attributes:
        optimizer: ``"sgd"`` or ``"adam"``.
        lr: base learning rate (the peak for ``"onecycle"``).
        scheduler: one of ``constant, cosine, step, multistep, onecycle, poly``.
        momentum: SGD momentum (ignored by Adam); nesterov: Nesterov momentum for SGD.
        weight_decay: L2 penalty added to the gradient (PyTorch's ``weight_decay``).
        betas: Adam's (beta1, beta2); eps: Adam's epsilon.
        step_size, gamma: StepLR (epochs); milestones: MultiStepLR epochs (uses ``gamma``).
        poly_power: PolynomialLR power.
    """

    optimizer: str = "sgd"
    lr: float = 0.1
    scheduler: str = "cosine"
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    step_size: int = 30
    gamma: float = 0.1
    milestones: tuple[int, ...] = field(default_factory=tuple)
    poly_power: float = 0.9

    def __post_init__(self) -> None:
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in _SCHEDULERS:
            raise ValueError(f"scheduler must be one of {_SCHEDULERS}, got {self.scheduler!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0):
            raise ValueError("nesterov needs optimizer='sgd' with momentum > 0")

    @property
    def name(self) -> str:
        """A short readable id, e.g. ``sgd-lr0.1-cosine``."""
        return f"{self.optimizer}-lr{self.lr:g}-{self.scheduler}"


def _anneal_cos(start: Tensor, end: Tensor, pct: Tensor) -> Tensor:
    return end + (start - end) / 2.0 * (torch.cos(math.pi * pct) + 1.0)


def head_schedule(
    config: HeadConfig, epochs: int, steps_per_epoch: int
) -> tuple[Tensor, Tensor | None]:
    """Per-iteration learning rate ``[T]`` (T = epochs * steps_per_epoch) and, for one-cycle,
    the cycled momentum (SGD) or beta1 (Adam) ``[T]``; ``None`` otherwise."""
    total = epochs * steps_per_epoch
    t = torch.arange(total, dtype=torch.float64)
    epoch = torch.div(t, steps_per_epoch, rounding_mode="floor")
    lr = torch.full((total,), float(config.lr), dtype=torch.float64)
    momentum = None
    if config.scheduler == "cosine":
        lr = lr * 0.5 * (1.0 + torch.cos(math.pi * t / total))
    elif config.scheduler == "step":
        lr = lr * config.gamma ** torch.div(epoch, config.step_size, rounding_mode="floor")
    elif config.scheduler == "multistep":
        passed = (epoch[:, None] >= torch.tensor(config.milestones, dtype=torch.float64)).sum(1)
        lr = lr * config.gamma**passed
    elif config.scheduler == "poly":
        lr = lr * (1.0 - torch.clamp(t, max=total) / total) ** config.poly_power
    elif config.scheduler == "onecycle":
        max_lr = torch.tensor(float(config.lr), dtype=torch.float64)
        initial = max_lr / 25.0
        minimum = initial / 1e4
        hi = torch.tensor(0.95, dtype=torch.float64)
        lo = torch.tensor(0.85, dtype=torch.float64)
        end1 = float(0.3 * total) - 1.0
        end2 = float(total - 1)
        first = t <= end1
        pct1 = t / end1 if end1 > 0 else torch.ones_like(t)
        pct2 = (t - end1) / (end2 - end1)
        lr = torch.where(
            first, _anneal_cos(initial, max_lr, pct1), _anneal_cos(max_lr, minimum, pct2)
        )
        momentum = torch.where(first, _anneal_cos(hi, lo, pct1), _anneal_cos(lo, hi, pct2))
    return lr, momentum


@dataclass
class LinearHeads:
    """Trained heads: ``weight [H, C, D]``, ``bias [H, C]``, plus the feature standardisation
    (``mean``/``std`` ``[D]``, identity when training used raw features) and mean train loss
    per epoch ``[epochs, H]``."""

    weight: Tensor
    bias: Tensor
    mean: Tensor
    std: Tensor
    loss_history: Tensor
    configs: tuple[HeadConfig, ...]


def predict_logits(heads: LinearHeads, features: Tensor, batch_size: int = 8192) -> Tensor:
    """Logits of every head: features ``[N, D]`` -> ``[H, N, C]``."""
    h, c, d = heads.weight.shape
    flat_w = heads.weight.reshape(h * c, d)
    flat_b = heads.bias.reshape(h * c)
    out = []
    with torch.no_grad():
        for start in range(0, features.shape[0], batch_size):
            x = (features[start : start + batch_size] - heads.mean) / heads.std
            out.append(torch.addmm(flat_b, x, flat_w.t()).reshape(-1, h, c))
    return torch.cat(out).permute(1, 0, 2)


def train_linear_heads(
    features: Tensor,
    labels: Tensor,
    configs: Sequence[HeadConfig],
    num_classes: int,
    epochs: int,
    batch_size: int = 256,
    standardize: bool = True,
    seed: int = 0,
    progress: ProgressFn | None = None,
    stage: str = "linear heads",
) -> LinearHeads:
    """Train one linear head per config on ``features [N, D]`` / ``labels [N]`` together.

    Weights start at zero (a convex problem: the start does not matter, and every head starts
    alike). Each epoch shuffles the rows with ``seed``; the last short batch is kept. The loss is
    the softmax cross-entropy, averaged over the batch for each head.
    ``progress(stage, iterations done, epochs * ceil(N / batch_size))`` after every iteration.
    """
    if not configs:
        raise ValueError("configs must name at least one head")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n, d = features.shape
    h, c = len(configs), num_classes
    if standardize:
        # Two passes by hand: Tensor.std over dim 0 of a tall matrix is many times slower.
        mean = features.mean(dim=0)
        std = (features - mean).square_().mean(dim=0).sqrt_().clamp_min(1e-6)
    else:
        mean, std = torch.zeros(d), torch.ones(d)
    x_all = (features - mean) / std
    steps_per_epoch = math.ceil(n / batch_size)
    # Heads are reordered SGD first, Adam after, so each optimizer updates one contiguous block.
    order_heads = sorted(range(h), key=lambda i: configs[i].optimizer == "adam")
    ordered = [configs[i] for i in order_heads]
    n_sgd = sum(cfg.optimizer == "sgd" for cfg in ordered)
    lr_rows, mom_rows = [], []
    for cfg in ordered:
        lr_t, mom_t = head_schedule(cfg, epochs, steps_per_epoch)
        lr_rows.append(lr_t)
        base_mom = cfg.momentum if cfg.optimizer == "sgd" else cfg.betas[0]
        mom_rows.append(mom_t if mom_t is not None else torch.full_like(lr_t, base_mom))
    lr_table = torch.stack(lr_rows, dim=1).float()[:, :, None]  # [T, H, 1]
    mom_table = torch.stack(mom_rows, dim=1).float()[:, :, None]  # SGD momentum / Adam beta1
    decay = torch.tensor([cfg.weight_decay for cfg in ordered], dtype=torch.float32)[:, None]
    use_decay = bool((decay > 0).any())
    nesterov = torch.tensor([cfg.nesterov for cfg in ordered[:n_sgd]])[:, None]
    any_nesterov = bool(nesterov.any())
    beta2 = torch.tensor([cfg.betas[1] for cfg in ordered[n_sgd:]], dtype=torch.float64)[:, None]
    eps = torch.tensor([cfg.eps for cfg in ordered[n_sgd:]], dtype=torch.float32)[:, None]

    # Parameters as one flat [H, C*D + C] matrix: weight and bias of every head side by side.
    params = torch.zeros(h, c * d + c)
    buf = torch.zeros_like(params)  # SGD momentum buffer / Adam first moment
    sq = torch.zeros(h - n_sgd, c * d + c)  # Adam second moment
    generator = torch.Generator().manual_seed(seed)
    history = torch.zeros(epochs, h)
    step = 0
    ticker = Ticker(progress, stage, epochs * steps_per_epoch)
    for epoch in range(epochs):
        order = torch.randperm(n, generator=generator)
        for start in range(0, n, batch_size):
            rows = order[start : start + batch_size]
            x, y = x_all[rows], labels[rows]
            b = x.shape[0]
            w = params[:, : c * d].reshape(h * c, d)
            logits = torch.addmm(params[:, c * d :].reshape(h * c), x, w.t()).reshape(b, h, c)
            probs = torch.softmax(logits, dim=2)
            target = y[:, None, None].expand(b, h, 1)
            history[epoch] -= probs.gather(2, target).squeeze(2).clamp_min(1e-30).log().sum(0)
            # d(mean CE)/d(logits) = (softmax - onehot) / B, per head.
            probs.scatter_add_(2, target, torch.full((b, h, 1), -1.0))
            probs /= b
            grad = torch.cat([probs.reshape(b, h * c).t().mm(x).reshape(h, c * d), probs.sum(0)], 1)
            if use_decay:
                grad.add_(params * decay)
            lr, beta1 = lr_table[step], mom_table[step]
            step += 1
            if n_sgd:
                g, m = grad[:n_sgd], beta1[:n_sgd]
                momentum_buf = buf[:n_sgd].mul_(m).add_(g)
                direction = momentum_buf
                if any_nesterov:
                    direction = torch.where(nesterov, g + m * momentum_buf, momentum_buf)
                params[:n_sgd].sub_(lr[:n_sgd] * direction)
            if n_sgd < h:
                g, b1 = grad[n_sgd:], beta1[n_sgd:]
                first = buf[n_sgd:].mul_(b1).add_((1 - b1) * g)
                sq.mul_(beta2.float()).add_((1 - beta2.float()) * g * g)
                corr1 = (1 - b1.double() ** step).float()
                corr2 = (1 - beta2**step).sqrt().float()
                denom = (sq.sqrt() / corr2).add_(eps)
                params[n_sgd:].sub_((lr[n_sgd:] / corr1) * first / denom)
            ticker.advance()
        history[epoch] /= n
    restore = torch.argsort(torch.tensor(order_heads))
    params, history = params[restore], history[:, restore]
    return LinearHeads(
        weight=params[:, : c * d].reshape(h, c, d).clone(),
        bias=params[:, c * d :].clone(),
        mean=mean,
        std=std,
        loss_history=history,
        configs=tuple(configs),
    )
