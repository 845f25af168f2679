"""Checkpoint converters between ssl, torchvision, VISSL, detectron2, ClassyVision and timm formats, with verification."""

from ssl_convert.__about__ import __version__

__all__ = ["__version__"]
