"""RandAugment with VISSL's (timm's) parameters: magnitude noise and increasing severity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ssl_data.transforms.presets import IMAGENET_MEAN

__all__ = ["RandAugment"]


class RandAugment:
    """timm's RandAugment: ``num_layers`` random ops of magnitude ``magnitude`` (0-10 scale) with
    Gaussian noise ``magnitude_std`` per op, ``increasing_severity`` for the "inc" op set.

    PIL in -> PIL out. Needs timm (``pip install ssl-data[timm]``). VISSL ``RandAugment``
    (magnitude 9, magnitude_std 0.5, increasing_severity False, num_layers 2).
    ``img_size`` sets the translation range (45 % of it) and ``mean`` the fill colour.
    """

    def __init__(
        self,
        magnitude: float = 9,
        magnitude_std: float = 0.5,
        increasing_severity: bool = False,
        num_layers: int = 2,
        img_size: int = 224,
        mean: Sequence[float] = IMAGENET_MEAN,
    ) -> None:
        try:
            from timm.data.auto_augment import rand_augment_transform
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("RandAugment needs timm: pip install 'ssl-data[timm]'") from None
        if num_layers < 0 or magnitude < 0:
            raise ValueError(f"num_layers and magnitude must be >= 0, got {num_layers}, {magnitude}")
        config = f"rand-m{magnitude}-n{num_layers}-mstd{magnitude_std}" + ("-inc1" if increasing_severity else "")
        hparams = {"translate_const": int(img_size * 0.45), "img_mean": tuple(round(255 * m) for m in mean)}
        self.config = config
        self.transform = rand_augment_transform(config, hparams)

    def __call__(self, image: Any) -> Any:
        return self.transform(image)

    def __repr__(self) -> str:
        return f"RandAugment({self.config!r})"
