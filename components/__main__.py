"""`python -m components <command>`: see `python -m components --help`."""

from components.cli import main

main()
