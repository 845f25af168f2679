"""Grid patches cut from a batch of crops on the training device (Jigsaw and PIRL).

VISSL's ``ImgPatchesFromTensor`` cuts one image in a DataLoader worker; here a whole batch is cut
at once, each sample's jitter and tile order drawn from its own per-sample uniforms, so the
patches depend on (seed, epoch, index) only.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cut_grid_patches", "permutation_from_uniforms"]


def cut_grid_patches(images: Tensor, grid: int, jitter: int, uniforms: Tensor) -> Tensor:
    """Cut ``images [B, C, S, S]`` into a ``grid x grid`` grid of cells of side ``S // grid`` and
    take from each cell a ``(cell - jitter)``-sided patch at a random offset in ``[0, jitter]``.

    Args:
        uniforms: float ``[B, >= 2 * grid * grid]`` in [0, 1): offsets (row then column per cell).

    Returns:
        ``[B, grid * grid, C, p, p]`` with ``p = S // grid - jitter``, cells row-major.
    """
    b, c, h, w = images.shape
    cell = min(h, w) // grid
    patch = cell - jitter
    if patch < 1:
        raise ValueError(f"crops of {h}x{w} are too small for a {grid}x{grid} grid with jitter {jitter}")
    n = grid * grid
    u = uniforms[:, : 2 * n].to(images.device, torch.float64).view(b, n, 2)
    offsets = torch.floor(u * (jitter + 1)).clamp(max=jitter).to(torch.int64)  # [B, n, 2]
    cells = torch.arange(n, device=images.device)
    top = (cells // grid) * cell + offsets[..., 0]  # [B, n]
    left = (cells % grid) * cell + offsets[..., 1]
    span = torch.arange(patch, device=images.device)
    rows = (top[..., None] + span)[:, :, :, None]  # [B, n, p, 1]
    cols = (left[..., None] + span)[:, :, None, :]  # [B, n, 1, p]
    batch = torch.arange(b, device=images.device)[:, None, None, None]
    out = images.permute(0, 2, 3, 1)[batch, rows, cols]  # [B, n, p, p, C]
    return out.permute(0, 1, 4, 2, 3).contiguous()


def permutation_from_uniforms(uniforms: Tensor) -> Tensor:
    """A uniformly random permutation of ``range(n)`` per row of ``uniforms [B, n]`` (the
    argsort of i.i.d. uniforms): int64 ``[B, n]``."""
    return torch.argsort(uniforms, dim=1)
