"""Typed, strict models: the stack spec we read and the OpenClaw config we render.

Field names follow the wire formats (OpenClaw's JSON5 and Pulumi's camelCase config keys), so a
model dumps to exactly the keys the gateway expects without an alias table. Field order is the
order of the seed document: `render` writes fields in declaration order.
"""

# No `from __future__ import annotations` here: pydantic would have to evaluate each field's
# annotation from its text at class creation, a third of the time `render` spends building these
# classes at start (issue 23). The two methods that name their own class quote it.
import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, Tag, model_validator

from kimi_infra.paths import STATE_DIR

ProviderName = Literal["moonshot", "kimi-code"]
ProviderApi = Literal["openai-completions"]
"""The wire protocol OpenClaw uses to talk to our providers."""
Region = Literal["global", "cn"]
KeyMode = Literal["reference", "inline", "secretref"]

# OpenClaw reads numbers as JavaScript doubles and its schema (zod `number().positive()`) refuses
# Infinity: a 400-digit contextWindow parses as Infinity there. Beyond 2**53 - 1 a double also
# stops holding every integer, so that is our bound for token counts and prices alike; the
# contract test checks the edge values against `openclaw config validate`.
JS_MAX_SAFE_INTEGER = 2**53 - 1
PositiveInt = Annotated[int, Field(gt=0, le=JS_MAX_SAFE_INTEGER)]
# float first: its error is the one a user of prices needs to read; pydantic's smart union still
# keeps an int an int. Each member carries the bounds, so pydantic checks them in its core (bounds
# on the union would run as Python functions for every number); the upper bound also refuses
# infinity and NaN. The tags keep error locations as users wrote them (errors._UNION_TAGS).
NonNegativeNumber = Annotated[float, Field(ge=0, le=JS_MAX_SAFE_INTEGER), Tag("float")] | Annotated[
    int, Field(ge=0, le=JS_MAX_SAFE_INTEGER), Tag("int")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=256)]
