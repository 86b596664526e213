"""The fleet: where gateway hosts learn what to run, and where they say what they run.

Design (the README's "Fleet" section has the long form and the quota arithmetic)
- Distribution is AWS's own. A stack with `kimi-infra:fleet` gets, next to each of its S3 and SSM
  targets, a small *facts* object that `deploy`, `rotate` and `pulumi up` publish: the stack, the
  config revision (the content hash `deploy` published) and each provider's current key version
  id. Version ids only, never a key: it is safe to read for every gateway.
  S3 `s3://B/K` -> facts `s3://B/K.fleet.json`; SSM `/P` -> facts parameter `/P.fleet` (String).
- An agent polls only the facts. S3: a conditional GetObject (`IfNoneMatch` = the ETag it last
  saw) answers 304 with no body when nothing changed. SSM has no conditional read, so the agent
  reads the facts parameter with GetParameter (~300 bytes, no config, no key; the call whose
  throughput can be raised) and compares its Version. Either way an unchanged poll is one
  request, downloads no config and reads no key: a rotation publishes the new key version
  where agents already look, so no agent asks Secrets Manager (in secretref mode the
  gateway's resolver reads the key on `openclaw secrets reload`, once per rotation).
- Only when the facts name a config revision the agent has not applied does it read the config
  (one GetObject/GetParameter), check it (our model, this stack, its hash equals the published
  revision and, on S3, the object's hash metadata) and write it for the gateway to `$include`.
- Reports: `s3://B/K.fleet/reports/<gateway-id>.json` or `/P.fleet-reports/<gateway-id>` (String),
  one per gateway, written by its agent after every change and at each heartbeat; IAM lets an
  agent write only the name that carries its gateway id (`iam-policy --for agent`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from kimi_infra.errors import EXIT_FINDING, KimiInfraError
from kimi_infra.models import FileTargetSpec, S3TargetSpec, StackSpec, TargetSpec

FACTS_FORMAT = 1
STALE_HEARTBEATS = 3
"""`fleet` calls a report stale when it is older than this many of the stack's heartbeats."""
GATEWAY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
REPORT_FIELDS = ("gatewayId", "host", "stack", "target", "configRevision", "keyVersions", "appliedAt",
                 "reportedAt", "lastError", "agentVersion")

Say = Callable[[str], None]


class FleetError(KimiInfraError):
    """A fleet object is missing, malformed, or cannot be read or written; names where."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


def parse_iso(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


# --- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What a stack runs now: its config revision and each provider's current key version id."""

    stack: str
    config_revision: str
    key_mode: str
    key_versions: dict[str, str] = field(default_factory=dict)
    published_at: str | None = None

    def to_json(self) -> str:
        return json.dumps({"format": FACTS_FORMAT, "stack": self.stack, "configRevision": self.config_revision,
                           "keyMode": self.key_mode, "keyVersions": self.key_versions,
                           "publishedAt": self.published_at}, sort_keys=True)

    def same_as(self, other: Facts | None) -> bool:
        """Equal but for when it was published (a re-publish of the same facts writes nothing)."""
        return other is not None and (self.stack, self.config_revision, self.key_mode, self.key_versions) == (
            other.stack, other.config_revision, other.key_mode, other.key_versions)

    @classmethod
    def from_json(cls, text: str, where: str) -> Facts:
        """Parse published facts; a FleetError names `where` when they are not ours."""
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        versions = data.get("keyVersions") if isinstance(data, dict) else None
        if not isinstance(data, dict) or data.get("format") != FACTS_FORMAT or not isinstance(versions, dict) \
                or not all(isinstance(data.get(name), str) for name in ("stack", "configRevision", "keyMode")) \
                or not all(isinstance(k, str) and isinstance(v, str) for k, v in versions.items()):
            raise FleetError("the fleet facts are not kimi-infra's (format 1)", where=where,
                             fix="run `kimi-infra deploy` for the stack: it publishes them again")
        return cls(data["stack"], data["configRevision"], data["keyMode"], dict(versions), data.get("publishedAt"))


# --- where a target's fleet objects live ---------------------------------------------------------


