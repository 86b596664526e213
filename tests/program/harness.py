"""A mocked Pulumi engine that runs our real dynamic providers.

`pulumi.runtime.set_mocks` replaces the engine; our `new_resource` does what the engine's
dynamic-provider host would: unpickle `__provider` with dill and call its real `create`, or, when
a previous run left state, its `diff` and then `update` (or create + delete on replace). After
the program, resources the program no longer declares are deleted, as `pulumi up` does.
"""

from __future__ import annotations

import base64
import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dill
import pulumi
from pulumi.runtime.rpc import _special_secret_sig, _special_sig_key

DYNAMIC_PREFIX = "pulumi-python:dynamic/"


@dataclass
class Recorded:
    """One resource's state as the engine would keep it between runs."""

    typ: str
    id: str
    provider_blob: str
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    secret_inputs: frozenset[str]


@dataclass
class EngineRun:
    """What one run did: per resource name the operation, plus every pickled provider blob."""

    operations: dict[str, str] = field(default_factory=dict)  # name -> create|same|update|replace|delete
    blobs: list[str] = field(default_factory=list)
    registered: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> raw inputs as received
    types: dict[str, str] = field(default_factory=dict)


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(_special_sig_key) == _special_secret_sig


def _reveal(inputs: dict[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    plain = {k: v["value"] if _is_secret(v) else v for k, v in inputs.items()}
    return plain, frozenset(k for k, v in inputs.items() if _is_secret(v))


def _wrap(outputs: dict[str, Any], secret: frozenset[str]) -> dict[str, Any]:
    return {k: {_special_sig_key: _special_secret_sig, "value": v} if k in secret else v for k, v in outputs.items()}


class RealProviderMocks(pulumi.runtime.Mocks):
    """Mocks whose dynamic resources run for real; `state` carries over between runs."""

    def __init__(self, state: dict[str, Recorded]) -> None:
        self.prior = dict(state)
        self.state: dict[str, Recorded] = {}
        self.run = EngineRun()

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        self.run.registered[args.name] = dict(args.inputs)
        self.run.types[args.name] = args.typ
        if not args.typ.startswith(DYNAMIC_PREFIX):
            return f"{args.name}-id", dict(args.inputs)
        blob_value = args.inputs["__provider"]
        blob = blob_value["value"] if _is_secret(blob_value) else blob_value
        self.run.blobs.append(blob)
        provider = dill.loads(base64.b64decode(blob))
        props, secret = _reveal({k: v for k, v in args.inputs.items() if k != "__provider"})
        resource_id, outputs = self._apply(args.name, provider, props)
        self.state[args.name] = Recorded(args.typ, resource_id, blob, props, outputs, secret)
        return resource_id, _wrap(outputs, secret)

    def _apply(self, name: str, provider: Any, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        prior = self.prior.get(name)
        if prior is None:
            created = provider.create(props)
            self.run.operations[name] = "create"
            return created.id, created.outs
        diff = provider.diff(prior.id, prior.outputs, props)
        if not diff.changes:
            self.run.operations[name] = "same"
            return prior.id, prior.outputs  # the engine keeps the old outputs on no change
        if diff.replaces:
            created = provider.create(props)
            provider.delete(prior.id, prior.outputs)
            self.run.operations[name] = "replace"
            return created.id, created.outs
        updated = provider.update(prior.id, prior.outputs, props)
        self.run.operations[name] = "update"
        return prior.id, updated.outs

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}

    def delete_removed(self) -> None:
        """What `pulumi up` does last: delete what the program no longer declares."""
        for name, prior in self.prior.items():
            if name in self.state:
                continue
            provider = dill.loads(base64.b64decode(prior.provider_blob))
            provider.delete(prior.id, prior.outputs)
            self.run.operations[name] = "delete"


@dataclass
class ProgramResult:
    outputs: dict[str, Any]
    secret_outputs: set[str]
    key_secrecy: dict[str, bool]  # provider -> whether its key Output is secret
    run: EngineRun
    state: dict[str, Recorded]


def config_from_stack_file(path: Path) -> tuple[dict[str, str], list[str]]:
    """The config the engine would pass for a stack file: structured values as JSON strings."""
    import json

    import yaml

    document = yaml.safe_load(path.read_text())["config"]
    config = {key: value if isinstance(value, str) else json.dumps(value) for key, value in document.items()}
    return config, []


def run_program(stack: str, project_dir: Path, config: dict[str, str], secret_keys: list[str],
                state: dict[str, Recorded] | None = None) -> ProgramResult:
    """One `pulumi up` of components.program under the mocked engine."""
    mocks = RealProviderMocks(state or {})
    pulumi.runtime.set_mocks(mocks, project="kimi-infra", stack=stack, preview=False)
    pulumi.runtime.set_all_config(config, secret_keys)
    resolved: dict[str, Any] = {}
    secret: set[str] = set()
    key_secrecy: dict[str, bool] = {}

    @pulumi.runtime.test
    def program():
        from components.program import run

        built = run(project_dir)

        async def collect():
            for name, output in built.exports.items():
                output = pulumi.Output.from_input(output)
                resolved[name] = await output.future()
                if await output.is_secret():
                    secret.add(name)
            for provider in built.providers:
                if provider.api_key is not None:
                    key_secrecy[provider.provider_name] = await provider.api_key.is_secret()

        return collect()

    # The engine starts the dynamic-provider plugin in the project's folder: the providers find it from there.
    with contextlib.chdir(project_dir):
        program()
        mocks.delete_removed()
    return ProgramResult(resolved, secret, key_secrecy, mocks.run, mocks.state)
