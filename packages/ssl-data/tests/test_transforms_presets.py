"""Per-sample v2 presets (SimCLR, MoCo v2, BYOL, Barlow Twins, multi-crop, DINO) and MultiView."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from ssl_data import (
    MultiView,
    barlow_twins_transform,
    byol_transform,
    dino_transform,
    moco_v2_transform,
    multicrop_transform,
    simclr_transform,
)
from ssl_data.transforms.presets import simclr_view


def _colour_image(h: int = 28, w: int = 28) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=g)


def test_simclr_transform_inputs_and_output() -> None:
    t = simclr_transform(16)
    img = _colour_image()
    for x in (img, img.float() / 255.0, Image.fromarray(img.permute(1, 2, 0).numpy())):
        y = t(x)
        assert y.shape == (3, 16, 16) and y.dtype == torch.float32
    grey_pil = Image.fromarray(img[0].numpy())  # mode "L" becomes 3 channels
    assert t(grey_pil).shape == (3, 16, 16)


def test_simclr_view_identity() -> None:
    t = simclr_view(28, crop_scale=(1.0, 1.0), p_jitter=0.0, p_gray=0.0, p_flip=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    img = _colour_image()
    torch.testing.assert_close(t(img), img.float() / 255.0, atol=1e-6, rtol=0)


def test_simclr_grey_probability_and_normalisation() -> None:
    torch.manual_seed(0)
    t = simclr_transform(8, p_jitter=0.0, p_gray=0.2, mean=(0, 0, 0), std=(1, 1, 1))
    img = _colour_image(16, 16)
    n = 600
    grey = sum(bool(torch.equal(v[0], v[1]) and torch.equal(v[1], v[2])) for v in (t(img) for _ in range(n)))
    assert abs(grey / n - 0.2) < 0.06
    norm = simclr_transform(8, p_jitter=0.0, p_gray=0.0, mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(img)
    assert norm.min() >= -2.0 - 1e-6 and norm.max() <= 2.0 + 1e-6


def test_multiview() -> None:
    torch.manual_seed(0)
    views = MultiView(simclr_transform(12), num_views=3)(_colour_image())
    assert len(views) == 3 and all(v.shape == (3, 12, 12) for v in views)
    assert not torch.equal(views[0], views[1])
    mv = MultiView([lambda x: x + 1, lambda x: x * 2])
    assert mv.num_views == 2 and mv(3) == [4, 6]
    with pytest.raises(ValueError, match="num_views"):
        MultiView([lambda x: x], num_views=2)
    with pytest.raises(ValueError, match="callable"):
        MultiView([])


def test_two_view_presets_shapes() -> None:
    img = Image.fromarray(_colour_image(40, 50).permute(1, 2, 0).numpy())
    for preset in (moco_v2_transform, byol_transform, barlow_twins_transform):
        views = preset(24)(img)
        assert len(views) == 2 and all(v.shape == (3, 24, 24) for v in views)


def test_multicrop_and_dino_layout() -> None:
    img = _colour_image(40, 40)
    views = multicrop_transform(size_crops=(24, 8), num_crops=(2, 3), crop_scales=((0.5, 1.0), (0.1, 0.5)))(img)
    assert [tuple(v.shape[1:]) for v in views] == [(24, 24)] * 2 + [(8, 8)] * 3
    views = dino_transform(global_size=16, local_size=8, num_local_crops=4)(img)
    assert [tuple(v.shape[1:]) for v in views] == [(16, 16)] * 2 + [(8, 8)] * 4
    with pytest.raises(ValueError, match="same non-zero length"):
        multicrop_transform(size_crops=(24,), num_crops=(2, 6))
    with pytest.raises(ValueError, match="size"):
        simclr_transform(0)
