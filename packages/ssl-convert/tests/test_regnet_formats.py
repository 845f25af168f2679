"""RegNets to and from timm, VISSL and ClassyVision: bit-identical round trips, timm's own RegNet
as the numerical reference, and ClassyVision / VISSL names written out here from ClassyVision's
module structure (``stem.stem``, ``proj``/``bn`` shortcut, ``f.a``/``f.b`` Sequentials,
``f.se.excitation``, ``f.c`` + ``f.final_bn``) and VISSL's wrapping (stem as
``_feature_blocks.conv1``, stage ``block{i}`` as ``_feature_blocks.res{i+1}``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

import ssl_models
from ssl_convert import convert, detect_format
from ssl_convert.regnet_keys import regnet_from_ours, regnet_to_ours


@pytest.fixture(scope="module")
def regnet_file(tmp_path_factory: pytest.TempPathFactory, make_trunk_module):
    trunk = make_trunk_module("regnet_y_400mf")
    path = tmp_path_factory.mktemp("regnet") / "ours.pt"
    return trunk, ssl_models.save_checkpoint(ssl_models.model_payload(trunk), path)


@pytest.mark.parametrize("to", ["timm", "vissl", "classy"])
def test_regnet_round_trip_is_bit_identical(tmp_path: Path, regnet_file, to: str) -> None:
    trunk, src = regnet_file
    report = convert(src, tmp_path / "mid.pt", to, verify=to == "classy")  # timm: verified below; vissl: classy's path
    assert to != "classy" or report.max_abs_diff < 1e-5
    assert detect_format(tmp_path / "mid.pt") == to
    convert(tmp_path / "mid.pt", tmp_path / "back.pt", "ssl")
    back = ssl_models.load_checkpoint(tmp_path / "back.pt")
    assert back["trunk"]["name"] == "regnet_y_400mf"
    expected = trunk.state_dict()
    assert sorted(back["trunk"]["state_dict"]) == sorted(expected)
    for key, value in expected.items():
        assert torch.equal(back["trunk"]["state_dict"][key], value), key


def test_timm_regnet_computes_the_same_features(tmp_path: Path, regnet_file) -> None:
    """timm's own RegNetY-400MF holding the converted weights gives our trunk's pooled features."""
    trunk, src = regnet_file
    report = convert(src, tmp_path / "timm.pth", "timm", verify=True)
    assert report.verified_with == "timm regnety_004" and report.max_abs_diff < 1e-5
    model = timm.create_model("regnety_004", pretrained=False, num_classes=0).eval()
    model.load_state_dict(torch.load(tmp_path / "timm.pth", weights_only=True), strict=True)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(model(x), trunk(x), rtol=0, atol=1e-5)


def test_classy_and_vissl_regnet_names(tmp_path: Path, regnet_file) -> None:
    trunk, src = regnet_file
    ours = trunk.state_dict()
    bn = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
    block = ["proj.weight", *(f"bn.{p}" for p in bn), "f.a.0.weight", *(f"f.a.1.{p}" for p in bn), "f.b.0.weight",
             *(f"f.b.1.{p}" for p in bn), "f.se.excitation.0.weight", "f.se.excitation.0.bias",
             "f.se.excitation.2.weight", "f.se.excitation.2.bias", "f.c.weight", *(f"f.final_bn.{p}" for p in bn)]  # fmt: skip
    stem = ["stem.0.weight", *(f"stem.1.{p}" for p in bn)]
    for fmt, stem_prefix, block_prefix in (
        ("classy", "stem.", "trunk_output.block1.block1-0."),
        ("vissl", "_feature_blocks.conv1.", "_feature_blocks.res2.block1-0."),
    ):
        convert(src, tmp_path / f"{fmt}.pt", fmt)
        written = torch.load(tmp_path / f"{fmt}.pt", weights_only=True)["classy_state_dict"]["base_model"]["model"]["trunk"]
        assert {k for k in written if k.startswith(stem_prefix)} == {stem_prefix + k for k in stem}
        assert {k for k in written if k.startswith(block_prefix)} == {block_prefix + k for k in block}
        assert len(written) == len(ours)
        assert torch.equal(written[block_prefix + "f.final_bn.running_var"], ours["trunk_output.block1.block1-0.f.c.1.running_var"])
        assert torch.equal(written[block_prefix + "f.se.excitation.2.weight"], ours["trunk_output.block1.block1-0.f.se.fc2.weight"])


@pytest.mark.parametrize("name", ["regnet_x_400mf", "regnet_x_32gf", "regnet_y_16gf", "regnet_y_128gf"])
def test_regnet_key_maps_both_ways_on_meta(name: str) -> None:
    """Other presets (SE-free X, 4-stage widths up to RegNetY-128GF) without allocating them."""
    with torch.device("meta"):
        state = ssl_models.build_trunk(name).state_dict()
    for fmt in ("timm", "vissl", "classy"):
        there = regnet_from_ours(state, fmt)
        assert not there.unconverted and len(there.state) == len(state)
        back = regnet_to_ours(there.state, fmt)
        assert not back.unconverted and list(back.state) == list(state)


def test_vissl_regnet_fsdp_block_groups_are_read(tmp_path: Path, regnet_file) -> None:
    """VISSL's regnet_fsdp / regnet_v2 trunks group a stage's blocks:
    ``_feature_blocks.res{i+1}.block{i}-part{g}.block{i}-{j}``; here stage 3's blocks go to two
    groups (0-1, 2-), the other stages to one."""
    import re

    trunk, src = regnet_file
    convert(src, tmp_path / "vissl.torch", "vissl")
    obj = torch.load(tmp_path / "vissl.torch", weights_only=True)
    del obj["ssl_convert"]
    plain = obj["classy_state_dict"]["base_model"]["model"]["trunk"]

    def grouped(key: str) -> str:
        m = re.match(r"^_feature_blocks\.res(\d)\.block(\d)-(\d+)\.(.*)$", key)
        if not m:
            return key
        stage, block = int(m.group(2)), int(m.group(3))
        part = int(stage == 3 and block >= 2)
        return f"_feature_blocks.res{m.group(1)}.block{stage}-part{part}.block{stage}-{block}.{m.group(4)}"

    obj["classy_state_dict"]["base_model"]["model"]["trunk"] = {grouped(k): v for k, v in plain.items()}
    assert any("block3-part1.block3-2." in k for k in obj["classy_state_dict"]["base_model"]["model"]["trunk"])
    torch.save(obj, tmp_path / "fsdp.torch")
    report = convert(tmp_path / "fsdp.torch", tmp_path / "back.pt", "ssl")
    assert report.trunk_name == "regnet_y_400mf"
    back = ssl_models.load_checkpoint(tmp_path / "back.pt")["trunk"]["state_dict"]
    assert all(torch.equal(back[k], v) for k, v in trunk.state_dict().items())
