"""Self-supervised learning losses for PyTorch (SimCLR, MoCo, SwAV, DINO, Barlow Twins, ...), distributed-aware, torch as the only dependency."""

from ssl_losses.__about__ import __version__

__all__ = ["__version__"]
