"""The trunk + heads model (VISSL's ``multi_input_output_model``).

Use cases: one head on the pooled features; several heads on several trunk layers (multi-layer
linear evaluation); head chains (``mlp -> siamese_concat_view -> mlp``); several inputs sharing the
trunk (PIRL images and patches); multi-resolution multi-crop (crops of the same size go through
the trunk in one pass); frozen trunk, heads or both; parameters frozen for the first N iterations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Union

import torch
from torch import Tensor, nn

from ssl_models.heads.base import Head
from ssl_models.trunk import Trunk

__all__ = ["SSLModel", "Batch", "HeadOutput"]

#: a tensor ``[B, C, H, W]``, a list of crops (multi-crop), or ``{input name: tensor or crops}``.
Batch = Union[Tensor, Sequence[Tensor], Mapping[str, Union[Tensor, Sequence[Tensor]]]]
HeadOutput = Union[Tensor, list[Tensor]]


class SSLModel(nn.Module):
    """A trunk plus chains of heads.

    Args:
        trunk: any ``Trunk``.
        heads: one entry per output; each a ``Head`` or a chain (sequence of heads applied in order).
        head_features: for each chain, the trunk feature it reads (default: the pooled feature,
            ``trunk.pooled_feature``). VISSL's LINEAR_EVAL_FEAT_POOL_OPS_MAP layer order.
        head_inputs: for each chain, the input it reads when the batch is a dict (VISSL's
            MULTI_INPUT_HEAD_MAPPING; default "images" for every chain).
        frozen_params_for_iters: ``{parameter name or prefix: N}``: gradients of those parameters
            are dropped by ``drop_frozen_grads(iteration)`` while ``iteration < N`` (VISSL's
            TEMP_FROZEN_PARAMS_ITER_MAP; SwAV/DINO prototypes).

    ``forward(batch)`` returns a list with one output per chain. A list of crops gives crop-major
    rows: rows ``c*B:(c+1)*B`` are crop ``c``. With no heads it returns ``[pooled features]``.
    """

    def __init__(
        self,
        trunk: Trunk,
        heads: Sequence[Head | Sequence[Head]] = (),
        head_features: Sequence[str] | None = None,
        head_inputs: Sequence[str] | None = None,
        frozen_params_for_iters: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.trunk = trunk
        chains = [[h] if isinstance(h, nn.Module) else list(h) for h in heads]
        if any(len(c) == 0 for c in chains):
            raise ValueError("every head chain must hold at least one head")
        self.heads = nn.ModuleList(nn.ModuleList(c) for c in chains)
        n = len(chains)
        features = list(head_features) if head_features is not None else [trunk.pooled_feature] * n
        inputs = list(head_inputs) if head_inputs is not None else ["images"] * n
        if len(features) != n or len(inputs) != n:
            raise ValueError(f"head_features and head_inputs need one entry per head chain ({n}), got {len(features)} and {len(inputs)}")
        known = trunk.feature_names()
        for f in features:
            if f not in known:
                raise ValueError(f"head_features names {f!r}, not a feature of trunk {trunk.name!r} ({', '.join(known)})")
        self.head_features = features
        self.head_inputs = inputs
        names = dict(self.named_parameters())
        self.frozen_params_for_iters = dict(frozen_params_for_iters or {})
        for key in self.frozen_params_for_iters:
            if not any(p == key or p.startswith(key + ".") for p in names):
                raise ValueError(f"frozen_params_for_iters names {key!r}, which matches no parameter of the model")
        self.trunk_frozen = False
        self.heads_frozen = False

    # ----- freezing -------------------------------------------------------------------------
    def freeze_trunk(self) -> None:
        """No gradients for the trunk; it stays in eval mode (BN statistics fixed) and runs under no_grad."""
        self.trunk.requires_grad_(False)
        self.trunk_frozen = True
        self.train(self.training)

    def freeze_heads(self) -> None:
        """No gradients for the heads; they stay in eval mode."""
        self.heads.requires_grad_(False)
        self.heads_frozen = True
        self.train(self.training)

    def freeze_trunk_and_heads(self) -> None:
        """Fully frozen model (feature extraction)."""
        self.freeze_trunk()
        self.freeze_heads()

    def is_fully_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.parameters())

    def train(self, mode: bool = True) -> SSLModel:
        super().train(mode)
        if self.trunk_frozen:
            self.trunk.eval()
        if self.heads_frozen:
            self.heads.eval()
        return self

    def drop_frozen_grads(self, iteration: int) -> None:
        """After backward: set ``.grad = None`` for parameters still frozen at ``iteration``."""
        for name, p in self.named_parameters():
            for key, iters in self.frozen_params_for_iters.items():
                if iteration < iters and (name == key or name.startswith(key + ".")):
                    p.grad = None

    # ----- forward ---------------------------------------------------------------------------
    def _per_crop_features(self, images: Tensor | Sequence[Tensor], names: Sequence[str]) -> list[dict[str, Tensor]]:
        """Trunk features of every crop; crops of equal size share one trunk pass."""
        crops = [images] if isinstance(images, Tensor) else list(images)
        if not crops:
            raise ValueError("got an empty list of crops")
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, crop in enumerate(crops):
            groups.setdefault(tuple(crop.shape[1:]), []).append(i)
        per_crop: list[dict[str, Tensor]] = [{} for _ in crops]
        grad = torch.is_grad_enabled() and not self.trunk_frozen
        with torch.set_grad_enabled(grad):
            for members in groups.values():
                x = torch.cat([crops[i] for i in members]) if len(members) > 1 else crops[members[0]]
                feats = self.trunk.forward_features(x, names)
                sizes = [crops[i].shape[0] for i in members]
                for name, value in feats.items():
                    for i, part in zip(members, value.split(sizes)):
                        per_crop[i][name] = part
        return per_crop

    def trunk_features(self, images: Tensor | Sequence[Tensor], names: Sequence[str]) -> dict[str, Tensor]:
        """Named trunk features of one input, crops of equal size grouped into one trunk pass.

        Args:
            images: ``[B, C, H, W]`` or a list of crops ``[B_c, C, H_c, W_c]``.
            names: trunk feature names whose shapes agree across crops (e.g. pooled features).

        Returns:
            ``{name: [sum(B_c), ...]}``, rows in crop order (crop-major).
        """
        per_crop = self._per_crop_features(images, names)
        out = {}
        for name in names:
            parts = [f[name] for f in per_crop]
            if len({tuple(p.shape[1:]) for p in parts}) > 1:
                raise ValueError(f"feature {name!r} has different shapes across crops; run the crops of each size separately")
            out[name] = torch.cat(parts) if len(parts) > 1 else parts[0]
        return out

    def forward(self, batch: Batch) -> list[HeadOutput]:
        """One output per head chain (see the class docstring).

        Features of equal shape across crops go through a head chain together; a feature whose
        shape differs between crop sizes (an intermediate map) goes through the chain once per shape,
        and the outputs are put back in crop order.
        """
        inputs: Mapping[str, Tensor | Sequence[Tensor]]
        inputs = batch if isinstance(batch, Mapping) else {"images": batch}
        if len(self.heads) == 0:
            if len(inputs) != 1:
                raise ValueError("a model without heads takes a single input")
            (images,) = inputs.values()
            pooled = self.trunk.pooled_feature
            return [self.trunk_features(images, [pooled])[pooled]]
        wanted: dict[str, list[str]] = {}
        for key, feat in zip(self.head_inputs, self.head_features):
            if key not in inputs:
                raise ValueError(f"a head reads input {key!r}, but the batch holds {sorted(inputs)}")
            if feat not in wanted.setdefault(key, []):
                wanted[key].append(feat)
        feats = {key: self._per_crop_features(inputs[key], names) for key, names in wanted.items()}
        outputs: list[HeadOutput] = []
        for chain, key, feat in zip(self.heads, self.head_inputs, self.head_features):
            outputs.append(_run_chain(chain, [f[feat] for f in feats[key]]))
        return outputs


def _apply(chain: nn.ModuleList, x: Tensor) -> HeadOutput:
    out: HeadOutput = x
    for head in chain:
        out = head(out)
    return out


def _run_chain(chain: nn.ModuleList, parts: list[Tensor]) -> HeadOutput:
    """Run a head chain on per-crop features, batching parts of equal shape; crop order kept."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, p in enumerate(parts):
        groups.setdefault(tuple(p.shape[1:]), []).append(i)
    if len(groups) == 1:
        return _apply(chain, torch.cat(parts) if len(parts) > 1 else parts[0])
    per_part: list[list[Tensor]] = [[] for _ in parts]
    is_list = False
    for members in groups.values():
        out = _apply(chain, torch.cat([parts[i] for i in members]))
        is_list = isinstance(out, list)
        outs = out if isinstance(out, list) else [out]
        sizes = [parts[i].shape[0] for i in members]
        for o in outs:
            for i, piece in zip(members, o.split(sizes)):
                per_part[i].append(piece)
    merged = [torch.cat([per_part[i][j] for i in range(len(parts))]) for j in range(len(per_part[0]))]
    return merged if is_list else merged[0]
