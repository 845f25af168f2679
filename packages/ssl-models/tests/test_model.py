"""The trunk + heads model, the momentum encoder, weight loading and SyncBN conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ssl_models import (
    MLPHead,
    MomentumEncoder,
    SiameseConcatView,
    SSLModel,
    SwAVHead,
    build_trunk,
    convert_sync_batchnorm,
    linear_eval_heads,
    load_weights,
)


def _tiny_trunk() -> nn.Module:
    return build_trunk("resnet18", width_multiplier=0.25)


def test_multi_crop_2x224_6x96_equals_each_crop_alone() -> None:
    torch.manual_seed(0)
    trunk = _tiny_trunk()
    model = SSLModel(trunk, [SwAVHead([128, 32, 16], num_clusters=[10])]).eval()
    b = 2
    crops = [torch.randn(b, 3, 224, 224) for _ in range(2)] + [torch.randn(b, 3, 96, 96) for _ in range(6)]
    calls = []
    handle = trunk.conv1.register_forward_hook(lambda m, a, o: calls.append(a[0].shape[0]))
    with torch.no_grad():
        ((emb, scores),) = model(crops)
        handle.remove()
        assert calls == [2 * b, 6 * b]  # one trunk pass per resolution
        assert emb.shape == (8 * b, 16) and scores.shape == (8 * b, 10)
        for c, crop in enumerate(crops):  # crop-major rows
            alone_emb, alone_scores = model.heads[0][0](trunk(crop))
            torch.testing.assert_close(emb[c * b : (c + 1) * b], alone_emb, rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(scores[c * b : (c + 1) * b], alone_scores, rtol=1e-5, atol=1e-5)


def test_heads_on_several_layers_and_per_shape_head_runs() -> None:
    torch.manual_seed(0)
    trunk = _tiny_trunk().eval()
    heads = [MLPHead([128, 5]), [MLPHead([64 * 2 * 2, 3])]]
    model = SSLModel(trunk, heads, head_features=["flatten", "res4"]).eval()
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        out = model(x)
        feats = trunk.forward_features(x, ["flatten", "res4"])
        torch.testing.assert_close(out[0], heads[0](feats["flatten"]))
        torch.testing.assert_close(out[1], heads[1][0](feats["res4"].flatten(1)))
    with pytest.raises(ValueError, match="not a feature"):
        SSLModel(trunk, [MLPHead([128, 5])], head_features=["res9"])


def test_linear_eval_preset_gives_one_output_per_layer() -> None:
    with torch.device("meta"):
        heads, names = linear_eval_heads(num_classes=10)
        model = SSLModel(build_trunk("resnet50"), heads, head_features=names)
    out = model(torch.empty(2, 3, 224, 224, device="meta"))
    assert names == ["conv1", "res2", "res3", "res4", "res5", "res5avg"]
    assert [tuple(o.shape) for o in out] == [(2, 10)] * 6
    assert [chain[-1].kwargs["dims"][0] for chain in model.heads] == [9216, 9216, 8192, 9216, 8192, 2048]


def test_multi_input_mapping_shares_the_trunk() -> None:
    torch.manual_seed(0)
    trunk = _tiny_trunk().eval()
    img_head = MLPHead([128, 4])
    patch_chain = [MLPHead([128, 8]), SiameseConcatView(3), MLPHead([24, 4])]
    model = SSLModel(trunk, [img_head, patch_chain], head_inputs=["images", "patches"]).eval()
    images, patches = torch.randn(2, 3, 32, 32), torch.randn(6, 3, 16, 16)
    with torch.no_grad():
        out_img, out_patch = model({"images": images, "patches": patches})
        torch.testing.assert_close(out_img, img_head(trunk(images)))
        manual = patch_chain[2](patch_chain[1](patch_chain[0](trunk(patches))))
        torch.testing.assert_close(out_patch, manual)
    with pytest.raises(ValueError, match="patches"):
        model({"images": images})


def test_freeze_trunk_keeps_bn_statistics_and_trains_heads_only() -> None:
    torch.manual_seed(0)
    trunk = _tiny_trunk()
    head = MLPHead([128, 4], use_bn=False)
    model = SSLModel(trunk, [head])
    model.freeze_trunk()
    model.train()
    assert not trunk.training and head.training
    before = {k: v.clone() for k, v in trunk.state_dict().items()}
    model(torch.randn(4, 3, 32, 32))[0].sum().backward()
    assert all(torch.equal(before[k], v) for k, v in trunk.state_dict().items())
    assert all(p.grad is None for p in trunk.parameters())
    assert all(p.grad is not None for p in head.parameters())
    assert not model.is_fully_frozen()
    model.freeze_heads()
    assert model.is_fully_frozen()


def test_parameters_frozen_for_the_first_iterations() -> None:
    model = SSLModel(_tiny_trunk(), [SwAVHead([128, 16], num_clusters=[10])], frozen_params_for_iters={"heads.0.0.prototypes0": 3})
    x = torch.randn(4, 3, 32, 32)
    for iteration, expect_grad in ((0, False), (2, False), (3, True)):
        model.zero_grad(set_to_none=True)
        emb, scores = model(x)[0]
        scores.sum().backward()
        model.drop_frozen_grads(iteration)
        assert (model.heads[0][0].prototypes0.weight.grad is not None) is expect_grad
        assert model.heads[0][0].projection_head[0].weight.grad is not None
    with pytest.raises(ValueError, match="matches no parameter"):
        SSLModel(_tiny_trunk(), [MLPHead([128, 4])], frozen_params_for_iters={"heads.0.0.prototypes9": 1})


def test_momentum_encoder_update_is_an_ema() -> None:
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    ema = MomentumEncoder(online)
    assert not any(p.requires_grad for p in ema.parameters())
    old = [p.detach().numpy().copy() for p in ema.module.parameters()]
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
        online.train()(torch.randn(8, 3))  # changes BN running statistics
    ema.update(online, momentum=0.9)
    for o, t, before in zip(online.parameters(), ema.module.parameters(), old):
        np.testing.assert_allclose(t.numpy(), 0.9 * before + 0.1 * o.detach().numpy(), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ema.module[1].running_mean, online[1].running_mean)
    with pytest.raises(ValueError, match="momentum"):
        ema.update(online, 1.5)


def test_load_weights_with_vissl_key_and_prefixes(tmp_path: Path) -> None:
    src = _tiny_trunk()
    vissl = {"classy_state_dict": {"base_model": {"model": {"trunk": {f"_feature_blocks.{k}": v for k, v in src.state_dict().items()}}}}}
    path = tmp_path / "vissl.torch"
    torch.save(vissl, path)
    dst = _tiny_trunk()
    report = load_weights(dst, path, state_dict_key="classy_state_dict.base_model.model.trunk", remove_prefix="_feature_blocks.", strict=True)
    assert not report.missing and not report.unexpected
    assert all(k.endswith("num_batches_tracked") for k in report.skipped) and report.skipped
    for k, v in src.state_dict().items():
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(dst.state_dict()[k], v), k
    model = SSLModel(_tiny_trunk(), [MLPHead([128, 4])])
    rep = load_weights(model, src.state_dict(), append_prefix="trunk.")
    assert rep.missing == ["heads.0.0.clf.0.weight", "heads.0.0.clf.0.bias"] and not rep.unexpected
    with pytest.raises(ValueError, match="strict"):
        load_weights(model, src.state_dict(), append_prefix="trunk.", strict=True)
    with pytest.raises(KeyError, match="classy_state_dict"):
        load_weights(dst, {"model": {}}, state_dict_key="classy_state_dict")
    with pytest.raises(FileNotFoundError, match="nope.torch"):
        load_weights(dst, tmp_path / "nope.torch")


def test_convert_sync_batchnorm_single_process() -> None:
    model = convert_sync_batchnorm(SSLModel(_tiny_trunk(), [MLPHead([128, 8, 4], use_bn=True)]))
    kinds = {type(m).__name__ for m in model.modules()}
    # On CPU the conversion picks our CPU-capable module (torch's SyncBatchNorm needs an accelerator).
    assert "CPUSyncBatchNorm" in kinds and "BatchNorm2d" not in kinds and "BatchNorm1d" not in kinds
