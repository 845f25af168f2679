"""`python -m ssl_cli` runs the `ssl` command."""

from ssl_cli.main import main

main()
