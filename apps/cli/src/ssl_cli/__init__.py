"""The `ssl` command: pretrain, benchmark, convert and prepare data."""

from ssl_cli.__about__ import __version__
from ssl_cli.main import app, main

__all__ = ["__version__", "app", "main"]
