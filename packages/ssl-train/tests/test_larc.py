"""LARC (apex/VISSL semantics) against a NumPy loop written from apex's LARC.step, in clip and
scale modes, with plain SGD momentum after the gradient rescaling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_train.optim import LARC, ParamGroup, build_optimizer


def numpy_larc(weights, grads_seq, lr, momentum, wd, trust, clip, eps, excluded):
    w = [x.copy() for x in weights]
    buf = [None for _ in weights]
    for grads in grads_seq:
        for i, g in enumerate(grads):
            g = g.copy()
            if not excluded[i]:
                pn, gn = np.linalg.norm(w[i]), np.linalg.norm(g)
                if pn != 0 and gn != 0:
                    local = trust * pn / (gn + pn * wd + eps)
                    if clip:
                        local = min(local / lr, 1.0)
                    g = (g + wd * w[i]) * local
                step_wd = 0.0
            else:
                step_wd = wd
            d = g + step_wd * w[i]
            buf[i] = d if buf[i] is None else momentum * buf[i] + d
            w[i] = w[i] - lr * buf[i]
    return w


@pytest.mark.parametrize("clip", [False, True])
def test_larc_matches_numpy_reference(clip: bool) -> None:
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=(5, 4)), rng.normal(size=(4,)), np.zeros((3,))]
    grads_seq = [[rng.normal(size=w.shape) * 0.1 for w in weights] for _ in range(6)]
    params = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
    sgd = torch.optim.SGD(
        [{"params": [params[0], params[2]], "weight_decay": 1e-3}, {"params": [params[1]], "weight_decay": 1e-3, "lars_exclude": True}],
        lr=0.3, momentum=0.9,
    )
    opt = LARC(sgd, trust_coefficient=0.02, clip=clip, eps=1e-8)
    for grads in grads_seq:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
    expected = numpy_larc(weights, grads_seq, 0.3, 0.9, 1e-3, 0.02, clip, 1e-8, [False, True, False])
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-10, atol=1e-12)
    assert [g["weight_decay"] for g in sgd.param_groups] == [1e-3, 1e-3]  # restored after the step


def test_builder_wraps_sgd_only() -> None:
    group = [ParamGroup("all", list(torch.nn.Linear(2, 2).parameters()))]
    assert isinstance(build_optimizer("sgd", group, lr=0.1, weight_decay=0.0, use_larc=True), LARC)
    with pytest.raises(ValueError, match="SGD only"):
        build_optimizer("adamw", group, lr=0.1, weight_decay=0.0, use_larc=True)
