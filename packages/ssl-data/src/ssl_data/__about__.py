"""Version of ssl-data."""

__version__ = "0.1.0"
