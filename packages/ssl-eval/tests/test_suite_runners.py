"""The probe runner and ``ssl run``'s benchmark half, on a real checkpoint and real digits,
checked against features computed image by image and a NumPy kNN written from the definition."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import ssl_data
import ssl_models
from ssl_evaluation.suites import (
    ProbeSuite,
    benchmark_pretrained,
    load_protocol,
    random_init_probes,
    reestimate_batchnorm,
    run_probes,
)
from ssl_evaluation.suites.probes import open_probe_data
from ssl_models import checkpoint as ckpt

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)


def _trunk() -> nn.Module:
    torch.manual_seed(0)
    return ssl_models.build_trunk("resnet18", width_multiplier=0.125, small_input=True).eval()


def _features_one_by_one(trunk: nn.Module, images: torch.Tensor) -> np.ndarray:
    rows = []
    with torch.no_grad():
        for image in images:
            x = np.repeat(image.numpy()[None], 3, axis=0).astype(np.float32) / 255.0 if image.ndim == 2 else image.numpy() / 255.0
            x = (x - MEAN) / STD
            rows.append(trunk(torch.from_numpy(x.astype(np.float32))[None])[0].numpy())
    return np.stack(rows)


def _numpy_knn_top1(train_x, train_y, test_x, test_y, k: int, t: float) -> float:
    a = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    b = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
    hits = 0
    for row, label in zip(b @ a.T, test_y):
        top = np.argsort(-row, kind="stable")[:k]
        votes = np.zeros(10)
        for j in top:
            votes[train_y[j]] += np.exp(row[j] / t)
        hits += int(np.argmax(votes) == label)
    return 100.0 * hits / len(test_y)


def test_run_probes_on_a_checkpoint_matches_a_per_image_reference(tmp_path: Path) -> None:
    trunk = _trunk()
    path = ckpt.save_checkpoint(ckpt.model_payload(trunk), tmp_path / "final.pt")
    suite = load_protocol(ProbeSuite(), ["knn.k=20", "extraction.image_size=8", "extraction.batch_size=100"])
    seen: list[tuple[str, int, int]] = []
    result = run_probes(("knn",), path, "digits", suite, progress=lambda *a: seen.append(a))
    assert set(result) == {"metrics", "protocol", "data", "checkpoint", "seconds"}
    assert result["checkpoint"] == str(path)
    assert result["protocol"]["knn"] == {"k": 20, "temperature": 0.1}
    assert result["data"]["train_images"] == 1437 and result["data"]["test_images"] == 360
    assert result["data"]["invalid_images"]["train"]["count"] == 0
    assert ("features (test)", 360, 360) in seen
    train_images, train_y = ssl_data.load_digits("train")
    test_images, test_y = ssl_data.load_digits("test")
    expected = _numpy_knn_top1(
        _features_one_by_one(trunk, train_images), train_y.numpy(), _features_one_by_one(trunk, test_images),
        test_y.numpy(), k=20, t=0.1,
    )  # fmt: skip
    assert result["metrics"]["knn"]["top1"] == pytest.approx(expected, abs=100 / 360 + 1e-6)


def test_reestimated_batchnorm_is_the_mean_over_the_batches() -> None:
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    model = nn.Sequential(conv, bn)
    batches = [(torch.randn(8, 3, 6, 6),) for _ in range(4)]
    used = reestimate_batchnorm(model, iter(batches), num_batches=3)
    assert used == 3 and not model.training
    with torch.no_grad():
        outs = torch.cat([conv(b[0]) for b in batches[:3]])
    torch.testing.assert_close(bn.running_mean, outs.mean(dim=(0, 2, 3)), atol=1e-5, rtol=1e-5)


def test_benchmark_pretrained_writes_results_and_report(tmp_path: Path) -> None:
    suite = load_protocol(ProbeSuite(), ["linear.epochs=2", "extraction.image_size=8", "extraction.limit=300", "bn_batches=2"])
    results = benchmark_pretrained(
        tmp_path / "run", "simclr", {"minutes": 0.1, "epochs": 1}, _trunk(), "digits", 8, suite,
        random_trunk=_trunk, loss_history=[3.0, 2.5, 2.0],
    )  # fmt: skip
    on_disk = json.loads((tmp_path / "run" / "results.json").read_text())
    assert on_disk["benchmarks"]["knn"]["top1"] == pytest.approx(results["benchmarks"]["knn"]["top1"])
    assert set(on_disk["random_init"]) >= {"knn", "linear"}
    assert on_disk["protocol"]["linear"]["epochs"] == 2
    assert "2 batches" in on_disk["protocol"]["random_init"]
    assert on_disk["data"]["train_images"] == 300
    assert (tmp_path / "run" / "report.md").is_file()


def test_random_init_probes_measure_initial_then_reestimated_statistics() -> None:
    suite = load_protocol(ProbeSuite(), ["knn.k=20", "extraction.image_size=8", "extraction.batch_size=100", "bn_batches=2"])
    train, test = open_probe_data("digits", 8, suite)
    trunk = _trunk()
    untouched = copy.deepcopy(trunk)
    result = random_init_probes(trunk, train, test, suite, ("knn",))
    assert set(result) == {"initial_bn", "reestimated", "bn_batches"} and result["bn_batches"] == 2
    train_images, train_y = ssl_data.load_digits("train")
    test_images, test_y = ssl_data.load_digits("test")

    def features(model: nn.Module, images: torch.Tensor) -> np.ndarray:  # all images in one forward pass
        x = (np.repeat(images.numpy()[:, None], 3, axis=1).astype(np.float32) / 255.0 - MEAN) / STD
        with torch.no_grad():
            return model.eval()(torch.from_numpy(x.astype(np.float32))).numpy()

    def reference(model: nn.Module) -> float:
        return _numpy_knn_top1(features(model, train_images), train_y.numpy(), features(model, test_images),
                               test_y.numpy(), k=20, t=0.1)  # fmt: skip

    # first the trunk as given (running mean 0 / variance 1), then with statistics of 2 batches of 100 images
    assert result["initial_bn"]["knn"]["top1"] == pytest.approx(reference(untouched), abs=100 / 360 + 1e-6)
    bn = next(m for m in trunk.modules() if isinstance(m, nn.BatchNorm2d))
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))
    assert result["reestimated"]["knn"]["top1"] == pytest.approx(reference(trunk), abs=100 / 360 + 1e-6)
    assert result["reestimated"]["knn"]["top1"] != result["initial_bn"]["knn"]["top1"]
