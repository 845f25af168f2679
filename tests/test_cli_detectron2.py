"""`ssl benchmark detectron2`: the detectron2 route prepares real files and, where detectron2 is not
installed (it is not on PyPI), ends with one line naming them."""

from __future__ import annotations

import importlib.util
import pickle

import pytest
import yaml

from cli_runner import run_ssl

pytestmark = pytest.mark.skipif(importlib.util.find_spec("detectron2") is not None, reason="detectron2 installed")


@pytest.fixture()
def checkpoint(tmp_path):
    from ssl_models import build_trunk
    from ssl_models.checkpoint import model_payload, save_checkpoint

    path = tmp_path / "final.pt"
    save_checkpoint(model_payload(build_trunk("resnet50", width_multiplier=0.125)), path)
    return path


def test_prepare_only_writes_detectron2_weights_and_config(tmp_path, checkpoint):
    out = tmp_path / "d2"
    result = run_ssl("benchmark", "detectron2", "-c", str(checkpoint), "--out", str(out), "prepare_only=true")
    assert result.returncode == 0, result.stderr
    with open(out / "model_final.pkl", "rb") as f:
        weights = pickle.load(f)
    # detectron2's R50 naming (stem / res2..res5 / .norm), none of our torchvision names
    assert "stem.conv1.weight" in weights["model"] and "res5.2.conv3.norm.running_var" in weights["model"]
    assert not any(k.startswith(("conv1.", "layer1.", "fc.")) for k in weights["model"])
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["MODEL"]["WEIGHTS"] == str((out / "model_final.pkl").resolve())
    assert config["MODEL"]["RESNETS"]["STRIDE_IN_1X1"] is False and config["INPUT"]["FORMAT"] == "RGB"


def test_without_detectron2_a_run_is_one_line_naming_the_prepared_files(tmp_path, checkpoint):
    out = tmp_path / "d2"
    result = run_ssl("benchmark", "detectron2", "-c", str(checkpoint), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssl: error: detectron2 is not installed")
    assert "model_final.pkl" in lines[0] and (out / "config.yaml").is_file()
    assert not (out / "results.json").exists()


def test_unknown_recipe_is_one_line(tmp_path, checkpoint):
    result = run_ssl("benchmark", "detectron2", "-c", str(checkpoint), "--out", str(tmp_path / "x"), "recipe=nope")
    assert result.returncode == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "unknown detectron2 recipe 'nope'" in result.stderr
    assert not (tmp_path / "x").exists()


def test_a_file_that_is_not_a_checkpoint_leaves_no_folder(tmp_path):
    bad = tmp_path / "notes.pt"
    bad.write_text("just some text\n")
    result = run_ssl("benchmark", "detectron2", "-c", str(bad), "--out", str(tmp_path / "d2"), "prepare_only=true")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("ssl: error:")
    assert not (tmp_path / "d2").exists()
