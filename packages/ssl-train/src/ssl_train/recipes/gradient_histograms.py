"""Histograms of oriented gradients (Dalal and Triggs, 2005) as stage-1 features without a model.

ClusterFit's stage 1 needs features whose clusters follow the classes. An image's standardised
pixels are one such feature (``pixel_features``); local gradient-orientation histograms are a
better one on small grey images (held-out Fashion-MNIST training images, kNN k=200, T=0.1,
``benchmarks/results/stage_one_features.json``: standardised pixels 80.72 %, these histograms
82.64 %, both together 83.98 %; after PCA to 256 components 81.24 / 82.94 / 84.38 %; no label is
read to compute them). DeepCluster (Caron et al., 2018) feeds its network Sobel gradients for the same
reason: gradients drop what clustering should not key on (brightness, colour).

The conventions are scikit-image's ``skimage.feature.hog`` (``orientations``, ``pixels_per_cell``,
``cells_per_block``, ``block_norm="L2-Hys"``): central differences with zero gradient on the
border rows/columns, unsigned orientation in [0, 180) degrees, each pixel's magnitude added to its
one orientation bin, the cell's mean, 2 x 2-cell blocks normalised (L2, clipped at 0.2, L2 again),
block-major order. Computed on the batch in torch (the ranks' devices), not per image in NumPy.

``interpolate=True`` is Dalal and Triggs' own orientation binning: each pixel's magnitude is split
linearly between the two bins whose centres (``(i + 0.5) * 180 / bins`` degrees) enclose its
orientation, wrapping at 180 degrees, so an edge near a bin boundary no longer jumps from one bin
to the other. On the held-out images above the interpolated histograms reach 84.00 % (hard
binning 82.94 %), with the pixels 85.30 % (84.38 %), 256 components each
(``benchmarks/results/stage_one_features.json``).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ssl_train.recipes.pixel_features import at_most

__all__ = ["GradientHistograms"]

_EPS = 1e-5  # scikit-image's L2-Hys epsilon


class GradientHistograms(nn.Module):
    """``images [B, C, H, W] -> [B, (H // cell - block + 1) * (W // cell - block + 1) * block^2 * bins]``
    (a 28 px image with the defaults: 6 x 6 blocks x 2 x 2 cells x 9 bins = 1,296 values).

    Colour images are averaged over their channels first (the gradient of the grey image), and
    images larger than ``max_side`` are average-pooled to it first (``pixel_features.at_most``; H
    and W above are then the pooled sides), which bounds the length for any input size.

    Args:
        bins: orientation bins over [0, 180) degrees.
        cell: side of a cell in pixels.
        block: side of a normalisation block in cells.
        max_side: longest side the histograms are computed at.
        interpolate: split each magnitude between the two nearest orientation bins (Dalal and
            Triggs) instead of adding it to the one bin it falls in (scikit-image).
    """

    def __init__(self, bins: int = 9, cell: int = 4, block: int = 2, max_side: int = 32, interpolate: bool = False) -> None:
        super().__init__()
        if bins < 1 or cell < 1 or block < 1 or max_side < 1:
            raise ValueError(f"bins, cell, block and max_side must be >= 1, got {bins}, {cell}, {block}, {max_side}")
        self.bins, self.cell, self.block, self.max_side = bins, cell, block, max_side
        self.interpolate = interpolate

    def forward(self, images: Tensor) -> Tensor:
        """See the class docstring for shapes."""
        x = at_most(images, self.max_side).mean(dim=1)
        b, h, w = x.shape
        rows, cols = h // self.cell, w // self.cell
        if rows < self.block or cols < self.block:
            raise ValueError(f"{h} x {w} px images hold fewer than {self.block} x {self.block} cells of {self.cell} px")
        g_row, g_col = torch.zeros_like(x), torch.zeros_like(x)
        g_row[:, 1:-1, :] = x[:, 2:, :] - x[:, :-2, :]
        g_col[:, :, 1:-1] = x[:, :, 2:] - x[:, :, :-2]
        magnitude = torch.hypot(g_col, g_row)
        orientation = torch.rad2deg(torch.atan2(g_row, g_col)) % 180.0
        per_bin = self._binned(orientation, magnitude)
        cells = nn.functional.avg_pool2d(per_bin[:, :, : rows * self.cell, : cols * self.cell], self.cell)
        # [B, bins, rows, cols] -> blocks [B, rows - block + 1, cols - block + 1, block, block, bins]
        blocks = cells.unfold(2, self.block, 1).unfold(3, self.block, 1).permute(0, 2, 3, 4, 5, 1)
        blocks = blocks.reshape(b, rows - self.block + 1, cols - self.block + 1, -1)
        blocks = blocks / torch.sqrt((blocks**2).sum(-1, keepdim=True) + _EPS**2)
        blocks = blocks.clamp(max=0.2)
        blocks = blocks / torch.sqrt((blocks**2).sum(-1, keepdim=True) + _EPS**2)
        return blocks.flatten(1)

    def _binned(self, orientation: Tensor, magnitude: Tensor) -> Tensor:
        """``orientation`` (degrees in [0, 180)), ``magnitude`` ``[B, H, W]`` -> votes ``[B, bins, H, W]``."""
        b, h, w = magnitude.shape
        per_bin = torch.zeros(b, self.bins, h, w, dtype=magnitude.dtype, device=magnitude.device)
        width = 180.0 / self.bins
        if not self.interpolate:
            index = torch.div(orientation, width, rounding_mode="floor").long().clamp_(0, self.bins - 1)
            return per_bin.scatter_(1, index[:, None], magnitude[:, None])
        position = orientation / width - 0.5  # in bin-centre units: bin i's centre is at i
        below = torch.floor(position)
        above_share = position - below
        below = below.long() % self.bins  # -1 (orientations under the first centre) wraps to the last bin
        per_bin.scatter_add_(1, below[:, None], (magnitude * (1.0 - above_share))[:, None])
        return per_bin.scatter_add_(1, ((below + 1) % self.bins)[:, None], (magnitude * above_share)[:, None])
