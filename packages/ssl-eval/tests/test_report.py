"""results.json and report.md + loss_curve.png, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.image
import pytest
import torch

from ssl_evaluation import write_report, write_results

RESULTS = {
    "recipe": "simclr",
    "pretrain": {"minutes": 1.5, "epochs": 2, "final_loss": 4.25},
    "benchmarks": {"knn": {"top1": 71.25, "top5": 97.5}, "linear": {"top1": 75.0}},
    "random_init": {"knn": {"top1": 40.5, "top5": 88.0}, "linear": {"top1": 51.0}},
    "protocol": {"knn": {"k": 200, "temperature": 0.1}},
}


def test_results_json_round_trip(tmp_path: Path) -> None:
    results = {**RESULTS, "extra": {"tensor": torch.tensor(2.5), "vector": torch.arange(3)}}
    path = write_results(tmp_path / "out", results)
    assert path == tmp_path / "out" / "results.json"
    loaded = json.loads(path.read_text())
    assert loaded["benchmarks"]["knn"]["top1"] == 71.25
    assert loaded["extra"] == {"tensor": 2.5, "vector": [0, 1, 2]}
    assert sorted(p.name for p in path.parent.iterdir()) == ["results.json"]  # no temp files


def test_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    path = write_results(tmp_path, RESULTS)
    before = path.read_text()
    with pytest.raises(TypeError, match=r"results\.bad\.obj holds a object"):
        write_results(tmp_path, {"bad": {"obj": object()}})
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_report_tables_and_loss_curve(tmp_path: Path) -> None:
    losses = [5.0 - 0.1 * i for i in range(30)]
    path = write_report(tmp_path, RESULTS, losses)
    text = path.read_text()
    assert path.name == "report.md"
    # pretrained vs random init side by side, one row per metric path
    assert "| metric | pretrained | random init (BatchNorm statistics re-estimated) |" in text
    assert "| knn/top1 | 71.25 | 40.50 |" in text
    assert "| linear/top1 | 75.00 | 51.00 |" in text
    assert "| final_loss | 4.25 |" in text
    assert "| knn/temperature | 0.10 |" in text
    assert "![Training loss](loss_curve.png)" in text
    assert "![kNN top-1: pretrained vs random init vs pixels](comparison.png)" in text
    png = tmp_path / "loss_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 100 and image.shape[1] > 100
    assert sorted(p.name for p in tmp_path.iterdir()) == ["comparison.png", "loss_curve.png", "report.md"]


def test_report_without_random_init_or_losses(tmp_path: Path) -> None:
    results = {"benchmarks": {"knn": {"top1": 12.5}}}
    text = write_report(tmp_path, results, None).read_text()
    assert "| knn/top1 | 12.50 |" in text
    assert "random init" not in text
    assert "No loss history" in text
    assert not (tmp_path / "loss_curve.png").exists()


def test_recipe_table_shows_the_recipes_own_config_sections(tmp_path: Path) -> None:
    config = {"model": {"trunk": "resnet18"}, "optim": {"lr": 0.1}, "train": {"seed": 0}, "data": {"batch_size": 256, "image_size": 28},
              "clusterfit": {"checkpoint": "", "num_clusters": 0, "pixels_pca_dim": 256}}  # fmt: skip
    text = write_report(tmp_path, {**RESULTS, "recipe": "clusterfit", "config": config}).read_text()
    assert "| clusterfit | checkpoint=, num_clusters=0, pixels_pca_dim=256 |" in text
    assert "| model | trunk=resnet18 |" in text
    assert "| train |" not in text and "| data |" not in text
