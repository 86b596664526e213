"""`set-key`: store a provider's FIRST key in the stack's secret store, verified first.

A key that already exists is never replaced here (that is `rotate`, with its stage, verify,
promote and rollback). Plain Python: the CLI reads the key from a file or stdin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kimi_infra.errors import KimiInfraError
from kimi_infra.models import StackSpec
from kimi_infra.secret import Secret


@dataclass(frozen=True)
class StoredKey:
    """Where the first key went: the secret's name and its version (never the key)."""

    stack: str
    provider: str
    secret: str
    version_id: str
    verified_at: str | None

    def to_json(self) -> dict[str, Any]:
        return {"stack": self.stack, "provider": self.provider, "secret": self.secret,
                "versionId": self.version_id, "verifiedAt": self.verified_at}


def set_first_key(spec: StackSpec, project_dir: Path, provider: str, key: Secret, *, verify_url: str | None,
                  say: Callable[[str], None], verify_timeout: float | None = None) -> StoredKey:
    """Refuse when the provider already has a key or `key` is another provider's; verify at
    `verify_url` (None: skip) within `verify_timeout` seconds (None: the default); then create the
    secret. Nothing is written before every check passed."""
    from kimi_infra.ops.verify import get_models
    from kimi_infra.stores import open_store, refuse_other_providers_key

    store = open_store(spec, provider, project_dir)
    if store.exists():
        raise KimiInfraError("already has a key", where=store.name,
                             fix=f"use rotate to replace it: `kimi-infra rotate --stack {spec.stack} "
                             f"--provider {provider} --key-stdin`")
    refuse_other_providers_key(spec, project_dir, provider, key)
    if verify_url is not None:
        answer = get_models(provider, verify_url, key, verify_timeout)
        say(f"{spec.stack}/{provider}: verified against {verify_url} (HTTP {answer.status})")
    else:
        say(f"{spec.stack}/{provider}: not verified (--skip-verify)")
    result = store.ensure(key)
    return StoredKey(spec.stack, provider, store.name, result.version_id, verify_url)
