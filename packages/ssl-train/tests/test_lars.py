"""LARS against a NumPy loop written from You et al. (2017), Algorithm 1 (with momentum)."""

import numpy as np
import torch

from ssl_train import LARS, build_optimizer


def numpy_lars(weights, grads_seq, lr, momentum, wd, eta, excluded):
    w = [x.copy() for x in weights]
    v = [np.zeros_like(x) for x in weights]
    for grads in grads_seq:
        for i, g in enumerate(grads):
            if excluded[i]:
                update = g
            else:
                g = g + wd * w[i]
                wn, gn = np.linalg.norm(w[i]), np.linalg.norm(g)
                trust = eta * wn / gn if wn > 0 and gn > 0 else 1.0
                update = trust * g
            v[i] = momentum * v[i] + update
            w[i] = w[i] - lr * v[i]
    return w


def test_lars_matches_numpy_reference():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(3,))]
    grads_seq = [[rng.normal(size=w.shape) for w in weights] for _ in range(5)]
    params = [torch.nn.Parameter(torch.tensor(w)) for w in weights]
    opt = LARS(
        [{"params": [params[0]], "lars_exclude": False}, {"params": [params[1]], "lars_exclude": True}],
        lr=0.5, momentum=0.9, weight_decay=1e-2, eta=0.02,
    )
    for grads in grads_seq:
        for p, g in zip(params, grads):
            p.grad = torch.tensor(g)
        opt.step()
    expected = numpy_lars(weights, grads_seq, 0.5, 0.9, 1e-2, 0.02, [False, True])
    for p, e in zip(params, expected):
        np.testing.assert_allclose(p.detach().numpy(), e, rtol=1e-10, atol=1e-12)


def test_builder_rejects_unknown_optimizer():
    import pytest

    from ssl_train.optim import ParamGroup

    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        build_optimizer("adam", [ParamGroup("all", list(torch.nn.Linear(2, 2).parameters()))], lr=0.1, weight_decay=0.0)
