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
from functools import partial
from pathlib import Path
from typing import Any

from kimi_infra.errors import EXIT_FINDING, MAX_FILE_CHARS, KimiInfraError
from kimi_infra.models import FileTargetSpec, S3TargetSpec, StackSpec, TargetSpec

FACTS_FORMAT = 1
STALE_HEARTBEATS = 3
"""`fleet` calls a report stale when it is older than this many of the stack's heartbeats."""
GATEWAY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
MAX_FLEET_OBJECT_BYTES = 64 * 2**10
"""Facts and reports are a few hundred bytes; anything bigger in their place is not ours, and is not
downloaded (a hostile multi-GB object would otherwise fill the agent's or `fleet`'s memory)."""
# What published facts may hold: they are quoted in log lines and reports, so no spaces, line
# breaks or escapes; a revision is a sha256 or HMAC-SHA256 hex digest.
_FACTS_STACK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_FACTS_REVISION = re.compile(r"^[0-9a-f]{64}$")
_FACTS_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_KEY_MODES = ("reference", "inline", "secretref")
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
        data = _json_object(text)
        if data is None or not _facts_shape(data):
            raise FleetError("the fleet facts are not kimi-infra's (format 1)", where=where,
                             fix="run `kimi-infra deploy` for the stack: it publishes them again")
        published = data.get("publishedAt")
        return cls(data["stack"], data["configRevision"], data["keyMode"], dict(data["keyVersions"]),
                   published if isinstance(published, str) and parse_iso(published) else None)


def _facts_shape(data: dict[str, Any]) -> bool:
    """Whether `data` has the fields and forms `publish_facts` writes (nothing else is trusted)."""
    if data.get("format") != FACTS_FORMAT or data.get("keyMode") not in _KEY_MODES:
        return False
    versions = data.get("keyVersions")
    return isinstance(data.get("stack"), str) and bool(_FACTS_STACK.fullmatch(data["stack"])) \
        and isinstance(data.get("configRevision"), str) and bool(_FACTS_REVISION.fullmatch(data["configRevision"])) \
        and isinstance(versions, dict) and all(
            isinstance(k, str) and isinstance(v, str) and _FACTS_NAME.fullmatch(k) and _FACTS_NAME.fullmatch(v)
            for k, v in versions.items())


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
class Report:
    """One gateway's report as found in the store. Its gateway id comes from the object's name (IAM
    lets only that gateway's agent write it), its time from the store; `problem` when unusable."""

    gateway_id: str
    stored_at: datetime | None
    data: dict[str, Any] | None
    problem: str | None = None


@dataclass(frozen=True)
class S3Place:
    """The fleet objects next to an S3 target."""

    target: str
    bucket: str
    key: str
    region: str

    scan_seconds_per_report = 0.01
    """A `--wait-fleet` scan reads every report (one GetObject each): at most ~100 GET/s of S3's
    5,500 per prefix, so the agents' polls always have room."""

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
            text = _body_text(answer, MAX_FLEET_OBJECT_BYTES, f"s3://{self.bucket}/{self.facts_key}")
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
            text = _body_text(answer, MAX_FILE_CHARS, self.location)
        return ConfigBody(text, answer.get("Metadata", {}).get(HASH_METADATA))

    def write_report(self, gateway_id: str, report: dict[str, Any]) -> None:
        name = self.report_name(gateway_id)
        with _aws(f"s3://{self.bucket}/{name}", "write"):
            _client("s3", self.region).put_object(Bucket=self.bucket, Key=name, Body=json.dumps(report).encode(),
                                                  ContentType="application/json")

    def read_report(self, gateway_id: str) -> dict[str, Any] | None:
        return _report_or_none(self._get_text(self.report_name(gateway_id)))

    def reports(self) -> list[Report]:
        with _aws(f"s3://{self.bucket}/{self.reports_prefix}", "list"):
            client = _client("s3", self.region)
            pages = client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.reports_prefix)
            listed = [(item["Key"], item.get("LastModified")) for page in pages for item in page.get("Contents", [])]
        return _read_reports(listed, self.reports_prefix, ".json", self._get_text)

    def _get_text(self, key: str) -> str | None:
        with _aws(f"s3://{self.bucket}/{key}", "read"):
            client = _client("s3", self.region)
            try:
                answer = client.get_object(Bucket=self.bucket, Key=key)
            except client.exceptions.NoSuchKey:
                return None
            return _body_text(answer, MAX_FLEET_OBJECT_BYTES, f"s3://{self.bucket}/{key}")


