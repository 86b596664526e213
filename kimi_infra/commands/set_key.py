"""`set-key`: store a provider's first key, read from a file or stdin (never from arguments)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from kimi_infra.commands.key_input import check_key_source, key_options, read_key
from kimi_infra.commands.options import json_option, profile_option, provider_option, say, stack_option


@click.command("set-key")
@stack_option
@provider_option
@key_options
@json_option
@profile_option
@click.pass_obj
def set_key(project_dir: Path, stack: str, provider: str, key_file: Path | None, key_stdin: bool,
            skip_verify: bool, verify_base_url: str | None, verify_timeout: float | None, as_json: bool) -> None:
    """Store a provider's FIRST key in the stack's secret store, after checking it with the provider.

    Refused when the provider already has a key (use `rotate`). The key is checked with
    GET <baseUrl>/models first (unless --skip-verify) and is never printed. In inline key mode,
    run `deploy` afterwards to write it to the targets.
    """
    from kimi_infra.commands.provider_stack import stack_provider, verify_url_for
    from kimi_infra.ops.set_key import set_first_key

    check_key_source(key_file, key_stdin)
    if not (key_file or key_stdin):
        raise click.UsageError("give the key with --key-file PATH or --key-stdin (keys are never taken as arguments)")
    spec, base_url = stack_provider(project_dir, stack, provider)
    verify_url = verify_url_for(provider, base_url, verify_base_url, skip_verify)
    key = read_key(key_file, key_stdin, provider)
    assert key is not None  # a source was given above
    stored = set_first_key(spec, project_dir, provider, key, verify_url=verify_url, verify_timeout=verify_timeout,
                           say=say)
    if as_json:
        click.echo(json.dumps(stored.to_json(), indent=2))
        return
    next_step = f"; run `kimi-infra deploy --stack {stack}` to write it to the targets" if spec.files_hold_keys else ""
    click.echo(f"stored the first {provider} key as {stored.secret}{next_step}")
