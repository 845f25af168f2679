"""Heads against NumPy re-implementations of their definitions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ssl_models import build_head, list_heads
from ssl_models.heads import (
    DINOHead,
    EvalMLPHead,
    ExpanderHead,
    LinearEvalMLPHead,
    MLPHead,
    PredictorHead,
    SiameseConcatView,
    SwAVHead,
    VisionTransformerHead,
)


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().double().numpy()


def _bn_eval(x: np.ndarray, bn: torch.nn.Module) -> np.ndarray:
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mean, var = _np(bn.running_mean).reshape(shape), _np(bn.running_var).reshape(shape)
    return (x - mean) / np.sqrt(var + bn.eps) * _np(bn.weight).reshape(shape) + _np(bn.bias).reshape(shape)


def _randomise(module: torch.nn.Module) -> None:
    g = torch.Generator().manual_seed(5)
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g))
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=g))


def test_mlp_matches_numpy() -> None:
    torch.manual_seed(0)
    head = MLPHead([6, 5, 3], use_bn=True).eval()
    _randomise(head)
    x = torch.randn(4, 6)
    l1, bn, _, l2 = head.clf
    h = np.maximum(_bn_eval(_np(x) @ _np(l1.weight).T + _np(l1.bias), bn), 0)
    ref = h @ _np(l2.weight).T + _np(l2.bias)
    np.testing.assert_allclose(_np(head(x)), ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(head(x[:, :, None, None])), ref, rtol=1e-5, atol=1e-5)
    assert [type(m).__name__ for m in MLPHead([4, 4, 4], skip_last_layer_relu_bn=False).clf] == ["Linear", "ReLU", "Linear", "ReLU"]
    with pytest.raises(ValueError, match="expects 6 input features"):
        head(torch.randn(2, 7))


def test_eval_mlp_and_linear_eval_mlp_match_numpy() -> None:
    torch.manual_seed(0)
    head = EvalMLPHead(4, [4 * 3 * 3, 7]).eval()
    _randomise(head)
    x = torch.randn(2, 4, 3, 3)
    lin = head.clf[0]
    ref = _bn_eval(_np(x), head.channel_bn).reshape(2, -1) @ _np(lin.weight).T + _np(lin.bias)
    np.testing.assert_allclose(_np(head(x)), ref, rtol=1e-5, atol=1e-5)
    head1 = LinearEvalMLPHead(5, [5, 3]).eval()
    _randomise(head1)
    x1 = torch.randn(3, 5)
    ref1 = _bn_eval(_np(x1), head1.channel_bn) @ _np(head1.clf[0].weight).T + _np(head1.clf[0].bias)
    np.testing.assert_allclose(_np(head1(x1)), ref1, rtol=1e-5, atol=1e-5)


def test_siamese_concat_view_concatenates_each_samples_towers() -> None:
    x = torch.randn(2 * 3, 4)
    out = SiameseConcatView(3)(x)
    for i in range(2):
        np.testing.assert_array_equal(out[i].numpy(), np.concatenate([x[i * 3 + t].numpy() for t in range(3)]))
    with pytest.raises(ValueError, match="num_towers"):
        SiameseConcatView(4)(x)


@pytest.mark.parametrize("weight_norm", [False, True])
def test_swav_head_normalises_and_scores_several_prototype_layers(weight_norm: bool) -> None:
    torch.manual_seed(0)
    head = SwAVHead([6, 8, 4], num_clusters=[5, 7], use_weight_norm_prototypes=weight_norm).eval()
    _randomise(head)
    x = torch.randn(3, 6)
    emb, s0, s1 = head(x)
    l1, bn, _, l2 = head.projection_head
    z = np.maximum(_bn_eval(_np(x) @ _np(l1.weight).T + _np(l1.bias), bn), 0) @ _np(l2.weight).T + _np(l2.bias)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    np.testing.assert_allclose(_np(emb), z, rtol=1e-5, atol=1e-6)
    for scores, proto in ((s0, head.prototypes0), (s1, head.prototypes1)):
        w = _np(proto.weight)
        if weight_norm:
            v = _np(proto.parametrizations.weight.original1)
            w = v / np.linalg.norm(v, axis=1, keepdims=True)  # norm g fixed at 1
        np.testing.assert_allclose(_np(scores), z @ w.T, rtol=1e-5, atol=1e-6)
    assert [o.shape[1] for o in head(x)] == [4, 5, 7]
    assert len(SwAVHead([6, 4], num_clusters=[5], return_embeddings=False)(x)) == 1


def test_dino_head_weight_normalised_last_layer() -> None:
    torch.manual_seed(0)
    head = DINOHead(in_dim=6, out_dim=9, hidden_dim=8, bottleneck_dim=4)
    x = torch.randn(3, 6)
    h = _np(x)
    linears = [m for m in head.mlp if isinstance(m, torch.nn.Linear)]
    for i, lin in enumerate(linears):
        h = h @ _np(lin.weight).T + _np(lin.bias)
        if i < len(linears) - 1:
            h = 0.5 * h * (1 + np.vectorize(__import__("math").erf)(h / np.sqrt(2)))
    h /= np.linalg.norm(h, axis=1, keepdims=True)
    v = _np(head.last_layer.parametrizations.weight.original1)
    ref = h @ (v / np.linalg.norm(v, axis=1, keepdims=True)).T
    np.testing.assert_allclose(_np(head(x)), ref, rtol=1e-5, atol=1e-6)
    frozen = {n for n, p in head.named_parameters() if not p.requires_grad}
    assert frozen == {"last_layer.parametrizations.weight.original0"}
    free = DINOHead(in_dim=6, out_dim=9, hidden_dim=8, bottleneck_dim=4, norm_last_layer=False)
    assert all(p.requires_grad for p in free.parameters())


def test_predictor_expander_and_vit_head_structure() -> None:
    assert [type(m).__name__ for m in PredictorHead([8, 16, 8]).clf] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]
    exp = ExpanderHead([8, 16, 16, 16])
    assert [type(m).__name__ for m in exp.clf] == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    assert all(m.bias is None for m in exp.clf if isinstance(m, torch.nn.Linear))
    vit = VisionTransformerHead(8, num_classes=5, hidden_dim=6)
    assert torch.equal(vit(torch.randn(2, 8)), torch.zeros(2, 5))  # classifier starts at zero
    assert [type(m).__name__ for m in vit.layers] == ["Linear", "Tanh", "Linear"]


def test_every_head_is_rebuilt_by_name_from_its_kwargs() -> None:
    examples = {
        "mlp": {"dims": [4, 3]},
        "eval_mlp": {"in_channels": 4, "dims": [4, 3]},
        "linear_eval_mlp": {"in_channels": 4, "dims": [4, 3]},
        "siamese_concat_view": {"num_towers": 2},
        "swav_head": {"dims": [4, 3], "num_clusters": [5]},
        "dino_head": {"in_dim": 4, "out_dim": 5, "hidden_dim": 6, "bottleneck_dim": 3},
        "vision_transformer_head": {"in_plane": 4, "num_classes": 3},
        "avg_pool": {"kernel_size": [2, 2], "stride": 2},
        "predictor": {"dims": [4, 6, 4]},
        "expander": {"dims": [4, 6, 6]},
    }
    assert set(examples) == set(list_heads())
    for name, kwargs in examples.items():
        head = build_head(name, **kwargs)
        again = build_head(head.name, **head.kwargs)
        again.load_state_dict(head.state_dict(), strict=True)
        assert head.name == name
    with pytest.raises(ValueError, match="unknown head name"):
        build_head("resnet50")