@dataclass(frozen=True)
class SsmPlace:
    """The fleet parameters next to an SSM target."""

    target: str
    parameter: str
    region: str

    scan_seconds_per_report = 0.02
    """A scan reads reports 10 to a GetParameters call (plus a DescribeParameters per 50): at most
    ~5 TPS of Parameter Store's default 40, which the agents' polls and reports share."""

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
        its version (and time) is still `since`."""
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
        return _report_or_none(self._get_value(self.report_name(gateway_id)))

    def reports(self) -> list[Report]:
        with _aws(f"ssm:{self.region}:{self.reports_prefix}", "list"):
            client = _client("ssm", self.region)
            filters = [{"Key": "Name", "Option": "BeginsWith", "Values": [self.reports_prefix]}]
            pages = client.get_paginator("describe_parameters").paginate(ParameterFilters=filters,
                                                                         PaginationConfig={"PageSize": 50})
            listed = [(item["Name"], item.get("LastModifiedDate"))
                      for page in pages for item in page.get("Parameters", [])]
        values = self._get_values([name for name, _ in listed if _gateway_of(name, self.reports_prefix, "")])
        return _read_reports(listed, self.reports_prefix, "", values.get)

    def _get_values(self, names: list[str]) -> dict[str, str]:
        """The values of `names`, 10 to a GetParameters call (its most): a scan of 1,000 reports
        costs 100 calls of Parameter Store's shared throughput, not 1,000."""
        values: dict[str, str] = {}
        for start in range(0, len(names), 10):
            batch = names[start:start + 10]
            with _aws(f"ssm:{self.region}:{self.reports_prefix}", "read"):
                found = _client("ssm", self.region).get_parameters(Names=batch)["Parameters"]
            values.update({item["Name"]: item["Value"] for item in found})
        return values

    def _get_value(self, name: str) -> str | None:
        found = self._get(name)
        return found[0] if found else None

    def _get(self, name: str, decrypt: bool = False) -> tuple[str, str] | None:
        """The parameter's value and a tag of this version of it: its version number and when it was
        written (a parameter deleted and made again, e.g. by `pulumi destroy` and `up`, starts at
        version 1 again, and a poll comparing numbers alone missed the new facts for good)."""
        with _aws(f"ssm:{self.region}:{name}", "read"):
            client = _client("ssm", self.region)
            try:
                parameter = client.get_parameter(Name=name, WithDecryption=decrypt)["Parameter"]
            except client.exceptions.ParameterNotFound:
                return None
        return parameter["Value"], f"{parameter['Version']}@{parameter.get('LastModifiedDate')}"


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
    gateways = [_judge(report, place, spec.stack, current, now - stale_after)
                for place in places for report in place.reports()]
    gateways.sort(key=lambda g: (str(g["gatewayId"]), str(g["target"])))
    return FleetState(spec.stack, current, gateways)


def _judge(report: Report, place: Place, stack: str, current: Facts | None, live_since: datetime) -> dict[str, Any]:
    """A report as `fleet` shows it: current (the facts' revision and key versions) and stale
    (older than `live_since` by its own clock or the store's, whichever is earlier: a report that
    claims a future time is not live for ever). A report that is not its gateway's is neither
    current nor live, and says why in lastError."""
    data = report.data or {}
    problem = report.problem or _foreign(report, data, stack)
    entry: dict[str, Any] = dict.fromkeys(REPORT_FIELDS)
    if problem is None:
        entry.update({name: data.get(name) for name in REPORT_FIELDS})
    entry.update(gatewayId=report.gateway_id, target=place.target)
    if problem is not None:
        entry.update(lastError=problem, current=False, stale=True)
        return entry
    seen = [moment for moment in (parse_iso(data.get("reportedAt")), report.stored_at) if moment is not None]
    entry["current"] = current is not None and data.get("configRevision") == current.config_revision \
        and (data.get("keyVersions") or {}) == current.key_versions
    entry["stale"] = len(seen) == 0 or min(seen) < live_since
    return entry


def _foreign(report: Report, data: dict[str, Any], stack: str) -> str | None:
    """Why a report is not its own gateway's report of this stack (None when it is)."""
    if data.get("gatewayId") != report.gateway_id:
        return (f"the report under this gateway's name says it is {str(data.get('gatewayId'))[:63]!r}: "
                "not counted (each agent writes only its own name)")
    if data.get("stack") != stack:
        return f"the report is of stack {str(data.get('stack'))[:100]!r}, not {stack}: not counted"
    return None


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


