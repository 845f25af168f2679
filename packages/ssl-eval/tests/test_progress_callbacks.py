"""Every long loop of ssl-evaluation reports ``progress(stage, done, total)``: each stage starts at
0, never goes back, ends at its total, and asking for progress does not change the numbers."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import ssl_evaluation
from ssl_evaluation import virb
from ssl_evaluation.knn import knn_search
from ssl_evaluation.progress import Ticker, tracked


class Recorder:
    """A progress callback that keeps every call, per stage."""

    def __init__(self) -> None:
        self.calls: dict[str, list[tuple[int, int]]] = defaultdict(list)

    def __call__(self, stage: str, done: int, total: int) -> None:
        self.calls[stage].append((done, total))

    def check(self, stage: str, total: int) -> None:
        """``stage`` went 0 -> total without going back, with one fixed total."""
        seen = self.calls[stage]
        assert seen, f"no progress for {stage!r}; stages: {sorted(self.calls)}"
        dones = [d for d, _ in seen]
        assert {t for _, t in seen} == {total}
        assert dones[0] == 0 and dones[-1] == total
        assert all(b >= a for a, b in zip(dones, dones[1:]))


def blobs(n: int, d: int = 8, classes: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    centres = 3 * torch.randn(classes, d, generator=g)
    return centres[y] + torch.randn(n, d, generator=g), y


def test_ticker_and_tracked() -> None:
    rec = Recorder()
    ticker = Ticker(rec, "a", 5)
    for _ in range(7):
        ticker.advance()
    assert rec.calls["a"][0] == (0, 5) and rec.calls["a"][-1] == (5, 5)  # capped at the total
    unknown = Ticker(rec, "b", 0)
    unknown.advance(3)
    assert rec.calls["b"] == [(0, 0), (3, 0)]  # total 0: unknown, not capped
    assert list(tracked([[1, 2], [3]], "c", 3, rec, size_of=len)) == [[1, 2], [3]]
    assert rec.calls["c"] == [(0, 3), (2, 3), (3, 3)]
    assert list(tracked(range(3), "d", 3, None)) == [0, 1, 2]  # None: silent


@pytest.mark.parametrize("block_cols", [1 << 17, 37])  # one train block; many, the last one short
def test_knn_search_in_bounded_blocks_matches_numpy(monkeypatch: pytest.MonkeyPatch, block_cols: int) -> None:
    train, _ = blobs(300)
    test, _ = blobs(50, seed=1)
    # chunks of 7 test rows against blocks of train rows: the running top-k across blocks
    monkeypatch.setattr("ssl_evaluation.knn._MIN_ROWS", 7)
    monkeypatch.setattr("ssl_evaluation.knn._MAX_SIMILARITIES", 7)
    monkeypatch.setattr("ssl_evaluation.knn._BLOCK_COLS", block_cols)
    rec = Recorder()
    sims, ids = knn_search(train, test, 5, progress=rec)
    a = train.numpy() / np.linalg.norm(train.numpy(), axis=1, keepdims=True)
    b = test.numpy() / np.linalg.norm(test.numpy(), axis=1, keepdims=True)
    full = b @ a.T
    expected = -np.sort(-full, axis=1)[:, :5]
    np.testing.assert_allclose(sims.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(full, ids.numpy(), axis=1), expected, atol=1e-5)  # ties: any order
    assert all(len(set(row)) == 5 for row in ids.tolist())
    rec.check("kNN search", 50)
    assert len(rec.calls["kNN search"]) == 1 + 8  # ceil(50 / 7) chunks


def test_probes_report_progress_and_keep_their_numbers() -> None:
    train_x, train_y = blobs(120)
    test_x, test_y = blobs(30, seed=1)
    rec = Recorder()
    knn = ssl_evaluation.knn_classify(train_x, train_y, test_x, test_y, k=10, progress=rec)
    assert knn == ssl_evaluation.knn_classify(train_x, train_y, test_x, test_y, k=10)
    rec.check("kNN search", 30)
    lin = ssl_evaluation.linear_probe(train_x, train_y, test_x, test_y, epochs=3, batch_size=50, progress=rec)
    plain = ssl_evaluation.linear_probe(train_x, train_y, test_x, test_y, epochs=3, batch_size=50)
    assert lin["top1"] == plain["top1"] and lin["train_loss"] == plain["train_loss"]
    rec.check("linear probe", 3 * 3)
    grid = ssl_evaluation.linear_grid_search(train_x, train_y, test_x, test_y, epochs=2, batch_size=64, progress=rec)
    rec.check("linear grid", 2 * 2)  # 108 fit rows after the 10 % validation hold-out
    assert grid == {**ssl_evaluation.linear_grid_search(train_x, train_y, test_x, test_y, epochs=2, batch_size=64),
                    "seconds": grid["seconds"]}
    layers = {"a": train_x, "b": train_x[:, :4]}
    tests = {"a": test_x, "b": test_x[:, :4]}
    multi = ssl_evaluation.multi_layer_linear_eval(layers, train_y, tests, test_y, epochs=2, batch_size=32, progress=rec)
    rec.check("multi-layer linear", 2 * 4)
    assert multi == ssl_evaluation.multi_layer_linear_eval(layers, train_y, tests, test_y, epochs=2, batch_size=32)


def test_kmeans_one_iteration_per_call_equals_one_faiss_run() -> None:
    pytest.importorskip("faiss")
    # more rows than 256 per centroid: faiss subsamples, with the same seed on every call
    x, _ = blobs(6000, d=16, classes=12)
    ids, centroids = ssl_evaluation.kmeans_assign(x, 12, n_iter=15, seed=4)
    rec = Recorder()
    ids_p, centroids_p = ssl_evaluation.kmeans_assign(x, 12, n_iter=15, seed=4, progress=rec)
    assert torch.equal(ids, ids_p) and torch.equal(centroids, centroids_p)
    rec.check("k-means", 15)
    redo = Recorder()
    ssl_evaluation.kmeans_assign(x, 12, n_iter=3, seed=4, nredo=2, progress=redo)
    redo.check("k-means", 1)


def test_svms_report_classes_and_draws() -> None:
    pytest.importorskip("sklearn")
    train_x, train_y = blobs(90)
    test_x, test_y = blobs(30, seed=1)
    rec = Recorder()
    res = ssl_evaluation.voc07_svm(train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy(), costs=[0.1],
                                   num_workers=2, progress=rec)
    plain = ssl_evaluation.voc07_svm(train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy(), costs=[0.1])
    assert res["per_class_ap"] == plain["per_class_ap"]  # results stay in class order
    rec.check("SVMs (classes)", 3)
    ssl_evaluation.low_shot_svm(train_x.numpy(), train_y.numpy(), test_x.numpy(), test_y.numpy(), ks=[1, 2],
                                num_samples=2, costs=[0.1, 1.0], dataset="places205", progress=rec)
    rec.check("low-shot SVMs", 2 * 2 * 2)


def tiny_trunk() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_finetune_reports_steps_and_test_images() -> None:
    g = torch.Generator().manual_seed(0)
    data = TensorDataset(torch.randn(20, 3, 8, 8, generator=g), torch.arange(20) % 2)
    rec = Recorder()
    ssl_evaluation.finetune(tiny_trunk(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=8), 2,
                            epochs=2, progress=rec)
    rec.check("fine-tuning", 2 * 3)
    rec.check("fine-tuning (test)", 20)


def test_retrieval_descriptors_report_images(tmp_path) -> None:
    from PIL import Image

    from ssl_evaluation.retrieval.search import describe_and_rank

    paths = []
    for i in range(4):
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(np.full((12, 12, 3), 60 * i, dtype=np.uint8)).save(paths[-1])
    conv = nn.Conv2d(3, 4, 3)
    rec = Recorder()
    ranks = describe_and_rank(conv, paths[:1], paths, whitening_paths=paths, num_pca=2, resize_max=0, progress=rec)
    assert ranks.shape == (1, 4)
    rec.check("descriptors (queries)", 1)
    rec.check("descriptors (database)", 4)
    rec.check("descriptors (whitening)", 4)


def test_virb_tasks_report_training_and_scoring() -> None:
    x, y = blobs(40)
    rec = Recorder()
    virb.image_task(x, y, x, y, epochs=2, batch_size=16, progress=rec)
    rec.check("image head", 2 * 3)
    virb.image_task(x, y.float(), x, y.float(), kind="regression", solver="adam", epochs=2, batch_size=16, progress=rec)
    rec.check("regression head", 2 * 3)
    clips = torch.randn(6, 3, 8)
    virb.video_task(clips, torch.arange(6) % 2, clips, torch.arange(6) % 2, hidden=4, epochs=2, batch_size=4,
                    progress=rec)
    rec.check("video LSTM", 2 * 2)


class TwoMaps(nn.Module):
    """``conv1 [B, 4, H, W]`` and ``res2 [B, 4, H/2, W/2]``: the trunk interface pixel tasks need."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.res2 = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def feature_names(self) -> list[str]:
        return ["conv1", "res2"]

    def forward_features(self, x: torch.Tensor, names: list[str]) -> dict[str, torch.Tensor]:
        maps = {"conv1": torch.relu(self.conv1(x))}
        maps["res2"] = torch.relu(self.res2(maps["conv1"]))
        return {n: maps[n] for n in names}


