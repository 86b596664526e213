"""Stack spec + catalog -> OpenClaw config: the one place where overrides are applied.

`check_stack` enforces the rules that span fields (known models, unique names, regions a
provider serves) and names the exact field to fix; `assemble` then cannot fail on a checked spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

from pydantic import BaseModel

from kimi_infra.base_urls import base_url, check_base_urls
from kimi_infra.catalog import PROVIDERS, ProviderInfo, secret_id
from kimi_infra.errors import SpecError
from kimi_infra.models import (
    RESOLVER_PROVIDER,
    AgentModelEntry,
    AwsSecretsManagerStoreSpec,
    CostOverride,
    EnvBlock,
    ExecSecretProvider,
    ExtraModel,
    LegacyEnvBlock,
    LocalStoreSpec,
    ModelDefinition,
    ModelOverride,
    OpenClawConfig,
    SecretRef,
    SecretsSection,
    StackSpec,
)
from kimi_infra.secret import Secret

NS = "kimi-infra:"

Fail = Callable[[str, str, str], SpecError]
"""(field, problem, fix) -> the error to raise for that field of the stack."""


@dataclass(frozen=True)
class RenderedModel:
    """A model as it will be rendered, with the alias it gets in `agents.defaults.models`."""

    provider: str
    definition: ModelDefinition
    alias: str
    ref: str = dataclass_field(init=False)  # `<provider>/<model id>`, read by every check and by assemble

    def __post_init__(self) -> None:
        # A plain attribute set once: a cached_property takes a lock on every read (Python 3.11).
        object.__setattr__(self, "ref", f"{self.provider}/{self.definition.id}")


_CATALOG_MODELS: dict[str, tuple[RenderedModel, ...]] = {
    info.name: tuple(RenderedModel(info.name, entry.definition, entry.alias) for entry in info.models)
    for info in PROVIDERS.values()
}
"""Each provider's catalog models as a stack renders them without overrides or aliases (immutable,
so every stack shares them)."""
_CATALOG_ENTRIES = {m.alias: AgentModelEntry(alias=m.alias) for shared in _CATALOG_MODELS.values() for m in shared}
"""The `agents.defaults.models` entry of each catalog alias, shared by every stack that keeps it."""


def shared_objects() -> list[BaseModel]:
    """The model objects that assemble puts unchanged into every config that uses them: catalog
    definitions, their cost and compat, the catalog aliases' entries. Module constants, never
    changed (a change would show in every stack), so `render` writes each one's text once."""
    definitions = [m.definition for shared in _CATALOG_MODELS.values() for m in shared]
    parts = [part for d in definitions for part in (d.cost, d.compat) if part is not None]
    return [*definitions, *parts, *_CATALOG_ENTRIES.values()]


def enabled_providers(spec: StackSpec) -> list[ProviderInfo]:
    """The stack's providers in catalog order (stable output whatever order the file lists)."""
    return [info for name, info in PROVIDERS.items() if name in spec.providers]


def check_stack(spec: StackSpec) -> list[RenderedModel]:
    """Raise SpecError (field-level, no file) for the first cross-field problem; return the models to render."""

    def fail(field: str, problem: str, fix: str) -> SpecError:
        return SpecError(NS + field, problem, fix)

    _check_providers(spec, fail)
    _check_modes(spec, fail)
    check_base_urls(spec, fail)
    _check_target_names(spec, fail)
    models = _rendered_models(spec, fail)
    refs = {m.ref: m for m in models}
    for ref in spec.modelOverrides:
        if ref not in refs:
            raise fail(f"modelOverrides.{ref}", "names a model this stack does not render",
                       f"use one of {_listing(refs)}")
    for ref in spec.aliases:
        if ref not in refs:
            raise fail(f"aliases.{ref}", "names a model this stack does not render", f"use one of {_listing(refs)}")
    _check_alias_collisions(models, fail)
    if spec.primaryModel is not None and spec.primaryModel not in refs:
        raise fail("primaryModel", f"{spec.primaryModel!r} is not a model this stack renders",
                   f"use one of {_listing(refs)}")
    return models


