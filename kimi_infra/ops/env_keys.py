"""Provider keys from the environment (MOONSHOT_API_KEY, KIMICODE_API_KEY): never from arguments."""

from __future__ import annotations

import os
from collections.abc import Mapping

from kimi_infra.assemble import enabled_providers
from kimi_infra.errors import SpecError
from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret

FIELD = "kimi-infra:keyMode"


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


def refuse_shared_keys(keys: Mapping[str, Secret], field: str = FIELD) -> None:
    """One key given for two providers is refused (SpecError on `field`): the keys are not
    interchangeable, and one of the two is then certainly wrong."""
    if len(keys) > 1 and len(set(keys.values())) < len(keys):
        raise SpecError(field, f"the same key is set for {' and '.join(keys)}",
                        "give each provider its own key (Moonshot and Kimi Code keys are not interchangeable)")
