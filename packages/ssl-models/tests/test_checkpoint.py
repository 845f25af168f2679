"""The ssl checkpoint format: atomic save, weights_only load, clear errors, rebuild by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ssl_models import MLPHead, build_trunk
from ssl_models.checkpoint import (
    CheckpointError,
    heads_from_checkpoint,
    load_checkpoint,
    model_payload,
    save_checkpoint,
    trunk_from_checkpoint,
)


def test_round_trip_rebuilds_trunk_and_heads(tmp_path: Path) -> None:
    trunk = build_trunk("resnet18", width_multiplier=0.25, small_input=True)
    head = MLPHead([128, 64, 16], use_bn=True)
    recipe = {"method": "simclr", "optim": {"lr": 0.3}}
    path = save_checkpoint(model_payload(trunk, [head], recipe=recipe), tmp_path / "sub" / "model.torch")
    assert path == tmp_path / "sub" / "model.torch"
    assert [p.name for p in path.parent.iterdir()] == ["model.torch"]  # no temporary file left
    raw = torch.load(path, weights_only=True)  # plain torch can read it safely
    assert raw["format"] == "ssl-checkpoint" and raw["format_version"] == 1 and raw["train_state"] is None
    ckpt = load_checkpoint(path)
    assert ckpt["recipe"] == recipe
    assert ckpt["trunk"]["name"] == "resnet18"
    assert ckpt["trunk"]["kwargs"] == {"width_multiplier": 0.25, "small_input": True}
    rebuilt = trunk_from_checkpoint(ckpt).eval()
    (rebuilt_head,) = heads_from_checkpoint(ckpt)
    trunk.eval()
    head.eval()
    rebuilt_head.eval()
    x = torch.randn(2, 3, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), trunk(x), rtol=0, atol=0)
        torch.testing.assert_close(rebuilt_head(trunk(x)), head(trunk(x)), rtol=0, atol=0)


def test_failed_save_leaves_old_file_and_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "c.torch"
    save_checkpoint({"format": "ssl-checkpoint", "v": 1}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):
        save_checkpoint({"unpicklable": lambda: None}, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["c.torch"]


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.torch")


def test_text_file_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.txt") as info:
        load_checkpoint(p)
    assert "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_file_is_rejected(tmp_path: Path) -> None:
    trunk = build_trunk("resnet18", width_multiplier=0.25)
    good = save_checkpoint(model_payload(trunk), tmp_path / "good.torch")
    data = good.read_bytes()
    bad = tmp_path / "bad.torch"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bad.torch"):
        load_checkpoint(bad)


def test_foreign_torch_file_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "tv.pth"
    torch.save({"conv1.weight": torch.zeros(1)}, p)
    with pytest.raises(CheckpointError, match="not an ssl checkpoint"):
        load_checkpoint(p)


def test_pickled_objects_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "obj.torch"
    torch.save({"format": "ssl-checkpoint", "format_version": 1, "obj": Path("/")}, p)
    with pytest.raises(CheckpointError, match="obj.torch"):
        load_checkpoint(p)