@dataclass(frozen=True)
class Poll:
    """One poll of the facts: `changed` False means nothing to do (and `facts` is None)."""

    changed: bool
    facts: Facts | None
    tag: str | None  # S3 ETag or SSM version: what the next poll compares against


@dataclass(frozen=True)
class ConfigBody:
    """The deployed config as read once: its text and, on S3, the hash `deploy` stored beside it."""

    text: str
    published_hash: str | None


@dataclass(frozen=True)
class S3Place:
    """The fleet objects next to an S3 target."""

    target: str
    bucket: str
    key: str
    region: str

    @property
    def location(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    @property
    def facts_key(self) -> str:
        return f"{self.key}.fleet.json"

    @property
    def reports_prefix(self) -> str:
        return f"{self.key}.fleet/reports/"

    def report_name(self, gateway_id: str) -> str:
        return f"{self.reports_prefix}{gateway_id}.json"

    def poll(self, since: str | None) -> Poll:
        """Conditional GetObject of the facts: 304 (no body) when the ETag is still `since`."""
        from botocore.exceptions import ClientError

        with _aws(f"s3://{self.bucket}/{self.facts_key}", "read"):
            client = _client("s3", self.region)
            condition = {"IfNoneMatch": since} if since else {}
            try:
                answer = client.get_object(Bucket=self.bucket, Key=self.facts_key, **condition)
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") in ("304", "NotModified"):
                    return Poll(False, None, since)
                raise
            text = answer["Body"].read().decode("utf-8", "replace")
        return Poll(True, Facts.from_json(text, f"s3://{self.bucket}/{self.facts_key}"), answer["ETag"])

    def read_facts(self) -> Facts | None:
        text = self._get_text(self.facts_key)
        return Facts.from_json(text, f"s3://{self.bucket}/{self.facts_key}") if text is not None else None

    def publish(self, facts: Facts) -> bool:
        if facts.same_as(self.read_facts()):
            return False
        with _aws(f"s3://{self.bucket}/{self.facts_key}", "write"):
            _client("s3", self.region).put_object(Bucket=self.bucket, Key=self.facts_key,
                                                  Body=facts.to_json().encode(), ContentType="application/json")
        return True

    def read_config(self) -> ConfigBody | None:
        from kimi_infra.targets.s3 import HASH_METADATA

        with _aws(self.location, "read"):
            client = _client("s3", self.region)
            try:
                answer = client.get_object(Bucket=self.bucket, Key=self.key)
            except client.exceptions.NoSuchKey:
                return None
            text = answer["Body"].read().decode("utf-8", "replace")
        return ConfigBody(text, answer.get("Metadata", {}).get(HASH_METADATA))

    def write_report(self, gateway_id: str, report: dict[str, Any]) -> None:
        name = self.report_name(gateway_id)
        with _aws(f"s3://{self.bucket}/{name}", "write"):
            _client("s3", self.region).put_object(Bucket=self.bucket, Key=name, Body=json.dumps(report).encode(),
                                                  ContentType="application/json")

    def read_report(self, gateway_id: str) -> dict[str, Any] | None:
        return _report_or_none(self._get_text(self.report_name(gateway_id)))

    def reports(self) -> list[dict[str, Any]]:
        with _aws(f"s3://{self.bucket}/{self.reports_prefix}", "list"):
            client = _client("s3", self.region)
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.reports_prefix)
            names = [item["Key"] for page in pages for item in page.get("Contents", [])]
        found = [_report_or_none(self._get_text(name)) for name in names]
        return [report for report in found if report is not None]

    def _get_text(self, key: str) -> str | None:
        with _aws(f"s3://{self.bucket}/{key}", "read"):
            client = _client("s3", self.region)
            try:
                return client.get_object(Bucket=self.bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            except client.exceptions.NoSuchKey:
                return None


@dataclass(frozen=True)
class SsmPlace:
    """The fleet parameters next to an SSM target."""

    target: str
    parameter: str
    region: str

    @property
    def location(self) -> str:
        return f"ssm:{self.region}:{self.parameter}"

    @property
    def facts_name(self) -> str:
        return f"{self.parameter}.fleet"

    @property
    def reports_prefix(self) -> str:
        return f"{self.parameter}.fleet-reports/"

    def report_name(self, gateway_id: str) -> str:
        return f"{self.reports_prefix}{gateway_id}"

    def poll(self, since: str | None) -> Poll:
        """GetParameter of the small facts parameter (SSM has no conditional read); unchanged when
        its Version is still `since`."""
        found = self._get(self.facts_name)
        if found is None:
            raise FleetError("no fleet facts published", where=f"ssm:{self.region}:{self.facts_name}",
                             fix="run `kimi-infra deploy` for the stack (with `kimi-infra:fleet` in its stack file)")
        value, version = found
        if version == since:
            return Poll(False, None, since)
        return Poll(True, Facts.from_json(value, f"ssm:{self.region}:{self.facts_name}"), version)

    def read_facts(self) -> Facts | None:
        found = self._get(self.facts_name)
        return Facts.from_json(found[0], f"ssm:{self.region}:{self.facts_name}") if found else None

    def publish(self, facts: Facts) -> bool:
        if facts.same_as(self.read_facts()):
            return False
        with _aws(f"ssm:{self.region}:{self.facts_name}", "write"):
            _client("ssm", self.region).put_parameter(Name=self.facts_name, Value=facts.to_json(), Type="String",
                                                      Overwrite=True)
        return True

    def read_config(self) -> ConfigBody | None:
        found = self._get(self.parameter, decrypt=True)
        return ConfigBody(found[0], None) if found else None

    def write_report(self, gateway_id: str, report: dict[str, Any]) -> None:
        name = self.report_name(gateway_id)
        with _aws(f"ssm:{self.region}:{name}", "write"):
            _client("ssm", self.region).put_parameter(Name=name, Value=json.dumps(report), Type="String",
                                                      Overwrite=True)

    def read_report(self, gateway_id: str) -> dict[str, Any] | None:
        found = self._get(self.report_name(gateway_id))
        return _report_or_none(found[0] if found else None)

    def reports(self) -> list[dict[str, Any]]:
        with _aws(f"ssm:{self.region}:{self.reports_prefix}", "list"):
            client = _client("ssm", self.region)
            filters = [{"Key": "Name", "Option": "BeginsWith", "Values": [self.reports_prefix]}]
            pages = client.get_paginator("describe_parameters").paginate(ParameterFilters=filters)
            names = [item["Name"] for page in pages for item in page.get("Parameters", [])]
        found = [self._get(name) for name in names]
        return [report for report in (_report_or_none(f[0] if f else None) for f in found) if report is not None]

    def _get(self, name: str, decrypt: bool = False) -> tuple[str, str] | None:
        with _aws(f"ssm:{self.region}:{name}", "read"):
            client = _client("ssm", self.region)
            try:
                parameter = client.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]
            except client.exceptions.ParameterNotFound:
                return None
        return parameter["Value"], str(parameter["Version"])


