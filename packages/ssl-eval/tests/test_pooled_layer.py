"""PooledLayer: one trunk layer, globally averaged, checked against a forward hook on the stage itself."""

from __future__ import annotations

import pytest
import torch

import ssl_models
from ssl_evaluation.suites import PooledLayer


def _trunk() -> torch.nn.Module:
    torch.manual_seed(0)
    return ssl_models.build_trunk("resnet18", width_multiplier=0.25).eval()


@pytest.mark.parametrize(("layer", "stage"), [("res2", "layer1"), ("res3", "layer2"), ("res4", "layer3"), ("res5", "layer4")])
def test_pooled_layer_is_the_stage_output_averaged(layer: str, stage: str) -> None:
    trunk = _trunk()
    images = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    seen: list[torch.Tensor] = []
    handle = getattr(trunk, stage).register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.no_grad():
        trunk(images)  # the trunk's own forward, not forward_features
    handle.remove()
    expected = seen[0].mean(dim=(2, 3))
    with torch.no_grad():
        got = PooledLayer(trunk, layer)(images)
    assert got.shape == (3, seen[0].shape[1])
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_pooled_last_stage_is_the_trunk_output() -> None:
    trunk = _trunk()
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(PooledLayer(trunk, "res5avg")(images), trunk(images), rtol=0, atol=1e-6)


def test_unknown_layer_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"^unknown layer name\(s\) \['res9'\]; the trunk has \['conv1', 'res2'") as info:
        PooledLayer(_trunk(), "res9")
    assert "\n" not in str(info.value)