def test_pixel_tasks_report_maps_training_and_scoring() -> None:
    g = torch.Generator().manual_seed(0)
    images = torch.randn(6, 3, 8, 8, generator=g)
    masks = (images[:, 0] > 0).long()
    rec = Recorder()
    layers = ["conv1", "res2"]
    virb.segmentation_task(TwoMaps(), images, masks, images, masks, 2, layers, epochs=2, batch_size=4, width=4,
                           progress=rec)
    rec.check("trunk maps", 6)
    rec.check("segmentation decoder", 2 * 2)
    rec.check("decoder (test)", 6)
    fine = Recorder()
    virb.pixel_finetune_task(TwoMaps(), images, masks, images, masks, "segmentation", 2, layers, epochs=2,
                             batch_size=4, width=4, progress=fine)
    fine.check("segmentation fine-tuning", 2 * 2)
    fine.check("decoder (test)", 6)
    flow = Recorder()
    target = torch.zeros(6, 8, 8, 2)
    virb.flow_task(TwoMaps(), images, images, target, images, images, target, layers, epochs=2, batch_size=4, width=4,
                   progress=flow)
    flow.check("flow decoder", 2 * 2)
    assert len(flow.calls["trunk maps"]) == 4 * (1 + 2)  # four frame sets of 6, batches of 4


def test_batchnorm_reestimation_reports_batches_and_keeps_its_statistics() -> None:
    from ssl_evaluation.suites import reestimate_batchnorm

    torch.manual_seed(0)
    batches = [(torch.randn(8, 3, 6, 6),) for _ in range(4)]
    models = []
    for progress in (None, Recorder()):
        torch.manual_seed(1)
        model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
        assert reestimate_batchnorm(model, iter(batches), 3, progress) == 3
        models.append(model)
    progress.check("BatchNorm statistics", 3)  # an iterator: the total asked for
    torch.testing.assert_close(models[0][1].running_var, models[1][1].running_var, rtol=0, atol=0)
    short = Recorder()
    reestimate_batchnorm(models[1], batches[:2], 5, short)
    short.check("BatchNorm statistics", 2)  # a list shorter than num_batches: its length


def test_transfer_head_reports_its_training() -> None:
    x, y = blobs(40)
    rec = Recorder()
    head = virb.train_image_head(x, y, epochs=3, batch_size=16, progress=rec)
    rec.check("image head", 3 * 3)
    quiet = virb.train_image_head(x, y, epochs=3, batch_size=16)
    torch.testing.assert_close(head.weight, quiet.weight, rtol=0, atol=0)
