"""Click options shared by every command module (apart from cli.py, which imports them all)."""

from __future__ import annotations

import click

stack_option = click.option("--stack", "-s", required=True, help="Stack name: stacks/Pulumi.<stack>.yaml.")
