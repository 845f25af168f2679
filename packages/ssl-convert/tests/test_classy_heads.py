"""ClassyVision heads in VISSL's ``--include_heads`` layout, in and out: ``heads["block3-2"]
["default_head"]`` with ``mlp.layers.{i}.fc`` / ``mlp.layers.{i}.batch_norm`` for the hidden
layers and ``embedding_fc`` for the last one (key list written here from VISSL's script)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import ssl_models
from ssl_convert import FormatError, convert


@pytest.fixture
def trunk(make_trunk):
    return make_trunk("resnet50", width_multiplier=0.25)


def test_head_out_and_back(tmp_path: Path, trunk, save_ours, randomise_bn) -> None:
    torch.manual_seed(0)
    head = randomise_bn(ssl_models.MLPHead([512, 64, 16], use_bn=True))
    other = ssl_models.MLPHead([16, 8])
    report = convert(save_ours(trunk, [head, other]), tmp_path / "classy.torch", "classy", classy_heads=True, verify=True)
    assert sorted(report.dropped) == ["heads.1.clf.0.bias", "heads.1.clf.0.weight"]
    written = torch.load(tmp_path / "classy.torch", weights_only=True)["classy_state_dict"]["base_model"]["model"]["heads"]
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    expected = {"mlp.layers.0.fc.weight", "mlp.layers.0.fc.bias", "embedding_fc.weight", "embedding_fc.bias"}
    assert set(written) == {"block3-2"} and set(written["block3-2"]) == {"default_head"}
    assert set(written["block3-2"]["default_head"]) == expected | {f"mlp.layers.0.batch_norm.{p}" for p in bn}
    sd = head.state_dict()
    assert torch.equal(written["block3-2"]["default_head"]["embedding_fc.weight"], sd["clf.3.weight"])
    assert torch.equal(written["block3-2"]["default_head"]["mlp.layers.0.batch_norm.running_var"], sd["clf.1.running_var"])

    convert(tmp_path / "classy.torch", tmp_path / "back.pt", "ssl")
    back = ssl_models.load_checkpoint(tmp_path / "back.pt")
    assert len(back["heads"]) == 1 and back["heads"][0]["kwargs"] == head.kwargs
    for key, value in sd.items():
        assert torch.equal(back["heads"][0]["state_dict"][key], value), key


def test_vissl_converter_style_head_runs_like_the_definition(tmp_path: Path, trunk) -> None:
    """A file as VISSL's converter writes it (no ssl_convert entry, no num_batches_tracked):
    the head is rebuilt and computes Linear -> BN(eval) -> ReLU -> Linear, written out here."""
    from ssl_convert.classy_format import ours_to_classy

    g = torch.Generator().manual_seed(1)
    w0, b0 = torch.randn(32, 512, generator=g) * 0.05, torch.randn(32, generator=g)
    w1, b1 = torch.randn(10, 32, generator=g) * 0.2, torch.randn(10, generator=g)
    gamma, beta, mean, var = torch.rand(32, generator=g) + 0.5, torch.randn(32, generator=g), torch.randn(32, generator=g), torch.rand(32, generator=g) + 0.5
    head = {
        "mlp.layers.0.fc.weight": w0, "mlp.layers.0.fc.bias": b0,
        "mlp.layers.0.batch_norm.weight": gamma, "mlp.layers.0.batch_norm.bias": beta,
        "mlp.layers.0.batch_norm.running_mean": mean, "mlp.layers.0.batch_norm.running_var": var,
        "embedding_fc.weight": w1, "embedding_fc.bias": b1,
    }  # fmt: skip
    classy_trunk = dict(ours_to_classy(trunk.state_dict()).state)
    obj = {"classy_state_dict": {"base_model": {"model": {"trunk": classy_trunk, "heads": {"block3-2": {"default_head": head}}}}}}
    torch.save(obj, tmp_path / "vissl_classy.torch")
    report = convert(tmp_path / "vissl_classy.torch", tmp_path / "out.pt", "ssl")
    assert any("ReLU after every hidden layer assumed" in n for n in report.notes)
    rebuilt = ssl_models.heads_from_checkpoint(ssl_models.load_checkpoint(tmp_path / "out.pt"))[0].eval()
    x = torch.randn(4, 512, generator=g)
    expected = F.linear(F.relu((F.linear(x, w0, b0) - mean) / torch.sqrt(var + 1e-5) * gamma + beta), w1, b1)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(x), expected, rtol=0, atol=1e-5)


def test_head_that_classy_layout_cannot_hold_is_refused(tmp_path: Path, trunk, save_ours) -> None:
    head = ssl_models.MLPHead([512, 32, 16], use_dropout=True)
    with pytest.raises(FormatError, match="ClassyVision heads hold"):
        convert(save_ours(trunk, [head]), tmp_path / "classy.torch", "classy", classy_heads=True)
    assert not (tmp_path / "classy.torch").exists()