Place = S3Place | SsmPlace


def place_for(target: TargetSpec) -> Place | None:
    """The fleet place next to an S3 or SSM target; None for a file target (no host can poll it)."""
    if isinstance(target, FileTargetSpec):
        return None
    if isinstance(target, S3TargetSpec):
        return S3Place(target.name, target.bucket, target.key, target.region)
    return SsmPlace(target.name, target.parameter, target.region)


def stack_places(spec: StackSpec) -> list[Place]:
    """Every fleet place of a stack that has `kimi-infra:fleet` (none otherwise)."""
    if spec.fleet is None:
        return []
    return [place for place in (place_for(target) for target in spec.targets) if place is not None]


# --- publishing (deploy, rotate, pulumi up) --------------------------------------------------------


def current_key_versions(spec: StackSpec, project_dir: Path) -> dict[str, str]:
    """Each provider's current key version id (never a value) where the gateway gets keys from us
    (inline and secretref); reference mode has none: the gateway's environment holds the keys."""
    from kimi_infra.stores import open_store

    if spec.files_reference_env:
        return {}
    versions: dict[str, str] = {}
    for provider in spec.providers:
        current = open_store(spec, provider, project_dir).describe().version_in("current")
        if current is not None:
            versions[provider] = current.version_id
    return versions


