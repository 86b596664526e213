"""Secret names, shared by the stores, the catalog and the resolver: no pydantic, so the resolver
that OpenClaw starts for every reload stays light."""

from __future__ import annotations

PROVIDER_NAMES = ("moonshot", "kimi-code")
"""The providers of the catalog (a unit test keeps this equal to `catalog.PROVIDERS`)."""


def secret_id(stack: str, provider_name: str) -> str:
    """The name of a provider's key in every store, and its OpenClaw SecretRef id."""
    return f"kimi-infra/{stack}/{provider_name}"
