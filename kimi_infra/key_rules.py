"""Rules on an API key that hold before any store or network is asked: its text (a bearer
token), one key per provider, and the hint that says how to set a missing one.

In the core, below `deploy` and `ops`, because both (and the Pulumi program) apply them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kimi_infra.errors import KimiInfraError, SpecError
from kimi_infra.secret import Secret

FIELD = "kimi-infra:keyMode"

# A bearer token is printable ASCII without spaces. Checking first also keeps http.client from
# raising "Invalid header value 'Bearer <key>'", which would quote the key.
_HEADER_SAFE = re.compile(r"[\x21-\x7e]+")


class VerifyError(KimiInfraError):
    """The provider did not accept the key, or could not be asked; names provider and endpoint."""


def check_key_text(provider: str, key: Secret) -> None:
    """Refuse a key that cannot be a bearer token (spaces, control or non-ASCII characters)."""
    if not _HEADER_SAFE.fullmatch(key.reveal()):
        raise VerifyError(f"the {provider} key has characters no API key has (spaces, control or non-ASCII "
                          "characters)", fix="give the key alone, exactly as the provider's console shows it")


def set_key_hint(stack: str, provider: str) -> str:
    """The fix hint for a missing key: the CLI command and `pulumi up` both."""
    return (f"run `kimi-infra set-key --stack {stack} --provider {provider} --key-stdin` "
            f"(or `pulumi up -s {stack}` with kimi-infra:{_config_key(provider)} set)")


def _config_key(provider: str) -> str:
    return "moonshotApiKey" if provider == "moonshot" else "kimicodeApiKey"


def refuse_shared_keys(keys: Mapping[str, Secret], field: str = FIELD) -> None:
    """One key given for two providers is refused (SpecError on `field`): the keys are not
    interchangeable, and one of the two is then certainly wrong."""
    if len(keys) > 1 and len(set(keys.values())) < len(keys):
        raise SpecError(field, f"the same key is set for {' and '.join(keys)}",
                        "give each provider its own key (Moonshot and Kimi Code keys are not interchangeable)")