def publish_facts(spec: StackSpec, project_dir: Path, config_revision: str, say: Say | None = None,
                  places: list[Place] | None = None) -> list[str]:
    """Publish the stack's facts next to each of its S3/SSM targets (or `places`); writes nothing
    where they are already current. Returns the locations written. No-op without `fleet`."""
    places = stack_places(spec) if places is None else places
    if not places:
        return []
    facts = Facts(spec.stack, config_revision, spec.keyMode, current_key_versions(spec, project_dir),
                  iso(now_utc()))
    written = [place.location for place in places if place.publish(facts)]
    if say is not None:
        for location in written:
            say(f"{location}: fleet facts published (revision {config_revision[:12]})")
    return written


# --- what the fleet runs --------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetState:
    """The current facts and every gateway's last report, judged against them."""

    stack: str
    current: Facts | None
    gateways: list[dict[str, Any]]

    @property
    def ok(self) -> bool:
        return all(g["current"] and not g["stale"] for g in self.gateways)

    def old_keys(self) -> dict[str, int]:
        """Per provider: how many gateways do not report its current key version."""
        if self.current is None:
            return {}
        return {provider: sum(1 for g in self.gateways if (g.get("keyVersions") or {}).get(provider) != version)
                for provider, version in self.current.key_versions.items()}

    def to_json(self) -> dict[str, Any]:
        current = {"configRevision": self.current.config_revision, "keyVersions": self.current.key_versions} \
            if self.current else None
        return {"stack": self.stack, "current": current, "gateways": self.gateways, "oldKeys": self.old_keys()}


def fleet_state(spec: StackSpec, now: datetime | None = None) -> FleetState:
    """Read the facts and every report of the stack's places; mark each gateway current and stale."""
    places = require_fleet(spec)
    now = now or now_utc()
    current = next((facts for facts in (place.read_facts() for place in places) if facts is not None), None)
    stale_after = timedelta(seconds=STALE_HEARTBEATS * spec.fleet.heartbeatSeconds) if spec.fleet else timedelta()
    gateways = []
    for place in places:
        for report in place.reports():
            reported = parse_iso(report.get("reportedAt"))
            entry = {name: report.get(name) for name in REPORT_FIELDS}
            entry["current"] = current is not None and report.get("configRevision") == current.config_revision \
                and (report.get("keyVersions") or {}) == current.key_versions
            entry["stale"] = reported is None or now - reported > stale_after
            gateways.append(entry)
    gateways.sort(key=lambda g: (str(g["gatewayId"]), str(g["target"])))
    return FleetState(spec.stack, current, gateways)


def require_fleet(spec: StackSpec) -> list[Place]:
    """The stack's fleet places; a one-line error when it has no fleet or no S3/SSM target."""
    if spec.fleet is None:
        raise FleetError("the stack has no fleet (no facts are published for agents)", where=f"stack {spec.stack}",
                         fix="add `kimi-infra:fleet: {}` to its stack file and run `kimi-infra deploy`")
    places = stack_places(spec)
    if not places:
        raise FleetError("the stack has no S3 or SSM target for gateway hosts to read", where=f"stack {spec.stack}",
                         fix="add an s3 or ssm target to its stack file and run `kimi-infra deploy`")
    return places


