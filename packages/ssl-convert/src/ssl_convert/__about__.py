"""Version of ssl-convert."""

__version__ = "0.1.0"
