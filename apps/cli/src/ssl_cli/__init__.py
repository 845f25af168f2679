"""The `ssl` command: pretrain, benchmark, convert and prepare data."""

from ssl_cli.__about__ import __version__

__all__ = ["__version__"]
