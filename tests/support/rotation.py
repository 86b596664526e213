"""Projects for rotation tests: the known stacks in a chosen key mode, seeded as `pulumi up` leaves
them (versioned buckets, the old keys current, every target deployed), and what they hold after."""

from __future__ import annotations

from pathlib import Path

from kimi_infra.deploy import deploy_all
from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret
from kimi_infra.stackfile import load_stack
from kimi_infra.stores import open_store
from tests.support.deployed import deployed_text
from tests.support.moto import create_bucket
from tests.support.project import KNOWN_STACKS, known_stack_config, make_project

OLD = {"moonshot": "sk-moonshot-old-0000000000000000000000", "kimi-code": "sk-kimi-old-11111111111111111111111111"}
NEW = {"moonshot": "sk-moonshot-new-2222222222222222222222", "kimi-code": "sk-kimi-new-33333333333333333333333333"}


def rotation_project(root: Path, mode: str = "reference") -> Path:
    """A scratch project with the known stack files, every stack switched to key mode `mode`."""
    stacks = {}
    for stack in KNOWN_STACKS:
        config = known_stack_config(stack)
        config["kimi-infra:keyMode"] = mode
        config.pop("kimi-infra:resolver", None)
        if mode == "secretref":
            config["kimi-infra:resolver"] = {"command": "/opt/kimi-infra/bin/kimi-infra-resolve"}
        stacks[stack] = config
    return make_project(root, stacks)


def seed(project: Path, stack: str) -> StackSpec:
    """What `pulumi up` leaves: buckets (versioned), the old keys current, every target deployed."""
    spec = load_stack(project, stack).spec
    for target in spec.targets:
        if target.kind == "s3":
            create_bucket(target.bucket, target.region)
    for name in spec.providers:
        open_store(spec, name, project).ensure(Secret(OLD[name]))
    deploy_all(spec, project)
    return spec


def stages(spec: StackSpec, project: Path, provider: str = "moonshot") -> dict[str, str | None]:
    """The key in each stage of the provider's store (None where no version holds the stage)."""
    store = open_store(spec, provider, project)
    return {stage: (value.reveal() if (value := store.get(stage)) else None)
            for stage in ("current", "pending", "previous")}


def deployed_texts(spec: StackSpec, project: Path) -> list[str | None]:
    """The bytes at every target, read with the test's own clients."""
    return [deployed_text(project, spec, target) for target in spec.targets]
