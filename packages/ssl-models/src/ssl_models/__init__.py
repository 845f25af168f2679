"""Vision trunks and SSL heads behind one interface, on torchvision and timm."""

from ssl_models.__about__ import __version__

__all__ = ["__version__"]