ModelId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
# A model ref is "<provider>/<model id>", as in `moonshot/kimi-k2-0905-preview`.
ModelRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*/[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")]
EnvVarName = Annotated[str, StringConstraints(pattern=r"^[A-Z_][A-Z0-9_]*$")]
AbsolutePath = Annotated[str, StringConstraints(pattern=r"^/[^\x00]*$")]
# OpenClaw's SecretRef id grammar.
SecretRefId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/#-]{0,255}$")]
AwsRegionName = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-\d$")]
SecretText = Annotated[str, StringConstraints(min_length=1, max_length=65536)]
HttpsUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$")]

RESOLVER_PROVIDER = "kimi-infra"
"""The name of our exec SecretRef provider inside `secrets.providers`."""


class Strict(BaseModel):
    """Base for every model: strict types, unknown fields are errors."""

    # hide_input_in_errors: a rendered config holds keys, and an error must never quote one.
    model_config = ConfigDict(strict=True, extra="forbid", hide_input_in_errors=True, defer_build=True)


# --- The OpenClaw config (what we render) -------------------------------------------------


class ModelCost(Strict):
    """Price per million tokens; zero is valid (the seed prices every model at 0)."""

    input: NonNegativeNumber
    output: NonNegativeNumber
    cacheRead: NonNegativeNumber
    cacheWrite: NonNegativeNumber


class ModelCompat(Strict):
    """OpenAI-compatibility switches for one model."""

    supportsDeveloperRole: bool


class ModelDefinition(Strict):
    """One entry of `models.providers.<name>.models`."""

    id: ModelId
    name: Text
    reasoning: bool
    input: Annotated[list[Literal["text", "image"]], Field(min_length=1)]
    cost: ModelCost
    contextWindow: PositiveInt
    maxTokens: PositiveInt
    headers: dict[Text, Text] | None = None
    compat: ModelCompat | None = None


class SecretRef(Strict):
    """OpenClaw's reference to a key that the gateway resolves itself."""

    source: Literal["exec"]
    provider: Text
    id: SecretRefId


class ProviderConfig(Strict):
    """One entry of `models.providers`."""

    baseUrl: HttpsUrl
    apiKey: SecretText | SecretRef
    api: ProviderApi
    models: Annotated[list[ModelDefinition], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_model_ids(self) -> "ProviderConfig":
        _require_unique([m.id for m in self.models], "model id")
        return self


class ModelsSection(Strict):
    mode: Literal["merge", "replace"]
    providers: dict[Text, ProviderConfig]


class AgentModelEntry(Strict):
    alias: Text | None = None


class PrimaryModel(Strict):
    primary: ModelRef


class AgentDefaults(Strict):
    model: PrimaryModel
    models: dict[ModelRef, AgentModelEntry]


class Agents(Strict):
    defaults: AgentDefaults


class EnvBlock(Strict):
    """Current OpenClaw form: `env: { vars: { MOONSHOT_API_KEY: "..." } }`."""

    vars: dict[EnvVarName, SecretText]


LegacyEnvBlock = dict[EnvVarName, SecretText]
"""The clawdbot form of the seed: `env: { MOONSHOT_API_KEY: "..." }`."""


ExecTimeoutMs = Annotated[int, Field(gt=0, le=120_000)]
"""OpenClaw's bounds for an exec provider's timeouts (its default is 5000 ms)."""
PassEnvName = Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")]
"""A variable OpenClaw may pass to an exec provider (its grammar is stricter than EnvVarName)."""


class ExecSecretProvider(Strict):
    """An exec SecretRef provider: OpenClaw runs `command` (no shell, an environment of only the
    `passEnv` variables, cwd = the command's folder) and reads keys from its stdout."""

    source: Literal["exec"]
    command: AbsolutePath
    args: Annotated[list[Text], Field(max_length=128)] | None = None
    passEnv: list[PassEnvName] | None = None
    jsonOnly: bool | None = None
    timeoutMs: ExecTimeoutMs | None = None


class SecretsSection(Strict):
    providers: dict[Text, ExecSecretProvider]


class OpenClawConfig(Strict):
    """The part of an OpenClaw config that kimi-infra owns, in the seed's field order."""

    env: EnvBlock | LegacyEnvBlock | None = None
    secrets: SecretsSection | None = None
    agents: Agents
    models: ModelsSection

    @model_validator(mode="after")
    def _refs_resolve(self) -> "OpenClawConfig":
        rendered = {
            f"{provider}/{model.id}"
            for provider, config in self.models.providers.items()
            for model in config.models
        }
        defaults = self.agents.defaults
        if defaults.model.primary not in rendered:
            raise ValueError(f"primary model {defaults.model.primary!r} is not among the rendered models")
        if not rendered.issuperset(defaults.models):  # one set operation per config; the loop names the first
            for ref in defaults.models:
                if ref not in rendered:
                    raise ValueError(f"agents.defaults.models names {ref!r}, which is not a rendered model")
        _require_unique([e.alias for e in defaults.models.values() if e.alias], "alias")
        self._check_secret_refs()
        return self

    def _check_secret_refs(self) -> None:
        known = set(self.secrets.providers) if self.secrets else set()
        for name, provider in self.models.providers.items():
            ref = provider.apiKey
            if isinstance(ref, SecretRef) and ref.provider not in known:
                raise ValueError(f"provider {name!r} apiKey names secrets provider {ref.provider!r}, "
                                 "which secrets.providers does not define")


# --- The stack spec (what we read from stacks/Pulumi.<stack>.yaml) -------------------------


class CostOverride(Strict):
    """Any subset of a model's cost; fields left out keep the catalog value."""

    input: NonNegativeNumber | None = None
    output: NonNegativeNumber | None = None
    cacheRead: NonNegativeNumber | None = None
    cacheWrite: NonNegativeNumber | None = None


class ModelOverride(Strict):
    """Changes to one rendered model; only the fields named change."""

    name: Text | None = None
    contextWindow: PositiveInt | None = None
    maxTokens: PositiveInt | None = None
    cost: CostOverride | None = None


class ExtraModel(ModelDefinition):
    """A model the catalog does not have yet; defaults as for the seed's text models."""

    # Mutable defaults come from factories: pydantic deep-copies a default value on every use.
    reasoning: bool = False
    input: Annotated[list[Literal["text", "image"]], Field(min_length=1, default_factory=lambda: ["text"])]
    cost: ModelCost = Field(default_factory=lambda: ModelCost(input=0, output=0, cacheRead=0, cacheWrite=0))
    alias: Text | None = None


class LocalStoreSpec(Strict):
    """Dev secret store: one 0600 JSON file; a relative path is relative to the project."""

    kind: Literal["local"]
    path: Text | None = None


class AwsSecretsManagerStoreSpec(Strict):
    """AWS Secrets Manager; the region decides the partition (cn-* regions are `aws-cn`)."""

    kind: Literal["aws-secrets-manager"]
    region: AwsRegionName
    kmsKeyId: Text | None = None
    profile: Text | None = None


SecretStoreSpec = Annotated[LocalStoreSpec | AwsSecretsManagerStoreSpec, Field(discriminator="kind")]

TargetName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]


class FileTargetSpec(Strict):
    """A file on this host; a relative path is relative to the project."""

    kind: Literal["file"]
    name: TargetName = "file"
    path: Text


class S3TargetSpec(Strict):
    """An S3 object that gateway hosts pull."""

    kind: Literal["s3"]
    name: TargetName = "s3"
    bucket: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")]
    key: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    region: AwsRegionName
    kmsKeyId: Text | None = None


class SsmTargetSpec(Strict):
    """An SSM parameter (String, or SecureString when it holds a key)."""

    kind: Literal["ssm"]
    name: TargetName = "ssm"
    parameter: Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9_.\-/]{1,1010}$")]
    region: AwsRegionName
    kmsKeyId: Text | None = None


