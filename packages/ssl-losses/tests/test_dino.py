"""DINOLoss against a NumPy per-sample reference, center EMA, warm-up helper, 2 gloo processes."""

import numpy as np
import pytest
import torch
from dist_harness import WORLD_SIZE, concat_crop_major, run_on_ranks

from ssl_losses import DINOLoss, dino_teacher_temperature, distributed


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def reference_dino_steps(
    steps: list[tuple[np.ndarray, np.ndarray, float]],
    crops: int,
    crops_for_teacher: list[int],
    student_temp: float,
    ema_center: float,
) -> tuple[list[float], np.ndarray]:
    """Per sample: H(softmax((t - c)/tt), softmax(s/st)) over pairs (teacher crop, other student crop)."""
    center = np.zeros(steps[0][0].shape[1])
    losses = []
    for student, teacher, teacher_temp in steps:
        batch = student.shape[0] // crops
        pair_losses = []
        for t, tcrop in enumerate(crops_for_teacher):
            for v in range(crops):
                if v == tcrop:
                    continue
                per_sample = []
                for i in range(batch):
                    p = _softmax((teacher[t * batch + i] - center) / teacher_temp)
                    logq = np.log(_softmax(student[v * batch + i] / student_temp))
                    per_sample.append(-(p * logq).sum())
                pair_losses.append(np.mean(per_sample))
        losses.append(float(np.mean(pair_losses)))
        center = ema_center * center + (1 - ema_center) * teacher.mean(axis=0)
    return losses, center


@pytest.mark.parametrize(
    ("crops", "batch", "dim", "teacher_crops", "student_temp", "ema"),
    [(2, 4, 8, [0, 1], 0.1, 0.9), (6, 3, 16, [0, 1], 0.2, 0.5), (4, 2, 5, [1, 3], 0.1, 0.0)],
)
def test_matches_numpy_reference_over_steps(
    crops: int, batch: int, dim: int, teacher_crops: list[int], student_temp: float, ema: float
) -> None:
    g = torch.Generator().manual_seed(crops * dim)
    loss_fn = DINOLoss(student_temp=student_temp, crops_for_teacher=teacher_crops,
                       ema_center=ema, output_dim=dim, num_crops=crops)
    steps = [(torch.randn(crops * batch, dim, generator=g) * 3,
              torch.randn(len(teacher_crops) * batch, dim, generator=g) * 3, tt)
             for tt in (0.04, 0.07, 0.055)]
    losses = [loss_fn(s, t, tt).item() for s, t, tt in steps]
    ref_losses, ref_center = reference_dino_steps(
        [(s.double().numpy(), t.double().numpy(), tt) for s, t, tt in steps],
        crops, teacher_crops, student_temp, ema)
    np.testing.assert_allclose(losses, ref_losses, rtol=1e-5)
    np.testing.assert_allclose(loss_fn.center.numpy()[0], ref_center, rtol=1e-5, atol=1e-6)


def test_defaults_state_dict_and_eval_mode() -> None:
    loss_fn = DINOLoss()
    assert (loss_fn.momentum, loss_fn.student_temp, loss_fn.ema_center) == (0.996, 0.1, 0.9)
    assert (loss_fn.teacher_temp_min, loss_fn.teacher_temp_max) == (0.04, 0.07)
    assert loss_fn.teacher_temp_warmup_iters == 37500 and loss_fn.crops_for_teacher == [0, 1]
    assert loss_fn.output_dim == 65536 and loss_fn.normalize_last_layer is True
    assert loss_fn.center.shape == (1, 65536)
    a = DINOLoss(output_dim=6)
    a(torch.randn(4, 6), torch.randn(4, 6), 0.04)
    assert set(a.state_dict()) == {"center"}
    b = DINOLoss(output_dim=6)
    b.load_state_dict(a.state_dict())
    assert torch.equal(a.center, b.center) and a.center.abs().sum() > 0
    b.eval()
    before = b.center.clone()
    b(torch.randn(4, 6), torch.randn(4, 6), 0.04)
    assert torch.equal(b.center, before)


