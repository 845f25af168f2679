"""Version of ssl-models."""

__version__ = "0.1.0"
