"""VISSL's LABEL_TYPE: which label a sample carries (standard, sample_index or zero)."""

from __future__ import annotations

__all__ = ["LABEL_TYPES", "apply_label_type", "check_label_type"]

LABEL_TYPES: tuple[str, ...] = ("standard", "sample_index", "zero")


def check_label_type(label_type: str) -> str:
    """Return ``label_type`` lower-cased, or raise ValueError naming the allowed values."""
    value = label_type.lower()
    if value not in LABEL_TYPES:
        raise ValueError(f"label_type must be one of {', '.join(LABEL_TYPES)}, got {label_type!r}")
    return value


def apply_label_type(label: int, index: int, label_type: str) -> int:
    """``standard`` keeps the source's label, ``sample_index`` uses the dataset index (NPID,
    instance discrimination), ``zero`` gives 0 for every sample (required by cutmixup for SSL)."""
    if label_type == "standard":
        return label
    if label_type == "sample_index":
        return index
    if label_type == "zero":
        return 0
    raise ValueError(f"label_type must be one of {', '.join(LABEL_TYPES)}, got {label_type!r}")
