"""The `ssl` command: pretrain, benchmark, convert and prepare data."""

from ssl_cli.errors import interrupts_end_loading

with interrupts_end_loading():  # Ctrl-C during the seconds of imports: one line, exit 130
    from ssl_cli.__about__ import __version__
    from ssl_cli.main import app, main

__all__ = ["__version__", "app", "main"]