def wait_for_key(spec: StackSpec, provider: str, version: str, *, timeout: float, interval: float, say: Say,
                 sleep: Callable[[float], None], clock: Callable[[], float]) -> datetime | None:
    """Wait until every live (not stale) gateway reports `version` for `provider`; returns when the
    last of them applied it (None when no live gateway reports). A gateway live when the wait began
    is waited for even if its reports stop meanwhile (an agent busy with a slow reload, or one that
    died, is not a reason to call the rotation done). On timeout, a FleetError (exit 1) names the
    gateways that lag: the old key is still needed."""
    deadline = clock() + timeout
    waited: set[tuple[str, str]] | None = None  # (gatewayId, target) of the gateways live at the start
    while True:
        state = fleet_state(spec)
        if waited is None:
            waited = {_gateway_key(g) for g in state.gateways if not g["stale"]}
        live = [g for g in state.gateways if not g["stale"] or _gateway_key(g) in waited]
        lagging = [g for g in live if (g.get("keyVersions") or {}).get(provider) != version]
        if not lagging:
            for gateway in state.gateways:
                if gateway["stale"] and _gateway_key(gateway) not in waited:
                    say(f"fleet {spec.stack}: {gateway['gatewayId']} has not reported for more than "
                        f"{STALE_HEARTBEATS} heartbeats: not counted; check it before revoking the old key")
            applied = [parse_iso(g.get("appliedAt")) for g in live]
            return max((moment for moment in applied if moment is not None), default=None)
        if clock() >= deadline:
            names = ", ".join(sorted({str(g["gatewayId"]) for g in lagging}))
            raise FleetError(f"{len(lagging)} gateway(s) still run the old {provider} key after {timeout:g} s: "
                             f"{names}; the old key is still needed, do not revoke it",
                             where=f"fleet {spec.stack}",
                             fix="check those gateways' agents (`kimi-infra fleet --stack "
                                 f"{spec.stack}` shows their last error), then run the rotation again with "
                                 "--wait-fleet", exit_code=EXIT_FINDING)
        say(f"fleet {spec.stack}: waiting for {len(lagging)} gateway(s) to report the new {provider} key")
        sleep(interval)


# --- small helpers -------------------------------------------------------------------------------


def _gateway_key(gateway: dict[str, Any]) -> tuple[str, str]:
    """What tells one gateway's report from another's: its id and the target it reads."""
    return str(gateway.get("gatewayId")), str(gateway.get("target"))


def _report_or_none(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("gatewayId"), str) else None


def _client(service: str, region: str) -> Any:
    from kimi_infra import aws

    return aws.client(service, region)


def _aws(location: str, action: str) -> Any:
    from kimi_infra.targets.base import aws_errors

    return aws_errors(location, action)


# --- a rotation across the fleet -------------------------------------------------------------------

REVOKE_GRACE_S = 300
"""After the last gateway reloaded: longer than the longest request, so none still in flight
carries the old key when it is revoked."""
WAIT_POLL_S = 2.0


def check_fleet_wait(spec: StackSpec) -> None:
    """Refuse `--wait-fleet` before anything changes where no agent can confirm a key."""
    require_fleet(spec)
    if spec.files_reference_env:
        raise FleetError("in keyMode reference the gateways read the key from their environment: no agent can "
                         "confirm it", where="--wait-fleet",
                         fix="drop --wait-fleet (give the gateways the new key and restart them), or use keyMode "
                             "secretref")


def wait_for_rotation(spec: StackSpec, project_dir: Path, provider: str, *, timeout: float, say: Say,
                      sleep: Callable[[float], None] | None = None, grace: int = REVOKE_GRACE_S) -> datetime | None:
    """Wait for every live gateway to report the provider's current key version, then say from when
    the old key may be revoked (`grace` seconds after the last gateway's reload); returns that
    moment (None when no live gateway reports)."""
    import time

    from kimi_infra.stores import open_store

    current = open_store(spec, provider, project_dir).describe().version_in("current")
    if current is None:
        raise FleetError("no current key", where=f"{spec.stack}/{provider}", fix="run `kimi-infra set-key` first")
    last = wait_for_key(spec, provider, current.version_id, timeout=timeout, interval=WAIT_POLL_S, say=say,
                        sleep=sleep or time.sleep, clock=time.monotonic)
    label = f"{spec.stack}/{provider}"
    if last is None:
        say(f"{label}: no live gateway reports to the fleet; revoke the old key only once you know none uses it")
        return None
    revoke = last + timedelta(seconds=grace)
    say(f"{label}: every live gateway runs the new key (the last since {iso(last)}); the old key may be revoked "
        f"from {iso(revoke)} ({grace} s later, longer than the longest request)")
    return revoke
