"""Full fine-tuning, semi-supervised subsets and low-shot transfer on a tiny synthetic dataset."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from ssl_evaluation.finetune import finetune
from ssl_evaluation.low_shot_transfer import LOW_SHOT_TASKS, low_shot_transfer
from ssl_evaluation.semi_supervised import semi_supervised_finetune


def bands(n: int, seed: int) -> TensorDataset:
    """3 classes: which horizontal band of a noisy 12x12 image is bright."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = 0.3 * torch.randn(n, 3, 12, 12, generator=g)
    for i in range(n):
        x[i, :, 4 * int(y[i]) : 4 * int(y[i]) + 4] += 1.5
    return TensorDataset(x, y)


def tiny_trunk() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d((3, 1)), nn.Flatten()
    )


def reference_top1(model: nn.Module, ds: TensorDataset) -> float:
    model.eval()
    right = 0
    with torch.no_grad():
        for i in range(len(ds)):
            x, y = ds[i]
            right += int(model(x[None]).argmax(1).item() == int(y))
    return 100.0 * right / len(ds)


def test_full_finetune_learns_and_reports_true_accuracy():
    torch.manual_seed(0)
    train, test = bands(96, 0), bands(30, 1)
    trunk = tiny_trunk()
    before = trunk[0].weight.detach().clone()
    res = finetune(
        trunk, DataLoader(train, batch_size=16, shuffle=True), DataLoader(test, batch_size=7), 3,
        epochs=4, lr=0.1, head_lr=0.5, schedule="step", milestones=[3],
    )
    assert res.top1 == pytest.approx(reference_top1(res.model, test))
    assert res.top1 >= 90.0  # separable bands: fine-tuning must learn them
    assert res.top5 == pytest.approx(100.0)  # 3 classes: always inside the top 3
    assert not torch.equal(trunk[0].weight, before)  # the trunk itself was trained
    assert res.num_train == 96 and len(res.loss_history) == 4 * 6
    assert res.as_dict()["protocol"]["milestones"] == [3]


def test_finetune_bad_inputs():
    train = DataLoader(bands(6, 0), batch_size=3)
    with pytest.raises(ValueError, match="training loader is empty"):
        finetune(tiny_trunk(), [], train, 3)
    with pytest.raises(ValueError, match="pooled features"):
        finetune(nn.Conv2d(3, 4, 1), train, train, 3)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        finetune(tiny_trunk(), train, train, 2, epochs=1)
    with pytest.raises(ValueError, match="test loader is empty"):
        finetune(tiny_trunk(), train, [], 3, epochs=1)
    with pytest.raises(ValueError, match="schedule"):
        finetune(tiny_trunk(), train, train, 3, schedule="poly")  # type: ignore[arg-type]


def test_subsets_follow_ssl_data_s_data_limit_rule():
    """Semi-supervised and low-shot subsets come from ssl_data's one DATA_LIMIT rule: the same
    number from every class (sizes differ by at most one), a short class gives all it has."""
    labels = torch.tensor([0] * 200 + [1] * 50 + [2] * 7)
    train = TensorDataset(torch.randn(len(labels), 3, 12, 12, generator=torch.Generator().manual_seed(0)), labels)
    test = DataLoader(bands(6, 1), batch_size=6)
    res = semi_supervised_finetune(tiny_trunk(), train, labels, test, 3, fraction=0.1, epochs=1, lr=0.1)
    # round(0.1 * 257) = 26 = 3 * 8 + 2: classes 0 and 1 get 9, class 2 has only 7
    assert res.protocol["subset_size"] == res.num_train == 9 + 9 + 7
    res = low_shot_transfer(tiny_trunk(), train, labels, test, 3, data_limit=30, balanced=True, epochs=1, lr=0.1)
    assert res.protocol["subset_size"] == 10 + 10 + 7
    res = low_shot_transfer(tiny_trunk(), train, labels, test, 3, data_limit=1000, epochs=1, lr=0.1)
    assert res.protocol["subset_size"] == 257  # more than there are: all of them
    with pytest.raises(ValueError, match="fraction"):
        semi_supervised_finetune(tiny_trunk(), train, labels, test, 3, fraction=0.0)
    with pytest.raises(ValueError, match="keeps no sample"):
        low_shot_transfer(tiny_trunk(), train, labels, test, 3, data_limit=0)


def test_semi_supervised_end_to_end():
    torch.manual_seed(0)
    train, test = bands(300, 0), bands(30, 1)
    res = semi_supervised_finetune(
        tiny_trunk(), train, train.tensors[1], DataLoader(test, batch_size=10), 3,
        fraction=0.1, seed=0, batch_size=10, epochs=3, lr=0.1,
    )
    assert res.num_train == 30 and res.protocol["subset_size"] == 30 and res.protocol["fraction"] == 0.1
    assert res.top1 == pytest.approx(reference_top1(res.model, test))
    with pytest.raises(ValueError, match="train_labels has 5 entries"):
        semi_supervised_finetune(tiny_trunk(), train, train.tensors[1][:5], DataLoader(test), 3)


def test_low_shot_transfer_end_to_end_and_task_table():
    assert len(LOW_SHOT_TASKS) == 16
    assert LOW_SHOT_TASKS["small_norb_elevation"].num_classes == 9
    assert {t.test_split for t in LOW_SHOT_TASKS.values()} == {"test", "val"}
    torch.manual_seed(0)
    train, test = bands(120, 0), bands(30, 1)
    res = low_shot_transfer(
        tiny_trunk(), train, train.tensors[1], DataLoader(test, batch_size=10), 3,
        data_limit=45, batch_size=15, epochs=3, lr=0.1,
    )
    assert res.num_train == 45 and res.protocol["data_limit"] == 45
    assert res.top1 == pytest.approx(reference_top1(res.model, test))
    with pytest.raises(ValueError, match="has 10 classes"):
        low_shot_transfer(tiny_trunk(), train, train.tensors[1], DataLoader(test), 3, task="svhn")
    with pytest.raises(ValueError, match="unknown task"):
        low_shot_transfer(tiny_trunk(), train, train.tensors[1], DataLoader(test), 3, task="mnist")


def test_part_b_names_are_exported_from_the_package():
    import ssl_evaluation

    for name in ("finetune", "low_shot_transfer", "evaluate_ood", "build_detector", "evaluate_revisited", "retrieval"):
        assert name in ssl_evaluation.__all__
        assert getattr(ssl_evaluation, name) is not None
    from ssl_evaluation import finetune as fn
    from ssl_evaluation.detection import build_detector

    assert callable(fn) and ssl_evaluation.build_detector is build_detector
    with pytest.raises(AttributeError, match="no_such_name"):
        ssl_evaluation.no_such_name  # noqa: B018
