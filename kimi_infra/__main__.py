"""`python -m kimi_infra <command>`: see `python -m kimi_infra --help`."""

from kimi_infra.cli import main

main()
