"""Data sources, catalog, transforms, collators, samplers and data-prep tools for self-supervised learning."""

from ssl_data.__about__ import __version__

__all__ = ["__version__"]
