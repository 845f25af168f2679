"""Training checkpoints in the project's format (ssl_models.checkpoint) plus the resume state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ssl_models import checkpoint as ckpt_format

from ssl_train.config import ConfigError, config_differences
from ssl_train.state import TrainState

__all__ = ["FINAL_NAME", "LAST_NAME", "check_resume_config", "load_train_checkpoint", "read_checkpoint", "save_train_checkpoint"]

LAST_NAME = "last.pt"
"""Full resume state, overwritten atomically at every checkpoint."""
FINAL_NAME = "final.pt"
"""Trunk and heads only (no optimizer), written when a run ends: what users evaluate and convert."""


def _heads(state: TrainState) -> list[Any]:
    return [head for chain in state.method.export_model.heads for head in chain]


def save_train_checkpoint(
    state: TrainState,
    recipe_name: str,
    config: dict[str, Any],
    path: str | Path,
    with_train_state: bool = True,
    rank_states: list[dict[str, Any]] | None = None,
) -> Path:
    """Write the model (and, by default, the whole resume state) atomically to ``path``."""
    payload = ckpt_format.model_payload(
        state.method.trunk, heads=_heads(state), recipe={"name": recipe_name, "config": config}
    )
    if with_train_state:
        payload["train_state"] = state.state_dict(rank_states)
        if state.sharded:  # the weights are in the DCP folder beside (ssl_train.sharded_checkpoint)
            from ssl_train.sharded_checkpoint import DCP_SUFFIX, head_positions

            for entry in [payload["trunk"], *payload["heads"]]:
                entry["state_dict"] = {}
            payload["sharded"] = {"folder": Path(path).stem + DCP_SUFFIX, "step": state.step,
                                  "heads": head_positions(state.method.model)}  # fmt: skip
    return ckpt_format.save_checkpoint(payload, path)


def read_checkpoint(path: str | Path, recipe_name: str) -> dict[str, Any]:
    """The payload of a training checkpoint of ``recipe_name`` (``ValueError`` otherwise)."""
    payload = ckpt_format.load_checkpoint(path)
    recipe = payload.get("recipe") or {}
    if recipe.get("name") != recipe_name:
        raise ValueError(f"{path} was written by recipe {recipe.get('name')!r}, not {recipe_name!r}")
    if not payload.get("train_state"):
        raise ValueError(f"{path} holds no resume state (it is a model-only checkpoint)")
    return payload


def check_resume_config(payload: dict[str, Any], config: dict[str, Any], path: str | Path) -> None:
    """Refuse (``ConfigError``, one line) a resume whose config differs from the checkpoint's in
    keys that are not resume-safe (``ssl_train.config.RESUME_SAFE_KEYS``)."""
    saved = (payload.get("recipe") or {}).get("config") or {}
    differ = config_differences(saved, config)
    if differ:
        shown = ", ".join(differ[:8]) + (f" (+{len(differ) - 8} more)" if len(differ) > 8 else "")
        raise ConfigError(
            f"cannot resume {path}: the config differs from the checkpoint's in {shown}; "
            "start a new run (another --out) or resume with the original values"
        )


def load_train_checkpoint(payload: dict[str, Any], state: TrainState, rank: int = 0) -> None:
    """Restore ``state`` from a payload returned by :func:`read_checkpoint`."""
    state.load_state_dict(payload["train_state"], rank=rank)
