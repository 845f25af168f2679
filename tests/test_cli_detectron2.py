"""`ssl benchmark detectron2`: the detectron2 route prepares real files and, where detectron2 is not
installed (it is not on PyPI), ends with one line naming them."""

from __future__ import annotations

import importlib.util
import pickle

import pytest
import yaml

from cli_runner import run_ssl

HAVE_DETECTRON2 = importlib.util.find_spec("detectron2") is not None
without_detectron2 = pytest.mark.skipif(HAVE_DETECTRON2, reason="detectron2 installed")
with_detectron2 = pytest.mark.skipif(not HAVE_DETECTRON2, reason="detectron2 not installed (../shared/wheels)")


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


@without_detectron2
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


@with_detectron2
def test_a_real_detectron2_run_on_a_tiny_voc_layout_returns_its_metrics(tmp_path):
    """Convert, write the recipe, train 2 iterations on the CPU and evaluate with detectron2's own
    PascalVOC evaluator on a 20-image VOC2007-layout folder made here."""
    import json

    import bench_files as bf
    from ssl_models import build_trunk
    from ssl_models.checkpoint import model_payload, save_checkpoint

    from cli_runner import ssl_in_process

    ckpt = tmp_path / "final.pt"
    save_checkpoint(model_payload(build_trunk("resnet50", width_multiplier=0.125)), ckpt)
    bf.write_voc(tmp_path / "datasets" / "VOC2007", 1, 1, size=64)
    out = tmp_path / "d2"
    code, stdout, stderr = ssl_in_process(
        "benchmark", "detectron2", "-c", ckpt, "--out", out, "recipe=voc07_r50_c4", "max_iter=2", "ims_per_batch=2",
        "norm=BN", "min_size=64", "precise_bn_iters=1", "num_workers=0", f"datasets_root={tmp_path / 'datasets'}")
    assert code == 0, stderr
    assert "detectron2 (train): 2/2, " in stderr and "done in" in stderr  # its iterations, as a progress line
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["MODEL"]["DEVICE"] == "cpu" and config["SOLVER"]["MAX_ITER"] == 2
    assert config["MODEL"]["RESNETS"]["RES2_OUT_CHANNELS"] == 32 and config["MODEL"]["RESNETS"]["STEM_OUT_CHANNELS"] == 8
    results = json.loads((out / "results.json").read_text())
    bbox = results["benchmarks"]["detectron2"]["bbox"]
    assert {"AP", "AP50", "AP75"} <= set(bbox) and all(0.0 <= bbox[k] <= 100.0 for k in ("AP", "AP50", "AP75"))
    assert (out / "detectron2" / "model_final.pth").is_file()


@with_detectron2
@pytest.mark.parametrize(("depth", "res2", "builds"), [(18, 16, False), (18, 64, True), (50, 32, True)])
def test_real_detectron2_on_narrow_resnets_agrees_with_our_check(depth, res2, builds):
    """What detectron2 itself does with a ResNet of this res2 width (R18 at width 0.25 has 16)."""
    from detectron2.config import get_cfg
    from detectron2.modeling import build_backbone
    from ssl_evaluation.suites import check_detectron2_trunk

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.RESNETS.DEPTH = depth
    cfg.MODEL.RESNETS.RES2_OUT_CHANNELS = res2
    cfg.MODEL.RESNETS.STEM_OUT_CHANNELS = res2 if depth in (18, 34) else res2 // 4
    cfg.MODEL.RESNETS.WIDTH_PER_GROUP = res2 if depth in (18, 34) else res2 // 4
    width = res2 / (64 if depth in (18, 34) else 256)
    if builds:
        assert build_backbone(cfg) is not None
        check_detectron2_trunk(f"resnet{depth}", {"width_multiplier": width})
    else:
        with pytest.raises(AssertionError):
            build_backbone(cfg)
        with pytest.raises(ValueError, match="RES2_OUT_CHANNELS"):
            check_detectron2_trunk(f"resnet{depth}", {"width_multiplier": width})
