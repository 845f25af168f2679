"""Training checkpoints in the project's format (ssl_models.checkpoint) plus the resume state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_models import checkpoint as ckpt_format

from ssl_train.state import TrainState

__all__ = ["FINAL_NAME", "LAST_NAME", "load_train_checkpoint", "save_train_checkpoint"]

LAST_NAME = "last.pt"
"""Full resume state, overwritten atomically at every checkpoint."""
FINAL_NAME = "final.pt"
"""Trunk and heads only (no optimizer), written when a run ends: what users evaluate and convert."""


def save_train_checkpoint(
    state: TrainState, recipe_name: str, config: dict[str, Any], path: str | Path, with_train_state: bool = True
) -> Path:
    """Write the model (and, by default, the whole resume state) atomically to ``path``."""
    payload = ckpt_format.model_payload(
        state.parts.trunk, heads=state.parts.heads, recipe={"name": recipe_name, "config": config}
    )
    if with_train_state:
        payload["train_state"] = state.state_dict()
    return ckpt_format.save_checkpoint(payload, path)


def load_train_checkpoint(path: str | Path, state: TrainState, recipe_name: str) -> None:
    """Restore ``state`` from a checkpoint written by :func:`save_train_checkpoint`."""
    payload = ckpt_format.load_checkpoint(path)
    recipe = payload.get("recipe") or {}
    if recipe.get("name") != recipe_name:
        raise ValueError(f"{path} was written by recipe {recipe.get('name')!r}, not {recipe_name!r}")
    if not payload.get("train_state"):
        raise ValueError(f"{path} holds no resume state (it is a model-only checkpoint)")
    state.load_state_dict(payload["train_state"])
