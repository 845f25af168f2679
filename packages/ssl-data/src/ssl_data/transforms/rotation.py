"""RotNet's rotation transform."""

from __future__ import annotations

from typing import Any

from torchvision.transforms.v2 import functional as F

from ssl_data.transforms._rng import rand_int

__all__ = ["ImgRotatePil"]


class ImgRotatePil:
    """Rotate by one of ``num_angles`` equally spaced angles in [0, 360) (counter-clockwise);
    returns ``(rotated image, angle index)``: the RotNet input and its label (a *label* transform).
    VISSL ``ImgRotatePil`` (num_angles 4, num_rotations_per_img 1; VISSL allows only 1)."""

    kind = "label"

    def __init__(self, num_angles: int = 4, num_rotations_per_img: int = 1) -> None:
        if num_angles < 1:
            raise ValueError(f"num_angles must be >= 1, got {num_angles}")
        if num_rotations_per_img != 1:
            raise ValueError(f"num_rotations_per_img must be 1 (as in VISSL), got {num_rotations_per_img}")
        self.num_angles = int(num_angles)
        self.num_rotations_per_img = 1
        self.angles = [360.0 * k / num_angles for k in range(num_angles)]

    def __call__(self, image: Any) -> tuple[Any, int]:
        label = rand_int(0, self.num_angles)
        return F.rotate(image, self.angles[label]), label

    def __repr__(self) -> str:
        return f"ImgRotatePil(num_angles={self.num_angles})"
