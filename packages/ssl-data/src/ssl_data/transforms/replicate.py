"""VISSL's ImgReplicatePil: copies of one image for multi-view methods."""

from __future__ import annotations

from typing import Any

__all__ = ["ImgReplicatePil"]


class ImgReplicatePil:
    """``image -> [image] * num_times`` (the same object; later transforms make the views differ).

    A *copies* transform: in :class:`~ssl_data.transforms.by_name.VisslTransforms` the list is
    flattened so each copy is transformed on its own. VISSL name ``ImgReplicatePil`` (num_times 2).
    """

    kind = "copies"

    def __init__(self, num_times: int = 2) -> None:
        if num_times < 1:
            raise ValueError(f"num_times must be >= 1, got {num_times}")
        self.num_times = int(num_times)

    def __call__(self, image: Any) -> list[Any]:
        return [image] * self.num_times

    def __repr__(self) -> str:
        return f"ImgReplicatePil(num_times={self.num_times})"
