"""ViRB image-level tasks on generated encodings, checked against scikit-learn and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from ssl_evaluation import HeadConfig
from ssl_evaluation.virb import image_task, motion_bins, pair_features


def blobs(n: int, classes: int, dim: int, seed: int, spread: float = 3.0):
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(classes, dim, generator=torch.Generator().manual_seed(99)) * spread
    y = torch.randint(0, classes, (n,), generator=gen)
    return centers[y] + torch.randn(n, dim, generator=gen), y


def test_classification_matches_logistic_regression_accuracy():
    train_x, train_y = blobs(300, 4, 8, seed=0, spread=1.0)
    test_x, test_y = blobs(200, 4, 8, seed=1, spread=1.0)
    cfg = [HeadConfig("adam", 1e-2, "constant")]
    res = image_task(train_x, train_y, test_x, test_y, configs=cfg, epochs=30,
                     return_predictions=True)
    mean, std = train_x.mean(0), train_x.std(0, unbiased=False)
    ref = LogisticRegression(C=1e4, max_iter=5000)
    ref.fit(((train_x - mean) / std).numpy(), train_y.numpy())
    ref_acc = 100.0 * ref.score(((test_x - mean) / std).numpy(), test_y.numpy())
    own_acc = 100.0 * float((res["predictions"] == test_y).float().mean())
    assert res["top1"] == pytest.approx(own_acc)
    assert abs(res["top1"] - ref_acc) <= 3.0
    assert res["top1"] > 60.0  # chance is 25 %
    assert res["protocol"]["configs"] == ["adam-lr0.01-constant"]
    assert res["protocol"]["selection"] == "none"


def test_default_protocol_is_virb_adam_1e4_batch_32():
    x, y = blobs(40, 2, 4, seed=2)
    res = image_task(x, y, x, y, epochs=2)
    assert res["protocol"]["configs"] == ["adam-lr0.0001-constant"]
    assert res["protocol"]["batch_size"] == 32


def test_grid_picks_best_validation_config():
    # Two correlated features whose difference is the label: the early-gradient direction (class
    # centroids, where a tiny learning rate stays) is poor, the converged head is near perfect.
    gen = torch.Generator().manual_seed(3)
    y = torch.randint(0, 2, (400,), generator=gen)
    shared = 3.0 * torch.randn(400, generator=gen)
    x = torch.stack([shared + y.float(), shared + 0.05 * torch.randn(400, generator=gen)], 1)
    grid = [HeadConfig("sgd", 1e-5, "constant", momentum=0.0), HeadConfig("adam", 5e-2, "constant")]
    res = image_task(x[:300], y[:300], x[300:], y[300:], configs=grid, epochs=30)
    val = res["val_top1"]
    assert list(val) == [cfg.name for cfg in grid]
    assert val["adam-lr0.05-constant"] > val["sgd-lr1e-05-constant"] + 15.0
    assert res["best_config"] == "adam-lr0.05-constant"
    assert res["top1"] > 90.0


def test_counting_reports_count_errors_of_predicted_counts():
    gen = torch.Generator().manual_seed(5)
    counts = torch.randint(0, 6, (400,), generator=gen)
    # Encodings where the count is readable only approximately: noisy features.
    x = torch.stack([counts.float(), counts.float() ** 2 / 5], 1)
    x = x + 0.4 * torch.randn(400, 2, generator=gen)
    x = torch.cat([x, torch.randn(400, 3, generator=gen)], 1)
    res = image_task(x[:300], counts[:300], x[300:], counts[300:], kind="counting",
                     configs=[HeadConfig("adam", 5e-2, "constant")], epochs=40,
                     return_predictions=True)
    pred = res["predictions"].numpy()
    true = counts[300:].numpy()
    assert res["count_mae"] == pytest.approx(np.abs(pred - true).mean())
    assert res["count_rmse"] == pytest.approx(np.sqrt(((pred - true) ** 2).mean()))
    assert res["top1"] == pytest.approx(100.0 * (pred == true).mean())
    assert res["count_mae"] < 0.5 and res["top1"] > 50.0  # chance: 1/6, mean error ~2


def test_egomotion_uses_both_frames():
    gen = torch.Generator().manual_seed(6)
    n, d = 300, 6
    motion = torch.randint(0, 3, (n,), generator=gen)
    shifts = torch.tensor([[-2.0] + [0.0] * (d - 1), [0.0] * d, [2.0] + [0.0] * (d - 1)])
    first = torch.randn(n, d, generator=gen) * 2.0
    second = first + shifts[motion] + 0.3 * torch.randn(n, d, generator=gen)
    cfg = [HeadConfig("adam", 5e-2, "constant")]
    pairs = torch.stack([first, second], 1)  # [N, 2, D]
    res = image_task(pairs[:200], motion[:200], pairs[200:], motion[200:], kind="egomotion",
                     configs=cfg, epochs=100)
    as_tuple = image_task((first[:200], second[:200]), motion[:200], (first[200:], second[200:]),
                          motion[200:], kind="egomotion", configs=cfg, epochs=100)
    one_frame = image_task(second[:200], motion[:200], second[200:], motion[200:], configs=cfg,
                           epochs=100)
    assert res["top1"] == as_tuple["top1"]
    assert res["top1"] > 90.0
    assert one_frame["top1"] < 70.0  # the motion is in the difference of the frames
    assert torch.equal(pair_features(first, second)[:, d:], second)


def test_motion_bins_match_numpy_digitize():
    values = torch.tensor([-30.0, -15.0, -14.9, 0.0, 15.0, 20.0])
    edges = (-15.0, 15.0)
    assert motion_bins(values, edges).tolist() == np.digitize(values.numpy(), edges).tolist()
    with pytest.raises(ValueError, match="increasing"):
        motion_bins(values, (1.0, 1.0))


def regression_data(n: int, seed: int, outputs: int = 2):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=gen) * torch.tensor([1.0, 2.0, 0.5, 3.0, 1.0]) + 1.0
    w = torch.randn(5, outputs, generator=torch.Generator().manual_seed(7))
    y = x @ w + 0.1 * torch.randn(n, outputs, generator=gen) + 4.0
    return x, y


def test_ridge_regression_matches_sklearn_ridge_and_metrics():
    train_x, train_y = regression_data(80, 8)
    test_x, test_y = regression_data(40, 9)
    res = image_task(train_x, train_y, test_x, test_y, kind="regression", alpha=3.0,
                     return_predictions=True)
    tx, sx = train_x.double().numpy(), test_x.double().numpy()
    mean, std = tx.mean(0), tx.std(0)
    ref = Ridge(alpha=3.0).fit((tx - mean) / std, train_y.double().numpy())
    want = ref.predict((sx - mean) / std)
    np.testing.assert_allclose(res["predictions"].numpy(), want, rtol=1e-6, atol=1e-8)
    ty = test_y.double().numpy()
    assert res["mse"] == pytest.approx(mean_squared_error(ty, want))
    assert res["rmse"] == pytest.approx(np.sqrt(mean_squared_error(ty, want)))
    assert res["mae"] == pytest.approx(mean_absolute_error(ty, want))
    assert res["r2"] == pytest.approx(r2_score(ty, want))
    assert res["protocol"]["alpha"] == 3.0


def test_adam_regression_approaches_least_squares():
    train_x, train_y = regression_data(200, 10, outputs=1)
    test_x, test_y = regression_data(60, 11, outputs=1)
    res = image_task(train_x, train_y[:, 0], test_x, test_y[:, 0], kind="regression",
                     solver="adam", lr=3e-2, epochs=60, return_predictions=True)
    ref = LinearRegression().fit(train_x.numpy(), train_y[:, 0].numpy()).predict(test_x.numpy())
    np.testing.assert_allclose(res["predictions"][:, 0].numpy(), ref, atol=0.1)
    assert res["r2"] == pytest.approx(r2_score(test_y[:, 0].numpy(), ref), abs=0.01)


def test_image_task_rejects_bad_input():
    x, y = blobs(20, 2, 3, seed=0)
    with pytest.raises(ValueError, match="same length"):
        image_task(x, y[:10], x, y)
    with pytest.raises(ValueError, match="kind"):
        image_task(x, y, x, y, kind="detection")
    with pytest.raises(ValueError, match=r"\[N, 2, D\]"):
        image_task(x, y, x, y, kind="egomotion")
    with pytest.raises(ValueError, match="empty"):
        image_task(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match="columns"):
        image_task(x, y, x[:, :2], y)
    with pytest.raises(ValueError, match="same length"):
        image_task(x, y.float()[:5], x, y.float(), kind="regression")