@pytest.mark.parametrize(("tmin", "tmax", "warmup"), [(0.04, 0.07, 37500), (0.04, 0.07, 10), (0.02, 0.05, 3)])
def test_teacher_temperature_warmup_matches_linspace(tmin: float, tmax: float, warmup: int) -> None:
    schedule = np.concatenate([np.linspace(tmin, tmax, warmup), np.full(5, tmax)])
    for it in [0, 1, warmup // 2, warmup - 1, warmup, warmup + 4]:
        assert dino_teacher_temperature(it, tmin, tmax, warmup) == pytest.approx(schedule[it])
    loss_fn = DINOLoss(teacher_temp_min=tmin, teacher_temp_max=tmax, teacher_temp_warmup_iters=warmup,
                       output_dim=4)
    assert loss_fn.teacher_temperature(warmup // 2) == pytest.approx(schedule[warmup // 2])
    with pytest.raises(ValueError, match="iteration"):
        dino_teacher_temperature(-1)


def _rank_dino(student: torch.Tensor, teacher: torch.Tensor) -> dict:
    r = distributed.rank()
    loss_fn = DINOLoss(output_dim=student.shape[-1], num_crops=4)
    losses, grads = [], []
    for step in range(student.shape[0]):
        s = student[step, r].clone().requires_grad_(True)
        loss = loss_fn(s, teacher[step, r], 0.04 + 0.01 * step)
        loss.backward()
        losses.append(loss.detach())
        grads.append(s.grad)
    return {"losses": torch.stack(losses), "grads": torch.stack(grads), "center": loss_fn.center}


def test_two_processes_equal_one_process_and_centers_match() -> None:
    steps, batch, dim = 3, 3, 8
    g = torch.Generator().manual_seed(2)
    student = torch.randn(steps, WORLD_SIZE, 4 * batch, dim, generator=g)
    teacher = torch.randn(steps, WORLD_SIZE, 2 * batch, dim, generator=g)
    res = run_on_ranks(_rank_dino, student, teacher)
    single = DINOLoss(output_dim=dim, num_crops=4)
    for step in range(steps):
        s = concat_crop_major(student[step], 4).clone().requires_grad_(True)
        loss = single(s, concat_crop_major(teacher[step], 2), 0.04 + 0.01 * step)
        loss.backward()
        torch.testing.assert_close(sum(o["losses"][step] for o in res) / WORLD_SIZE, loss.detach())
        grads = torch.stack([o["grads"][step] for o in res]) / WORLD_SIZE
        torch.testing.assert_close(concat_crop_major(grads, 4), s.grad)
    for o in res:
        assert torch.equal(o["center"], res[0]["center"])
        torch.testing.assert_close(o["center"], single.center)


def test_bf16_autocast_is_finite() -> None:
    student = torch.randn(4 * 8, 64, requires_grad=True)
    teacher = torch.randn(2 * 8, 64)
    expected = DINOLoss(output_dim=64, num_crops=4)(student, teacher, 0.04).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = DINOLoss(output_dim=64, num_crops=4)(student.to(torch.bfloat16),
                                                     teacher.to(torch.bfloat16), 0.04)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(student.grad).all()
    assert loss.item() == pytest.approx(expected, rel=5e-2)


def test_bad_input_names_the_argument() -> None:
    loss_fn = DINOLoss(output_dim=4, num_crops=3)
    with pytest.raises(ValueError, match="student_output"):
        loss_fn(torch.randn(8, 4), torch.randn(4, 4), 0.04)
    with pytest.raises(ValueError, match="student_output"):
        loss_fn(torch.randn(6, 5), torch.randn(4, 5), 0.04)
    with pytest.raises(ValueError, match="teacher_output"):
        loss_fn(torch.randn(6, 4), torch.randn(6, 4), 0.04)
    with pytest.raises(ValueError, match="teacher_temp"):
        loss_fn(torch.randn(6, 4), torch.randn(4, 4), 0.0)
    with pytest.raises(ValueError, match="crops_for_teacher"):
        DINOLoss(num_crops=2, crops_for_teacher=[0, 2])
