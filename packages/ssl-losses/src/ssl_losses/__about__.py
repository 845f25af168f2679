"""Version of ssl-losses."""

__version__ = "0.1.0"
