"""Provider keys from the environment (MOONSHOT_API_KEY, KIMICODE_API_KEY): never from arguments."""

from __future__ import annotations

import os

from kimi_infra.assemble import enabled_providers
from kimi_infra.errors import SpecError
from kimi_infra.key_rules import FIELD, refuse_shared_keys
from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret


def keys_from_environment(spec: StackSpec, *, required: bool = True) -> dict[str, Secret]:
    """Each enabled provider's key from its catalog env var (all required, or those set).

    Raises a field-level SpecError; the caller names the stack file.
    """
    keys: dict[str, Secret] = {}
    for info in enabled_providers(spec):
        value = os.environ.get(info.env_var, "").strip()
        if value:
            keys[info.name] = Secret(value)
        elif required:
            raise SpecError(FIELD, f"inline mode needs the {info.name} key in ${info.env_var}",
                            f"export {info.env_var} in the environment (keys are never taken as arguments)")
    refuse_shared_keys(keys)
    return keys
