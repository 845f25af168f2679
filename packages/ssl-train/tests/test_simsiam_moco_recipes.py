"""SimSiam's fixed predictor learning rate as the loop applies it; MoCo's versions, queue and key
encoder; BYOL's target as an EMA of the online network; the Barlow Twins convention option."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_train import ConfigError, get_recipe, load_config, pretrain
from ssl_train.hooks import Hook
from ssl_train.recipes.base import StepContext

from .conftest import TINY


class GroupLRs(Hook):
    def __init__(self) -> None:
        self.lrs: list[dict[str, float]] = []

    def on_step_end(self, run, metrics):
        self.lrs.append({g["name"]: g["lr"] for g in run.state.optimizer.param_groups})


def test_simsiam_predictor_keeps_the_peak_lr_while_the_rest_follows_the_schedule(tmp_path) -> None:
    cfg = load_config(get_recipe("simsiam").config_class(), TINY["simsiam"] + ["data.limit=96", "schedule.warmup_epochs=0"])
    method = get_recipe("simsiam").build(cfg)
    groups = method.param_groups(cfg.optim)
    predictor_ids = {id(p) for p in method.model.heads[0][-1].parameters()}
    assert {id(p) for g in groups if g.name.startswith("predictor") for p in g.params} == predictor_ids
    assert all(g.fixed_lr == g.name.startswith("predictor") for g in groups)
    record = GroupLRs()
    pretrain("simsiam", cfg, tmp_path, progress=False, hooks=[record])
    peak = cfg.optim.lr * 32 / 256  # linear auto-scaling by the global batch
    steps = len(record.lrs)
    for step, lrs in enumerate(record.lrs):
        cosine = 0.5 * peak * (1 + math.cos(math.pi * step / steps))
        assert lrs["predictor"] == pytest.approx(peak)
        assert lrs["trunk"] == pytest.approx(cosine)


def test_moco_versions_queue_and_errors() -> None:
    cls = get_recipe("moco").config_class
    v2 = get_recipe("moco").build(load_config(cls(), TINY["moco"]))
    v1 = get_recipe("moco").build(load_config(cls(), TINY["moco"] + ["model.version=1"]))
    linears = lambda m: [x for x in m.model.heads.modules() if isinstance(x, torch.nn.Linear)]  # noqa: E731
    assert len(linears(v2)) == 2 and len(linears(v1)) == 1 and linears(v1)[0].out_features == 16
    assert get_recipe("moco").build(load_config(cls(), TINY["moco"] + ["loss.queue_size=100"])).loss.queue_size == 96
    with pytest.raises(ConfigError, match="has no blur"):
        get_recipe("moco").build(load_config(cls(), TINY["moco"] + ["model.version=1", "views.p_blur=0.5"]))
    with pytest.raises(ConfigError, match="model.version must be 1"):
        get_recipe("moco").build(load_config(cls(), TINY["moco"] + ["model.version=3"]))
    with pytest.raises(ConfigError, match="smaller than the global batch"):
        get_recipe("moco").build(load_config(cls(), TINY["moco"] + ["loss.queue_size=16"]))


def _ctx(momentum: float) -> StepContext:
    return StepContext(model=torch.nn.Identity(), step=0, epoch=0, steps_per_epoch=1, total_steps=1,
                       values={"momentum": momentum}, autocast=torch.autocast, device=torch.device("cpu"))  # fmt: skip


@pytest.mark.parametrize("name,teacher", [("byol", "target"), ("moco", "key_encoder")])
def test_teacher_is_the_ema_of_the_online_network(name: str, teacher: str) -> None:
    method = get_recipe(name).build(load_config(get_recipe(name).config_class(), TINY[name]))
    with torch.no_grad():
        for p in method.model.parameters():
            p.add_(torch.randn_like(p))
    before = [p.detach().clone() for p in getattr(method, teacher).parameters()]
    online = [p.detach().clone() for p in method.model.parameters()]
    method.after_optimizer_step(_ctx(0.75))
    for b, o, t in zip(before, online, getattr(method, teacher).parameters()):
        torch.testing.assert_close(t, 0.75 * b + 0.25 * o)


def test_byol_momentum_goes_cosine_to_one() -> None:
    method = get_recipe("byol").build(load_config(get_recipe("byol").config_class(), TINY["byol"]))
    momentum = method.schedules()["momentum"]
    assert momentum(0.0) == pytest.approx(0.99) and momentum(1.0) == pytest.approx(1.0)
    assert momentum(0.5) == pytest.approx(0.995)


def test_barlow_twins_convention_reaches_the_loss() -> None:
    cls = get_recipe("barlow_twins").config_class
    assert get_recipe("barlow_twins").build(load_config(cls(), TINY["barlow_twins"])).loss.convention == "paper"
    vissl = get_recipe("barlow_twins").build(load_config(cls(), TINY["barlow_twins"] + ["loss.convention=vissl"]))
    assert vissl.loss.convention == "vissl"
    with pytest.raises(ConfigError, match="loss.convention must be one of"):
        get_recipe("barlow_twins").build(load_config(cls(), TINY["barlow_twins"] + ["loss.convention=other"]))
