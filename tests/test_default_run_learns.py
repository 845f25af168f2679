"""The plain `ssl run` (no recipe named: the README's first command) end to end on digits: it runs
the default recipe, ClusterFit from clusters of gradient histograms + pixels, and a short real run
must beat its random-init trunk on kNN (a regression that breaks the default's learning fails here).

Budget chosen by measurement (kNN k=200, T=0.1, the default protocol; pretrained minus the BETTER
of the two random-init variants, top-1 points on the 360 test images), 150 steps of the defaults
otherwise (batch 256, 23 clusters of the 1,437 training images), with the earlier pixel clusters:
seed 0 +13.06, seed 1 +18.33, seed 2 +14.72 (pretrained 90.56 / 91.11 / 93.33 %; standardised
pixels 94.72 %); with gradient histograms + pixels, seed 0: +18.06 (95.56 % against 77.50 %). The
test asks for 5 points at seed 0, the issue's margin for the README's first command on digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli_runner import ssl_in_process

MARGIN = 5.0


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "default"
    code, _, err = ssl_in_process("run", "--data", "digits", "--out", out, "--no-progress", "train.max_steps=150", "benchmark.linear.epochs=10")
    assert code == 0, err
    assert "clusterfit stage 1: k-means of standardised hog+pixels (" in err and "interpolated orientations" in err
    return out


def test_plain_ssl_run_trains_clusterfit_and_beats_random_init(run_dir: Path) -> None:
    results = json.loads((run_dir / "results.json").read_text())
    assert results["recipe"] == "clusterfit"
    pretrained = results["benchmarks"]["knn"]["top1"]
    random_init = max(results["random_init"]["knn"]["top1"], results["random_init_initial_bn"]["knn"]["top1"])
    assert pretrained - random_init >= MARGIN, (pretrained, random_init)
    report = (run_dir / "report.md").read_text()
    assert "| clusterfit | checkpoint=, num_clusters=0, features=hog+pixels, interpolate_orientation=True, pixels_pca_dim=256," in report