def scan_pause(spec: StackSpec, state: FleetState, interval: float) -> float:
    """Seconds until the next scan of the reports: `interval`, or longer for a big fleet, so the
    scans of a waiting rotation stay a small share of the quota the agents poll under."""
    per_report = {place.target: place.scan_seconds_per_report for place in stack_places(spec)}
    return max(interval, sum(per_report.get(str(g["target"]), 0.0) for g in state.gateways))


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
                    say(f"fleet {spec.stack}: {gateway['gatewayId']} has no live report (none for more than "
                        f"{STALE_HEARTBEATS} heartbeats, or an unusable one): not counted; check it before "
                        "revoking the old key")
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
        sleep(scan_pause(spec, state, interval))


# --- small helpers -------------------------------------------------------------------------------


def _body_text(answer: dict[str, Any], limit: int, where: str) -> str:
    """A GetObject answer's body as text, refused without downloading it when over `limit` bytes."""
    body = answer["Body"]
    try:
        length = answer.get("ContentLength")
        data = b"" if isinstance(length, int) and length > limit else body.read(limit + 1)
    finally:
        body.close()  # the rest of a refused body is never downloaded
    if len(data) > limit or (isinstance(length, int) and length > limit):
        raise FleetError(f"the object is over {limit // 2**10} KiB: not what kimi-infra publishes there, "
                         "not downloaded", where=where,
                         fix="remove it, or run `kimi-infra deploy` for the stack to publish it again")
    return data.decode("utf-8", "replace")


def _read_reports(listed: list[tuple[str, Any]], prefix: str, suffix: str,
                  read: Callable[[str], str | None]) -> list[Report]:
    """Each listed (name, stored at) that is a report's name `<prefix><gateway id><suffix>`, read."""
    found = []
    for name, stored_at in listed:
        gateway_id = _gateway_of(name, prefix, suffix)
        if gateway_id is not None:
            found.append(_read_report(gateway_id, stored_at, partial(read, name)))
    return found


def _gateway_of(name: str, prefix: str, suffix: str) -> str | None:
    """The gateway id in a report's name `<prefix><id><suffix>`; None for any other name."""
    middle = name[len(prefix):len(name) - len(suffix)] if name.startswith(prefix) and name.endswith(suffix) else ""
    return middle if GATEWAY_ID.fullmatch(middle) else None


def _read_report(gateway_id: str, stored_at: Any, read: Callable[[], str | None]) -> Report:
    """Read one report; one that is missing, too big or not a report is kept with its problem, so
    `fleet` still shows that gateway (as not current) instead of failing for every gateway."""
    stored = stored_at if isinstance(stored_at, datetime) else None
    try:
        data = _report_or_none(read())
    except FleetError as error:
        return Report(gateway_id, stored, None, f"its report cannot be used: {error.problem}")
    if data is None:
        return Report(gateway_id, stored, None, "its report is not a kimi-infra agent report")
    return Report(gateway_id, stored, data)


def _gateway_key(gateway: dict[str, Any]) -> tuple[str, str]:
    """What tells one gateway's report from another's: its id and the target it reads."""
    return str(gateway.get("gatewayId")), str(gateway.get("target"))


def _report_or_none(text: str | None) -> dict[str, Any] | None:
    data = _json_object(text) if text is not None else None
    return data if data is not None and isinstance(data.get("gatewayId"), str) else None


def _json_object(text: str) -> dict[str, Any] | None:
    """`text` as a JSON object, or None: whoever can write the bucket may put anything there, and
    JSON nested a few thousand deep raises RecursionError, not ValueError (it crashed the agent
    and `fleet`)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


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


DEFAULT_FLEET_TIMEOUT_S = 600.0
MAX_FLEET_TIMEOUT_S = 86_400


def check_fleet_wait(spec: StackSpec, timeout: float) -> None:
    """Refuse `--wait-fleet` before anything changes where no agent can confirm a key, or with a
    timeout that would end the wait at once (after the key changed) or never (`nan`, `inf`)."""
    require_fleet(spec)
    if not 1 <= timeout <= MAX_FLEET_TIMEOUT_S:  # False for nan
        raise FleetError(f"{timeout:g} s is not a usable wait", where="--fleet-timeout",
                         fix=f"give --fleet-timeout SECONDS from 1 to {MAX_FLEET_TIMEOUT_S}")
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
