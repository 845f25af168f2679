"""CrossEntropyMultipleOutputSingleTarget against a per-sample loop written from the definition."""

import math

import pytest
import torch

from ssl_losses import CrossEntropyMultipleOutputSingleTarget


def _log_softmax_row(row: list[float]) -> list[float]:
    m = max(row)
    lse = m + math.log(sum(math.exp(v - m) for v in row))
    return [v - lse for v in row]


def _reference(outputs, target, temperature=1.0, weight=None, ignore_index=-1, normalize=False, smoothing=0.0):
    total = 0.0
    for out in outputs:
        rows = out.double().tolist()
        num_classes = len(rows[0])
        w = [1.0] * num_classes if weight is None else list(weight)
        num, den = 0.0, 0.0
        for b, row in enumerate(rows):
            if normalize:
                n = math.sqrt(sum(v * v for v in row))
                row = [v / max(n, 1e-12) for v in row]
            logp = _log_softmax_row([v / temperature for v in row])
            if target.is_floating_point():
                t = target[b].double().tolist()
                t = [(1 - smoothing) * tc + smoothing / num_classes for tc in t]
                num += -sum(w[c] * t[c] * logp[c] for c in range(num_classes))
                den += 1.0
            else:
                y = int(target[b])
                if y == ignore_index:
                    continue
                nll = -logp[y]
                smooth = -sum(logp) / num_classes
                num += w[y] * ((1 - smoothing) * nll + smoothing * smooth) if weight is None else w[y] * nll
                den += w[y]
        total += num / den
    return total


@pytest.mark.parametrize("temperature", [1.0, 0.1])
@pytest.mark.parametrize("classes", [[4], [3, 7, 5]])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_hard_targets_match_loop(temperature, classes, smoothing):
    g = torch.Generator().manual_seed(len(classes) * 10 + int(temperature * 10))
    batch = 9
    outputs = [torch.randn(batch, c, generator=g) * 3 for c in classes]
    target = torch.randint(0, min(classes), (batch,), generator=g)
    target[2] = -1
    loss = CrossEntropyMultipleOutputSingleTarget(temperature=temperature, label_smoothing=smoothing)(outputs, target)
    ref = _reference(outputs, target, temperature=temperature, smoothing=smoothing)
    assert loss.item() == pytest.approx(ref, rel=1e-5)


def test_class_weights_and_normalize_match_loop():
    g = torch.Generator().manual_seed(3)
    outputs = torch.randn(6, 4, generator=g)
    target = torch.tensor([0, 1, 3, -1, 2, 3])
    weight = [0.5, 2.0, 1.0, 3.0]
    loss = CrossEntropyMultipleOutputSingleTarget(temperature=0.5, weight=weight, normalize_output=True)(outputs, target)
    ref = _reference([outputs], target, temperature=0.5, weight=weight, normalize=True)
    assert loss.item() == pytest.approx(ref, rel=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_soft_targets_match_loop(smoothing):
    g = torch.Generator().manual_seed(4)
    outputs = [torch.randn(5, 6, generator=g), torch.randn(5, 6, generator=g)]
    target = torch.softmax(torch.randn(5, 6, generator=g), dim=1)
    loss = CrossEntropyMultipleOutputSingleTarget(temperature=0.7, label_smoothing=smoothing)(outputs, target)
    assert loss.item() == pytest.approx(_reference(outputs, target, temperature=0.7, smoothing=smoothing), rel=1e-5)


def test_gradient_flows_to_every_output_and_all_ignored_is_zero():
    outputs = [torch.randn(4, 3, requires_grad=True) for _ in range(2)]
    loss = CrossEntropyMultipleOutputSingleTarget()(outputs, torch.tensor([0, 1, 2, 0]))
    loss.backward()
    assert all(o.grad is not None and o.grad.abs().sum() > 0 for o in outputs)
    zero = CrossEntropyMultipleOutputSingleTarget()(outputs, torch.full((4,), -1))
    assert zero.item() == 0.0


def test_bf16_autocast_finite():
    outputs = [torch.randn(8, 5, requires_grad=True), torch.randn(8, 3, requires_grad=True)]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = CrossEntropyMultipleOutputSingleTarget(temperature=0.1)(
            [o * 1.0 for o in outputs], torch.randint(0, 3, (8,))
        )
    loss.backward()
    assert torch.isfinite(loss) and all(torch.isfinite(o.grad).all() for o in outputs)


@pytest.mark.parametrize(
    ("outputs", "target", "match"),
    [
        (torch.randn(4, 3), torch.tensor([0, 1, 3, 0]), "target"),
        (torch.randn(4, 3), torch.tensor([0, 1]), r"outputs\[0\]"),
        (torch.randn(4, 3), torch.rand(4, 5), "soft target"),
        ([], torch.tensor([0]), "outputs"),
        (torch.randn(4, 3), torch.zeros(4, 3, 1, dtype=torch.long), "target"),
    ],
)
def test_bad_input_names_the_argument(outputs, target, match):
    with pytest.raises(ValueError, match=match):
        CrossEntropyMultipleOutputSingleTarget()(outputs, target)


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="temperature"):
        CrossEntropyMultipleOutputSingleTarget(temperature=0)
    with pytest.raises(ValueError, match="label_smoothing"):
        CrossEntropyMultipleOutputSingleTarget(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        CrossEntropyMultipleOutputSingleTarget(weight=[1.0, 2.0])(torch.randn(2, 3), torch.tensor([0, 1]))