def _check_providers(spec: StackSpec, fail: Fail) -> None:
    seen: set[str] = set()
    for name in spec.providers:
        if name in seen:
            raise fail("providers", f"{name!r} is listed twice", "list each provider once")
        seen.add(name)
        if spec.region not in PROVIDERS[name].base_urls:
            raise fail("providers", f"{name!r} has no endpoint for region {spec.region!r} in the catalog",
                       f"remove {name!r} from this stack or use region 'global'")
    for name in spec.extraModels:
        if name not in spec.providers:
            raise fail(f"extraModels.{name}", f"provider {name!r} is not enabled in this stack",
                       f"add {name!r} to kimi-infra:providers or remove these extra models")


def _check_modes(spec: StackSpec, fail: Fail) -> None:
    if spec.gateway_fetches_keys and spec.resolver is None:
        raise fail("resolver", "keyMode secretref needs the resolver the gateway runs",
                   "add `kimi-infra:resolver: {command: /abs/path/to/bin/kimi-infra-resolve}`")
    store = spec.secretStore
    # The resolver reads a local store on the gateway host, where a project-relative path means nothing.
    if spec.gateway_fetches_keys and isinstance(store, LocalStoreSpec) and not (store.path or "").startswith("/"):
        raise fail("secretStore.path", "keyMode secretref with a local store needs the store file's absolute "
                   "path on the gateway host", "give an absolute path, e.g. /var/lib/kimi-infra/secrets.json")
    if spec.legacyEnvBlock and not spec.files_hold_keys:
        raise fail("legacyEnvBlock", "only applies to keyMode inline", "remove it or set kimi-infra:keyMode: inline")


def _check_target_names(spec: StackSpec, fail: Fail) -> None:
    seen: set[str] = set()
    for index, target in enumerate(spec.targets):
        if target.name in seen:
            raise fail(f"targets[{index}].name", f"target name {target.name!r} is used twice",
                       "give each target a distinct `name`")
        seen.add(target.name)


def _rendered_models(spec: StackSpec, fail: Fail) -> list[RenderedModel]:
    models: list[RenderedModel] = []
    for info in enabled_providers(spec):
        for shared in _CATALOG_MODELS[info.name]:
            override, alias = spec.modelOverrides.get(shared.ref), spec.aliases.get(shared.ref)
            if override is None and alias is None:
                models.append(shared)  # as the catalog has it: the same object for every stack
                continue
            definition = _apply_override(shared.definition, override)
            models.append(RenderedModel(info.name, definition, shared.alias if alias is None else alias))
        known = {m.definition.id for m in models if m.provider == info.name}
        for index, extra in enumerate(spec.extraModels.get(info.name, [])):
            field = f"extraModels.{info.name}[{index}]"
            if extra.id in known:
                raise fail(f"{field}.id", f"model id {extra.id!r} already exists for {info.name!r}",
                           "use a new id, or change the existing model through kimi-infra:modelOverrides")
            known.add(extra.id)
            ref = info.ref(extra.id)
            definition = _apply_override(_definition_of(extra), spec.modelOverrides.get(ref))
            alias = spec.aliases.get(ref, extra.alias or extra.name)
            models.append(RenderedModel(info.name, definition, alias))
    return models


_DEFINITION_FIELDS = tuple(ModelDefinition.model_fields)


def _definition_of(extra: ExtraModel) -> ModelDefinition:
    """The extra model as the provider's config lists it: its ModelDefinition fields (not `alias`)."""
    # Its validated values as they are, validated again as a ModelDefinition: half the time of
    # model_dump + the constructor, which turned the nested cost into a dict and back for every stack.
    return ModelDefinition.model_validate({name: extra.__dict__[name] for name in _DEFINITION_FIELDS})


def _apply_override(definition: ModelDefinition, override: ModelOverride | None) -> ModelDefinition:
    if override is None:
        return definition
    changes = _named_fields(override)
    if override.cost is not None:
        changes["cost"] = definition.cost.model_copy(update=_named_fields(override.cost))
    return definition.model_copy(update=changes)


def _named_fields(override: ModelOverride | CostOverride) -> dict[str, object]:
    """The fields an override names (those not None); the caller merges a named `cost` itself."""
    # What model_dump(exclude_none=True) gives for these flat models, without the serializer per stack.
    return {name: value for name, value in override.__dict__.items() if value is not None}


