"""SwAV recipe: prototypes frozen for the first iterations then learnt, unit prototype rows after
every step, the queue joining at its epoch (and not before)."""

from __future__ import annotations

import torch

from ssl_train import get_recipe, load_config, pretrain
from ssl_train.hooks import Hook
from ssl_train.recipes.swav import PROTOTYPES

from .conftest import TINY


class Watch(Hook):
    """After every step: a copy of the prototypes and how many queue rows are filled."""

    def __init__(self) -> None:
        self.prototypes: list[torch.Tensor] = []
        self.queue_rows: list[int] = []

    def on_step_end(self, run, metrics):
        method = run.state.method
        self.prototypes.append(method.model.get_submodule(PROTOTYPES).weight.detach().clone())
        self.queue_rows.append(int(method.loss.queue_count))


def test_frozen_prototypes_normalised_rows_and_queue_start(tmp_path) -> None:
    over = TINY["swav"] + ["train.epochs=3", "data.limit=96", "loss.freeze_prototypes_iters=4", "loss.queue_start_epoch=1"]
    cfg = load_config(get_recipe("swav").config_class(), over)  # 3 steps per epoch
    method = get_recipe("swav").build(cfg)
    torch.manual_seed(cfg.train.seed)
    initial = get_recipe("swav").build(cfg).model.get_submodule(PROTOTYPES).weight.detach().clone()
    watch = Watch()
    pretrain("swav", cfg, tmp_path, progress=False, hooks=[watch])
    assert len(watch.prototypes) == 9
    torch.testing.assert_close(initial.norm(dim=1), torch.ones(20))  # normalised at construction
    for step in range(4):  # steps 0..3 are frozen: no update (renormalising unit rows may move the last bit)
        torch.testing.assert_close(watch.prototypes[step], initial, rtol=0, atol=1e-6)
    assert (watch.prototypes[4] - initial).abs().max() > 1e-4  # learnt from step 4 on
    for p in watch.prototypes:
        torch.testing.assert_close(p.norm(dim=1), torch.ones(20), rtol=0, atol=1e-5)
    # queue: nothing pushed in epoch 0 (steps 0-2), one batch per step from epoch 1, capped at 64
    assert watch.queue_rows == [0, 0, 0, 32, 64, 64, 64, 64, 64]
    assert method.loss.local_queue_length == 64


def test_queue_length_rounds_down_to_the_global_batch() -> None:
    cfg = load_config(get_recipe("swav").config_class(), TINY["swav"] + ["loss.queue_length=100"])
    assert get_recipe("swav").build(cfg).loss.local_queue_length == 96