TargetSpec = Annotated[FileTargetSpec | S3TargetSpec | SsmTargetSpec, Field(discriminator="kind")]


class FleetSpec(Strict):
    """Gateway hosts run `kimi-infra agent` against the stack's S3/SSM targets: `deploy` and `rotate`
    publish a small facts object (config revision, key version ids; never a key) next to each such
    target, and agents report there. Off unless the stack file asks (`kimi-infra:fleet: {}`)."""

    # How often an agent reports even when nothing changed; `fleet` calls a report older than
    # STALE_HEARTBEATS of these stale.
    heartbeatSeconds: Annotated[int, Field(ge=5, le=86_400)] = 60


class ResolverSpec(Strict):
    """The exec resolver OpenClaw runs in `secretref` mode (an absolute path on the gateway host).

    OpenClaw gives the resolver only the `passEnv` variables that are set (no PATH, no HOME), so
    the list names everything boto3 may need to find credentials: profiles, static keys, the
    ECS/EKS container and web-identity settings, and AWS_ENDPOINT_URL (VPC endpoints, tests).
    """

    command: AbsolutePath
    passEnv: list[PassEnvName] = [
        "HOME",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
    ]
    # Above OpenClaw's 5 s default: a cold AWS credential lookup plus one retry can take longer.
    timeoutMs: ExecTimeoutMs = 15_000


class StackSpec(Strict):
    """Everything `kimi-infra:` in one stack file, minus Pulumi's `secure:` key values."""

    stack: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
    region: Region = "global"
    providers: Annotated[list[ProviderName], Field(min_length=1)]
    keyMode: KeyMode = "reference"
    legacyEnvBlock: bool = False
    primaryModel: ModelRef | None = None
    # Mutable defaults come from factories: pydantic deep-copies a default value on every use.
    modelOverrides: dict[ModelRef, ModelOverride] = Field(default_factory=dict)
    extraModels: dict[ProviderName, list[ExtraModel]] = Field(default_factory=dict)
    aliases: dict[ModelRef, Text] = Field(default_factory=dict)
    secretStore: SecretStoreSpec = Field(default_factory=lambda: LocalStoreSpec(kind="local"))
    targets: Annotated[list[TargetSpec], Field(min_length=1)]
    resolver: ResolverSpec | None = None
    fleet: FleetSpec | None = None
    # Provider name -> API base URL (a proxy in front of the provider); rules in kimi_infra.base_urls.
    baseUrls: dict[Text, Annotated[str, StringConstraints(min_length=1, max_length=2048)]] = Field(default_factory=dict)
    allowCrossRegionBaseUrl: bool = False
    # Cross-field rules (known models, unique names, cn support) live in `assemble.check_stack`,
    # which can name the exact field and fix in its error.

    @property
    def files_hold_keys(self) -> bool:
        """Whether its rendered files carry the keys themselves (inline mode): 0600, SSE-KMS, SecureString."""
        return self.keyMode == "inline"

    @property
    def gateway_fetches_keys(self) -> bool:
        """Whether the gateway reads the keys from our store through the exec resolver (secretref mode)."""
        return self.keyMode == "secretref"

    @property
    def files_reference_env(self) -> bool:
        """Whether its rendered files name each key's environment variable (reference mode)."""
        return self.keyMode == "reference"


def _require_unique(values: list[str], what: str) -> None:
    if len(set(values)) == len(values):  # the common case, in one C call (this runs per validated config)
        return
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


def local_store_default_path(stack: str) -> str:
    """Where the dev store lives when the stack file names no path."""
    return f"{STATE_DIR}/{stack}/secrets.json"


def is_env_reference(value: str) -> str | None:
    """The variable name in a `${VAR}` reference, or None for any other string."""
    match = re.fullmatch(r"\$\{([A-Z_][A-Z0-9_]*)\}", value)
    return match.group(1) if match else None
