"""``train.precision=fp64``: every recipe trains in float64 (model, buffers, batches, loss), and a
recipe whose loss drops to float32 is refused in one line."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

import ssl_train
from ssl_models import checkpoint as ckpt_format
from ssl_train import ConfigError, get_recipe, load_config, pretrain
from ssl_train.recipes.simclr import SimCLR

from .conftest import TINY

FP64_STEP = ["train.epochs=1", "data.limit=16", "data.batch_size=16", "train.precision=fp64"]


@pytest.mark.parametrize("name", ssl_train.list_recipes())
def test_every_recipe_trains_in_float64(tmp_path, name: str) -> None:
    """One step: the loop refuses a loss that is not float64, so finishing the step shows the
    loss was float64; every floating tensor of the saved state (model, teachers, queues, banks,
    centers) is float64, and torch's default dtype is float32 again afterwards."""
    cfg = load_config(get_recipe(name).config_class(), TINY[name] + FP64_STEP)
    result = pretrain(name, cfg, tmp_path, progress=False)
    assert result.precision == "fp64" and result.steps == 1 and math.isfinite(result.final_loss)
    state = ckpt_format.load_checkpoint(tmp_path / "checkpoints" / "last.pt")["train_state"]["method"]
    dtypes = {key: value.dtype for key, value in state.items() if value.is_floating_point()}
    assert dtypes and {key for key, dtype in dtypes.items() if dtype != torch.float64} == set()
    assert torch.get_default_dtype() == torch.float32


def test_the_online_knn_monitor_reads_float64_images(tmp_path) -> None:
    cfg = load_config(get_recipe("simclr").config_class(), TINY["simclr"] + FP64_STEP[:-2] + [
        "data.limit=64", "data.batch_size=32", "train.precision=fp64", "monitor.knn_every_epochs=1",
        "monitor.train_samples=20", "monitor.test_samples=20", "monitor.k=3",
    ])  # fmt: skip
    result = pretrain("simclr", cfg, tmp_path, progress=False)
    assert result.monitor_history and 0.0 <= result.monitor_history[-1]["knn_top1"] <= 100.0


class _Float32Loss(SimCLR):
    def step(self, batch, ctx):
        metrics = super().step(batch, ctx)
        return {**metrics, "loss": metrics["loss"].float()}


def test_a_loss_computed_in_float32_is_refused(tmp_path) -> None:
    recipe = dataclasses.replace(get_recipe("simclr"), name="simclr-float32-loss", build=_Float32Loss)
    cfg = load_config(recipe.config_class(), TINY["simclr"] + FP64_STEP)
    with pytest.raises(ConfigError, match=r"^train.precision=fp64, but recipe simclr-float32-loss computed its loss in torch.float32$"):
        pretrain(recipe, cfg, tmp_path, progress=False)
    assert torch.get_default_dtype() == torch.float32


def test_fp64_is_a_precision_and_unknown_ones_are_refused() -> None:
    assert ssl_train.resolve_precision("fp64", torch.device("cpu")) == "fp64"
    with pytest.raises(ConfigError, match="fp64"):
        ssl_train.resolve_precision("fp128", torch.device("cpu"))
