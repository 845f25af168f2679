"""A run folder is never overwritten by accident."""

from __future__ import annotations

from pathlib import Path

__all__ = ["check_out_dir"]


def check_out_dir(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to overwrite a previous run's results unless asked to resume or overwrite."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"output path exists and is not a folder: {out}")
    previous = [p for p in (out / "results.json", out / "checkpoints" / "last.pt") if p.exists()]
    if previous and not (resume or overwrite):
        raise FileExistsError(
            f"{out} already holds a run ({previous[0].name}); pass --resume to continue it or --overwrite to replace it"
        )
