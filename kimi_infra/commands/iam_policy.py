"""`iam-policy`: print the least-privilege IAM policy of a stack's gateway or operator."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.options import say, stack_option
from kimi_infra.ops.iam_policy import Role


@click.command("iam-policy")
@stack_option
@click.option("--for", "role", required=True, type=click.Choice(["gateway", "operator", "agent"]),
              help="gateway: read the current keys; operator: also rotate them; agent: `kimi-infra agent` on a "
                   "gateway host (read the config and fleet facts, write its own report).")
@click.option("--gateway-id", metavar="ID", help="With --for agent: the one gateway whose report it may write "
              "(default: the role's kimi-infra-gateway-id tag, as an IAM policy variable).")
@click.pass_obj
def iam_policy(project_dir: Path, stack: str, role: Role | str, gateway_id: str | None) -> None:
    """Print the IAM policy (JSON) the stack's gateway or operator needs, with ARNs from AWS.

    Best printed after `pulumi up` or `deploy`: a secret or SSM parameter not made yet is named by
    pattern (a note says which). A local-store stack needs none.
    """
    from kimi_infra.ops.iam_policy import stack_policy
    from kimi_infra.stackfile import load_stack

    loaded = load_stack(project_dir, stack)
    if role == "agent":
        from kimi_infra.ops.agent_policy import agent_policy

        click.echo(json.dumps(agent_policy(loaded.spec, project_dir, gateway_id), indent=2))
        return
    click.echo(json.dumps(stack_policy(loaded.spec, project_dir, role, say), indent=2))  # type: ignore[arg-type]
