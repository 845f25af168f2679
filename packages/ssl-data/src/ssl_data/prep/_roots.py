"""Locating a dataset's official folder under the ``-i`` path."""

from __future__ import annotations

from pathlib import Path

__all__ = ["find_root"]


def find_root(input_path: Path, marker: str, names: tuple[str, ...]) -> Path:
    """The folder containing ``marker``: ``input_path`` itself or one of its sub-folders ``names``
    (the archive's top folder). FileNotFoundError naming what was looked for otherwise."""
    base = Path(input_path)
    if not base.exists():
        raise FileNotFoundError(f"input folder not found: {base}")
    for cand in (base, *(base / n for n in names)):
        if (cand / marker).exists():
            return cand
    where = ", ".join(str(base / n / marker) for n in ("", *names))
    raise FileNotFoundError(f"official layout not found: expected {where}")
