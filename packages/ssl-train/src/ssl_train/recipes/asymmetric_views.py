"""BYOL's two asymmetric views, shared by BYOL, Barlow Twins and VICReg (all three papers use
them): both views are random resized crops with flip, colour jitter and grey; view 1 is blurred
more often, only view 2 is solarized."""

from __future__ import annotations

from dataclasses import dataclass

from ssl_train.views import CropSpec, ViewPlan

__all__ = ["AsymmetricViewsConfig", "asymmetric_views"]


@dataclass
class AsymmetricViewsConfig:
    """Published values at 224 px in the comments; ours suit 28 px images."""

    crop_scale_min: float = 0.35
    """Papers: 0.08 (at 224 px)."""
    crop_scale_max: float = 1.0
    jitter_strength: float = 0.5
    p_gray: float = 0.2
    p_blur_view1: float = 0.0
    """Papers: 1.0 (at 224 px; a blur at 28 px erases the image)."""
    p_blur_view2: float = 0.0
    """Papers: 0.1."""
    p_solarize_view2: float = 0.2


def asymmetric_views(v: AsymmetricViewsConfig, size: int) -> ViewPlan:
    """Two crops of side ``size``: ``[view 1, view 2]``."""
    scale = (v.crop_scale_min, v.crop_scale_max)
    return ViewPlan((
        CropSpec(size, 1, scale, v.jitter_strength, 0.8, v.p_gray, 0.5, v.p_blur_view1, 0.0),
        CropSpec(size, 1, scale, v.jitter_strength, 0.8, v.p_gray, 0.5, v.p_blur_view2, v.p_solarize_view2),
    ))  # fmt: skip
