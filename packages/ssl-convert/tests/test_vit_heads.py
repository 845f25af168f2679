"""A ViT's num_heads is not in its weights: it comes from ``arch_kwargs``, from the file (a timm
checkpoint's ``arch``), else from the standard value for its width, checked here against timm's
own model definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch

import ssl_models
from ssl_convert import convert
from ssl_convert.timm_format import timm_num_heads
from ssl_convert.vit_arch import num_heads_for_width

# one 64-wide-head ViT and three of the wide-head table (building the big ones even on the meta
# device takes seconds, so not every entry is built here)
_TIMM_VITS = ["vit_base_patch16_224", "vit_huge_patch14_224", "vit_giant_patch14_224", "vit_so400m_patch14_siglip_224"]


@pytest.mark.parametrize("name", _TIMM_VITS)
def test_standard_widths_match_timm(name: str) -> None:
    with torch.device("meta"):
        model = timm.create_model(name, pretrained=False)
    assert num_heads_for_width(model.embed_dim)[0] == model.blocks[0].attn.num_heads


def _timm_train_checkpoint(path: Path, arch: str, width: int, heads: int) -> Path:
    """What timm's train script saves (``arch`` + ``state_dict``), for a 2-block ViT."""
    torch.manual_seed(0)
    vit = timm.models.vision_transformer.VisionTransformer(
        img_size=32, patch_size=8, embed_dim=width, depth=2, num_heads=heads, num_classes=5
    )  # fmt: skip
    torch.save({"epoch": 3, "arch": arch, "state_dict": vit.state_dict(), "version": 2}, path)
    return path


def test_num_heads_from_the_timm_arch_name(tmp_path: Path) -> None:
    assert timm_num_heads("vit_tiny_patch16_224") == (3, 192) and timm_num_heads("no_such_model") is None
    src = _timm_train_checkpoint(tmp_path / "timm.pth.tar", "vit_tiny_patch16_224", width=192, heads=3)
    report = convert(src, tmp_path / "out.pt", "ssl", verify=True)
    assert report.trunk_kwargs["num_heads"] == 3
    assert any("num_heads 3: from timm's vit_tiny_patch16_224" in n for n in report.notes)
    assert "head.weight" in report.dropped


def test_unknown_width_is_reported_as_assumed_and_can_be_given(tmp_path: Path) -> None:
    src = _timm_train_checkpoint(tmp_path / "timm.pth.tar", "vit_tiny_patch16_224", width=96, heads=2)
    report = convert(src, tmp_path / "out.pt", "ssl")
    assert report.trunk_kwargs["num_heads"] == 1  # 96 // 64: wrong, and said to be assumed
    assert any("assumed" in n for n in report.notes) and any("not a timm ViT of width 96" in n for n in report.notes)
    report = convert(src, tmp_path / "out.pt", "ssl", arch_kwargs={"num_heads": 2})
    assert report.trunk_kwargs["num_heads"] == 2 and any("num_heads 2: given" in n for n in report.notes)
    ckpt = ssl_models.load_checkpoint(tmp_path / "out.pt")
    trunk = ssl_models.trunk_from_checkpoint(ckpt).eval()
    assert trunk.kwargs["num_heads"] == 2
