"""Provider and model facts, transcribed from the seed document (Moonshot AI / Kimi docs).

Two providers whose keys are NOT interchangeable: `moonshot` (Moonshot Open Platform, Kimi K2)
and `kimi-code` (Kimi Code). Everything here is data; `assemble` turns it into a config.
"""

from __future__ import annotations

from dataclasses import dataclass

from kimi_infra.models import ModelDefinition, ProviderApi, ProviderName, Region
from kimi_infra.secret_ids import secret_id as secret_id  # re-exported: stores and ops import it here

API: ProviderApi = "openai-completions"
# The seed's facts go through ModelDefinition's validator as plain data: the nested cost and compat
# are checked inside it, so the CLI's start builds one validator here instead of three.
_FREE = {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0}


@dataclass(frozen=True)
class CatalogModel:
    """A model as the seed lists it, with its alias in `agents.defaults.models`."""

    definition: ModelDefinition
    alias: str


@dataclass(frozen=True)
class ProviderInfo:
    """One provider: where it lives per region, which env var and config key hold its key."""

    name: ProviderName
    env_var: str
    config_key: str
    base_urls: dict[Region, str]
    models: tuple[CatalogModel, ...]
    api: ProviderApi = API

    def ref(self, model_id: str) -> str:
        """The model ref OpenClaw uses: `<provider>/<model id>`."""
        return f"{self.name}/{model_id}"


def _kimi_k2(model_id: str, name: str, alias: str, *, reasoning: bool) -> CatalogModel:
    definition = ModelDefinition.model_validate({
        "id": model_id,
        "name": name,
        "reasoning": reasoning,
        "input": ["text"],
        "cost": _FREE,
        "contextWindow": 256000,
        "maxTokens": 8192,
    })
    return CatalogModel(definition=definition, alias=alias)


MOONSHOT = ProviderInfo(
    name="moonshot",
    env_var="MOONSHOT_API_KEY",
    config_key="moonshotApiKey",
    base_urls={"global": "https://api.moonshot.ai/v1", "cn": "https://api.moonshot.cn/v1"},
    models=(
        _kimi_k2("kimi-k2-0905-preview", "Kimi K2 0905 Preview", "Kimi K2", reasoning=False),
        _kimi_k2("kimi-k2-turbo-preview", "Kimi K2 Turbo", "Kimi K2 Turbo", reasoning=False),
        _kimi_k2("kimi-k2-thinking", "Kimi K2 Thinking", "Kimi K2 Thinking", reasoning=True),
        _kimi_k2("kimi-k2-thinking-turbo", "Kimi K2 Thinking Turbo", "Kimi K2 Thinking Turbo", reasoning=True),
    ),
)

KIMI_CODE = ProviderInfo(
    name="kimi-code",
    env_var="KIMICODE_API_KEY",
    config_key="kimicodeApiKey",
    # The seed gives Kimi Code no China endpoint: a cn stack cannot enable it.
    base_urls={"global": "https://api.kimi.com/coding/v1"},
    models=(
        CatalogModel(
            definition=ModelDefinition.model_validate({
                "id": "kimi-for-coding",
                "name": "Kimi For Coding",
                "reasoning": True,
                "input": ["text"],
                "cost": _FREE,
                "contextWindow": 262144,
                "maxTokens": 32768,
                "headers": {"User-Agent": "KimiCLI/0.77"},
                "compat": {"supportsDeveloperRole": False},
            }),
            alias="Kimi Code",
        ),
    ),
)

PROVIDERS: dict[str, ProviderInfo] = {p.name: p for p in (MOONSHOT, KIMI_CODE)}
"""Providers in the seed's order, which is also the order they render in."""


def provider(name: str) -> ProviderInfo:
    """The provider called `name`; KeyError names the ones we know."""
    try:
        return PROVIDERS[name]
    except KeyError:
        raise KeyError(f"unknown provider {name!r}; known: {', '.join(PROVIDERS)}") from None


