"""The one interface every trunk answers: pooled features and named intermediate features."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint

__all__ = ["NORM_LAYERS", "Block", "Trunk", "capture_outputs", "checkpoint_buckets", "norm_and_bias_names"]

#: one step of a trunk: a module or function ``Tensor -> Tensor``.
Block = Callable[[Tensor], Tensor]

#: normalisation layers: their weights and biases are "norm parameters" (no weight decay by default).
NORM_LAYERS: tuple[type[nn.Module], ...] = (_BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm, nn.modules.instancenorm._InstanceNorm)


def norm_and_bias_names(module: nn.Module) -> tuple[set[str], set[str]]:
    """``(norm parameter names, bias names)`` of ``module``, found by layer type, not by shape.

    Norm parameters are every parameter of a layer in :data:`NORM_LAYERS` (and of any module whose
    class name ends in "Norm", e.g. timm's LayerNorm2d or RMSNorm); biases are the other parameters
    called ``bias``. Names are relative to ``module`` (``named_parameters()`` names).
    """
    norms: set[str] = set()
    biases: set[str] = set()
    for prefix, sub in module.named_modules():
        is_norm = isinstance(sub, NORM_LAYERS) or type(sub).__name__.endswith("Norm")
        for name, _ in sub.named_parameters(recurse=False):
            full = f"{prefix}.{name}" if prefix else name
            if is_norm:
                norms.add(full)
            elif name == "bias":
                biases.add(full)
    return norms, biases


class Trunk(nn.Module):
    """Base class of every trunk (backbone) in ssl-models.

    Attributes:
        name: the factory name the trunk was built from (``build_trunk(name, **kwargs)``).
        kwargs: the keyword arguments ``build_trunk`` got, enough to rebuild the trunk.
        num_features: size ``D`` of the pooled feature vector returned by ``forward``.

    Subclasses either implement ``_stages`` (an ordered list of ``(feature name, callable)``
    applied one after the other, each stage's output being that feature) or override
    ``feature_names`` and ``forward_features`` directly.
    """

    #: name of the feature ``forward`` returns; it must have shape ``[B, num_features]``.
    pooled_feature: str = "flatten"

    def __init__(self, name: str, kwargs: dict[str, Any], num_features: int) -> None:
        super().__init__()
        self.name = name
        self.kwargs = dict(kwargs)
        self.num_features = int(num_features)
        self.activation_checkpointing = False
        self.activation_checkpointing_splits: int | None = None

    def set_activation_checkpointing(self, enabled: bool = True, splits: int | None = None) -> None:
        """Recompute activations in backward instead of storing them (``torch.utils.checkpoint``,
        non-reentrant); trades compute for memory when training.

        Args:
            enabled: turn checkpointing on or off.
            splits: ``None``: one checkpoint per stage (per named feature). An integer: VISSL's
                NUM_ACTIVATION_CHECKPOINTING_SPLITS: the stages are expanded into their blocks,
                cut at the requested features, and the largest bucket is halved until there are
                ``splits`` buckets (never in front of an in-place op); each bucket is one
                checkpoint (see ``checkpoint_buckets``).

        BatchNorm running statistics are updated once per forward (not again when a bucket is
        recomputed in backward).
        """
        if splits is not None and (isinstance(splits, bool) or not isinstance(splits, int) or splits < 1):
            raise ValueError(f"splits must be None or a positive integer, got {splits!r}")
        self.activation_checkpointing = bool(enabled)
        self.activation_checkpointing_splits = splits

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _stages or forward_features")

    def _stage_blocks(self) -> list[tuple[str, list[Block]]]:
        """Every stage expanded into the blocks it applies in order (for split checkpointing).

        Default: the children of an ``nn.Sequential`` stage, any other stage as one block.
        """
        out: list[tuple[str, list[Block]]] = []
        for name, stage in self._stages():
            children = list(stage.children()) if isinstance(stage, nn.Sequential) else []
            out.append((name, children or [stage]))
        return out

    def _checkpoint(self, fn: Block, x: Tensor) -> Tensor:
        return checkpoint(fn, x, use_reentrant=False, context_fn=lambda: (nullcontext(), _running_stats_frozen(self)))

    def feature_names(self) -> list[str]:
        """Names accepted by ``forward_features``, from the shallowest to the deepest."""
        return [name for name, _ in self._stages()]

    def no_weight_decay(self) -> set[str]:
        """Parameters the trunk declares as never weight-decayed besides norms and biases
        (timm's ``no_weight_decay()`` role: position embeddings, class tokens, ...); names are
        ``named_parameters()`` names of the trunk. Empty for convolutional trunks."""
        return set()

    def _check_names(self, names: Sequence[str]) -> None:
        if isinstance(names, str):
            raise TypeError(f"names must be a sequence of feature names, not the string {names!r}")
        if len(names) == 0:
            raise ValueError("names must hold at least one feature name")
        known = self.feature_names()
        for n in names:
            if n not in known:
                raise ValueError(f"unknown feature name {n!r} for trunk {self.name!r}; available: {', '.join(known)}")

    def forward_features(self, x: Tensor, names: Sequence[str]) -> dict[str, Tensor]:
        """Run the trunk up to the deepest requested feature.

        Args:
            x: images ``[B, C, H, W]``.
            names: feature names (see ``feature_names()``), in any order.

        Returns:
            ``{name: tensor}`` for every requested name, in the order of ``names``.
        """
        self._check_names(names)
        wanted = set(names)
        out: dict[str, Tensor] = {}
        checkpointing = self.activation_checkpointing and torch.is_grad_enabled()
        if checkpointing and self.activation_checkpointing_splits is not None:
            stages = self._stage_blocks()
            deepest = max(i for i, (n, _) in enumerate(stages) if n in wanted)
            for end, blocks in checkpoint_buckets(stages[: deepest + 1], wanted, self.activation_checkpointing_splits):
                x = self._checkpoint(_Chain(blocks), x)
                if end is not None:
                    out[end] = x
            return {n: out[n] for n in names}
        for stage_name, stage in self._stages():
            x = self._checkpoint(stage, x) if checkpointing else stage(x)
            if stage_name in wanted:
                out[stage_name] = x
                if len(out) == len(wanted):
                    break
        return {n: out[n] for n in names}

    def forward(self, x: Tensor) -> Tensor:
        """Pooled features: ``[B, C, H, W] -> [B, num_features]``."""
        return self.forward_features(x, [self.pooled_feature])[self.pooled_feature]

    @torch.no_grad()
    def feature_shapes(self, input_shape: Sequence[int] = (1, 3, 224, 224)) -> dict[str, tuple[int, ...]]:
        """Shape of every named feature for one input shape, computed on the meta device."""
        meta = _meta_copy(self)
        x = torch.empty(*input_shape, device="meta")
        feats = meta.forward_features(x, self.feature_names())
        return {k: tuple(v.shape) for k, v in feats.items()}

    def extra_repr(self) -> str:
        return f"name={self.name!r}, num_features={self.num_features}"


class _Chain:
    """Apply blocks one after the other (a bucket of split checkpointing)."""

    def __init__(self, blocks: Sequence[Block]) -> None:
        self.blocks = list(blocks)

    def __call__(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        return x


def _splittable_before(block: Block) -> bool:
    """A bucket may not start with an in-place op (e.g. ``ReLU(inplace=True)``): it would modify
    the tensor the checkpoint saved as the bucket's input."""
    return not bool(getattr(block, "inplace", False))


def checkpoint_buckets(
    stages: Sequence[tuple[str, Sequence[Block]]], boundaries: set[str] | Sequence[str], splits: int
) -> list[tuple[str | None, list[Block]]]:
    """Group a trunk's blocks into checkpoint buckets (VISSL's NUM_ACTIVATION_CHECKPOINTING_SPLITS).

    Args:
        stages: ``(feature name, blocks)`` in order, the output of each stage being that feature.
        boundaries: feature names that must end a bucket (the requested features; the last stage
            always ends one).
        splits: wanted number of buckets. Fewer come out when the blocks cannot be split further
            (one block per bucket, or only in-place ops left to split in front of); more when
            there are more boundaries than ``splits``.

    Returns:
        ``[(feature name or None, blocks), ...]``: a bucket ending at a boundary carries its
        feature name; buckets made by halving carry ``None``.
    """
    buckets: list[tuple[str | None, list[Block]]] = []
    current: list[Block] = []
    for i, (name, blocks) in enumerate(stages):
        current.extend(blocks)
        if name in boundaries or i == len(stages) - 1:
            buckets.append((name, current))
            current = []
    while len(buckets) < splits:
        best: tuple[int, int] | None = None  # (bucket index, cut position)
        for i, (_, blocks) in enumerate(buckets):
            cuts = [c for c in range(1, len(blocks)) if _splittable_before(blocks[c])]
            if not cuts or (best is not None and len(blocks) <= len(buckets[best[0]][1])):
                continue
            best = (i, min(cuts, key=lambda c: (abs(2 * c - len(blocks)), c)))
        if best is None:
            break
        i, cut = best
        name, blocks = buckets[i]
        buckets[i : i + 1] = [(None, blocks[:cut]), (name, blocks[cut:])]
    return buckets


@contextmanager
def _running_stats_frozen(module: nn.Module) -> Iterator[None]:
    """While a checkpointed bucket is recomputed in backward, BatchNorm layers normalise exactly
    as in the forward pass, but their running statistics and ``num_batches_tracked`` are put back
    afterwards, so they are updated once per step (not twice)."""
    saved = [
        (buf, buf.clone())
        for m in module.modules()
        if isinstance(m, _BatchNorm) and m.track_running_stats
        for buf in (m.running_mean, m.running_var, m.num_batches_tracked)
        if buf is not None
    ]
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)


def _meta_copy(module: Trunk) -> Trunk:
    """A copy of the trunk whose parameters live on the meta device (no memory, no compute)."""
    import copy

    clone = copy.deepcopy(module).to("meta")
    clone.eval()
    return clone


@contextmanager
def capture_outputs(modules: Mapping[str, nn.Module]) -> Iterator[dict[str, Tensor]]:
    """Within the block, record ``{key: output}`` of every module in ``modules`` when it runs."""
    out: dict[str, Tensor] = {}

    def saver(key: str) -> Callable[[nn.Module, Any, Tensor], None]:
        def hook(module: nn.Module, args: Any, output: Tensor) -> None:
            out[key] = output

        return hook

    handles = [m.register_forward_hook(saver(k)) for k, m in modules.items()]
    try:
        yield out
    finally:
        for h in handles:
            h.remove()