def _check_alias_collisions(models: list[RenderedModel], fail: Fail) -> None:
    owner: dict[str, str] = {}
    for model in models:
        other = owner.setdefault(model.alias, model.ref)
        if other != model.ref:
            raise fail(f"aliases.{model.ref}", f"alias {model.alias!r} is already used by {other!r}",
                       f"give {model.ref!r} a different alias under kimi-infra:aliases")


def _listing(refs: Iterable[str]) -> str:
    return ", ".join(refs)


def assemble(spec: StackSpec, keys: Mapping[str, Secret] | None = None) -> OpenClawConfig:
    """Build the stack's OpenClaw config; inline mode needs `keys` (provider name -> key)."""
    models = check_stack(spec)
    providers = enabled_providers(spec)
    definitions: dict[str, list[ModelDefinition]] = {info.name: [] for info in providers}
    for model in models:  # one pass, in the order check_stack gives (catalog, then extras)
        definitions[model.provider].append(model.definition)
    # One validation of the whole: every field is checked and OpenClawConfig's own validator
    # re-checks the whole (refs resolve, aliases unique), so a bug here can never render a config
    # that `validate` would reject. One call rather than a constructor per part: render runs per
    # stack, and the CLI's start builds one validator instead of seven.
    return OpenClawConfig.model_validate({
        "env": _env_block(spec, providers, keys),
        "secrets": _secrets_section(spec),
        "agents": {"defaults": {
            "model": {"primary": spec.primaryModel or models[0].ref},
            "models": {m.ref: _CATALOG_ENTRIES.get(m.alias) or {"alias": m.alias} for m in models},
        }},
        "models": {"mode": "merge", "providers": {
            info.name: {
                "baseUrl": base_url(spec, info),
                "apiKey": _api_key(spec, info),
                "api": info.api,
                "models": definitions[info.name],
            }
            for info in providers
        }},
    })


def _api_key(spec: StackSpec, info: ProviderInfo) -> str | SecretRef:
    if spec.gateway_fetches_keys:
        return SecretRef(source="exec", provider=RESOLVER_PROVIDER, id=secret_id(spec.stack, info.name))
    return "${" + info.env_var + "}"


def _env_block(spec: StackSpec, providers: list[ProviderInfo],
               keys: Mapping[str, Secret] | None) -> EnvBlock | LegacyEnvBlock | None:
    if not spec.files_hold_keys:
        return None
    keys = keys or {}
    missing = [info.name for info in providers if info.name not in keys]
    if missing:
        raise ValueError(f"inline key mode needs keys for {', '.join(missing)}")
    values = {info.env_var: keys[info.name].reveal() for info in providers}
    return values if spec.legacyEnvBlock else EnvBlock(vars=values)


def _secrets_section(spec: StackSpec) -> SecretsSection | None:
    if not spec.gateway_fetches_keys or spec.resolver is None:
        return None
    resolver = ExecSecretProvider(
        source="exec",
        command=spec.resolver.command,
        args=_resolver_args(spec.secretStore) + _resolver_bounds(spec.stack, spec.resolver.timeoutMs),
        passEnv=list(spec.resolver.passEnv),
        jsonOnly=True,
        timeoutMs=spec.resolver.timeoutMs,
    )
    return SecretsSection(providers={RESOLVER_PROVIDER: resolver})


def _resolver_bounds(stack: str, timeout_ms: int) -> list[str]:
    """Bind the resolver to this stack's ids, and make it answer (UNAVAILABLE if need be) well
    before OpenClaw's timeoutMs kills it: two thirds leaves room for the interpreter's start."""
    return ["--stack", stack, "--deadline-ms", str(max(100, timeout_ms * 2 // 3))]


def _resolver_args(store: LocalStoreSpec | AwsSecretsManagerStoreSpec) -> list[str]:
    """The arguments that tell `kimi_infra.resolver` which store to read (see its --help)."""
    if isinstance(store, LocalStoreSpec):
        return ["--local-file", store.path or ""]  # _check_modes made sure it is absolute
    profile = ["--aws-profile", store.profile] if store.profile else []
    return ["--aws-region", store.region, *profile]
