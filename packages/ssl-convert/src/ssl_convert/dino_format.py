"""Official DINO training checkpoints (``checkpoint.pth``: ``student``, ``teacher``) -> ssl-models.

The chosen branch (``teacher`` by default: DINO evaluates the teacher) gives the trunk from its
``backbone.*`` keys (``module.`` removed): timm names for ViTs, torchvision names for ResNets.
DINO's projection head (``head.mlp.*``, weight-normalised ``head.last_layer``) has no ssl-models
counterpart and is dropped and listed. Released backbone-only files
(``dino_deitsmall16_pretrain.pth``, ``dino_resnet50_pretrain.pth``) are plain timm / torchvision
state dicts and read as such. The full checkpoint pickles an ``argparse.Namespace`` (``args``),
so it needs ``allow_unsafe_load=True``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ssl_convert.errors import FormatError
from ssl_convert.keymap import DROP, map_keys
from ssl_convert.weights import Weights, from_mapped

__all__ = ["is_dino", "read_dino"]


def is_dino(obj: object) -> bool:
    """True for a DINO training checkpoint (``teacher`` and ``student`` state dicts)."""
    return isinstance(obj, Mapping) and isinstance(obj.get("teacher"), Mapping) and isinstance(obj.get("student"), Mapping)


def read_dino(obj: object, branch: str = "teacher") -> Weights:
    """The ``branch`` (``"teacher"`` or ``"student"``) backbone of a DINO checkpoint."""
    if branch not in ("teacher", "student"):
        raise FormatError(f"DINO branch must be 'teacher' or 'student', got {branch!r}")
    if not is_dino(obj):
        raise FormatError("not a DINO checkpoint (no teacher/student state dicts)")
    state = obj[branch]  # type: ignore[index]

    def rule(key: str) -> str | object | None:
        k = key.removeprefix("module.")
        if k.startswith("backbone."):
            return k[len("backbone.") :]
        if k.startswith("head."):
            return DROP
        return None

    mapped = map_keys(state, rule, what=f"DINO {branch}")
    out = from_mapped(mapped)
    out.notes.append(f"DINO: {branch} backbone kept; DINO head dropped")
    return out
