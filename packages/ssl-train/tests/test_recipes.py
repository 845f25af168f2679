"""Every recipe: one step runs, and the loss falls over a few dozen steps on tiny data."""

from __future__ import annotations

import pytest
import torch

import ssl_train
from ssl_train import load_config, pretrain
from ssl_train.hooks import Hook

from .conftest import TINY


@pytest.mark.parametrize("name", ssl_train.list_recipes())
def test_one_step_of_every_recipe(tmp_path, name: str) -> None:
    recipe = ssl_train.get_recipe(name)
    cfg = load_config(recipe.config_class(), TINY[name] + ["train.epochs=1", "data.limit=64", "data.batch_size=64"])
    result = pretrain(name, cfg, tmp_path, progress=False)
    assert result.steps == 1 and torch.isfinite(torch.tensor(result.final_loss))
    assert (tmp_path / "checkpoints" / "final.pt").is_file() and (tmp_path / "config.yaml").is_file()
    assert recipe.paper and recipe.summary


#: the quantity each method's optimisation drives down (DINO's cross entropy also holds the
#: teacher's entropy, which centering raises early on; its KL part is what the student minimises).
WATCHED = {"dino": "kl"}
#: MoCo's loss rises over the first steps while the queue's random initial keys (easy negatives) are
#: replaced by real keys; its InfoNCE against the batch's own keys does not depend on the queue.
WATCHED["moco"] = "batch_nce"


class Record(Hook):
    def __init__(self) -> None:
        self.metrics: list[dict[str, float]] = []

    def on_step_end(self, run, metrics):
        self.metrics.append(dict(metrics))


@pytest.mark.parametrize("name", ssl_train.list_recipes())
def test_loss_falls_over_a_few_dozen_steps(tmp_path, name: str) -> None:
    recipe = ssl_train.get_recipe(name)
    cfg = load_config(recipe.config_class(), TINY[name] + ["train.epochs=8", "data.limit=128", "schedule.warmup_epochs=1"])
    record = Record()
    pretrain(name, cfg, tmp_path, progress=False, hooks=[record])
    history = [m[WATCHED.get(name, "loss")] for m in record.metrics]
    assert len(history) == 32
    first, last = sum(history[:4]) / 4, sum(history[-4:]) / 4
    assert last < first, f"{name}: {WATCHED.get(name, 'loss')} did not fall ({first:.4f} -> {last:.4f})"
