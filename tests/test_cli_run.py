"""`ssl run` end to end on real data (scikit-learn's digits), then export to torchvision and benchmark."""

from __future__ import annotations

import json
import math

import pytest
import torch
import torchvision

from cli_runner import run_ssl

SMALL = [
    "model.width_multiplier=1.0", "data.image_size=16", "data.batch_size=64", "data.limit=256",
    "train.epochs=1", "benchmark.linear.epochs=3", "benchmark.knn.k=20", "benchmark.extraction.batch_size=256",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "simclr"
    proc = run_ssl("run", "simclr", "--data", "digits", "--out", str(out), "--no-progress", *SMALL)
    assert proc.returncode == 0, proc.stderr
    assert "kNN top-1: pretrained" in proc.stdout
    return out


def _leaf_paths(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _leaf_paths(value, path + ".")
        else:
            yield path, value


def test_run_writes_results_report_plot_config(run_dir):
    results = json.loads((run_dir / "results.json").read_text())
    assert results["recipe"] == "simclr"
    leaves = dict(_leaf_paths(results))
    knn_top1 = [p for p in leaves if "knn" in p and "top1" in p]
    assert "benchmarks.knn.top1" in knn_top1 and "random_init.knn.top1" in knn_top1
    for path in ("benchmarks.knn.top1", "benchmarks.linear.top1", "random_init.knn.top1", "random_init.linear.top1"):
        assert 0.0 <= leaves[path] <= 100.0 and not math.isnan(leaves[path])
    assert results["data"]["test_images"] > 0 and results["pretrain"]["epochs"] == 1
    assert results["pretrain"]["steps"] == 4
    report = (run_dir / "report.md").read_text()
    assert "knn" in report.lower() and "random" in report.lower()
    png = (run_dir / "loss_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "width_multiplier: 1.0" in (run_dir / "config.yaml").read_text()
    assert (run_dir / "checkpoints" / "final.pt").is_file() and (run_dir / "checkpoints" / "last.pt").is_file()
    assert any((run_dir / "tensorboard").iterdir())
    assert not [p for p in run_dir.rglob("*.tmp")]


def test_exported_trunk_loads_into_torchvision_strictly(run_dir, tmp_path):
    from ssl_models import checkpoint as ckpt_format

    out = tmp_path / "resnet18_tv.pth"
    proc = run_ssl("convert", str(run_dir / "checkpoints" / "final.pt"), str(out), "--to", "torchvision")
    assert proc.returncode == 0, proc.stderr
    state = torch.load(out, weights_only=True)
    tv = torchvision.models.resnet18()
    tv.fc = torch.nn.Identity()
    tv.load_state_dict(state, strict=True)
    ours = ckpt_format.trunk_from_checkpoint(ckpt_format.load_checkpoint(run_dir / "checkpoints" / "final.pt"))
    x = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(tv.eval()(x), ours.eval()(x), rtol=1e-5, atol=1e-5)


def test_benchmark_command_on_the_checkpoint(run_dir, tmp_path):
    proc = run_ssl(
        "benchmark", "knn", "--checkpoint", str(run_dir / "checkpoints" / "final.pt"), "--data", "digits",
        "--out", str(tmp_path / "bench"), "knn.k=20",
    )
    assert proc.returncode == 0, proc.stderr
    results = json.loads((tmp_path / "bench" / "results.json").read_text())
    assert results["data"]["image_size"] == 16
    assert 0 <= results["benchmarks"]["knn"]["top1"] <= 100 and "linear" not in results["benchmarks"]


def test_resume_after_completion_does_not_train_again(run_dir):
    proc = run_ssl("pretrain", "simclr", "--data", "digits", "--out", str(run_dir), "--resume", "--no-progress", *(s for s in SMALL if not s.startswith("benchmark.")))
    assert proc.returncode == 0, proc.stderr
    assert "pretrained 1 epochs" in proc.stdout


def test_recipes_and_env_commands():
    proc = run_ssl("recipes", "list")
    assert proc.returncode == 0 and any(line.startswith("simclr ") for line in proc.stdout.splitlines())
    proc = run_ssl("recipes", "show", "simclr")
    assert proc.returncode == 0 and "temperature:" in proc.stdout and "epochs:" in proc.stdout
    proc = run_ssl("env")
    assert proc.returncode == 0 and "torch" in proc.stdout


def test_extract_then_reload_and_clustering_suite(run_dir, tmp_path):
    import numpy as np
    import ssl_evaluation

    ckpt = str(run_dir / "checkpoints" / "final.pt")
    proc = run_ssl("extract", "--checkpoint", ckpt, "--data", "digits", "--out", str(tmp_path / "f"), "--layers", "res4,res5avg")
    assert proc.returncode == 0, proc.stderr
    test = ssl_evaluation.load_features(tmp_path / "f", "test", "res5avg")
    res4 = ssl_evaluation.load_features(tmp_path / "f", "train", "res4")
    assert test["features"].shape[1] == 512 and np.array_equal(test["inds"], np.arange(len(test["inds"])))
    assert res4["features"].ndim == 2 and len(res4["targets"]) > len(test["targets"])
    proc = run_ssl("extract", "--checkpoint", ckpt, "--data", "digits", "--out", str(tmp_path / "g"), "--layers", "res9")
    assert proc.returncode == 2 and "res9" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_ssl("benchmark", "clustering", "--checkpoint", ckpt, "--data", "digits")
    assert proc.returncode == 0, proc.stderr
    clustering = json.loads(proc.stdout)["benchmarks"]["clustering"]
    assert clustering["num_clusters"] == 10 and 0.0 <= clustering["nmi"] <= 1.0


def test_run_probes_the_recipes_probe_layer(tmp_path):
    """`ssl run jigsaw` probes res2 (JIGSAW.probe_layer), pooled, for the trunk and its random init."""
    out = tmp_path / "jigsaw"
    tiny = ["data.image_size=16", "data.batch_size=64", "data.limit=256", "train.epochs=1", "train.precision=fp32",
            "model.tile_dim=16", "views.crop_size=24", "views.patch_jitter=1", "loss.num_permutations=10",
            "benchmark.linear.epochs=2", "benchmark.knn.k=20", "benchmark.extraction.batch_size=256"]  # fmt: skip
    proc = run_ssl("run", "jigsaw", "--data", "digits", "--out", str(out), "--no-progress", *tiny)
    assert proc.returncode == 0, proc.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["pretrain"]["probed_features"] == "res2 (globally pooled)"
    res2_channels = 64 // 4  # ResNet-18's res2 at width 0.25 (the recipe's default)
    assert results["benchmarks"]["feature_dim"] == res2_channels
    assert results["random_init"]["feature_dim"] == res2_channels
    assert "| probed features | res2 (globally pooled) |" in (out / "report.md").read_text()
