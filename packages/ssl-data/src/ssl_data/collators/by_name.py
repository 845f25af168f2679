"""Collators by VISSL name."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from ssl_data.collators.basic import default_collator, moco_collator, simclr_collator
from ssl_data.collators.cutmixup import cutmixup_collator
from ssl_data.collators.jigsaw import patch_and_image_collator, siamese_collator
from ssl_data.collators.multicrop import multicrop_collator, multicrop_mixup_collator
from ssl_data.collators.targets import targets_one_hot_collator

__all__ = ["COLLATORS", "build_collator"]

#: VISSL's COLLATE_FUNCTION names (and short aliases) -> collator functions.
COLLATORS: dict[str, Callable[..., dict[str, Any]]] = {
    "default_collate": default_collator,
    "default": default_collator,
    "simclr_collator": simclr_collator,
    "simclr": simclr_collator,
    "moco_collator": moco_collator,
    "moco": moco_collator,
    "multicrop_collator": multicrop_collator,
    "multicrop": multicrop_collator,
    "siamese_collator": siamese_collator,
    "siamese": siamese_collator,
    "patch_and_image_collator": patch_and_image_collator,
    "patch_and_image": patch_and_image_collator,
    "targets_one_hot_default_collator": targets_one_hot_collator,
    "targets_one_hot": targets_one_hot_collator,
    "multicrop_mixup_collator": multicrop_mixup_collator,
    "multicrop_mixup": multicrop_mixup_collator,
    "cutmixup_collator": cutmixup_collator,
    "cutmixup": cutmixup_collator,
}


def build_collator(name: str, **params: Any) -> Callable[[Sequence[Any]], dict[str, Any]]:
    """``collate_fn`` for a DataLoader from VISSL's ``COLLATE_FUNCTION`` and
    ``COLLATE_FUNCTION_PARAMS``; ValueError for an unknown name or parameter."""
    if name not in COLLATORS:
        raise ValueError(f"unknown collator {name!r}; known: {', '.join(sorted(COLLATORS))}")
    fn = COLLATORS[name]
    accepted = set(inspect.signature(fn).parameters) - {"batch"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise ValueError(f"collator {name!r} has no parameter(s) {unknown}; it takes {sorted(accepted)}")
    return functools.partial(fn, **params) if params else fn
