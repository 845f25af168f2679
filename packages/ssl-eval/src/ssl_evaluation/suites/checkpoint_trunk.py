"""The trunk a benchmark evaluates: from an ssl checkpoint file, or a module given directly."""

from __future__ import annotations

from pathlib import Path

from torch import nn

__all__ = ["checkpoint_trunk", "resolve_image_size"]


def checkpoint_trunk(checkpoint: str | Path) -> tuple[nn.Module, int]:
    """``(trunk in eval mode, image side its recipe trained at or 0)`` of an ssl checkpoint.

    Raises ``ssl_models``' CheckpointError (a ValueError) for a file that is not one.
    """
    from ssl_models import checkpoint as ckpt_format

    payload = ckpt_format.load_checkpoint(checkpoint)
    trunk = ckpt_format.trunk_from_checkpoint(payload)
    recipe_data = ((payload.get("recipe") or {}).get("config") or {}).get("data", {})
    return trunk.eval(), int(recipe_data.get("image_size", 0) or 0)


def resolve_image_size(requested: int, trained: int) -> int:
    """The protocol's ``image_size``, else the checkpoint's, else 224 (VISSL's test crop)."""
    return requested or trained or 224
