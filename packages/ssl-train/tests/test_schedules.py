"""Cosine-with-warmup schedule against its definition, evaluated point by point."""

import math

import pytest

from ssl_train import cosine_with_warmup


def reference(step: int, total: int, warmup: int, base: float, final: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return final + (base - final) * (1 + math.cos(math.pi * min(1.0, t))) / 2


@pytest.mark.parametrize("total,warmup,base,final", [(100, 10, 0.3, 0.0), (50, 0, 1.0, 0.1), (7, 7, 0.5, 0.0)])
def test_matches_definition(total, warmup, base, final):
    for step in range(total):
        assert cosine_with_warmup(step, total, warmup, base, final) == pytest.approx(reference(step, total, warmup, base, final))


def test_shape_of_the_curve():
    lrs = [cosine_with_warmup(s, 100, 10, 1.0, 0.0) for s in range(100)]
    assert lrs[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(lrs[:9], lrs[1:10]))
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))
    assert lrs[-1] < 0.01


@pytest.mark.parametrize("kwargs", [dict(total_steps=0, warmup_steps=0), dict(total_steps=10, warmup_steps=11)])
def test_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="steps"):
        cosine_with_warmup(0, base_lr=1.0, **kwargs)
