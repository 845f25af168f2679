"""BCELogitsMultipleOutputSingleTarget against a per-entry loop written from the definition."""

import math

import pytest
import torch

from ssl_losses import BCELogitsMultipleOutputSingleTarget


def _reference(outputs, target, normalize=False):
    t = target.tolist()
    total = 0.0
    for out in outputs:
        rows = out.double().tolist()
        if normalize:
            rows = [[v / math.sqrt(sum(u * u for u in r)) for v in r] for r in rows]
        for c in range(len(t[0])):
            terms = []
            for b in range(len(t)):
                if t[b][c] == -1:
                    continue
                x, y = rows[b][c], t[b][c]
                p = 1 / (1 + math.exp(-x))
                terms.append(-(y * math.log(p) + (1 - y) * math.log(1 - p)))
            total += sum(terms) / len(terms) if terms else 0.0
    return total


@pytest.mark.parametrize("shape", [(5, 3), (8, 20)])
@pytest.mark.parametrize("num_outputs", [1, 3])
@pytest.mark.parametrize("normalize", [False, True])
def test_matches_loop(shape, num_outputs, normalize):
    g = torch.Generator().manual_seed(shape[1] + num_outputs)
    outputs = [torch.randn(*shape, generator=g) for _ in range(num_outputs)]
    target = torch.randint(-1, 2, shape, generator=g)
    target[:, 0] = -1  # a class with no valid row adds 0
    loss = BCELogitsMultipleOutputSingleTarget(normalize_output=normalize)(
        outputs if num_outputs > 1 else outputs[0], target
    )
    assert loss.item() == pytest.approx(_reference(outputs, target, normalize), rel=1e-5)


def test_bf16_autocast_and_gradient():
    out = torch.randn(6, 4, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = BCELogitsMultipleOutputSingleTarget()(out * 10, torch.randint(0, 2, (6, 4)))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(out.grad).all() and out.grad.abs().sum() > 0


def test_bad_input():
    loss = BCELogitsMultipleOutputSingleTarget()
    with pytest.raises(ValueError, match="target"):
        loss(torch.randn(4, 3), torch.full((4, 3), 2))
    with pytest.raises(ValueError, match="target"):
        loss(torch.randn(4, 3), torch.zeros(4))
    with pytest.raises(ValueError, match=r"outputs\[1\]"):
        loss([torch.randn(4, 3), torch.randn(4, 2)], torch.zeros(4, 3))
