"""Official Barlow Twins training checkpoints (``checkpoint.pth``: ``model``) -> ssl-models.

``module.backbone.*`` is the torchvision-named ResNet (its ``fc`` is an Identity, so absent);
``module.projector.*`` (Linear-BN-ReLU blocks, bias-free Linears) becomes an ``mlp`` head; the
final affine-free ``module.bn`` that normalises embeddings for the loss is dropped and listed.
The released ``resnet50.pth`` is a plain torchvision state dict and reads as such.
"""

from __future__ import annotations

from collections.abc import Mapping

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, map_keys
from ssl_convert.mlp_head_arch import mlp_head_entry
from ssl_convert.weights import Weights

__all__ = ["is_barlow_twins", "read_barlow_twins"]


def is_barlow_twins(obj: object) -> bool:
    """True for a Barlow Twins checkpoint (``model`` with ``backbone.`` and ``projector.`` keys)."""
    model = obj.get("model") if isinstance(obj, Mapping) else None
    if not isinstance(model, Mapping):
        return False
    keys = [k.removeprefix("module.") for k in model]
    return any(k.startswith("backbone.") for k in keys) and any(k.startswith("projector.") for k in keys)


def read_barlow_twins(obj: object) -> Weights:
    """Backbone -> trunk, projector -> ``mlp`` head, loss batch norm dropped."""
    if not is_barlow_twins(obj):
        raise FormatError("not a Barlow Twins checkpoint (no model.backbone / model.projector)")
    state = {k.removeprefix("module."): v for k, v in obj["model"].items()}  # type: ignore[index]

    def rule(key: str) -> str | object | None:
        if key.startswith("backbone."):
            return key[len("backbone.") :]
        if key.startswith(("projector.", "bn.")):
            return DROP
        return None

    mapped = map_keys(state, rule, what="Barlow Twins model")
    out = Weights(dict(mapped.state), unconverted=mapped.unconverted)  # type: ignore[arg-type]
    out.dropped = [k for k in mapped.dropped if k.startswith("bn.")]
    projector = {k[len("projector.") :]: v for k, v in state.items() if k.startswith("projector.")}
    out.heads.append(mlp_head_entry(projector, "Barlow Twins projector"))
    out.notes.append("Barlow Twins: projector kept as an mlp head; the loss batch norm (bn) dropped")
    return out
