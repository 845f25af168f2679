"""Collators: turn a list of samples into a batch dict (VISSL's collate functions)."""

from ssl_data.collators.basic import default_collator, moco_collator, simclr_collator
from ssl_data.collators.by_name import COLLATORS, build_collator
from ssl_data.collators.cutmixup import cutmixup_collator
from ssl_data.collators.jigsaw import patch_and_image_collator, siamese_collator
from ssl_data.collators.multicrop import multicrop_collator, multicrop_mixup_collator
from ssl_data.collators.samples import Sample, as_samples
from ssl_data.collators.targets import targets_one_hot_collator

__all__ = [
    "COLLATORS",
    "Sample",
    "as_samples",
    "build_collator",
    "cutmixup_collator",
    "default_collator",
    "moco_collator",
    "multicrop_collator",
    "multicrop_mixup_collator",
    "patch_and_image_collator",
    "siamese_collator",
    "simclr_collator",
    "targets_one_hot_collator",
]
