"""VISSL's ``siamese_concat_view``: concatenate the features of the towers of each sample."""

from __future__ import annotations

from torch import Tensor

from ssl_models.heads.base import Head

__all__ = ["SiameseConcatView"]


class SiameseConcatView(Head):
    """``[B * num_towers, ...] -> [B, num_towers * prod(...)]``.

    The towers of one sample are consecutive rows (rows ``i*num_towers:(i+1)*num_towers`` are
    sample ``i``), as in Jigsaw (9 tiles) and PIRL patches.
    """

    def __init__(self, num_towers: int) -> None:
        if num_towers < 1:
            raise ValueError(f"num_towers must be >= 1, got {num_towers!r}")
        super().__init__("siamese_concat_view", {"num_towers": int(num_towers)})
        self.num_towers = int(num_towers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[0] % self.num_towers:
            raise ValueError(f"batch of {x.shape[0]} rows is not a multiple of num_towers={self.num_towers}")
        return x.reshape(x.shape[0] // self.num_towers, -1)
