"""``train.channels_last=auto``: both memory formats timed at start-up, the faster kept, the choice
reported in the run header with the two timings and recorded in the saved config, so that a
``--resume`` computes with the same format (bit-identical to an uninterrupted run)."""

from __future__ import annotations

import contextlib
import re

import pytest
import torch
import yaml

import ssl_models
from ssl_models import checkpoint as ckpt_format
from ssl_train import ConfigError, get_recipe, load_config, pretrain
from ssl_train.memory_format import time_memory_formats

from .conftest import TINY
from .test_resume import Crash, _assert_same_state

HEADER = re.compile(r"channels_last (on|off) \(auto: (channels_last|contiguous) [\d.]+ ms vs (contiguous|channels_last) [\d.]+ ms per forward\+backward\)")


def _cfg(*extra: str):
    return load_config(get_recipe("simclr").config_class(), TINY["simclr"] + ["train.checkpoint_every_steps=2", *extra])


def test_timing_both_formats_leaves_the_trunk_and_the_random_state_alone() -> None:
    torch.manual_seed(0)
    trunk = ssl_models.build_trunk("resnet18", width_multiplier=0.125).train()
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    crops = [torch.randn(8, 3, 16, 16), torch.randn(16, 3, 8, 8)]
    rng = torch.get_rng_state()
    timing = time_memory_formats(trunk, crops, contextlib.nullcontext, torch.device("cpu"))
    assert timing.contiguous > 0 and timing.channels_last > 0
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items())  # BN statistics too
    assert all(p.grad is None for p in trunk.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    assert trunk.conv1.weight.is_contiguous()  # type: ignore[union-attr]
    winner = "channels_last" if timing.channels_last_wins else "contiguous"
    assert timing.describe().startswith(winner)


def test_auto_is_measured_reported_recorded_and_kept_by_a_resume(tmp_path, capsys) -> None:
    with pytest.raises(RuntimeError, match="simulated crash"):
        pretrain("simclr", _cfg("train.channels_last=auto"), tmp_path / "b", progress=False, hooks=[Crash(7)])
    header = capsys.readouterr().err
    match = HEADER.search(header)
    assert match, header
    assert re.search(r"\d+ threads? \(auto: ", header), header
    chosen = match.group(1) == "on"
    assert (match.group(2) == "channels_last") == chosen  # the winner is named first and chosen
    saved_yaml = yaml.safe_load((tmp_path / "b" / "config.yaml").read_text())
    saved_ckpt = ckpt_format.load_checkpoint(tmp_path / "b" / "checkpoints" / "last.pt")["recipe"]["config"]
    assert saved_yaml["train"]["channels_last"] is chosen and saved_ckpt["train"]["channels_last"] is chosen

    straight = pretrain("simclr", _cfg(f"train.channels_last={str(chosen).lower()}"), tmp_path / "a", progress=False)
    capsys.readouterr()
    resumed = pretrain("simclr", _cfg("train.channels_last=auto"), tmp_path / "b", resume=True, progress=False)
    header = capsys.readouterr().err
    assert f"channels_last {'on' if chosen else 'off'} (auto: the choice the run started with)" in header
    assert resumed.loss_history == straight.loss_history
    _assert_same_state(tmp_path / "a", tmp_path / "b")
    # an explicit value that differs from the recorded choice is a changed config
    with pytest.raises(ConfigError, match=r"differs from the checkpoint's in train\.channels_last"):
        pretrain("simclr", _cfg(f"train.channels_last={str(not chosen).lower()}"), tmp_path / "b", resume=True, progress=False)


def test_a_value_other_than_true_false_auto_is_refused(tmp_path) -> None:
    with pytest.raises(ConfigError, match=r"^train\.channels_last='sometimes' is not one of true, false, auto$"):
        pretrain("simclr", _cfg("train.channels_last=sometimes"), tmp_path, progress=False)
    assert not tmp_path.joinpath("checkpoints").exists()
