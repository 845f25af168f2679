"""Apply one transform (or one per view) several times to the same image."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["MultiView"]


class MultiView:
    """Return ``num_views`` independently augmented views of one image.

    ``MultiView(t, num_views=2)(img) -> [t(img), t(img)]`` (a list; the default collate turns a
    batch of them into a list of ``[B, ...]`` tensors, view-major). Pass a sequence of transforms
    for asymmetric views (BYOL's two pipelines, multi-crop's global/local crops); then
    ``num_views`` defaults to its length and view ``v`` uses ``transforms[v]``. VISSL calls the
    2-view case ``ImgReplicatePil`` followed by per-view transforms.
    """

    def __init__(self, transform: Callable[[Any], Any] | Sequence[Callable[[Any], Any]], num_views: int | None = None) -> None:
        if callable(transform):
            views = [transform] * (2 if num_views is None else num_views)
        else:
            seq = list(transform)
            if not seq or not all(callable(t) for t in seq):
                raise ValueError("transform must be a callable or a non-empty sequence of callables")
            if num_views is not None and num_views != len(seq):
                raise ValueError(f"num_views={num_views} but {len(seq)} transforms were given")
            views = seq
        if len(views) < 1:
            raise ValueError(f"num_views must be >= 1, got {num_views}")
        self.transforms = views
        self.num_views = len(views)

    def __call__(self, image: Any) -> list[Any]:
        return [t(image) for t in self.transforms]

    def __repr__(self) -> str:
        return f"{type(self).__name__}(num_views={self.num_views}, transforms={self.transforms!r})"
