"""The one interface every trunk answers: pooled features and named intermediate features."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

__all__ = ["Trunk", "capture_outputs"]


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

    def set_activation_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each stage's activations in backward instead of storing them
        (``torch.utils.checkpoint``, non-reentrant); trades compute for memory when training."""
        self.activation_checkpointing = bool(enabled)

    def _stages(self) -> list[tuple[str, Callable[[Tensor], Tensor]]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _stages or forward_features")

    def feature_names(self) -> list[str]:
        """Names accepted by ``forward_features``, from the shallowest to the deepest."""
        return [name for name, _ in self._stages()]

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
        for stage_name, stage in self._stages():
            x = checkpoint(stage, x, use_reentrant=False) if checkpointing else stage(x)
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
