"""Version of ssl-cli."""

__version__ = "0.1.0"
