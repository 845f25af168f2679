"""A run that crashes mid-epoch and is resumed ends bit-identical to an uninterrupted run."""

import pytest
import torch

from ssl_models import checkpoint as ckpt_format
from ssl_train import load_config, pretrain
from ssl_train.hooks import Hook
from ssl_train.recipes.simclr import SimCLRConfig

TINY = [
    "data.source=digits", "data.image_size=16", "data.batch_size=32", "data.limit=160",
    "model.width_multiplier=0.125", "model.head_hidden_dim=32", "model.projection_dim=16",
    "train.epochs=2", "train.tensorboard=false", "train.checkpoint_every_steps=2", "schedule.warmup_epochs=0.5",
]


class Crash(Hook):
    def __init__(self, at_step: int) -> None:
        self.at_step = at_step

    def on_step_end(self, run, metrics):
        if run.state.step == self.at_step:
            raise RuntimeError("simulated crash")


@pytest.mark.parametrize("optimizer", ["sgd", "lars"])
def test_crash_and_resume_is_bit_identical(tmp_path, optimizer):
    cfg = load_config(SimCLRConfig(), TINY + [f"optim.name={optimizer}"])
    straight = pretrain("simclr", cfg, tmp_path / "a", progress=False)

    # 5 steps per epoch; checkpoints at steps 2, 4, 5 (epoch end), 6; crash after step 7.
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain("simclr", cfg, tmp_path / "b", progress=False, hooks=[Crash(at_step=7)])
    assert not (tmp_path / "b" / "checkpoints" / "final.pt").exists()
    saved = ckpt_format.load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")
    assert saved["train_state"]["step"] == 6 and saved["train_state"]["batch_in_epoch"] == 1
    resumed = pretrain("simclr", cfg, tmp_path / "b", resume=True, progress=False)

    assert resumed.steps == straight.steps == 10
    assert resumed.loss_history == straight.loss_history
    a, b = straight.trunk.state_dict(), resumed.trunk.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_final_checkpoint_loads_with_weights_only_and_rebuilds_the_trunk(tmp_path):
    cfg = load_config(SimCLRConfig(), TINY + ["train.epochs=1"])
    result = pretrain("simclr", cfg, tmp_path, progress=False)
    raw = torch.load(result.checkpoint, weights_only=True)
    assert raw["format"] == "ssl-checkpoint" and raw["recipe"]["name"] == "simclr"
    assert raw["recipe"]["config"]["train"]["epochs"] == 1
    trunk = ckpt_format.trunk_from_checkpoint(raw)
    x = torch.randn(2, 3, 16, 16)
    torch.testing.assert_close(trunk.eval()(x), result.trunk.eval()(x), rtol=0, atol=0)
    assert (tmp_path / "config.yaml").read_text().startswith("data:")
    last = torch.load(tmp_path / "checkpoints" / "last.pt", weights_only=True)
    assert {"optimizer", "rng", "modules", "loss_history"} <= set(last["train_state"])


def test_resume_refuses_a_checkpoint_of_another_recipe(tmp_path):
    cfg = load_config(SimCLRConfig(), TINY + ["train.epochs=1"])
    pretrain("simclr", cfg, tmp_path, progress=False)
    payload = ckpt_format.load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    payload["recipe"]["name"] = "moco"
    ckpt_format.save_checkpoint(payload, tmp_path / "checkpoints" / "last.pt")
    with pytest.raises(ValueError, match="written by recipe 'moco'"):
        pretrain("simclr", cfg, tmp_path, resume=True, progress=False)
