"""The trunk a benchmark evaluates: from an ssl checkpoint file (trained, or its architecture at
random init), or a module given directly."""

from __future__ import annotations

from pathlib import Path

from torch import nn

__all__ = ["checkpoint_trunk", "random_init_trunk", "resolve_image_size"]


def checkpoint_trunk(checkpoint: str | Path) -> tuple[nn.Module, int]:
    """``(trunk in eval mode, image side its recipe trained at or 0)`` of an ssl checkpoint.

    Raises ``ssl_models``' CheckpointError (a ValueError) for a file that is not one.
    """
    from ssl_models import checkpoint as ckpt_format

    payload = ckpt_format.load_checkpoint(checkpoint)
    trunk = ckpt_format.trunk_from_checkpoint(payload)
    recipe_data = ((payload.get("recipe") or {}).get("config") or {}).get("data", {})
    return trunk.eval(), int(recipe_data.get("image_size", 0) or 0)


def random_init_trunk(checkpoint: str | Path, seed: int) -> nn.Module:
    """The trunk architecture of an ssl checkpoint, untrained: built after ``torch.manual_seed(seed)``
    (``ssl run``'s random-init baseline: the run's own seed)."""
    import torch
    from ssl_models import build_trunk
    from ssl_models import checkpoint as ckpt_format

    entry = ckpt_format.load_checkpoint(checkpoint)["trunk"]
    torch.manual_seed(seed)
    return build_trunk(entry["name"], **entry["kwargs"])


def resolve_image_size(requested: int, trained: int) -> int:
    """The protocol's ``image_size``, else the checkpoint's, else 224 (VISSL's test crop)."""
    return requested or trained or 224
